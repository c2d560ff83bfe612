"""Pair the runs of two recipes stored by `benchmarks/defaults_study.sh` (one `compare` folder per
task, every recipe's runs in it) and print, per training size and method, each recipe's mean
accuracy and macro F1 and the paired difference (the same task, size, seed and method under
both recipes: the same training sample, the same evaluation examples), pooled over the tasks and
per task, with its 95% t interval and wins/losses/ties:

    python benchmarks/recipe_pairs.py runs/defaults-study
    python benchmarks/recipe_pairs.py runs/defaults-study --against default-3-epochs --json summary.json

A run belongs to a recipe when its recorded settings hold every setting of the recipe (as
`benchmarks/defaults_study.sh` spells it); other runs are ignored.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

_COMMON = {"pooling": "auto", "head_init": "probe", "lr": 5e-5, "min_steps": 50, "max_length": 256}
RECIPES: dict[str, dict[str, Any]] = {
    "classic": {"pooling": "cls", "head_init": "random", "lr": 1e-4, "epochs": 3.0, "min_steps": 0, "max_length": 64},
    "default": {**_COMMON, "epochs": 8.0},
    "default-3-epochs": {**_COMMON, "epochs": 3.0},
}
# Settings only TripleEntropy reads: its runs must hold them too.
TRIPLEENTROPY = {
    "classic": {"center_init": "uniform", "softtriple_input": "tokens"},
    "default": {"center_init": "kmeans", "softtriple_input": "mean"},
    "default-3-epochs": {"center_init": "kmeans", "softtriple_input": "mean"},
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """This script's flags (``--help`` shows them under the description above)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dir", type=Path, help="the study's folder: one compare output folder per task")
    parser.add_argument("--recipe", default="default", choices=sorted(RECIPES), help="the recipe measured (default)")
    parser.add_argument("--against", default="classic", choices=sorted(RECIPES),
                        help="the recipe it is paired with (classic)")
    parser.add_argument("--json", type=Path, default=None, metavar="FILE", help="also write the numbers to FILE")
    parser.add_argument("--no-times", action="store_true",
                        help="leave out the seconds of training per run (not comparable when the machine was shared)")
    return parser.parse_args(argv)


def recipe_of(record: dict[str, Any]) -> str | None:
    """The recipe whose settings the run's recorded settings hold, or None."""
    config = record.get("config", {})
    for name, settings in RECIPES.items():
        wanted = {**settings, **(TRIPLEENTROPY[name] if record["method"] == "tripleentropy" else {})}
        if all(config.get(key) == value for key, value in wanted.items()):
            return name
    return None


def signed(value: float) -> str:
    return f"{value:+.2f}".replace("-", "−")


def paired(differences: list[float]) -> dict[str, Any]:
    """Mean, 95% t interval (None for fewer than 2 pairs) and wins/losses/ties of differences."""
    from tripleentropy.experiments.stats import paired_test

    test = paired_test(differences)
    return {"n": len(differences), "mean_diff": statistics.fmean(differences), "ci95": test.get("ci95"),
            "wins": sum(d > 0 for d in differences), "losses": sum(d < 0 for d in differences),
            "ties": sum(d == 0 for d in differences)}


def collect(directory: Path, recipe: str, against: str) -> dict[str, Any]:
    """Per (size, method): the pairs of every task, and per task, as nested dicts of numbers."""
    cells: dict[tuple, dict[str, dict]] = defaultdict(dict)
    for folder in sorted(path for path in directory.iterdir() if (path / "runs").is_dir()):
        for path in sorted((folder / "runs").glob("*.json")):
            record = json.loads(path.read_text())
            name = recipe_of(record)
            if name in (recipe, against):
                cell = (str(record["train_size"]), record["method"], folder.name, record["seed"])
                if name in cells[cell]:
                    raise ValueError(f"two runs of one cell under {name}: {cell} (another grid in {folder}?)")
                cells[cell][name] = record
    results: dict[tuple, dict[str, list]] = defaultdict(lambda: defaultdict(list))
    for (size, method, task, _seed), pair in cells.items():
        if recipe in pair and against in pair:
            for scope in ("pooled", task):
                values = results[(size, method, scope)]
                for name in (recipe, against):
                    values[f"{name}_accuracy"].append(100 * pair[name]["metrics"]["accuracy"])
                    values[f"{name}_macro_f1"].append(100 * pair[name]["metrics"].get("macro_f1", float("nan")))
                    values[f"{name}_train_seconds"].append(pair[name].get("train_seconds", float("nan")))
                values["diff"].append(100 * (pair[recipe]["metrics"]["accuracy"] - pair[against]["metrics"]["accuracy"]))
    summary = []
    for (size, method, scope), values in sorted(results.items(), key=lambda item: (_size_order(item[0][0]), item[0][1:])):
        row = {"train_size": size, "method": method, "scope": scope, **paired(values.pop("diff"))}
        row.update({name: statistics.fmean(numbers) for name, numbers in values.items()})
        summary.append(row)
    return {"recipe": recipe, "against": against, "rows": summary}


def _size_order(size: str) -> tuple[int, str]:
    return (int(size), "") if size.isdigit() else (10**9, size)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.recipe == args.against:
        print("recipe_pairs.py: --recipe and --against name the same recipe", file=sys.stderr)
        return 2
    if not args.dir.is_dir():
        print(f"recipe_pairs.py: {args.dir} is not a folder", file=sys.stderr)
        return 2
    try:
        summary = collect(args.dir, args.recipe, args.against)
    except ValueError as error:
        print(f"recipe_pairs.py: {error}", file=sys.stderr)
        return 2
    if not summary["rows"]:
        print(f"recipe_pairs.py: no pairs of {args.recipe} and {args.against} runs in {args.dir}/*/runs", file=sys.stderr)
        return 2
    recipe, against = args.recipe, args.against
    times = "" if args.no_times else f" s/run {against} | s/run {recipe} |"
    print(f"| size | method | tasks | pairs | {against} acc. | {recipe} acc. | {recipe} − {against} [95% CI] | W/L/T "
          f"| {against} macro F1 | {recipe} macro F1 |{times}")
    print("|---|---|---|---:|---:|---:|---|---|---:|---:|" + ("" if args.no_times else "---:|---:|"))
    for row in summary["rows"]:
        interval = row["ci95"]
        shown = f" [{signed(interval[0])}, {signed(interval[1])}]" if interval else ""
        seconds = "" if args.no_times else (f" {row[f'{against}_train_seconds']:.1f} "
                                           f"| {row[f'{recipe}_train_seconds']:.1f} |")
        print(f"| {row['train_size']} | {row['method']} | {row['scope']} | {row['n']} "
              f"| {row[f'{against}_accuracy']:.2f} | {row[f'{recipe}_accuracy']:.2f} | {signed(row['mean_diff'])}{shown} "
              f"| {row['wins']}/{row['losses']}/{row['ties']} | {row[f'{against}_macro_f1']:.2f} "
              f"| {row[f'{recipe}_macro_f1']:.2f} |{seconds}")
    if args.json is not None:
        args.json.write_text(json.dumps(summary, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
