"""The overall report of ``reproduce``: every task's paired comparisons, pooled, beside the paper."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .paper import PAPER_GAIN_RANGE, PAPER_REFERENCE
from .plots import plot_paired_differences
from .presets import Preset
from .report import (
    DIFFERENCES_PLOT, MAJORITY_NOTE, format_interval, format_majority, format_mean_std, format_p, format_points,
    format_seconds, markdown_table, verdict,
)
from .grid import train_size_order
from .stats import TEST_NAME, accuracy_results, paired_differences, paired_test
from .store import SUMMARY_FILE, write_bytes_atomic, write_json_atomic


def pooled_records(records_by_task: Mapping[str, Sequence[Mapping[str, Any]]]) -> list[dict]:
    """Every task's records as one grid: each task's seeds are renumbered apart (task i's seed s
    becomes i * 100000 + s), so pairs stay within their task when the statistics pool them."""
    pooled = []
    for index, records in enumerate(records_by_task.values()):
        pooled += [{**record, "seed": index * 100_000 + int(record["seed"])} for record in records]
    return pooled


def pooled_comparisons(records_by_task: Mapping[str, Sequence[Mapping[str, Any]]], baseline: str = "ce") -> list[dict]:
    """Per training size and method, the paired test against ``baseline`` over the pairs of every
    task together."""
    return [
        {"train_size": paired.train_size, "method": paired.method, "baseline": baseline, **paired_test(paired.differences)}
        for paired in paired_differences(pooled_records(records_by_task), baseline)
    ]


def write_overall_report(
    preset: Preset,
    summaries: Mapping[str, Mapping[str, Any]],
    records_by_task: Mapping[str, Sequence[Mapping[str, Any]]],
    output_dir: str | os.PathLike,
    context: Mapping[str, Any],
) -> Path:
    """Write DIR/summary.json and DIR/report.md over every task of a ``reproduce`` preset: each
    method's accuracy, macro F1, evaluation sets' majority-class rate and time per run pooled over
    tasks, and its paired differences against each of the preset's baselines, per task (beside
    the method's macro F1 and the task's majority-class rate) and pooled (against ``ce`` beside the
    paper's gains)."""
    output_dir = Path(output_dir)
    baselines = list(preset.baselines)
    pooled = [entry for baseline in baselines for entry in pooled_comparisons(records_by_task, baseline)]
    everything = pooled_records(records_by_task)
    results = accuracy_results(everything)
    plot_paired_differences(everything, baselines[0], output_dir / DIFFERENCES_PLOT)
    paper = {gain["train_size"]: gain for gain in preset.paper_gains()}
    summary = {
        "preset": preset.name,
        "description": preset.description,
        "test": TEST_NAME,
        "units": "accuracy points (percent); seconds per run",
        "baselines": baselines,
        "pooled": pooled,
        "pooled_results": results,
        "tasks": {task: {"comparisons": s["comparisons"], "results": s["results"], "positive_label": s.get("positive_label")}
                  for task, s in summaries.items()},
        "paper_gains": preset.paper_gains(),
    }
    write_json_atomic(output_dir / SUMMARY_FILE, summary)

    lines = [f"# reproduce --preset {preset.name}", "", preset.description + ".", ""]
    lines += [f"- **{name}**: {value}" for name, value in context.items()]
    methods = sorted({entry["method"] for entry in results}, key=lambda m: (m not in baselines, m))
    lines += ["", "## Accuracy and time, all tasks pooled", "",
              "Mean accuracy and macro F1 in points over every run of every task, beside the evaluation sets' "
              "majority-class rate; seconds per run (training and evaluation), training alone in brackets.", ""]
    cells = {(entry["train_size"], entry["method"]): entry for entry in results}
    lines += markdown_table(["Size", "Method", "Runs", "Accuracy", "Macro F1", "Majority class", "Seconds per run"], (
        [str(size), method, str(cells[(size, method)]["n"]), f"{cells[(size, method)]['mean']:.2f}",
         format_points(cells[(size, method)].get("macro_f1_mean")), format_majority(cells[(size, method)]),
         format_seconds(cells[(size, method)])]
        for size in sorted({size for size, _ in cells}, key=train_size_order) for method in methods
        if (size, method) in cells))
    lines += ["", MAJORITY_NOTE]
    for baseline in baselines:
        lines += ["", f"## Every task, against `{baseline}`", "",
                  f"Each method minus `{baseline}` in accuracy points, paired over seeds/folds ({TEST_NAME}), "
                  "beside the method's macro F1 and the majority-class rate of the task's evaluation sets (see "
                  "above). Each task's own report is in its folder.", ""]
        rows = []
        for task, task_summary in summaries.items():
            means = {(r["train_size"], r["method"]): r for r in task_summary["results"]}
            for c in task_summary["comparisons"]:
                if c["baseline"] != baseline:
                    continue
                # In a grid stopped part-way either side may have no runs at this size yet.
                base, other = means.get((c["train_size"], baseline)), means.get((c["train_size"], c["method"]))
                rows.append([f"[{task}]({task}/report.md)", str(c["train_size"]), c["method"],
                             *("–" if entry is None else f"{entry['mean']:.2f}" for entry in (base, other)),
                             "–" if other is None else format_mean_std(other, "macro_f1"),
                             "–" if other is None else format_majority(other),
                             format_points(c["mean_diff"], signed=True), format_interval(c["ci95"]),
                             format_p(c["p_value"]), f"{c['wins']}/{c['losses']}/{c['ties']}"])
        lines += markdown_table(["Task", "Size", "Method", f"{baseline} acc", "Method acc", "Method macro F1",
                                 "Majority class", "Diff", "95% CI", "p", "W/L/T"], rows)
    f1_tasks = {task: s for task, s in summaries.items() if s.get("positive_label")}
    if f1_tasks:
        lines += ["", "## F1 where the literature reports it", "",
                  "The F1 of the positive class (MRPC: paraphrase) and the macro F1, points, mean over seeds/folds.", ""]
        rows = []
        for task, task_summary in f1_tasks.items():
            means = {(r["train_size"], r["method"]): r for r in task_summary["results"]}
            for size in task_summary["train_sizes"]:
                rows.append([f"[{task}]({task}/report.md)", str(size), task_summary["positive_label"],
                             *(format_points(means.get((size, method), {}).get(key))
                               for key in ("f1_mean", "macro_f1_mean") for method in methods)])
        lines += markdown_table(["Task", "Size", "Class", *(f"{method} F1" for method in methods),
                                 *(f"{method} macro F1" for method in methods)], rows)
    if preset.published:
        lines += _published_section(preset, summaries, methods)
    for baseline in baselines:
        beside_paper = baseline == "ce" and bool(preset.gains)
        lines += ["", f"## All tasks pooled, against `{baseline}`" + (", beside the paper" if beside_paper else ""), ""]
        if beside_paper:
            lines += [f"{PAPER_REFERENCE} reports gains of TripleEntropy over CE of {PAPER_GAIN_RANGE[0]} to "
                      f"{PAPER_GAIN_RANGE[1]} points, larger with fewer training examples. Its size classes are not "
                      "these training sizes; the pairing of a class with a size below is this report's choice.", ""]
        lines += markdown_table(["Size", "Method", "Pairs", "Mean diff", "95% CI", "p", "W/L/T", "Paper's class", "Paper's gain", "Verdict"], (
            [str(c["train_size"]), c["method"], str(c["n_pairs"]), format_points(c["mean_diff"], signed=True),
             format_interval(c["ci95"]), format_p(c["p_value"]), f"{c['wins']}/{c['losses']}/{c['ties']}",
             *(_paper_cells(paper, c) if beside_paper else ["–", "–"]), verdict(c)]
            for c in pooled if c["baseline"] == baseline))
    lines += ["", f"![Paired differences against {baselines[0]}, all tasks]({DIFFERENCES_PLOT})"]
    report = output_dir / "report.md"
    write_bytes_atomic(report, ("\n".join(lines) + "\n").encode("utf-8"))
    return report


def _published_section(preset: Preset, summaries: Mapping[str, Mapping[str, Any]], methods: Sequence[str]) -> list[str]:
    """Each task and size: the measured accuracy of every method beside the published ones."""
    labels = list(dict.fromkeys(entry["label"] for entry in preset.published))
    published = {(entry["task"], entry["train_size"], entry["label"]): entry["accuracy"] for entry in preset.published}
    lines = ["", "## Beside the published table", "",
             f"Measured: mean ± sample standard deviation over this grid's seeds, points. Published: "
             f"{preset.published_reference}. The encoders, the test sets (CR has none: 10-fold CV here) and "
             "the number of splits differ; read the published columns as a reference, not as pairs.", ""]
    rows = []
    for task, task_summary in summaries.items():
        means = {(r["train_size"], r["method"]): r for r in task_summary["results"]}
        for size in preset.train_sizes:  # every size of the grid: a published cell not run yet shows as –
            measured = [means.get((size, method)) for method in methods]
            rows.append([task, str(size),
                         *("–" if entry is None else _mean_cell(entry) for entry in measured),
                         *(_published_cell(published.get((task, size, label))) for label in labels)])
    return lines + markdown_table(["Task", "Size", *methods, *(f"{label} (published)" for label in labels)], rows)


def _mean_cell(entry: Mapping[str, Any]) -> str:
    return f"{entry['mean']:.2f}" if entry.get("std") is None else f"{entry['mean']:.2f} ± {entry['std']:.2f}"


def _published_cell(accuracy: float | None) -> str:
    return "–" if accuracy is None else f"{accuracy:.1f}"


def _paper_cells(paper: Mapping[Any, Mapping[str, Any]], comparison: Mapping[str, Any]) -> list[str]:
    gain = paper.get(comparison["train_size"])
    if gain is None or comparison["method"] != gain.get("method", "tripleentropy"):
        return ["–", "–"]
    return [gain["label"], format_points(gain["gain"], signed=True)]
