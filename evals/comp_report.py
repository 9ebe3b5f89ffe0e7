"""Reports of ``pakati eval compositional``: Markdown, self-contained HTML, plots, contact sheets.

Written into the run folder from ``summary.json`` and ``cases.jsonl``: ``report.md``,
``report.html`` (plots and sheets inlined as base64, so the file stands alone),
``accuracy.png`` (accuracy per task per arm with Wilson 95% intervals), ``time.png``
(seconds per image per arm), ``calibration.png`` (the agent critic's score against the
judge's verdict, when the agent arm ran), ``agent_passes.png`` (the agent's accuracy against
its pass budget, and by the passes it used) and ``failures-<arm>.png`` (contact sheets of
failed cases with their verdicts written under each image).
"""

from __future__ import annotations

import base64
import html
import statistics
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw

from pakati.evals.comp_arms import ARMS
from pakati.evals.comp_runner import wilson
from pakati.evals.comp_tasks import TASKS

SHEET_LIMIT = 24
"""Most failures shown per arm."""


def _arms(summary: dict[str, Any]) -> list[str]:
    """The summary's arms in the harness's order (plain, attention, latent, agent, ...)."""
    return sorted(summary["arms"], key=lambda a: ARMS.index(a) if a in ARMS else len(ARMS))


def _tasks(summary: dict[str, Any]) -> list[str]:
    present = {t for row in summary["arms"].values() for t in [*row["tasks"], *row["skipped"]]}
    return [t for t in TASKS if t in present]


def table_markdown(summary: dict[str, Any]) -> str:
    """The ablation table: one row per task, one column per arm, accuracy [95% interval]."""
    arms = _arms(summary)
    lines = ["| task | " + " | ".join(arms) + " |", "|---" * (len(arms) + 1) + "|"]
    for task in _tasks(summary):
        cells = []
        for arm in arms:
            row = summary["arms"][arm]
            cell = row["tasks"].get(task)
            if cell is None:
                cells.append("n/a")
            else:
                low, high = cell["ci95"]
                cells.append(f"{cell['accuracy']:.2f} [{low:.2f}, {high:.2f}] (n={cell['n']})")
        lines.append(f"| {task} | " + " | ".join(cells) + " |")
    overall = [
        "-" if summary["arms"][a]["overall"] is None else f"{summary['arms'][a]['overall']:.3f}"
        for a in arms
    ]
    lines.append("| **overall** (mean of its tasks) | " + " | ".join(overall) + " |")
    shared = [
        "-"
        if summary["arms"][a].get("overall_compositional") is None
        else f"{summary['arms'][a]['overall_compositional']:.3f}"
        for a in arms
    ]
    lines.append("| **GenEval/LMD tasks** (mean) | " + " | ".join(shared) + " |")
    return "\n".join(lines)


def _plots(folder: Path, summary: dict[str, Any], records: list[dict[str, Any]]) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    arms, tasks = _arms(summary), _tasks(summary)
    written = []
    figure, axes = plt.subplots(figsize=(max(8, len(tasks) * 0.9), 4.2))
    width = 0.8 / max(1, len(arms))
    for k, arm in enumerate(arms):
        xs: list[float] = []
        ys: list[float] = []
        errors: list[list[float]] = [[], []]
        for t, task in enumerate(tasks):
            cell = summary["arms"][arm]["tasks"].get(task)
            if cell is None:
                continue
            xs.append(t + (k - (len(arms) - 1) / 2) * width)
            ys.append(cell["accuracy"])
            errors[0].append(cell["accuracy"] - cell["ci95"][0])
            errors[1].append(cell["ci95"][1] - cell["accuracy"])
        axes.bar(xs, ys, width, yerr=errors, capsize=2, label=arm)
    axes.set_xticks(range(len(tasks)), tasks, rotation=35, ha="right")
    axes.set_ylim(0, 1.05)
    axes.set_ylabel("accuracy (Wilson 95%)")
    axes.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(folder / "accuracy.png", dpi=110)
    plt.close(figure)
    written.append("accuracy.png")

    timed = {a: [r["seconds"] for r in records if r["arm"] == a and "seconds" in r] for a in arms}
    timed = {a: v for a, v in timed.items() if v}
    if timed:
        figure, axes = plt.subplots(figsize=(6, 3.5))
        axes.boxplot(list(timed.values()), tick_labels=list(timed))
        axes.set_ylabel("seconds per image (edits: both images)")
        figure.tight_layout()
        figure.savefig(folder / "time.png", dpi=110)
        plt.close(figure)
        written.append("time.png")

    passed = [r for r in records if r.get("passes") and r.get("ok") is not None]
    if passed:
        _agent_passes_plot(plt, folder / "agent_passes.png", passed)
        written.append("agent_passes.png")

    scored = [r for r in records if r.get("critic_score") is not None and r.get("ok") is not None]
    if scored:
        figure, axes = plt.subplots(figsize=(6, 3.5))
        for verdict, colour in ((True, "tab:green"), (False, "tab:red")):
            values = [r["critic_score"] for r in scored if bool(r["ok"]) is verdict]
            if values:
                axes.hist(
                    values,
                    bins=15,
                    alpha=0.6,
                    color=colour,
                    label=f"judge: {'right' if verdict else 'wrong'}",
                )
        axes.set_xlabel("agent critic's score of the delivered image")
        axes.legend()
        figure.tight_layout()
        figure.savefig(folder / "calibration.png", dpi=110)
        plt.close(figure)
        written.append("calibration.png")
    return written


