"""PNG plots of a grid: accuracy against training size, and the paired differences.

Figures are drawn on matplotlib's Agg canvas without pyplot, so nothing here changes the
global backend or needs a display.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from .grid import train_size_order
from .store import write_bytes_atomic
from .stats import paired_differences

_DPI = 150


def _colors(methods: Iterable[str], baseline: str) -> dict[str, str]:
    """The same color for a method in every plot: the baseline first, then the others by name."""
    ordered = sorted(set(methods), key=lambda method: (method != baseline, method))
    return {method: f"C{index}" for index, method in enumerate(ordered)}


def plot_accuracy_vs_size(summary: Mapping[str, Any], path: str | os.PathLike) -> None:
    """Mean accuracy (points) against training size, one line per method, error bars = ±1 std.

    Training sizes sit on a categorical axis (so ``"full"`` goes last); the methods are shifted
    slightly sideways so their error bars do not hide each other.
    """
    sizes = sorted({entry["train_size"] for entry in summary["results"]}, key=train_size_order)
    methods = [method for method in summary.get("methods", []) if any(e["method"] == method for e in summary["results"])]
    positions = {size: index for index, size in enumerate(sizes)}
    figure = Figure(figsize=(max(5.0, 1.3 * len(sizes) + 2.5), 4.0), layout="constrained")
    axes = figure.add_subplot()
    colors = _colors(methods, summary.get("baseline", "ce"))
    width = 0.08 * (len(methods) - 1)
    for index, method in enumerate(methods):
        entries = [entry for entry in summary["results"] if entry["method"] == method]
        offset = (index / max(1, len(methods) - 1) - 0.5) * width if len(methods) > 1 else 0.0
        x = [positions[entry["train_size"]] + offset for entry in entries]
        y = [entry["mean"] for entry in entries]
        spread = [entry["std"] or 0.0 for entry in entries]
        axes.errorbar(x, y, yerr=spread, marker="o", capsize=4, linewidth=1.5, label=method,
                       color=colors[method])
    axes.set_xticks(range(len(sizes)), [str(size) for size in sizes])
    axes.set_xlabel("training examples")
    axes.set_ylabel("accuracy (points)")
    axes.set_title("Accuracy by training size (mean ± 1 std over seeds/folds)")
    axes.grid(True, axis="y", alpha=0.3)
    if methods:
        axes.legend(title="method")
    _save(figure, path)


def plot_paired_differences(records: Iterable[Mapping[str, Any]], baseline: str, path: str | os.PathLike) -> None:
    """Each method's paired accuracy differences against ``baseline`` (points), per training size.

    One box per (training size, method) with every pair drawn as a dot over it and the mean as a
    black diamond beside it, and a line at 0: dots above it are pairs where the method beat the
    baseline.
    """
    groups = [group for group in paired_differences(records, baseline) if group.differences]
    methods = sorted({group.method for group in groups})
    figure = Figure(figsize=(max(5.0, 0.9 * len(groups) + 2.5), 4.0), layout="constrained")
    axes = figure.add_subplot()
    axes.axhline(0.0, color="black", linewidth=1.0)
    if not groups:
        axes.text(0.5, 0.5, f"no paired runs against {baseline}", ha="center", va="center", transform=axes.transAxes)
    colors = _colors([baseline, *methods], baseline)
    jitter = np.random.default_rng(0)
    for position, group in enumerate(groups):
        values = np.asarray(group.differences)
        color = colors[group.method]
        line = {"color": color}
        axes.boxplot([values], positions=[position], widths=0.5, showfliers=False, patch_artist=True,
                     boxprops={"facecolor": color, "edgecolor": color, "alpha": 0.25}, medianprops=line,
                     whiskerprops=line, capprops=line)
        axes.scatter(position + jitter.uniform(-0.12, 0.12, values.size), values, color=color, s=18, zorder=3)
        axes.scatter([position + 0.32], [values.mean()], marker="D", color="black", s=22, zorder=3,
                     label="mean" if position == 0 else None)
    axes.set_xticks(range(len(groups)), [f"{group.train_size}\n{group.method}" for group in groups])
    axes.set_xlabel("training examples / method")
    axes.set_ylabel(f"accuracy minus {baseline} (points)")
    axes.set_title(f"Paired differences against {baseline} (one dot per seed/fold)")
    if groups:
        axes.legend(loc="best")
    axes.grid(True, axis="y", alpha=0.3)
    _save(figure, path)


def _save(figure: Figure, path: str | os.PathLike) -> None:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=_DPI)
    write_bytes_atomic(path, buffer.getvalue())
