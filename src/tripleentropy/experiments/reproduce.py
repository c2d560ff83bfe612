"""The overall report of ``reproduce``: every task's paired comparison, pooled, beside the paper."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .paper import PAPER_GAIN_RANGE, PAPER_REFERENCE
from .plots import plot_paired_differences
from .presets import Preset
from .report import DIFFERENCES_PLOT, format_interval, format_p, format_points, markdown_table, verdict
from .stats import TEST_NAME, paired_differences, paired_test
from .store import SUMMARY_FILE, write_bytes_atomic, write_json_atomic


def pooled_records(records_by_task: Mapping[str, Sequence[Mapping[str, Any]]]) -> list[dict]:
    """Every task's records as one grid: each task's seeds are renumbered apart (task i's seed s
    becomes i * 100000 + s), so pairs stay within their task when the statistics pool them."""
    pooled = []
    for index, records in enumerate(records_by_task.values()):
        pooled += [{**record, "seed": index * 100_000 + int(record["seed"])} for record in records]
    return pooled


def pooled_comparisons(records_by_task: Mapping[str, Sequence[Mapping[str, Any]]], baseline: str = "ce") -> list[dict]:
    """Per training size and loss, the paired test over the pairs of every task together."""
    return [
        {"train_size": paired.train_size, "loss": paired.loss, "baseline": baseline, **paired_test(paired.differences)}
        for paired in paired_differences(pooled_records(records_by_task), baseline)
    ]


def write_overall_report(
    preset: Preset,
    summaries: Mapping[str, Mapping[str, Any]],
    records_by_task: Mapping[str, Sequence[Mapping[str, Any]]],
    output_dir: str | os.PathLike,
    context: Mapping[str, Any],
) -> Path:
    """Write DIR/summary.json and DIR/report.md over every task of a ``reproduce`` preset."""
    output_dir = Path(output_dir)
    pooled = pooled_comparisons(records_by_task)
    plot_paired_differences(pooled_records(records_by_task), "ce", output_dir / DIFFERENCES_PLOT)
    paper = {gain["train_size"]: gain for gain in preset.paper_gains()}
    summary = {
        "preset": preset.name,
        "description": preset.description,
        "test": TEST_NAME,
        "units": "accuracy points (percent)",
        "pooled": pooled,
        "tasks": {task: {"comparisons": s["comparisons"], "results": s["results"], "positive_label": s.get("positive_label")}
                  for task, s in summaries.items()},
        "paper_gains": preset.paper_gains(),
    }
    write_json_atomic(output_dir / SUMMARY_FILE, summary)

    lines = [f"# reproduce --preset {preset.name}", "", preset.description + ".", ""]
    lines += [f"- **{name}**: {value}" for name, value in context.items()]
    lines += ["", "## Every task", "",
              "TripleEntropy minus cross-entropy in accuracy points, paired over seeds/folds "
              f"({TEST_NAME}). Each task's own report is in its folder.", ""]
    rows = []
    for task, task_summary in summaries.items():
        means = {(r["train_size"], r["loss"]): r for r in task_summary["results"]}
        for c in task_summary["comparisons"]:
            base, other = means[(c["train_size"], c["baseline"])], means[(c["train_size"], c["loss"])]
            rows.append([f"[{task}]({task}/report.md)", str(c["train_size"]), f"{base['mean']:.2f}", f"{other['mean']:.2f}",
                         format_points(c["mean_diff"], signed=True), format_interval(c["ci95"]), format_p(c["p_value"]),
                         f"{c['wins']}/{c['losses']}/{c['ties']}"])
    lines += markdown_table(["Task", "Size", "CE acc", "TE acc", "Diff", "95% CI", "p", "W/L/T"], rows)
    f1_tasks = {task: s for task, s in summaries.items() if s.get("positive_label")}
    if f1_tasks:
        lines += ["", "## F1 where the literature reports it", "",
                  "The F1 of the positive class (MRPC: paraphrase) and the macro F1, points, mean over seeds/folds.", ""]
        rows = []
        for task, task_summary in f1_tasks.items():
            means = {(r["train_size"], r["loss"]): r for r in task_summary["results"]}
            for size in task_summary["train_sizes"]:
                base, other = means.get((size, "ce"), {}), means.get((size, "tripleentropy"), {})
                rows.append([f"[{task}]({task}/report.md)", str(size), task_summary["positive_label"],
                             *(format_points(r.get(key)) for key in ("f1_mean", "macro_f1_mean") for r in (base, other))])
        lines += markdown_table(["Task", "Size", "Class", "CE F1", "TE F1", "CE macro F1", "TE macro F1"], rows)
    lines += ["", "## All tasks pooled, beside the paper", "",
              f"{PAPER_REFERENCE} reports gains of {PAPER_GAIN_RANGE[0]} to {PAPER_GAIN_RANGE[1]} points, "
              "larger with fewer training examples. Its size classes are not these training sizes; the "
              "pairing of a class with a size below is this report's choice.", ""]
    lines += markdown_table(["Size", "Pairs", "Mean diff", "95% CI", "p", "W/L/T", "Paper's class", "Paper's gain", "Verdict"], (
        [str(c["train_size"]), str(c["n_pairs"]), format_points(c["mean_diff"], signed=True), format_interval(c["ci95"]),
         format_p(c["p_value"]), f"{c['wins']}/{c['losses']}/{c['ties']}",
         paper.get(c["train_size"], {}).get("label", "–"),
         format_points(paper[c["train_size"]]["gain"], signed=True) if c["train_size"] in paper else "–", verdict(c)]
        for c in pooled))
    lines += ["", f"![Paired differences against ce, all tasks]({DIFFERENCES_PLOT})"]
    report = output_dir / "report.md"
    write_bytes_atomic(report, ("\n".join(lines) + "\n").encode("utf-8"))
    return report
