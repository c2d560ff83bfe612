"""SoftTripleLoss against pytorch-metric-learning's: time and peak memory of forward + backward.

Both losses run in one process on the same inputs and centers, alternating, and the median of
the repeats is reported with the ratio theirs / ours (> 1: ours is faster or smaller). Peak
memory is the largest amount of memory allocated above the starting point during one
forward + backward, read from torch.profiler's allocator events (works on CPU and GPU).
SoftTriple's tau regulariser is off (pytorch-metric-learning has none), so both compute the
same value.

    python benchmarks/softtriple_loss.py [--repeats 7] [--threads 2] [--json results.json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time

import torch
from pytorch_metric_learning.losses import SoftTripleLoss as PMLSoftTripleLoss
from torch.profiler import ProfilerActivity, profile

from tripleentropy.losses import SoftTripleLoss

SHAPES = [  # (name, rows, classes, centers per class)
    ("tokens 64x64", 64 * 64, 2, 5),
    ("tokens 64x64", 64 * 64, 6, 5),
    ("tokens 64x64", 64 * 64, 2, 1000),
    ("tokens 64x64", 64 * 64, 6, 1000),
    ("sentences 64", 64, 2, 5),
    ("sentences 64", 64, 6, 5),
    ("sentences 64", 64, 2, 1000),
    ("sentences 64", 64, 6, 1000),
]


def make_pair(classes: int, k: int, dim: int, device: torch.device):
    ours = SoftTripleLoss(classes, dim, centers_per_class=k, la=20.0, gamma=0.1, margin=0.01, tau=0.0).to(device)
    theirs = PMLSoftTripleLoss(classes, dim, centers_per_class=k, la=20.0, gamma=0.1, margin=0.01).to(device)
    with torch.no_grad():
        theirs.fc.copy_(ours.centers.t())
    return ours, theirs


def step(loss_fn, embeddings: torch.Tensor, labels: torch.Tensor) -> float:
    embeddings.grad = None
    loss_fn.zero_grad(set_to_none=True)
    loss = loss_fn(embeddings, labels)
    loss.backward()
    return float(loss.detach())


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(loss_fn, embeddings, labels, device) -> float:
    synchronize(device)
    start = time.perf_counter()
    step(loss_fn, embeddings, labels)
    synchronize(device)
    return time.perf_counter() - start


def peak_bytes(loss_fn, embeddings, labels, device) -> int:
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with profile(activities=activities, profile_memory=True) as prof:
        step(loss_fn, embeddings, labels)
        synchronize(device)
    handle, path = tempfile.mkstemp(suffix=".json")
    os.close(handle)
    try:
        prof.export_chrome_trace(path)
        with open(path) as file:
            events = json.load(file)["traceEvents"]
    finally:
        os.remove(path)
    wanted_type = 1 if device.type == "cuda" else 0
    memory = sorted(
        (event for event in events if event.get("name") == "[memory]" and event["args"].get("Device Type") == wanted_type),
        key=lambda event: event["ts"],
    )
    running = peak = 0
    for event in memory:
        running += event["args"]["Bytes"]
        peak = max(peak, running)
    return peak


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """This benchmark's flags (``--help`` shows them under the description above), checked."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=7, help="timed repeats of each loss per shape (median reported)")
    parser.add_argument("--dim", type=int, default=768, help="embedding size D (768: roberta-base)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu", help="cpu or cuda")
    parser.add_argument("--json", default=None, help="also write the results to this JSON file")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    torch.manual_seed(0)

    rows = []
    print(f"device {device}, threads {torch.get_num_threads()}, D {args.dim}, median of {args.repeats}", file=sys.stderr)
    header = f"| shape | C | K | ours ms | pml ms | speed-up | ours peak MiB | pml peak MiB | memory ratio |"
    print(header)
    print("|" + "---|" * 9)
    for name, count, classes, k in SHAPES:
        ours, theirs = make_pair(classes, k, args.dim, device)
        embeddings = torch.randn(count, args.dim, device=device, requires_grad=True)
        labels = torch.randint(0, classes, (count,), device=device)
        value_ours, value_theirs = step(ours, embeddings, labels), step(theirs, embeddings, labels)
        if abs(value_ours - value_theirs) > 1e-3 * max(1.0, abs(value_theirs)):
            raise SystemExit(f"{name} C={classes} K={k}: losses differ ({value_ours} vs {value_theirs})")
        times = {"ours": [], "pml": []}
        for _ in range(args.repeats):
            times["ours"].append(timed(ours, embeddings, labels, device))
            times["pml"].append(timed(theirs, embeddings, labels, device))
        memory = {"ours": peak_bytes(ours, embeddings, labels, device), "pml": peak_bytes(theirs, embeddings, labels, device)}
        ours_ms, pml_ms = (1000 * statistics.median(times[key]) for key in ("ours", "pml"))
        row = {
            "shape": name, "rows": count, "classes": classes, "centers_per_class": k, "dim": args.dim,
            "ours_ms": ours_ms, "pml_ms": pml_ms, "speedup": pml_ms / ours_ms,
            "ours_peak_mib": memory["ours"] / 2**20, "pml_peak_mib": memory["pml"] / 2**20,
            "memory_ratio": memory["ours"] / max(memory["pml"], 1),
        }
        rows.append(row)
        print(
            f"| {name} | {classes} | {k} | {ours_ms:.1f} | {pml_ms:.1f} | {row['speedup']:.2f}x | "
            f"{row['ours_peak_mib']:.1f} | {row['pml_peak_mib']:.1f} | {row['memory_ratio']:.2f} |",
            flush=True,
        )
    if args.json:
        with open(args.json, "w") as file:
            json.dump({"device": str(device), "threads": torch.get_num_threads(), "results": rows}, file, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
