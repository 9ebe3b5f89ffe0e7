"""Where to put something new in a described picture: the emptiest cell of the 3x3 grid."""

from __future__ import annotations

import numpy as np

from pakati_engine.understanding.description import SceneDescription


def free_cell(description: SceneDescription, width: int, height: int) -> tuple[int, int, int, int]:
    """The 3x3-grid cell (x0, y0, x1, y1) least covered by the description's boxes."""
    covered = np.zeros((height, width), bool)
    for obj in description.objects:
        x0, y0, x1, y1 = obj.box
        covered[y0:y1, x0:x1] = True
    cells = [
        (i * width // 3, j * height // 3, (i + 1) * width // 3, (j + 1) * height // 3)
        for j in range(3)
        for i in range(3)
    ]
    return min(cells, key=lambda c: float(covered[c[1] : c[3], c[0] : c[2]].mean()))
