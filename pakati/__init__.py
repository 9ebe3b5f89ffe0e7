"""Pakati: regional control for AI image generation.

Different prompts on different regions of one canvas, generated in one pass::

    from pakati import PakatiCanvas
    canvas = PakatiCanvas(width=512, height=512, model="path/to/sd-model")
    sky = canvas.create_region([(0, 0), (512, 0), (512, 200), (0, 200)])
    canvas.apply_to_region(sky, prompt="dramatic sunset sky")
    canvas.generate(seed=42).save("out.png")
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

from pakati.version import __version__
from pakati_engine.errors import InvalidInputError, ModelNotFoundError, PakatiError

if TYPE_CHECKING:
    from pakati.canvas import PakatiCanvas
    from pakati.enhanced import EnhancedPakatiCanvas, ReferenceDelta
    from pakati.orchestrator import Context, PakatiOrchestrator
    from pakati.refinement import RefinementResult, RefinementStrategy
    from pakati.results import GenerationResult
    from pakati.transfer import IterativeRefinementEngine
    from pakati.understanding import ReferenceUnderstanding, ReferenceUnderstandingEngine
    from pakati_engine.analysis.references import ReferenceImage
    from pakati_engine.layout import Layout, RegionSpec, load_layout
    from pakati_engine.regions.region import Region

# The public names below are imported on first use, not with the package: every submodule
# (pakati.cli first of all) imports this package, and the canvas pulls in torch and
# diffusers, the orchestrator LangChain and LangGraph, the regions and references scipy.
# Loading them lazily is what keeps `pakati --help` and `import pakati.cli` free of torch.
_LAZY: dict[str, str] = {
    "PakatiCanvas": "pakati.canvas",
    "EnhancedPakatiCanvas": "pakati.enhanced",
    "ReferenceDelta": "pakati.enhanced",
    "GenerationResult": "pakati.results",
    "Layout": "pakati_engine.layout",
    "RegionSpec": "pakati_engine.layout",
    "load_layout": "pakati_engine.layout",
    "ReferenceImage": "pakati_engine.analysis.references",
    "Region": "pakati_engine.regions.region",
    "Context": "pakati.orchestrator",
    "PakatiOrchestrator": "pakati.orchestrator",
    "RefinementStrategy": "pakati.refinement",
    "RefinementResult": "pakati.refinement",
    "ReferenceUnderstandingEngine": "pakati.understanding",
    "ReferenceUnderstanding": "pakati.understanding",
    "IterativeRefinementEngine": "pakati.transfer",
}


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'pakati' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


__all__ = [
    "Context",
    "EnhancedPakatiCanvas",
    "GenerationResult",
    "InvalidInputError",
    "IterativeRefinementEngine",
    "Layout",
    "ModelNotFoundError",
    "PakatiCanvas",
    "PakatiError",
    "PakatiOrchestrator",
    "ReferenceDelta",
    "ReferenceImage",
    "ReferenceUnderstanding",
    "ReferenceUnderstandingEngine",
    "RefinementResult",
    "RefinementStrategy",
    "Region",
    "RegionSpec",
    "__version__",
    "load_layout",
]
