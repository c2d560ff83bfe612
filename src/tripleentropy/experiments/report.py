"""The outputs of a grid: ``summary.json``, ``report.md``, the PNG plots, and the terminal table."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from .paper import PAPER_GAIN_RANGE, PAPER_REFERENCE
from .plots import plot_accuracy_vs_size, plot_paired_differences
from .stats import summarize
from .store import SUMMARY_FILE, write_bytes_atomic, write_json_atomic

REPORT_FILE = "report.md"
ACCURACY_PLOT = "accuracy.png"
DIFFERENCES_PLOT = "differences.png"
# Fewer pairs than this make even a "significant" interval fragile; the verdict says so.
_FEW_PAIRS = 5
# A mean accuracy less than this many points above the majority-class rate is marked "not beaten":
# no better than always predicting the evaluation set's most frequent class.
MAJORITY_MARGIN = 0.5
MAJORITY_NOTE = (
    "Majority class: the accuracy of always predicting the most frequent class of the evaluation examples, in "
    "points, mean over the runs' evaluation sets. That constant prediction has a macro F1 of 100 · 2m / ((1 + m) · C) "
    "points for a majority rate m (a fraction) and C classes: 33.33 on a balanced two-class set. (not beaten): the "
    f"mean accuracy is less than {MAJORITY_MARGIN} points above the rate. –: runs recorded before the rate was stored."
)


def format_points(value: float | None, signed: bool = False) -> str:
    if value is None:
        return "–"
    return f"{value:+.2f}" if signed else f"{value:.2f}"


def format_interval(ci: Sequence[float] | None) -> str:
    return "–" if ci is None else f"[{ci[0]:+.2f}, {ci[1]:+.2f}]"


def format_p(value: float | None) -> str:
    if value is None:
        return "–"
    return "<0.001" if value < 0.001 else f"{value:.3f}"


def _accuracy_cell(entry: Mapping[str, Any]) -> str:
    spread = "" if entry["std"] is None else f" ± {entry['std']:.2f}"
    return f"{entry['mean']:.2f}{spread} (n={entry['n']})"


def format_mean_std(entry: Mapping[str, Any], name: str) -> str:
    """``{name}_mean`` ± ``{name}_std`` of a results entry, in points ("–" where its runs lack it)."""
    mean, std = entry.get(f"{name}_mean"), entry.get(f"{name}_std")
    return "–" if mean is None else f"{mean:.2f}" + ("" if std is None else f" ± {std:.2f}")


def format_majority(entry: Mapping[str, Any]) -> str:
    """The majority-class rate of a results entry's evaluation sets in points, marked "not beaten"
    when the entry's mean accuracy is less than ``MAJORITY_MARGIN`` points above it ("–" for runs
    whose records predate the rate)."""
    rate = entry.get("majority_rate_mean")
    if rate is None:
        return "–"
    return f"{rate:.2f}" + (" (not beaten)" if entry["mean"] < rate + MAJORITY_MARGIN else "")


def format_seconds(entry: Mapping[str, Any]) -> str:
    """Mean seconds per run of a results entry, training alone in brackets ("–" if unknown)."""
    if "seconds_mean" not in entry:
        return "–"
    training = f" ({entry['train_seconds_mean']:.1f})" if "train_seconds_mean" in entry else ""
    return f"{entry['seconds_mean']:.1f}{training}"


def verdict(comparison: Mapping[str, Any]) -> str:
    """A plain-language reading of one comparison that claims no more than its interval supports."""
    loss, baseline, n_pairs = comparison["method"], comparison["baseline"], comparison["n_pairs"]
    mean, ci = comparison["mean_diff"], comparison["ci95"]
    if n_pairs == 0:
        text = f"no paired runs of {loss} and {baseline}: nothing to compare"
    elif ci is None:
        text = f"{loss} against {baseline}: {comparison['note']}; no conclusion possible"
    elif ci[0] <= 0.0 <= ci[1]:
        text = (f"no significant difference between {loss} and {baseline} ({mean:+.2f} points; the 95% CI "
                f"{format_interval(ci)} includes 0; {n_pairs} pairs)")
    else:
        direction = "higher" if mean > 0 else "lower"
        text = (f"{loss} is {direction} than {baseline} by {abs(mean):.2f} points (95% CI {format_interval(ci)} excludes 0, "
                f"p = {format_p(comparison['p_value'])}, {n_pairs} pairs)")
        if n_pairs < _FEW_PAIRS:
            text += "; with so few pairs, treat this as indicative only"
    if comparison.get("n_unmatched"):
        text += f"; {comparison['n_unmatched']} run(s) without a partner left out"
    return text


def format_summary_table(summary: Mapping[str, Any]) -> str:
    """The summary as a fixed-width text table for the terminal: accuracy, macro F1, the
    evaluation set's majority-class rate and time per run for each size and method, and each
    method's paired difference against each baseline (points, 95% CI, t-test p, wins/losses/ties);
    for a task with a positive class (MRPC), that class's F1 beside them."""
    baselines = summary.get("baselines", [summary["baseline"]])
    positive = summary.get("positive_label")
    comparisons = {(entry["train_size"], entry["method"], entry["baseline"]): entry for entry in summary["comparisons"]}
    header = ["size", "method", "accuracy (points)", "macro F1", "majority", "s/run (training)"]
    for baseline in baselines:
        header += [f"diff vs {baseline} [95% CI]", "p", "W/L/T"]
    if positive:
        header.append(f"F1 ({positive})")
    rows = [header]
    for entry in summary["results"]:
        row = [str(entry["train_size"]), entry["method"], _accuracy_cell(entry), format_mean_std(entry, "macro_f1"),
               format_majority(entry), format_seconds(entry)]
        for baseline in baselines:
            comparison = comparisons.get((entry["train_size"], entry["method"], baseline))
            if comparison is None:
                row += ["", "", ""]
                continue
            row += [f"{format_points(comparison['mean_diff'], signed=True)} {format_interval(comparison['ci95'])}",
                    format_p(comparison["p_value"]), f"{comparison['wins']}/{comparison['losses']}/{comparison['ties']}"]
        if positive:
            row.append(format_mean_std(entry, "f1"))
        rows.append(row)
    widths = [max(len(row[column]) for row in rows) for column in range(len(header))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * width for width in widths))
    footer = (f"p: {summary['test']}; accuracy and macro F1 in points (percent), mean ± std; majority: accuracy of "
              "always predicting the evaluation set's most frequent class (not beaten: accuracy less than "
              f"{MAJORITY_MARGIN} points above it)")
    if positive:
        footer += f"; F1 of the {positive} class in points, mean ± std"
    if summary.get("max_eval"):
        footer += f"; evaluation capped at {summary['max_eval']} examples (--max-eval)"
        if summary.get("eval_folds"):
            footer += " per fold"
    return "\n".join(lines + [footer])


