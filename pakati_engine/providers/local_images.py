"""Local diffusers models as a provider: another latent space than the canvas's own.

A region whose model is a different local model (SDXL on an SD 1.5 canvas, or a stand-in)
cannot share the canvas's denoising pass, so it is drawn like a remote one: a masked edit
of its crop (the kept pixels and the ``x = M x_region + (1 - M) x_original`` step of
:mod:`pakati_engine.diffusion.keeping`), an image-to-image, or a text-to-image. Seeded and
deterministic on one device, so reproducible.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from PIL import Image

from pakati_engine.diffusion.keeping import KeepSpec
from pakati_engine.diffusion.pipeline import GenerationRequest, RegionalDiffusionPipeline
from pakati_engine.generation import GENERAL_DEFAULTS
from pakati_engine.models.bundle import ModelBundle
from pakati_engine.providers.cards import ModelCard
from pakati_engine.providers.types import ImageJob, ProviderImage, ProviderUnavailableError


class LocalDiffusers:
    """A local SD1.x/SDXL model (a folder, a cached hub id, or a built-in name)."""

    name = "local"

    def __init__(
        self,
        card: ModelCard,
        model: str | ModelBundle | None = None,
        *,
        loader: Callable[[str], ModelBundle] | None = None,
    ) -> None:
        self.card = card
        self._bundle = model if isinstance(model, ModelBundle) else None
        self._source = model if isinstance(model, str) else card.id
        self._loader = loader

    def bundle(self) -> ModelBundle:
        if self._bundle is None:
            if self._loader is not None:
                self._bundle = self._loader(self._source)
            else:
                from pakati_engine.models.loading import load_model

                self._bundle = load_model(self._source)
        return self._bundle

    def run(self, job: ImageJob) -> ProviderImage:
        if job.task not in self.card.tasks:
            raise ProviderUnavailableError(f"{self.card.id} cannot do {job.task}")
        bundle = self.bundle()
        pipe = RegionalDiffusionPipeline(bundle)
        settings: dict[str, Any] = {**GENERAL_DEFAULTS, **bundle.recommended}
        width, height = job.size
        keep = None
        strength = 1.0
        if job.task == "edit":
            assert job.image is not None and job.mask is not None
            keep = KeepSpec(job.image.convert("RGB"), job.mask.astype(np.float32), feather=0)
        elif job.task == "image-to-image":
            assert job.image is not None
            everywhere = np.ones((height, width), dtype=np.float32)
            keep = KeepSpec(job.image.convert("RGB"), everywhere, feather=0)
            strength = job.strength
        request = GenerationRequest(
            width=width,
            height=height,
            prompt=job.prompt,
            negative_prompt=job.negative_prompt,
            steps=int(settings["steps"]),
            guidance_scale=float(settings["guidance_scale"]),
            seed=job.seed or 0,
            scheduler=settings["scheduler"],
            keep=keep,
            strength=strength,
        )
        output = pipe(request)
        image: Image.Image = output.image.convert("RGB")
        return ProviderImage(image=image, reproducible=True, calls=0, bytes_sent=0)

    @property
    def size_multiple(self) -> int:
        return RegionalDiffusionPipeline(self.bundle()).size_multiple
