"""Does TripleEntropy beat cross-entropy once both get the same tuning budget? Untuned and tuned, side by side.

For each task, two paired ``compare`` grids of ``ce`` and ``tripleentropy`` on the same training
samples (same sizes and seeds) and the same evaluation examples:

- untuned: the few-shot recipe of the ``fewshot`` preset (mean pooling, head from a probe, at
  least 50 steps at lr 5e-5, k-means centers on the pooled vector), as `reproduce --preset
  fewshot` runs it;
- tuned: ``compare --tune N``: every method gets the same N Optuna trials on the same validation
  data (the task's validation split, or inner folds of its training data: never the evaluation
  examples), then trains each seed with its own best settings. The recipe's choices of what is
  read and how it starts (pooling, head init, center init, SoftTriple input) stay fixed; the
  numbers (lr, epochs, warm-up, batch size, and TripleEntropy's beta, la, gamma, margin, K, tau,
  center lr) are searched.

The tuned grid runs as ``--processes`` shards (``compare --shard I/N``) of one thread each,
sharing the study in ``DIR/TASK/tuned/tune/study.db``: every process takes part in every study.
Then the table: per task and pooled over tasks, TripleEntropy minus CE untuned and tuned (95% t
interval, paired t-test), and each method tuned minus untuned (same samples). Everything is
stored under ``--output-dir``, so an interrupted study resumes where it stopped.

Tasks evaluated by cross-validation (MR, CR, SUBJ, MPQA) tune one study per outer fold, that is
per seed: five times the tuning of a task with a test split.

    HF_HUB_OFFLINE=1 TRIPLEENTROPY_DATA=../shared/data/senteval \\
        python benchmarks/tuned_study.py --output-dir runs/tuned-study --json tuned_study.json
    python benchmarks/tuned_study.py --tasks TREC --seeds 1 --train-size 16 --trials 2 --tune-seeds 1 --max-eval 40 --output-dir /tmp/tuned   # smoke check
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from typing import Any

from tripleentropy.experiments.presets import FEW_SHOT_RECIPE
from tripleentropy.experiments.reproduce import pooled_records
from tripleentropy.experiments.report import format_interval, format_p
from tripleentropy.experiments.stats import paired_differences, paired_test
from tripleentropy.experiments.store import RunStore

METHODS = ("ce", "tripleentropy")
# What the recipe reads and how it starts: fixed while tuning. The rest of the recipe (lr, epochs,
# min_steps) is what tuning replaces.
STRUCTURE = ("pooling", "head_init", "center_init", "softtriple_input")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """This benchmark's flags (``--help`` shows them under the description above), checked."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", default="SST2,SST5,TREC", help="comma-separated SentEval tasks (SST2,SST5,TREC)")
    parser.add_argument("--train-size", type=int, default=64, help="training examples per run (64)")
    parser.add_argument("--seeds", type=int, default=5, help="seeds per task (5)")
    parser.add_argument("--trials", type=int, default=20, help="Optuna trials per method (compare --tune; 20)")
    parser.add_argument("--tune-seeds", type=int, default=2, help="training samples each trial averages over (2)")
    parser.add_argument("--reports-per-run", type=int, default=2, help="validation reports per tuning run (2)")
    parser.add_argument("--max-eval", type=int, default=500, help="evaluation and validation sample per task (500)")
    parser.add_argument("--processes", type=int, default=2, help="tuning processes (shards) side by side (2)")
    parser.add_argument("--output-dir", required=True, help="where both grids of every task are stored")
    parser.add_argument("--json", default=None, help="also write the results to this JSON file")
    args = parser.parse_args(argv)
    for name in ("train_size", "seeds", "trials", "tune_seeds", "reports_per_run", "max_eval", "processes"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    return args


def recipe_flags(keys: Sequence[str]) -> list[str]:
    """The few-shot recipe's settings ``keys`` as compare flags."""
    return [part for key in keys for part in ("--" + key.replace("_", "-"), str(FEW_SHOT_RECIPE[key]))]


def _compare(arguments: Sequence[str], threads: int | None = None) -> subprocess.Popen:
    environment = dict(os.environ)
    if threads is not None:
        environment["OMP_NUM_THREADS"] = str(threads)
    return subprocess.Popen([sys.executable, "-m", "tripleentropy", "compare", *arguments], env=environment)


def _wait(processes: Sequence[subprocess.Popen]) -> None:
    codes = [process.wait() for process in processes]
    if any(codes):
        sys.exit(f"tuned_study: compare exited with {codes}")


def run_task(task: str, args: argparse.Namespace) -> dict[str, float]:
    """Both grids of one task; returns the wall seconds each took."""
    common = ["--task", task, "--methods", ",".join(METHODS), "--train-sizes", str(args.train_size),
              "--seeds", str(args.seeds), "--max-eval", str(args.max_eval), "--quiet"]
    seconds = {}
    started = time.perf_counter()
    untuned = [*common, *recipe_flags(FEW_SHOT_RECIPE), "--jobs", str(args.processes),
               "--output-dir", os.path.join(args.output_dir, task, "untuned")]
    _wait([_compare(untuned)])
    seconds["untuned"] = time.perf_counter() - started
    started = time.perf_counter()
    tuned = [*common, *recipe_flags(STRUCTURE), "--tune", str(args.trials), "--tune-seeds", str(args.tune_seeds),
             "--reports-per-run", str(args.reports_per_run), "--output-dir", os.path.join(args.output_dir, task, "tuned")]
    threads = max(1, (os.cpu_count() or 1) // args.processes)
    _wait([_compare([*tuned, "--jobs", "1", "--shard", f"{part}/{args.processes}"], threads)
           for part in range(1, args.processes + 1)])
    _wait([_compare([*tuned, "--report-only"])])
    seconds["tuned"] = time.perf_counter() - started
    return seconds


def _records(directory: str, args: argparse.Namespace) -> list[dict]:
    return [record for record in RunStore(directory).all_records()
            if record["train_size"] == args.train_size and record["seed"] < args.seeds and record["method"] in METHODS]


def _test(records: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    (paired,) = [p for p in paired_differences(records, "ce") if p.method == "tripleentropy"]
    return paired_test(paired.differences)


def _tuned_minus_untuned(untuned: Sequence[Mapping[str, Any]], tuned: Sequence[Mapping[str, Any]], method: str) -> list[float]:
    before = {record["seed"]: record for record in untuned if record["method"] == method}
    differences = []
    for record in sorted((r for r in tuned if r["method"] == method), key=lambda r: r["seed"]):
        twin = before[record["seed"]]
        assert twin["train_fingerprint"] == record["train_fingerprint"], "the twins must share their sample"
        assert twin["eval_fingerprint"] == record["eval_fingerprint"], "the twins must share their evaluation"
        differences.append(100 * (record["metrics"]["accuracy"] - twin["metrics"]["accuracy"]))
    return differences


def _mean_accuracy(records: Sequence[Mapping[str, Any]], method: str) -> float:
    values = [100 * r["metrics"]["accuracy"] for r in records if r["method"] == method]
    return sum(values) / len(values)


def _cell(test: Mapping[str, Any]) -> str:
    return (f"{test['mean_diff']:+.2f} {format_interval(test['ci95'])}, p {format_p(test['p_value'])}, "
            f"{test['wins']}/{test['losses']}/{test['ties']}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    tasks = args.tasks.split(",")
    rows, grids, seconds = [], {"untuned": {}, "tuned": {}}, {}
    for task in tasks:
        seconds[task] = run_task(task, args)
        for grid in grids:
            grids[grid][task] = _records(os.path.join(args.output_dir, task, grid), args)
    scopes = [(task, {grid: grids[grid][task] for grid in grids}) for task in tasks]
    scopes.append(("all", {grid: pooled_records(grids[grid]) for grid in grids}))
    print("| task | pairs | CE untuned | TE untuned | TE - CE untuned | CE tuned | TE tuned | TE - CE tuned "
          "| CE tuned - untuned | TE tuned - untuned |")
    print("|---|---:|---:|---:|---|---:|---:|---|---|---|")
    for scope, records in scopes:
        row = {"task": scope, **{f"{method} {grid}": _mean_accuracy(records[grid], method)
                                 for grid in grids for method in METHODS}}
        row.update({f"te-ce {grid}": _test(records[grid]) for grid in grids})
        row.update({f"{method} tuned-untuned": paired_test(_tuned_minus_untuned(records["untuned"], records["tuned"], method))
                    for method in METHODS})
        rows.append(row)
        print(f"| {scope} | {row['te-ce tuned']['n_pairs']} | {row['ce untuned']:.2f} | {row['tripleentropy untuned']:.2f} "
              f"| {_cell(row['te-ce untuned'])} | {row['ce tuned']:.2f} | {row['tripleentropy tuned']:.2f} "
              f"| {_cell(row['te-ce tuned'])} | {_cell(row['ce tuned-untuned'])} "
              f"| {_cell(row['tripleentropy tuned-untuned'])} |")
    print("\nwall time per task (untuned grid, tuning and tuned grid): " + ", ".join(
        f"{task} {s['untuned'] / 60:.1f} min + {s['tuned'] / 60:.1f} min" for task, s in seconds.items()))
    if args.json:
        with open(args.json, "w") as file:
            json.dump({"settings": vars(args), "rows": rows, "wall_seconds": seconds}, file, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