def _agent_passes_plot(plt: Any, path: Path, records: list[dict[str, Any]]) -> None:
    """Left: accuracy against the agent's pass budget j (the image the agent delivers after
    at most j passes, judged; one that stopped earlier keeps its image). Right: accuracy of
    the delivered image by the passes the agent used (it stops when its critic passes)."""
    figure, (left, right) = plt.subplots(1, 2, figsize=(9, 3.5))
    budgets = [r["budget_ok"] for r in records if r.get("budget_ok")]
    if budgets:
        top = max(len(b) for b in budgets)
        for j in range(1, top + 1):
            group = [bool(b[min(j, len(b)) - 1]) for b in budgets]
            share = sum(group) / len(group)
            low, high = wilson(sum(group), len(group))
            left.errorbar([j], [share], yerr=[[share - low], [high - share]], fmt="o", capsize=3)
        left.set_xticks(range(1, top + 1))
    left.set_xlabel("pass budget (at most j passes)")
    left.set_ylabel("accuracy (Wilson 95%)")
    left.set_ylim(0, 1.05)
    counts = sorted({int(r["passes"]) for r in records})
    for passes in counts:
        group = [bool(r["ok"]) for r in records if int(r["passes"]) == passes]
        low, high = wilson(sum(group), len(group))
        share = sum(group) / len(group)
        right.errorbar([passes], [share], yerr=[[share - low], [high - share]], fmt="o", capsize=3)
        right.annotate(
            f"n={len(group)}", (passes, share), textcoords="offset points", xytext=(6, 0)
        )
    right.set_xticks(counts)
    right.set_xlabel("passes the agent used")
    right.set_ylim(0, 1.05)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def _verdict_text(record: dict[str, Any]) -> str:
    verdict = record.get("verdict", {})
    parts = [f"{k}: {v}" for k, v in verdict.items() if k != "detected"]
    if "detected" in verdict:
        parts.insert(0, "saw: " + (", ".join(verdict["detected"]) or "nothing"))
    return "; ".join(parts)


