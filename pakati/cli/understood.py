"""``pakati generate`` options that use understood references and refinement:
``--understood ID`` (a reference learned by ``pakati understand``, found in the store) and
``--refine N`` (reference-guided multi-pass generation; passes reported).

Heavy imports happen inside the functions, so ``pakati --help`` stays instant.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pakati.cli.common import float_between, int_at_least

ASPECTS = ("color", "texture", "composition", "lighting", "style", "general")

if TYPE_CHECKING:
    from pakati.results import GenerationResult
    from pakati_engine.layout import Layout


def add_arguments(generate: argparse.ArgumentParser) -> None:
    generate.add_argument(
        "--understood",
        metavar="REFERENCE_ID",
        help="guide the picture by a reference learned with pakati understand",
    )
    generate.add_argument(
        "--transfer",
        default="color_harmony,composition",
        help="aspects the understood reference transfers (composition, color_harmony, "
        "lighting, style; default color_harmony,composition)",
    )
    generate.add_argument(
        "--understood-store", type=Path, help="store of understood references (default: user's)"
    )
    generate.add_argument(
        "--refine",
        type=int_at_least(1),
        metavar="PASSES",
        help="reference-guided refinement: up to PASSES passes after the first image",
    )
    generate.add_argument(
        "--reference",
        action="append",
        default=[],
        metavar="PATH[:ASPECT]",
        help="a canvas-wide reference for --refine (aspect: color, texture, composition, "
        "lighting, style, general; default general); repeatable",
    )
    generate.add_argument(
        "--strategy", default="adaptive", help="conservative, adaptive (default), aggressive"
    )
    generate.add_argument(
        "--target-quality", type=float_between(0.0, 1.0), default=0.85, help="stop at this"
    )


def guided_layout(args: argparse.Namespace, layout: Layout) -> tuple[Layout, Any]:
    """``layout`` guided by ``--understood`` (unchanged without it); and the understanding."""
    if not getattr(args, "understood", None):
        return layout, None
    from pakati.transfer import layout_with_guidance, make_guidance
    from pakati.understanding_store import UnderstandingStore

    understanding = UnderstandingStore(args.understood_store).load(args.understood)
    aspects = [a.strip() for a in args.transfer.split(",") if a.strip()]
    guidance = make_guidance(understanding, "", aspects, (layout.width, layout.height))
    for aspect, why in guidance.not_transferred.items():
        print(f"note: {aspect} not transferred: {why}", file=sys.stderr)
    return layout_with_guidance(layout, guidance), understanding


def refine(
    args: argparse.Namespace, layout: Layout, understanding: Any
) -> tuple[GenerationResult, dict[str, Any]]:
    """Generate ``layout`` with reference-guided refinement; the result and the report."""
    from pakati.editing import IMAGE_ACTIONS
    from pakati.enhanced import EnhancedPakatiCanvas
    from pakati.results import GenerationResult
    from pakati_engine.errors import InvalidInputError

    canvas = EnhancedPakatiCanvas.from_layout(layout, device=args.device, dtype=args.dtype)
    for text in args.reference:
        path, _, aspect = text.rpartition(":")
        if aspect not in ASPECTS:
            path, aspect = text, "general"
        canvas.add_reference_image(path, aspect=aspect)
    if understanding is not None:
        canvas.add_reference_image(
            understanding.reference_path, f"understood {understanding.reference_id}", "color"
        )
    if not canvas.references:
        raise InvalidInputError(
            "--refine measures against references: give --reference PATH[:ASPECT] or "
            "--understood REFERENCE_ID"
        )

    def progress(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    outcome = canvas.generate_with_refinement(
        max_passes=args.refine,
        target_quality=args.target_quality,
        strategy=args.strategy,
        seed=layout.seed,
        progress=progress,
    )
    report = outcome.to_dict()
    for record in report["passes"]:
        changed = "; ".join(
            f"{c['region']}: {c.get('action')}"
            + (f" +{c['added_terms']}" if c.get("added_terms") else "")
            + (f" colour {c['palette_colour']}" if c.get("palette_colour") else "")
            + (f" box {c['box']}" if c.get("box") else "")
            for c in record["changes"]
        )
        print(
            f"pass {record['pass']}: quality {record['quality']:.3f} (references "
            f"{record['reference_similarity']:.3f}){': ' + changed if changed else ''}"
        )
    print(f"kept pass {report['best_pass']} (quality {report['quality']:.3f})")
    chain = canvas.history.chain()
    result = GenerationResult(
        image=outcome.image,
        layout=canvas.to_layout(),
        model_info=canvas._model_info(),
        unet_calls=0,
        steps=[e.step() for e in chain if e.action in IMAGE_ACTIONS],
    )
    return result, report