def markdown_table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def _report_markdown(summary: Mapping[str, Any], output_dir: Path, title: str, context: Mapping[str, Any]) -> str:
    baseline = summary["baseline"]
    baselines = summary.get("baselines", [baseline])
    lines = [f"# {title}", "", "## What was run", ""]
    lines += [f"- **{name.replace('_', ' ').capitalize()}**: {value}" for name, value in context.items()]
    if summary.get("max_eval") and summary.get("eval_folds"):
        lines.append(f"- **Evaluation**: capped with `--max-eval {summary['max_eval']}`: each of the {summary['eval_folds']} "
                     f"folds evaluates on its own fixed stratified sample of {summary['max_eval']} of its examples, the same "
                     "for every run on that fold (so the paired runs share it); accuracies are on those samples only")
    elif summary.get("max_eval"):
        lines.append(f"- **Evaluation**: capped with `--max-eval {summary['max_eval']}`: one fixed stratified sample of "
                     f"{summary['max_eval']} evaluation examples, the same for every run; accuracies are on that sample only")
    else:
        lines.append("- **Evaluation**: the whole evaluation set (no `--max-eval` cap)")
    lines.append(f"- **Runs**: {summary['n_runs']}; baseline{'s' if len(baselines) > 1 else ''} "
                 + ", ".join(f"`{name}`" for name in baselines))

    methods = summary["methods"]
    cells = {(entry["train_size"], entry["method"]): entry for entry in summary["results"]}
    lines += ["", "## Accuracy, macro F1 and the majority class", "",
              "Accuracy and macro F1 in points (percent), mean ± sample standard deviation over seeds/folds, beside "
              "the evaluation set's majority-class rate.", ""]
    lines += markdown_table(["Training size", "Method", "Accuracy", "Macro F1", "Majority class"], (
        [str(size), method, _accuracy_cell(cells[(size, method)]), format_mean_std(cells[(size, method)], "macro_f1"),
         format_majority(cells[(size, method)])]
        for size in summary["train_sizes"] for method in methods if (size, method) in cells))
    lines += ["", MAJORITY_NOTE]
    lines += ["", "## Time per run", "",
              "Seconds per run, mean over seeds/folds: the whole run (training and evaluation), and training alone "
              "in brackets.", ""]
    lines += markdown_table(["Training size"] + methods, (
        [str(size)] + [format_seconds(cells[(size, method)]) if (size, method) in cells else "–" for method in methods]
        for size in summary["train_sizes"]))

    positive = summary.get("positive_label")
    if positive:
        lines += ["", f"## F1 of the `{positive}` class", "",
                  f"The F1 of the `{positive}` class, the measure the literature reports for this task, with the macro "
                  "F1 beside it: points, mean ± sample standard deviation over seeds/folds.", ""]
        lines += markdown_table(["Training size", "Method", f"F1 ({positive})", "Macro F1"], (
            [str(entry["train_size"]), entry["method"], format_mean_std(entry, "f1"), format_mean_std(entry, "macro_f1")]
            for entry in summary["results"]))

    for base in baselines:
        lines += ["", f"## Paired comparison against `{base}`", "",
                  f"Each run is paired with the `{base}` run of the same training size and seed/fold: same sampled "
                  "training set, same evaluation examples (and, between fine-tuning methods, the same initial "
                  f"weights). Differences are in accuracy points (method minus `{base}`). p: {summary['test']}; "
                  f"CI: {summary['confidence_interval']}; secondary p: {summary['secondary_test']}. "
                  "W/L/T: pairs won, lost, tied.", ""]
        lines += markdown_table(["Training size", "Method", "Pairs", "Mean diff", "95% CI", "p (t-test)", "p (Wilcoxon)", "W/L/T"], (
            [str(c["train_size"]), c["method"], str(c["n_pairs"]), format_points(c["mean_diff"], signed=True),
             format_interval(c["ci95"]), format_p(c["p_value"]), format_p(c["wilcoxon_p"]), f"{c['wins']}/{c['losses']}/{c['ties']}"]
            for c in summary["comparisons"] if c["baseline"] == base))

    lines += ["", "## Verdict", ""]
    lines += [f"- Training size {c['train_size']}: {verdict(c)}." for c in summary["comparisons"]] or ["- No comparisons."]
    if len(summary["comparisons"]) > 1:
        lines.append(f"- The p-values are not corrected for the {len(summary['comparisons'])} comparisons in this table.")

    if summary.get("paper_comparison"):
        low, high = PAPER_GAIN_RANGE
        lines += ["", "## The paper's published gains beside the measured ones", "",
                  f"{PAPER_REFERENCE} reports gains over the CE baseline of {low} to {high} accuracy points across "
                  "its tasks. The paper's size classes are not this run's training sizes; the mapping between them "
                  "is this report's choice.", ""]
        lines += markdown_table(["Paper setting", "Method", "Paper gain", "Measured at size", "Measured mean diff", "95% CI", "Pairs"], (
            [row["label"], row["method"], format_points(row["paper_gain"], signed=True), str(row["train_size"] or "–"),
             format_points(row["measured_mean_diff"], signed=True), format_interval(row["measured_ci95"]), str(row["measured_n_pairs"])]
            for row in summary["paper_comparison"]))

    if summary.get("tuning"):
        lines += ["", *_tuning_markdown(summary["tuning"])]

    plots = [(caption, name) for caption, name in (("Accuracy by training size", ACCURACY_PLOT),
                                                   (f"Paired differences against {baseline}", DIFFERENCES_PLOT))
             if (output_dir / name).exists()]
    if plots:
        lines += ["", "## Plots", ""] + [f"![{caption}]({name})" for caption, name in plots]
    if summary.get("notes"):
        lines += ["", "## Notes", ""] + [f"- {note}" for note in summary["notes"]]
    return "\n".join(lines) + "\n"


