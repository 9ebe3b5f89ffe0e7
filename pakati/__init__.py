"""Pakati: regional control for AI image generation.

Different prompts on different regions of one canvas, generated in one pass::

    from pakati import PakatiCanvas
    canvas = PakatiCanvas(width=512, height=512, model="path/to/sd-model")
    sky = canvas.create_region([(0, 0), (512, 0), (512, 200), (0, 200)])
    canvas.apply_to_region(sky, prompt="dramatic sunset sky")
    canvas.generate(seed=42).save("out.png")
"""

__version__ = "0.1.0"

from pakati.canvas import PakatiCanvas
from pakati.enhanced import EnhancedPakatiCanvas, ReferenceDelta
from pakati.results import GenerationResult
from pakati_engine.analysis.references import ReferenceImage
from pakati_engine.errors import InvalidInputError, ModelNotFoundError, PakatiError
from pakati_engine.layout import Layout, RegionSpec, load_layout
from pakati_engine.regions.region import Region


def __getattr__(name: str) -> object:
    # The orchestrator imports LangChain/LangGraph: load it only when it is asked for.
    if name in ("Context", "PakatiOrchestrator"):
        from pakati import orchestrator

        return getattr(orchestrator, name)
    raise AttributeError(f"module 'pakati' has no attribute {name!r}")


__all__ = [
    "Context",
    "EnhancedPakatiCanvas",
    "GenerationResult",
    "InvalidInputError",
    "Layout",
    "ModelNotFoundError",
    "PakatiCanvas",
    "PakatiError",
    "PakatiOrchestrator",
    "ReferenceDelta",
    "ReferenceImage",
    "Region",
    "RegionSpec",
    "__version__",
    "load_layout",
]
