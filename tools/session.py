"""``CanvasSession``: the canvas operations that the tools and the agent's passes call.

A session owns the canvases of one run, keyed by id (the agent keeps one, see
``agents.executor``), the model they draw with (a name, or an already loaded
``ModelBundle`` shared by every canvas), the CLIP scorer (loaded on first use), and the
folder where images are written. Images leave a session as PNG paths so that they can live
in checkpointed graph state; the session remembers which PNG each canvas wrote last, so a
caller can tell whether a canvas in memory still holds that image.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from PIL import Image

from pakati.canvas import PakatiCanvas
from pakati.results import GenerationResult
from pakati_engine.errors import InvalidInputError, ModelNotFoundError
from pakati_engine.images import open_image
from pakati_engine.layout import Layout
from pakati_engine.models.bundle import ModelBundle
from pakati_engine.models.catalog import model_recommendations
from pakati_engine.models.loading import load_model

ScorerFactory = Callable[[], Any]


def model_settings(model: str | ModelBundle) -> dict[str, Any]:
    """Generation settings a model recommends (its ``pakati.json``), else ``{}``."""
    try:
        return model_recommendations(model)
    except ModelNotFoundError:  # reported, with its remedy, when the model is loaded
        return {}


def default_scorer() -> Any:
    """The shipped shapes-world CLIP (``pakati_engine.clip``) as a ``ClipScorer``."""
    # Imported here: open_clip takes seconds to import, and many sessions never score.
    from pakati_engine.clip import ClipScorer, load_clip

    model, preprocess, tokenizer = load_clip()
    return ClipScorer(model, preprocess, tokenizer)


class CanvasSession:
    """Canvases, model, scorer and output folder of one run.

    ``timings`` accumulates seconds per kind of work ("generating", "scoring").
    """

    def __init__(
        self,
        workdir: str | Path,
        model: str | ModelBundle = "tiny-random",
        scorer: Any = None,
        scorer_factory: ScorerFactory = default_scorer,
        device: str | None = None,
        dtype: str | None = None,
        *,
        trust_env_file: bool = False,
    ) -> None:
        # Made by the first image saved in it, so a run refused at the start leaves nothing.
        self.workdir = Path(workdir)
        #: Whether a provider base URL from .env may receive a key (regions on remote models).
        self.trust_env_file = trust_env_file
        self.model = model
        self.device = device
        self.dtype = dtype
        self._bundle = model if isinstance(model, ModelBundle) else None
        self._scorer = scorer
        self._scorer_factory = scorer_factory
        self.settings = model_settings(model)
        self.canvases: dict[str, PakatiCanvas] = {}
        self._outputs: dict[str, Path] = {}
        self.timings: dict[str, float] = {"generating": 0.0, "scoring": 0.0}

    @property
    def model_name(self) -> str:
        return self.model.source if isinstance(self.model, ModelBundle) else str(self.model)

    def bundle(self) -> ModelBundle:
        """The model, loaded once and shared by every canvas of the session."""
        if self._bundle is None:
            start = time.perf_counter()
            self._bundle = load_model(str(self.model), device=self.device, dtype=self.dtype)
            self.timings["generating"] += time.perf_counter() - start
        return self._bundle

    @property
    def scorer(self) -> Any:
        if self._scorer is None:
            start = time.perf_counter()
            self._scorer = self._scorer_factory()
            self.timings["scoring"] += time.perf_counter() - start
        return self._scorer

    # Canvases --------------------------------------------------------------------------

    def canvas(self, canvas_id: str) -> PakatiCanvas:
        if canvas_id not in self.canvases:
            known = ", ".join(self.canvases) or "none"
            raise InvalidInputError(f"no canvas {canvas_id!r} (canvases: {known})")
        return self.canvases[canvas_id]

    def create_canvas(self, layout: Layout, canvas_id: str | None = None) -> str:
        """A canvas holding ``layout`` (its regions and prompts); returns its id.

        An existing canvas of the same id is replaced (and released).
        """
        canvas = PakatiCanvas(layout.width, layout.height, model=self.bundle())
        canvas.set_layout(self._with_model_settings(layout))
        return self._keep(canvas, canvas_id)

    def open_image(self, path: str | Path, canvas_id: str | None = None) -> str:
        """A canvas continuing from a PNG this session (or Pakati) wrote."""
        canvas = PakatiCanvas.from_image(self.resolve(path), model=self.bundle())
        canvas_id = self._keep(canvas, canvas_id)
        self._outputs[canvas_id] = self.resolve(path)
        return canvas_id

    def close(self, canvas_id: str) -> None:
        """Release a canvas (its history and images)."""
        self.canvases.pop(canvas_id, None)
        self._outputs.pop(canvas_id, None)

    def last_output(self, canvas_id: str) -> Path | None:
        """The PNG holding the canvas's current image, or None (no canvas, or not saved)."""
        return self._outputs.get(canvas_id) if canvas_id in self.canvases else None

    def resolve(self, path: str | Path) -> Path:
        """``path`` made absolute; relative paths are inside the session folder."""
        path = Path(path)
        return (path if path.is_absolute() else self.workdir / path).resolve()

    def _keep(self, canvas: PakatiCanvas, canvas_id: str | None) -> str:
        canvas_id = canvas_id or f"canvas-{len(self.canvases) + 1}"
        canvas.trust_env_file = self.trust_env_file
        self.close(canvas_id)
        self.canvases[canvas_id] = canvas
        return canvas_id

    def set_layout(self, canvas_id: str, layout: Layout) -> None:
        """Replace prompts, boxes and settings; the current image and locks stay."""
        canvas = self.canvas(canvas_id)
        canvas.set_layout(self._with_model_settings(layout))
        canvas.model = self.model_name

    def _with_model_settings(self, layout: Layout) -> Layout:
        """Fill the sampler and base ratio the model recommends where the layout has none.

        "None: the model's" must hold on a canvas that already has a layout too, whose
        own values the canvas would otherwise keep.
        """
        update: dict[str, Any] = {}
        for key in ("scheduler", "base_ratio"):
            if getattr(layout, key) is None and self.settings.get(key) is not None:
                update[key] = self.settings[key]
        return layout.model_copy(update=update) if update else layout

    # Generation ------------------------------------------------------------------------

    def generate(self, canvas_id: str, seed: int | None, out: str | Path) -> Path:
        return self._timed_save(canvas_id, lambda c: c.generate(seed=seed), out)

    def regenerate(
        self,
        canvas_id: str,
        regions: Sequence[str],
        out: str | Path,
        seed: int | None = None,
        zoom: bool = False,
    ) -> Path:
        def edit(canvas: PakatiCanvas) -> GenerationResult:
            return canvas.regenerate(*regions, seed=seed, zoom=zoom)

        return self._timed_save(canvas_id, edit, out)

    def refine(self, canvas_id: str, region: str, strength: float, out: str | Path) -> Path:
        return self._timed_save(canvas_id, lambda c: c.refine(region, strength), out)

    def lock(self, canvas_id: str, regions: Sequence[str], locked: bool = True) -> list[str]:
        canvas = self.canvas(canvas_id)
        for name in regions:
            (canvas.lock if locked else canvas.unlock)(name)
        return canvas.locked

    def _timed_save(
        self,
        canvas_id: str,
        make: Callable[[PakatiCanvas], GenerationResult],
        out: str | Path,
    ) -> Path:
        start = time.perf_counter()
        result = make(self.canvas(canvas_id))
        path = self.resolve(out)
        result.save(path, overwrite=True)
        self._outputs[canvas_id] = path
        self.timings["generating"] += time.perf_counter() - start
        return path

    # Scoring ---------------------------------------------------------------------------

    def score(
        self,
        image: str | Path | Image.Image,
        text: str,
        boxes: Sequence[tuple[int, int, int, int]] = (),
        captions: Sequence[str] = (),
    ) -> tuple[float, list[float]]:
        """Cosine of the image with ``text`` and of each box's crop with its caption.

        A relative image path is inside the session folder, as the generation tools' are.
        """
        start = time.perf_counter()
        scorer = self.scorer
        picture = load_rgb(image if isinstance(image, Image.Image) else self.resolve(image))
        overall = float(scorer.similarity([picture], [text])[0][0])
        regional = (
            [float(v) for v in scorer.region_similarity(picture, list(boxes), list(captions))]
            if boxes
            else []
        )
        self.timings["scoring"] += time.perf_counter() - start
        return overall, regional


def load_rgb(image: str | Path | Image.Image) -> Image.Image:
    if isinstance(image, Image.Image):
        return image.convert("RGB")
    path = Path(image)
    if not path.is_file():
        raise InvalidInputError(f"no image at {str(path)!r}")
    return open_image(path, f"image {str(path)!r}").convert("RGB")