def _tuning_markdown(tuning: Mapping[str, Any]) -> list[str]:
    """The report's account of ``compare --tune``: the budget, the data, each method's choice."""
    samples = f"{tuning['tune_seeds']} training sample{'s' if tuning['tune_seeds'] != 1 else ''}"
    per_fold = " and outer fold" if any(study["fold"] is not None for study in tuning["studies"]) else ""
    lines = ["## Tuning", "",
             f"Every method was tuned with the same budget of **{tuning['budget']} Optuna trials** per training size"
             f"{per_fold} (TPE sampler, seed {tuning['sampler_seed']}; pruner: {tuning['pruner']}), on the same "
             f"validation data, disjoint from every evaluation set. A trial's value is its validation accuracy "
             f"averaged over {samples} of the run's size. The runs above use each method's best trial. "
             f"Studies: `{tuning['storage']}`.", ""]
    lines += [f"- Search space of `{method}`: " + "; ".join(space)
              + (f" (fixed by the command: {', '.join(tuning['fixed'][method])})" if tuning["fixed"].get(method) else "")
              for method, space in tuning["search_spaces"].items()]
    lines += ["", *markdown_table(["Training size", "Fold", "Method", "Validation data", "Trials finished",
                                   "Best validation accuracy", "Chosen settings"], (
        [str(s["train_size"]), "–" if s["fold"] is None else str(s["fold"]), s["method"], s["validation"],
         f"{s['finished']}/{tuning['budget']}", format_points(s.get("best_accuracy")),
         ", ".join(f"{name} {value:g}" if isinstance(value, float) else f"{name} {value}"
                   for name, value in s["chosen"].items()) if "chosen" in s else "tuning not finished"]
        for s in tuning["studies"]))]
    return lines


