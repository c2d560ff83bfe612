"""Paired statistics of a grid: each method against a baseline method, per training size.

Units: every accuracy number in the summary is in accuracy points (percent, 0-100), converted
from the records' fractions; ``mean_diff`` is a difference of accuracy points.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .grid import TrainSize, train_size_order

TEST_NAME = "two-sided paired t-test on the per-pair accuracy differences"
CI_NAME = "95% Student t interval of the mean paired difference"
SECONDARY_TEST_NAME = "two-sided Wilcoxon signed-rank test (zero differences dropped)"
UNITS = {
    "mean": "accuracy points (percent, 0-100)",
    "std": "accuracy points, sample standard deviation (ddof=1)",
    "mean_diff": "accuracy points, method minus baseline",
    "std_diff": "accuracy points, sample standard deviation of the paired differences",
    "ci95": "accuracy points",
    "macro_f1_mean": "macro F1 points (0-100), mean over runs",
    "macro_f1_std": "macro F1 points, sample standard deviation (ddof=1)",
    "majority_rate_mean": "accuracy points of always predicting the most frequent class of each run's evaluation "
                          "examples, mean over runs",
    "seconds_mean": "seconds per run (training and evaluation), mean over runs",
    "train_seconds_mean": "seconds of training per run, mean over runs",
}
# Accuracy differences are multiples of 100/len(eval set); rounding the float noise of the
# subtraction away keeps equal differences exactly equal (ties, zero variance).
_DIFF_DECIMALS = 9


def pair_id(record: Mapping[str, Any]) -> tuple[int, int | None]:
    """What pairs runs within one training size: the seed and the fold (None without folds)."""
    return (record["seed"], record.get("fold"))


@dataclass(frozen=True)
class PairedDifferences:
    """The paired accuracy differences of one method against the baseline at one training size.

    ``differences[i]`` (points) belongs to ``pair_ids[i]``, sorted by pair id; ``unmatched`` counts
    the runs of this method or of the baseline at this size that have no partner.
    """

    train_size: TrainSize
    method: str
    baseline: str
    pair_ids: tuple[tuple[int, int | None], ...]
    differences: tuple[float, ...]
    unmatched: int


def _accuracy_points(record: Mapping[str, Any]) -> float:
    return 100.0 * float(record["metrics"]["accuracy"])


def _index(records: Iterable[Mapping[str, Any]]) -> dict[tuple, Mapping[str, Any]]:
    """Records by (train_size, method, pair id); two runs of one cell are an error (stale runs)."""
    index: dict[tuple, Mapping[str, Any]] = {}
    for record in records:
        cell = (record["train_size"], record["method"], pair_id(record))
        if cell in index:
            raise ValueError(
                f"two runs for method {cell[1]!r}, training size {cell[0]!r}, seed/fold {cell[2]}: summarise the "
                "records of one grid (what run_grid returns), not every file of a reused output folder"
            )
        index[cell] = record
    return index


def paired_differences(records: Iterable[Mapping[str, Any]], baseline: str = "ce") -> list[PairedDifferences]:
    """Match every non-baseline run with the baseline run of the same (train_size, seed, fold).

    Runs without a partner are left out and counted. Partners must share their data
    fingerprint (otherwise the design is not paired and ``ValueError`` is raised). The result
    is sorted by training size (numbers ascending, ``"full"`` last), then method name.
    """
    index = _index(records)
    cells = sorted({(size, method) for size, method, _ in index if method != baseline},
                   key=lambda cell: (train_size_order(cell[0]), cell[1]))
    baseline_ids: dict[TrainSize, set] = {}
    for size, method, ident in index:
        if method == baseline:
            baseline_ids.setdefault(size, set()).add(ident)
    result = []
    for size, method in cells:
        method_ids = {ident for s, m, ident in index if s == size and m == method}
        base_ids = baseline_ids.get(size, set())
        matched = sorted(method_ids & base_ids, key=lambda ident: (ident[0], -1 if ident[1] is None else ident[1]))
        differences = []
        for ident in matched:
            run, base = index[(size, method, ident)], index[(size, baseline, ident)]
            if run["data_fingerprint"] != base["data_fingerprint"]:
                raise ValueError(f"{method} and {baseline} runs at size {size}, seed/fold {ident} saw different data")
            differences.append(round(_accuracy_points(run) - _accuracy_points(base), _DIFF_DECIMALS))
        unmatched = len(method_ids ^ base_ids)
        result.append(PairedDifferences(size, method, baseline, tuple(matched), tuple(differences), unmatched))
    return result


def _finite_or_none(value: float) -> float | None:
    return float(value) if value is not None and math.isfinite(value) else None


def paired_test(differences: Sequence[float]) -> dict[str, Any]:
    """Mean, spread, 95% t interval, paired t-test and Wilcoxon p-values of paired differences.

    Returns ``n_pairs``, ``mean_diff``, ``std_diff``, ``ci95`` ([low, high]), ``p_value`` (paired
    t-test: a one-sample t-test of the differences against 0), ``wilcoxon_p``, ``wins``, ``losses``,
    ``ties`` (``|difference| < 1e-9``) and ``note`` (why a value is None, else None). With fewer than 2
    pairs, or differences all equal, the interval and tests are undefined and are None.
    """
    diffs = np.asarray(differences, dtype=float)
    n_pairs = int(diffs.size)
    out: dict[str, Any] = {
        "n_pairs": n_pairs,
        "mean_diff": float(diffs.mean()) if n_pairs else None,
        "std_diff": float(diffs.std(ddof=1)) if n_pairs >= 2 else None,
        "ci95": None,
        "p_value": None,
        "wilcoxon_p": None,
        "wins": int(np.sum(diffs >= 1e-9)),
        "losses": int(np.sum(diffs <= -1e-9)),
        "ties": int(np.sum(np.abs(diffs) < 1e-9)),
        "note": None,
    }
    if n_pairs == 0:
        out["note"] = "no pairs"
        return out
    if n_pairs < 2:
        out["note"] = f"one pair only ({out['mean_diff']:+.2f} points): no interval or test"
        return out
    if out["std_diff"] == 0.0:
        out["note"] = f"all {n_pairs} differences equal ({out['mean_diff']:+.2f} points): t interval and tests undefined"
        return out
    from scipy import stats as scipy_stats  # about a second to import: only when a test is due

    standard_error = out["std_diff"] / math.sqrt(n_pairs)
    half_width = float(scipy_stats.t.ppf(0.975, df=n_pairs - 1)) * standard_error
    out["ci95"] = [out["mean_diff"] - half_width, out["mean_diff"] + half_width]
    out["p_value"] = _finite_or_none(scipy_stats.ttest_1samp(diffs, 0.0).pvalue)
    if np.any(diffs != 0.0):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # scipy warns that exact p-values are unavailable with ties
            out["wilcoxon_p"] = _finite_or_none(scipy_stats.wilcoxon(diffs, zero_method="wilcox").pvalue)
    return out


def accuracy_results(records: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Per (train_size, method): ``n`` runs and the ``mean`` and ``std`` (ddof=1; None for n=1)
    of their accuracy in points, plus ``macro_f1_mean`` / ``macro_f1_std`` (points) when every
    run has ``macro_f1``, ``f1_mean`` / ``f1_std`` (points, the F1 of the positive class, e.g.
    MRPC's paraphrase class) when every run has ``f1``, ``majority_rate_mean`` (points, the
    accuracy of always predicting the most frequent class of each run's evaluation examples,
    mean over the runs) when every run has ``majority_rate`` (records written before it was
    stored lack it), and the mean time per run when every run has it: ``seconds_mean``
    (training and evaluation) and ``train_seconds_mean`` (training). Sorted by training size,
    then method name."""
    groups: dict[tuple, list[Mapping[str, Any]]] = {}
    for record in records:
        groups.setdefault((record["train_size"], record["method"]), []).append(record)
    results = []
    for (size, method), group in sorted(groups.items(), key=lambda item: (train_size_order(item[0][0]), item[0][1])):
        group = sorted(group, key=lambda record: (record["seed"], record.get("fold") or 0))
        entry: dict[str, Any] = {"train_size": size, "method": method, "n": len(group)}
        entry.update(_mean_std([_accuracy_points(record) for record in group]))
        if all("macro_f1" in record["metrics"] for record in group):
            f1 = _mean_std([100.0 * float(record["metrics"]["macro_f1"]) for record in group])
            entry.update({"macro_f1_mean": f1["mean"], "macro_f1_std": f1["std"]})
        if all("f1" in record["metrics"] for record in group):
            f1 = _mean_std([100.0 * float(record["metrics"]["f1"]) for record in group])
            entry.update({"f1_mean": f1["mean"], "f1_std": f1["std"]})
        if all("majority_rate" in record["metrics"] for record in group):
            entry["majority_rate_mean"] = float(np.mean([100.0 * float(record["metrics"]["majority_rate"])
                                                         for record in group]))
        for name in ("seconds", "train_seconds"):
            if all(name in record for record in group):
                entry[f"{name}_mean"] = float(np.mean([float(record[name]) for record in group]))
        results.append(entry)
    return results


