"""``pakati eval regional``: the regional-prompting benchmark, run and reported.

The benchmark itself (seeded layouts from the shapes world: 2 to 4 regions by default,
``--min-regions``/``--max-regions`` up to 6, ``--small`` for small objects; generated through
:mod:`pakati_engine.generation` and judged by :mod:`pakati_engine.world.judge`) lives in the
engine, in :mod:`pakati_engine.world.regional_benchmark`, so that training and tuning judge
their samples with it without importing the application. This module is the command around
it: ``pakati eval regional --n 200 --seed 0 --json`` prints the summary as its last line;
``--save DIR`` also keeps every image with its layout and verdicts, for looking at failures.
The benchmark's names are re-exported here for existing callers.
"""

from __future__ import annotations

import argparse

from pakati.cli.common import emit_json
from pakati_engine.world.regional_benchmark import (
    MODES,
    EvalLayout,
    EvalRegion,
    Progress,
    generate_layout,
    generation_layout,
    judge_layout,
    prepare_save_dir,
    run_regional_eval,
    sample_layouts,
    summarize,
    verdict_record,
)

__all__ = [
    "MODES",
    "EvalLayout",
    "EvalRegion",
    "Progress",
    "generate_layout",
    "generation_layout",
    "judge_layout",
    "main",
    "prepare_save_dir",
    "run_regional_eval",
    "sample_layouts",
    "summarize",
    "verdict_record",
]


def main(args: argparse.Namespace) -> int:
    """Run the eval; the last printed line is the JSON summary."""
    settings: dict[str, object] = {} if args.guidance is None else {"guidance_scale": args.guidance}
    if getattr(args, "detail", False):
        settings["detail"] = True

    def report(done: int, total: int) -> None:
        if not args.json and (done == total or done % 10 == 0):
            print(f"{done}/{total} images", flush=True)

    model = args.model
    if getattr(args, "device", None) or getattr(args, "dtype", None):
        from pakati_engine.models.catalog import EMBEDDED_MODEL
        from pakati_engine.models.loading import load_model

        model = load_model(model or EMBEDDED_MODEL, device=args.device, dtype=args.dtype)
    summary = run_regional_eval(
        model=model,
        n=args.n,
        seed=args.seed,
        mode=args.mode,
        size=args.size,
        steps=args.steps,
        progress=report,
        settings=settings,
        save_dir=args.save,
        min_regions=args.min_regions,
        max_regions=args.max_regions,
        small_fraction=args.small,
    )
    emit_json(summary)
    return 0


if __name__ == "__main__":
    from pakati.cli.evaluate import add_regional_arguments

    cli = argparse.ArgumentParser(prog="python -m pakati.evals.regional_eval")
    add_regional_arguments(cli)  # the CLI owns the arguments
    raise SystemExit(main(cli.parse_args()))
