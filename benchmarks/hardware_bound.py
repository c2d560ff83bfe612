"""How close one training step of MiniLM comes to this machine's floating-point peak, and why not closer.

1. The average length in tokens (special tokens included) of the task's training sentences, as
   the bundled MiniLM tokenizer splits them (``--task``, SST2 by default).
2. The floating-point operations of one TripleEntropy training step (forward and backward,
   defaults: SoftTriple on tokens, K = 5) on a batch of ``--batch-size`` sequences of exactly that
   average length, counted by ``torch.utils.flop_counter.FlopCounterMode``, which counts the matrix
   products (linear layers, attention, SoftTriple's similarities); elementwise work, LayerNorm,
   softmax and the AdamW step are not counted (they are a few percent of the operations, but
   memory-bound). The count is checked against the textbook ``6 x parameters x tokens`` plus
   attention.
3. The peak: in theory cores x clock x FLOPs per cycle and core (``--flops-per-cycle``; 32 for a
   CPU with AVX2 and two FMA units: 2 units x 8 float32 lanes x 2 operations), and as measured by a
   large float32 matrix product (``--gemm-size``) with the same threads.
4. The median time of a training step (forward, backward, AdamW) over ``--steps`` steps, hence
   the achieved FLOP/s and its fraction of both peaks.
5. Where the step's time goes, from ``torch.profiler`` over a few steps: matrix products, dropout's
   random masks, other elementwise and normalisation kernels, the optimizer, and the rest.

The model is the pretrained MiniLM of the package; the token ids are random (time and operation
count do not depend on them) and no position is padding.

    HF_HUB_OFFLINE=1 TRIPLEENTROPY_DATA=../shared/data/senteval \\
        python benchmarks/hardware_bound.py --threads 2 --json hardware_bound.json
    python benchmarks/hardware_bound.py --steps 2 --warmup 1 --gemm-size 256   # smoke check
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time

import torch
from torch.profiler import ProfilerActivity, profile
from torch.utils.flop_counter import FlopCounterMode

from method_overhead import model_and_optimizer
from tripleentropy.data import load_task
from tripleentropy.modeling import load_pretrained

# torch.profiler operator names, by what they are; the first category whose pattern an operator
# name contains takes its self time.
CATEGORIES = {
    "matrix products": ("aten::mm", "aten::addmm", "aten::bmm", "aten::baddbmm", "aten::_scaled_dot_product", "aten::linear"),
    "dropout masks": ("aten::bernoulli", "aten::native_dropout"),
    "optimizer": ("adam", "Optimizer"),
    "elementwise and normalisation": (
        "aten::gelu", "aten::softmax", "aten::_softmax", "aten::layer_norm", "aten::native_layer_norm", "aten::mul",
        "aten::add", "aten::div", "aten::sub", "aten::where", "aten::fill_", "aten::copy_", "aten::sum", "aten::exp",
        "aten::masked_fill", "aten::zero_", "aten::clamp", "aten::max", "aten::tanh", "aten::embedding",
        "aten::index", "aten::all", "aten::sqrt", "aten::pow", "aten::neg", "aten::logsumexp", "aten::nll_loss",
        "aten::_log_softmax", "aten::cat", "aten::norm", "aten::linalg_vector_norm", "aten::embedding_dense_backward",
    ),
}


def average_length(tokenizer, texts: list[str]) -> float:
    lengths = [len(ids) for ids in tokenizer(texts, truncation=True, max_length=512)["input_ids"]]
    return sum(lengths) / len(lengths)


def cpu_clock_ghz() -> float | None:
    """The current clock of the first core in /proc/cpuinfo (Linux), in GHz."""
    try:
        with open("/proc/cpuinfo") as file:
            for line in file:
                if line.startswith("cpu MHz"):
                    return float(line.split(":")[1]) / 1000
    except OSError:
        pass
    return None


def gemm_flops_per_second(size: int, repeats: int) -> float:
    a, b = torch.randn(size, size), torch.randn(size, size)
    torch.mm(a, b)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        torch.mm(a, b)
        times.append(time.perf_counter() - start)
    return 2 * size**3 / statistics.median(times)


def categorize(name: str) -> str:
    lowered = name.lower()
    for category, patterns in CATEGORIES.items():
        if any(pattern.lower() in lowered for pattern in patterns):
            return category
    return "other"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """This benchmark's flags (``--help`` shows them under the description above), checked."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", default="SST2", help="SentEval task whose training sentences set the length (SST2)")
    parser.add_argument("--batch-size", type=int, default=16, help="sequences per step (16, the train default)")
    parser.add_argument("--loss", default="tripleentropy", choices=["tripleentropy", "ce"], help="loss of the step (tripleentropy)")
    parser.add_argument("--steps", type=int, default=20, help="timed training steps; the median is reported (20)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps first (3)")
    parser.add_argument("--profile-steps", type=int, default=5, help="steps under torch.profiler for the breakdown (5)")
    parser.add_argument("--gemm-size", type=int, default=2048, help="side of the square float32 product that measures the peak (2048)")
    parser.add_argument("--flops-per-cycle", type=float, default=32.0,
                        help="float32 FLOPs per cycle and core for the theoretical peak (32: AVX2, two FMA units)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--json", default=None, help="also write the results to this JSON file")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    threads = torch.get_num_threads()
    device = torch.device("cpu")

    pretrained = load_pretrained("minilm")
    texts = [example.text for example in load_task(args.task)["train"].examples]
    mean_length = average_length(pretrained.tokenizer, texts)
    length = round(mean_length)
    generator = torch.Generator().manual_seed(0)
    batch = {
        "input_ids": torch.randint(1000, pretrained.config.vocab_size, (args.batch_size, length), generator=generator),
        "attention_mask": torch.ones(args.batch_size, length, dtype=torch.long),
        "labels": torch.randint(0, 2, (args.batch_size,), generator=generator),
    }
    with tempfile.TemporaryDirectory(prefix="hardware-bound-") as scratch:
        model, optimizer = model_and_optimizer(pretrained, args.loss, {}, device, scratch)

        def step() -> None:
            model(**batch).loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)

        with FlopCounterMode(display=False) as counter:
            model(**batch).loss.backward()
        optimizer.zero_grad(set_to_none=True)
        counted = counter.get_total_flops()
        encoder_parameters = sum(p.numel() for n, p in model.named_parameters() if "embeddings" not in n)
        config = pretrained.config
        tokens = args.batch_size * length
        attention = 3 * 2 * 2 * config.num_hidden_layers * args.batch_size * length**2 * config.hidden_size
        textbook = 6 * encoder_parameters * tokens + attention

        for _ in range(args.warmup):
            step()
        times = []
        for _ in range(args.steps):
            start = time.perf_counter()
            step()
            times.append(time.perf_counter() - start)
        step_seconds = statistics.median(times)

        with profile(activities=[ProfilerActivity.CPU]) as profiler:
            for _ in range(args.profile_steps):
                step()
    shares: dict[str, float] = {}
    for event in profiler.key_averages():
        category = categorize(event.key)
        shares[category] = shares.get(category, 0.0) + event.self_cpu_time_total
    profiled = sum(shares.values())
    breakdown = {category: seconds / profiled for category, seconds in sorted(shares.items(), key=lambda kv: -kv[1])}

    gemm = gemm_flops_per_second(args.gemm_size, repeats=10)
    clock = cpu_clock_ghz()
    cores = min(threads, os.cpu_count() or threads)
    theoretical = cores * clock * 1e9 * args.flops_per_cycle if clock else None
    achieved = counted / step_seconds
    matrix_seconds = breakdown.get("matrix products", 0.0) * step_seconds

    rows = [
        ("task, mean length of its training sentences", f"{args.task}, {mean_length:.1f} tokens"),
        ("batch", f"{args.batch_size} x {length} tokens, {args.loss}"),
        ("FLOPs of one step, counted (matrix products)", f"{counted / 1e9:.2f} GFLOP"),
        ("FLOPs, 6 x encoder parameters x tokens + attention", f"{textbook / 1e9:.2f} GFLOP ({encoder_parameters / 1e6:.1f}M parameters)"),
        ("median step (forward, backward, AdamW)", f"{1000 * step_seconds:.0f} ms"),
        ("achieved", f"{achieved / 1e9:.1f} GFLOP/s"),
        ("float32 matrix product peak, measured", f"{gemm / 1e9:.1f} GFLOP/s ({args.gemm_size}^3, {threads} threads)"),
        ("achieved / measured peak", f"{100 * achieved / gemm:.0f}%"),
    ]
    if theoretical:
        rows += [
            ("theoretical peak", f"{theoretical / 1e9:.1f} GFLOP/s ({cores} cores x {clock:.2f} GHz x {args.flops_per_cycle:g})"),
            ("achieved / theoretical peak", f"{100 * achieved / theoretical:.0f}%"),
        ]
    if matrix_seconds:
        rows.append(("matrix products alone run at", f"{counted / matrix_seconds / 1e9:.1f} GFLOP/s"))
    print(f"pretrained MiniLM on {platform.machine()} CPU, torch {torch.__version__}, {threads} threads", file=sys.stderr)
    print("| quantity | value |\n|---|---:|")
    for name, value in rows:
        print(f"| {name} | {value} |")
    print("\n| where a step's time goes (torch.profiler, self time) | share |\n|---|---:|")
    for category, share in breakdown.items():
        print(f"| {category} | {100 * share:.1f}% |")
    if args.json:
        result = {
            "task": args.task, "mean_length": mean_length, "batch_size": args.batch_size, "length": length,
            "loss": args.loss, "threads": threads, "counted_flops": counted, "textbook_flops": textbook,
            "encoder_parameters": encoder_parameters, "step_seconds": step_seconds, "step_times_s": times,
            "achieved_flops_per_s": achieved, "gemm_flops_per_s": gemm, "gemm_size": args.gemm_size,
            "clock_ghz": clock, "flops_per_cycle": args.flops_per_cycle, "theoretical_flops_per_s": theoretical,
            "breakdown": breakdown,
        }
        with open(args.json, "w") as file:
            json.dump(result, file, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