def write_report(summary: Mapping[str, Any], output_dir: str | os.PathLike, title: str,
                 context: Mapping[str, Any]) -> Path:
    """Write ``summary.json`` and ``report.md`` into ``output_dir``, each atomically.

    ``context`` describes what was run, shown in order as "name: value" lines (e.g. command,
    model, data, date, machine, wall time). The report embeds ``accuracy.png`` and
    ``differences.png`` if they are already in ``output_dir``. Returns the report's path.
    """
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    write_json_atomic(output_dir / SUMMARY_FILE, summary)
    report = output_dir / REPORT_FILE
    write_bytes_atomic(report, _report_markdown(summary, output_dir, title, context).encode("utf-8"))
    return report


def write_outputs(
    records: Sequence[Mapping[str, Any]],
    output_dir: str | os.PathLike,
    *,
    title: str,
    context: Mapping[str, Any],
    baseline: str | Sequence[str] = "ce",
    paper_gains: Sequence[Mapping[str, Any]] | None = None,
    notes: Sequence[str] | None = None,
    max_eval: int | None = None,
    eval_folds: int | None = None,
    tuning: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Summarise one grid's records, draw both plots and write the report; returns the summary.

    This is everything a grid produces after its runs: ``summary.json``, ``report.md``,
    ``accuracy.png`` and ``differences.png`` in ``output_dir``. ``tuning`` (what ``compare
    --tune`` chose) goes into ``summary.json`` and the report as it is.
    """
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    summary = summarize(records, baseline=baseline, paper_gains=paper_gains, notes=notes, max_eval=max_eval,
                        eval_folds=eval_folds)
    baseline = summary["baseline"]
    if tuning is not None:
        summary["tuning"] = dict(tuning)
    plot_accuracy_vs_size(summary, output_dir / ACCURACY_PLOT)
    plot_paired_differences(records, baseline, output_dir / DIFFERENCES_PLOT)
    write_report(summary, output_dir, title, context)
    return summary
