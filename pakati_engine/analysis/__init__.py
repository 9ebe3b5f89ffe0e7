"""Delta analysis: how an image or region differs from a reference, aspect by aspect.

``analyze_deltas(image, reference, aspects=None, mask=None)`` returns a ``DeltaReport``
of ``AspectDelta`` results (similarity in 0..1, severity, measured values, findings and
suggested ``Adjustment``s). Each aspect lives in its own module, whose docstring documents
its measures and how they map to a similarity.
"""

from pakati_engine.analysis.analyzer import MEASURES, analyze_deltas, normalize_aspects
from pakati_engine.analysis.color import describe_color, dominant_colors
from pakati_engine.analysis.types import (
    ASPECTS,
    Adjustment,
    AspectDelta,
    DeltaReport,
    Severity,
)

__all__ = [
    "ASPECTS",
    "MEASURES",
    "Adjustment",
    "AspectDelta",
    "DeltaReport",
    "Severity",
    "analyze_deltas",
    "describe_color",
    "dominant_colors",
    "normalize_aspects",
]
