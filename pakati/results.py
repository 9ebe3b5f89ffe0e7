"""What a generation returns: the image and everything needed to make it again."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image

from pakati.version import __version__
from pakati_engine.layout import Layout
from pakati_engine.metadata import save_png_with_metadata


@dataclass
class GenerationResult:
    """A generated image and everything needed to make it again."""

    image: Image.Image
    layout: Layout
    model_info: dict[str, str]
    unet_calls: int
    timings: dict[str, float] = field(default_factory=dict)
    #: Steps from the first generation to this image (edits included): replaying them
    #: reproduces it. Empty for a plain generation, whose layout says everything.
    steps: list[dict[str, Any]] = field(default_factory=list)
    #: (h, w) of the latents the UNet denoised (smaller than the canvas for crop edits).
    latent_size: tuple[int, int] = (0, 0)
    #: Regions that asked for a model other than the canvas's: who drew each and why, the
    #: provider's calls, and whether it is reproducible (see ``pakati.foreign``).
    models: list[dict[str, Any]] = field(default_factory=list)

    @property
    def seed(self) -> int:
        assert self.layout.seed is not None
        return self.layout.seed

    @property
    def metadata(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "pakati_version": __version__,
            "layout": self.layout.model_dump(mode="json", exclude_none=True),
            "model": self.model_info,
        }
        if len(self.steps) > 1:
            data["steps"] = self.steps
        if self.models:
            data["region_models"] = self.models
            data["reproducible"] = all(m.get("reproducible", True) for m in self.models)
        return data

    def save(self, path: str | Path, *, overwrite: bool = False, sidecar: bool = True) -> Path:
        """PNG with the parameters in a text chunk, plus a JSON sidecar (``out.json``)."""
        return save_png_with_metadata(
            self.image, path, self.metadata, overwrite=overwrite, sidecar=sidecar
        )
