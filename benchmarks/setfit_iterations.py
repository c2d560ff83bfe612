"""How much does `compare`'s SetFit (the setfit library at its defaults) give away against SetFit as
its paper ran it? On validation data only.

setfit 1.x draws sentence pairs by ``sampling_strategy="oversampling"`` when ``num_iterations``
is not set (its default): every pair of the minority kind (same class or not) is kept and the
other kind oversampled to match, one epoch. The SetFit paper's table (Tunstall et al. 2022) was
made with ``num_iterations=20``: 20 pairs of each kind per example. This script trains both on
the same stratified samples (the ones `compare` draws with the same seeds) and scores them on the
task's validation split, so that nothing here looks at a test set. One process, ``--threads``
torch threads.

    HF_HUB_OFFLINE=1 TRIPLEENTROPY_DATA=../shared/data/senteval \\
        python benchmarks/setfit_iterations.py --tasks SST2,SST5 --sizes 16,40 --seeds 3 --json setfit_iterations.json
"""

from __future__ import annotations

import argparse
import json
import statistics
from typing import Any

TASKS_WITH_VALIDATION = ("SST2", "SST5")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """This benchmark's flags (``--help`` shows them under the description above), checked."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="minilm", help="the encoder, as compare's --model (minilm)")
    parser.add_argument("--tasks", default="SST2,SST5", help="comma-separated tasks with a validation split (SST2,SST5)")
    parser.add_argument("--sizes", default="16,40",
                        help="training examples per task, one per task in --tasks order (16,40: 8 per class)")
    parser.add_argument("--seeds", type=int, default=3, help="training samples per task (3)")
    parser.add_argument("--iterations", type=int, default=20, help="num_iterations of the paper's runs (20)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1)")
    parser.add_argument("--json", default=None, help="also write every run to this JSON file")
    args = parser.parse_args(argv)
    args.tasks = [task.strip() for task in args.tasks.split(",")]
    unknown = [task for task in args.tasks if task not in TASKS_WITH_VALIDATION]
    if unknown:
        parser.error(f"--tasks: {', '.join(unknown)} has no validation split; choose from {', '.join(TASKS_WITH_VALIDATION)}")
    try:
        args.sizes = [int(size) for size in args.sizes.split(",")]
    except ValueError:
        parser.error(f"--sizes: {args.sizes!r} is not a comma-separated list of integers")
    if len(args.sizes) != len(args.tasks):
        parser.error(f"--sizes gives {len(args.sizes)} sizes for {len(args.tasks)} tasks")
    for name in ("seeds", "iterations", "threads"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1")
    if min(args.sizes) < 2:
        parser.error("--sizes must be at least 2")
    return args


def run(model_path: str, train: list, evaluation: list, seed: int, iterations: int | None) -> dict[str, Any]:
    from tripleentropy.experiments.methods import train_setfit

    model, seconds = train_setfit(model_path, [e.text for e in train], [e.label for e in train], seed,
                                  num_iterations=iterations)
    predictions = model.predict([e.text for e in evaluation], batch_size=128, as_numpy=True)
    correct = sum(int(p) == e.label for p, e in zip(predictions, evaluation))
    return {"accuracy": 100 * correct / len(evaluation), "train_seconds": seconds}


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    import torch
    from setfit import logging as setfit_logging

    from tripleentropy.data import load_task, sample_train
    from tripleentropy.modeling import resolve_model

    torch.set_num_threads(args.threads)
    setfit_logging.set_verbosity_error()
    model_path = resolve_model(args.model)
    rows = []
    for task, size in zip(args.tasks, args.sizes):
        splits = load_task(task)
        evaluation = splits["validation"].examples
        for seed in range(args.seeds):
            train = sample_train(splits["train"].examples, size, seed)
            for iterations in (None, args.iterations):
                row = {"task": task, "train_size": size, "seed": seed, "num_iterations": iterations,
                       **run(model_path, train, evaluation, seed, iterations)}
                rows.append(row)
                print(json.dumps(row), flush=True)
    print(f"\n{args.model}, validation split, {args.seeds} seeds, {args.threads} thread(s)\n")
    print(f"| task | size | default | num_iterations={args.iterations} | difference (each seed) | train s default | train s {args.iterations} |")
    print("|---|---:|---:|---:|---|---:|---:|")
    for task, size in zip(args.tasks, args.sizes):
        default = [r for r in rows if r["task"] == task and r["num_iterations"] is None]
        paper = [r for r in rows if r["task"] == task and r["num_iterations"] == args.iterations]
        differences = ", ".join(f"{p['accuracy'] - d['accuracy']:+.2f}" for d, p in zip(default, paper))
        print(f"| {task} | {size} | {statistics.mean(r['accuracy'] for r in default):.2f} "
              f"| {statistics.mean(r['accuracy'] for r in paper):.2f} | {differences} "
              f"| {statistics.mean(r['train_seconds'] for r in default):.0f} "
              f"| {statistics.mean(r['train_seconds'] for r in paper):.0f} |")
    if args.json:
        with open(args.json, "w") as file:
            json.dump({"model": args.model, "threads": args.threads, "runs": rows}, file, indent=2)


if __name__ == "__main__":
    main()