def contact_sheet(folder: Path, arm: str, failures: list[dict[str, Any]]) -> str | None:
    """A grid of failed images with id and verdict under each; the file name, or None."""
    shown = [r for r in failures if r.get("image") and (folder / r["image"]).exists()][:SHEET_LIMIT]
    if not shown:
        return None
    tile, text_h, columns = 160, 58, 6
    rows = (len(shown) + columns - 1) // columns
    sheet = Image.new("RGB", (columns * tile, rows * (tile + text_h)), "white")
    draw = ImageDraw.Draw(sheet)
    for k, record in enumerate(shown):
        x, y = (k % columns) * tile, (k // columns) * (tile + text_h)
        image = Image.open(folder / record["image"]).convert("RGB").resize((tile - 8, tile - 8))
        sheet.paste(image, (x + 4, y + 4))
        words = f"{record['id']}: {_verdict_text(record)}"
        lines = [words[i : i + 26] for i in range(0, len(words), 26)][:4]
        draw.multiline_text((x + 4, y + tile - 2), "\n".join(lines), fill="black", spacing=1)
    name = f"failures-{arm}.png"
    sheet.save(folder / name)
    return name


def _inline(folder: Path, name: str) -> str:
    data = base64.b64encode((folder / name).read_bytes()).decode()
    image = f'<img src="data:image/png;base64,{data}" alt="{name}">'
    return f"<figure>{image}<figcaption>{name}</figcaption></figure>"


def _timing_lines(records: list[dict[str, Any]], arms: list[str]) -> list[str]:
    lines = []
    for arm in arms:
        seconds = [r["seconds"] for r in records if r["arm"] == arm and "seconds" in r]
        if seconds:
            lines.append(
                f"- {arm}: median {statistics.median(seconds):.2f} s, mean "
                f"{statistics.mean(seconds):.2f} s per case ({len(seconds)} cases)"
            )
    return lines


def write_report(
    folder: Path, summary: dict[str, Any], records: list[dict[str, Any]], command: str
) -> list[str]:
    """Write the Markdown and HTML reports, plots and sheets; the files written."""
    arms = _arms(summary)
    written = _plots(folder, summary, records)
    sheets = []
    for arm in arms:
        failures = sorted(
            (r for r in records if r["arm"] == arm and r.get("ok") is False), key=lambda r: r["id"]
        )
        name = contact_sheet(folder, arm, failures)
        if name:
            sheets.append(name)
    skipped = sorted(
        {
            f"- {arm}, {task}: {why}"
            for arm in arms
            for task, why in summary["arms"][arm]["skipped"].items()
        }
    )
    config = summary["config"]
    markdown = [
        "# pakati eval compositional",
        "",
        f"Command: `{command}`",
        "",
        f"Seed {config['seed']}, {config['n']} cases per task, "
        f"steps {config['steps'] or 'model default'}, "
        f"model {config['model'] or 'pakati-shapes (embedded)'}. "
        "Judge: the shapes world's analytic judge "
        "(a layout-free detector for the GenEval/LMD tasks; the case's boxes for leakage).",
        "",
        "## Accuracy per task and arm (Wilson 95% intervals)",
        "",
        table_markdown(summary),
        "",
        "## Time per case",
        "",
        *_timing_lines(records, arms),
        "",
    ]
    if skipped:
        markdown += ["## Not run", "", *skipped, ""]
    markdown += ["## Plots", "", *[f"![{n}]({n})" for n in written + sheets], ""]
    (folder / "report.md").write_text("\n".join(markdown))
    body = html.escape("\n".join(markdown[:6]))
    table_html = _markdown_table_html(table_markdown(summary))
    timing = "\n".join(_timing_lines(records, arms))
    page = (
        "<!doctype html><html><head><meta charset='utf-8'><title>pakati eval compositional</title>"
        "<style>body{font-family:sans-serif;max-width:1100px;margin:2em auto}"
        "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:3px 6px;"
        "font-size:13px}img{max-width:100%}</style></head><body>"
        f"<pre>{body}</pre><h2>Accuracy per task and arm (Wilson 95%)</h2>{table_html}"
        f"<h2>Time per case</h2><pre>{html.escape(timing)}</pre>"
        + (f"<h2>Not run</h2><pre>{html.escape(chr(10).join(skipped))}</pre>" if skipped else "")
        + "<h2>Plots and failures</h2>"
        + "".join(_inline(folder, n) for n in written + sheets)
        + "</body></html>"
    )
    (folder / "report.html").write_text(page)
    return ["report.md", "report.html", *written, *sheets]


def _markdown_table_html(table: str) -> str:
    rows = [
        line.strip("|").split("|") for line in table.splitlines() if not line.startswith("|---")
    ]
    out = ["<table>"]
    for k, cells in enumerate(rows):
        tag = "th" if k == 0 else "td"
        out.append(
            "<tr>"
            + "".join(f"<{tag}>{html.escape(c.strip().strip('*'))}</{tag}>" for c in cells)
            + "</tr>"
        )
    out.append("</table>")
    return "".join(out)