def _mean_std(values: Sequence[float]) -> dict[str, float | None]:
    array = np.asarray(values, dtype=float)
    return {"mean": float(array.mean()), "std": float(array.std(ddof=1)) if array.size >= 2 else None}


def summarize(
    records: Iterable[Mapping[str, Any]],
    baseline: str | Sequence[str] = "ce",
    paper_gains: Sequence[Mapping[str, Any]] | None = None,
    notes: Sequence[str] | None = None,
    max_eval: int | None = None,
    eval_folds: int | None = None,
) -> dict[str, Any]:
    """The ``summary.json`` structure of one grid's records.

    ``baseline``: one method, or several (each method is compared with each; the first is the
    main one: ``baseline`` in the summary, the plots). ``comparisons``: per baseline, training
    size and other method, :func:`paired_test` of its paired differences plus ``train_size``,
    ``method``, ``baseline``, ``n_unmatched``. ``results``: see :func:`accuracy_results`.
    ``paper_gains``: published gains (``label``, ``gain`` in points, optional ``train_size`` and
    ``method``, default ``"tripleentropy"``) returned as ``paper_comparison`` with the measured
    comparison against ``ce`` at that training size beside each. ``max_eval`` records that
    evaluation was capped to that many examples, and ``eval_folds`` that the runs evaluate on
    that many cross-validation folds (each fold then has its own capped sample).
    ``positive_label`` names the class whose F1 the runs report as ``f1`` (MRPC's paraphrase
    class), when they all do. The summary holds no time stamps, so the same records always give
    the same summary.
    """
    records = list(records)
    baselines = [baseline] if isinstance(baseline, str) else list(baseline)
    comparisons = []
    for base in baselines:
        for paired in paired_differences(records, base):
            entry = {"train_size": paired.train_size, "method": paired.method, "baseline": base}
            entry.update(paired_test(paired.differences))
            entry["n_unmatched"] = paired.unmatched
            comparisons.append(entry)
    results = accuracy_results(records)
    summary: dict[str, Any] = {
        "baseline": baselines[0],
        "baselines": baselines,
        "test": TEST_NAME,
        "confidence_interval": CI_NAME,
        "secondary_test": SECONDARY_TEST_NAME,
        "units": UNITS,
        "max_eval": max_eval,
        "eval_folds": eval_folds,
        "positive_label": _positive_label(records),
        "n_runs": len(records),
        "train_sizes": sorted({record["train_size"] for record in records}, key=train_size_order),
        "methods": sorted({record["method"] for record in records},
                          key=lambda method: (method not in baselines, baselines.index(method) if method in baselines else 0, method)),
        "results": results,
        "comparisons": comparisons,
        "notes": list(notes or []),
    }
    if paper_gains is not None:
        summary["paper_comparison"] = _paper_comparison(paper_gains, comparisons)
    return summary


def _positive_label(records: Sequence[Mapping[str, Any]]) -> str | None:
    labels = {record["metrics"].get("positive_label") for record in records}
    return labels.pop() if len(labels) == 1 and None not in labels else None


def _paper_comparison(paper_gains: Sequence[Mapping[str, Any]], comparisons: Sequence[Mapping[str, Any]]) -> list[dict]:
    by_cell = {(entry["train_size"], entry["method"]): entry for entry in comparisons if entry["baseline"] == "ce"}
    rows = []
    for published in paper_gains:
        method = published.get("method", "tripleentropy")
        size = published.get("train_size")
        measured = by_cell.get((size, method), {})
        rows.append(
            {
                "label": published["label"],
                "method": method,
                "paper_gain": published["gain"],
                "train_size": size,
                "measured_mean_diff": measured.get("mean_diff"),
                "measured_ci95": measured.get("ci95"),
                "measured_n_pairs": measured.get("n_pairs", 0),
            }
        )
    return rows
