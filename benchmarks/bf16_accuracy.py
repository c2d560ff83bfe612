"""Does bfloat16 autocast change what fine-tuning learns? Paired float32 / bf16 runs, and their time.

For each task, ``compare`` runs the grid twice with the same settings, once in float32 and once
with ``--bf16`` (bfloat16 autocast in training; SoftTriple and the centers stay float32;
evaluation is float32 in both): every bf16 run trains on the same sample from the same weights
and head as its float32 twin and is evaluated on the same examples. The table gives, per task
and loss, the mean accuracy of each and the paired difference bf16 - float32 in points, then all
pairs pooled with a 95% t interval and a paired t-test, and the ratio of summed training time
(bf16 / float32). The runs are stored under ``--output-dir`` (``TASK/fp32``, ``TASK/bf16``), so
an interrupted study resumes where it stopped.

bf16 autocast is fast only where the hardware has bfloat16 arithmetic (recent GPUs, CPUs with
AVX512-BF16 or AMX); elsewhere PyTorch emulates it, and it is much slower than float32.

    HF_HUB_OFFLINE=1 TRIPLEENTROPY_DATA=../shared/data/senteval \\
        python benchmarks/bf16_accuracy.py --output-dir runs/bf16 --json bf16_accuracy.json
    python benchmarks/bf16_accuracy.py --tasks CR --seeds 1 --train-size 8 --epochs 1 --max-eval 16 --output-dir /tmp/bf16   # smoke check
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from tripleentropy.errors import UserError
from tripleentropy.experiments.compare import design_from_task, parse_jobs, run_comparison
from tripleentropy.experiments.report import format_interval, format_p
from tripleentropy.experiments.stats import paired_test
from tripleentropy.training import TrainConfig


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """This benchmark's flags (``--help`` shows them under the description above), checked."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", default="SST2,TREC", help="comma-separated SentEval tasks (SST2,TREC)")
    parser.add_argument("--losses", default="ce,tripleentropy", help="comma-separated losses (ce,tripleentropy)")
    parser.add_argument("--train-size", type=int, default=20, help="training examples per run (20)")
    parser.add_argument("--seeds", type=int, default=2, help="seeds (folds for tasks without a test split) per task (2)")
    parser.add_argument("--epochs", type=float, default=8.0, help="training epochs (8, as the quick preset)")
    parser.add_argument("--max-eval", type=int, default=500, help="evaluation sample per task (500, as the quick preset)")
    parser.add_argument("--jobs", default="auto", help="worker processes, as for compare (auto)")
    parser.add_argument("--output-dir", required=True, help="where the runs of both precisions are stored")
    parser.add_argument("--json", default=None, help="also write the results to this JSON file")
    args = parser.parse_args(argv)
    try:
        args.jobs = parse_jobs(args.jobs)
    except UserError as error:
        parser.error(str(error))
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    losses = args.losses.split(",")

    rows, pooled, seconds = [], [], {"fp32": 0.0, "bf16": 0.0}
    for task in args.tasks.split(","):
        design = design_from_task(task, None, None, args.max_eval)
        records = {}
        for precision in ("fp32", "bf16"):
            configs = {loss: TrainConfig(loss=loss, epochs=args.epochs, bf16=precision == "bf16").validate()
                       for loss in losses}
            result = run_comparison(
                design, configs, losses, [args.train_size], list(range(args.seeds)),
                os.path.join(args.output_dir, task, precision), title=f"{task} in {precision}", jobs=args.jobs,
            )
            records[precision] = {(r["method"], r["seed"]): r for r in result.records}
            seconds[precision] += sum(r["train_seconds"] for r in result.records)
        for loss in losses:
            pairs = [(records["fp32"][key], records["bf16"][key]) for key in sorted(records["fp32"]) if key[0] == loss]
            for fp32, bf16 in pairs:
                assert fp32["train_fingerprint"] == bf16["train_fingerprint"], "the twins must share their sample"
            differences = [100 * (b["metrics"]["accuracy"] - f["metrics"]["accuracy"]) for f, b in pairs]
            pooled += differences
            rows.append({
                "task": task, "loss": loss, "pairs": len(pairs),
                "fp32": 100 * sum(f["metrics"]["accuracy"] for f, _ in pairs) / len(pairs),
                "bf16": 100 * sum(b["metrics"]["accuracy"] for _, b in pairs) / len(pairs),
                "differences": differences,
            })
    test = paired_test(pooled)
    print("| task | loss | pairs | float32 accuracy | bf16 accuracy | bf16 - float32 |")
    print("|---|---|---:|---:|---:|---:|")
    for row in rows:
        print(f"| {row['task']} | {row['loss']} | {row['pairs']} | {row['fp32']:.2f} | {row['bf16']:.2f} | "
              f"{row['bf16'] - row['fp32']:+.2f} |")
    print(f"| all | all | {test['n_pairs']} | | | {test['mean_diff']:+.2f} {format_interval(test['ci95'])}, "
          f"p {format_p(test['p_value'])}, bf16 higher/lower/equal {test['wins']}/{test['losses']}/{test['ties']} |")
    ratio = seconds["bf16"] / seconds["fp32"] if seconds["fp32"] else float("nan")
    print(f"\nsummed training time: float32 {seconds['fp32']:.0f} s, bf16 {seconds['bf16']:.0f} s ({ratio:.2f}x)")
    if args.json:
        with open(args.json, "w") as file:
            json.dump({"settings": vars(args), "rows": rows, "pooled": test, "train_seconds": seconds}, file, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
