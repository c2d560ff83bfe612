"""Pool the paired comparisons of several `compare` folders, one per task, as `reproduce` pools
a preset's tasks: each task's pairs stay within the task, and one paired t-test runs over all of
them. For grids that `reproduce` has no preset for, e.g. the fewshot preset's samples with
SetFit at its paper's 20 iterations (docs/results.md, "SetFit at its paper's 20 iterations"):

    python benchmarks/pool_tasks.py runs/fewshot-sf20 --baseline setfit

Reads DIR/TASK/runs/*.json for every TASK folder in DIR (each holding one grid's runs only)
and prints, per task and pooled, each
method's mean accuracy and its paired difference from the baseline (mean, 95% t interval,
wins/losses/ties).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """This script's flags (``--help`` shows them under the description above)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dir", type=Path, help="a folder holding one compare output folder per task")
    parser.add_argument("--baseline", default="ce", help="the method the others are paired with (ce)")
    return parser.parse_args(argv)


def signed(value: float) -> str:
    return f"{value:+.2f}".replace("-", "−")


def comparison_cells(comparison: dict) -> str:
    interval = comparison["ci95"]
    shown = f" [{signed(interval[0])}, {signed(interval[1])}]" if interval else ""
    return f"{signed(comparison['mean_diff'])}{shown}, {comparison['wins']}/{comparison['losses']}/{comparison['ties']}"


def main(argv: list[str] | None = None) -> int:
    from tripleentropy.experiments.reproduce import pooled_comparisons

    args = parse_args(argv)
    by_task = {folder.name: [json.loads(path.read_text()) for path in sorted((folder / "runs").glob("*.json"))]
               for folder in sorted(args.dir.iterdir()) if (folder / "runs").is_dir()}
    by_task = {task: records for task, records in by_task.items() if records}
    if not by_task:
        print(f"pool_tasks.py: no run records in {args.dir}/*/runs", file=sys.stderr)
        return 2
    try:
        pooled_comparisons(by_task, args.baseline)
    except ValueError as error:  # e.g. two runs of one cell: runs of another grid in a folder
        print(f"pool_tasks.py: {error}", file=sys.stderr)
        return 2
    methods = sorted({record["method"] for records in by_task.values() for record in records} - {args.baseline})
    print(f"| task | size | {args.baseline} | " + " | ".join(methods) + " | "
          + " | ".join(f"{method} − {args.baseline}, W/L/T" for method in methods) + " |")
    print("|---|---|" + "---:|" * (1 + len(methods)) + "---|" * len(methods))
    for task, records in [*by_task.items(), ("pooled", [r for rs in by_task.values() for r in rs])]:
        comparisons = pooled_comparisons(by_task if task == "pooled" else {task: records}, args.baseline)
        for size in sorted({c["train_size"] for c in comparisons}, key=str):
            means = [statistics.mean(100 * r["metrics"]["accuracy"] for r in records
                                     if r["method"] == method and r["train_size"] == size)
                     for method in [args.baseline, *methods]]
            cells = {c["method"]: comparison_cells(c) for c in comparisons if c["train_size"] == size}
            print(f"| {task} | {size} | " + " | ".join(f"{mean:.2f}" for mean in means) + " | "
                  + " | ".join(cells.get(method, "–") for method in methods) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
