"""End-to-end time and accuracy: ``tripleentropy train`` against a plain Hugging Face fine-tune.

Both fine-tune the bundled all-MiniLM-L6-v2 on the same stratified sample of the SST2 training
split (``--train-size``, ``--seed``) for the same number of epochs and are evaluated once, after
training, on the same examples of the SST2 validation split (never the test split). Each one's
wall time runs from loading the tokenizer and the model to the accuracy: tokenisation, model
loading, training and evaluation. Reading the SentEval files and drawing the sample happen once,
before either, and are not timed; so does one untimed load of the model, so that neither run
pays for a cold disk cache.

- **Hugging Face**: what a user following the transformers "Fine-tune a pretrained model"
  tutorial writes. ``AutoModelForSequenceClassification.from_pretrained`` of the MiniLM
  directory, the tokenizer with ``padding="max_length", truncation=True`` (so every example is
  padded to the tokenizer's ``model_max_length``, 512 for this MiniLM, or ``--hf-max-length``),
  ``Trainer`` with ``TrainingArguments`` at their defaults (batch 8, lr 5e-5, linear decay,
  no warm-up, no weight decay, fp32, eval batch 8) except ``num_train_epochs`` and ``seed``,
  cross-entropy, then ``trainer.evaluate()``. The tutorial's ``datasets.map`` and
  ``evaluate.load("accuracy")`` are replaced by the same tokenizer call on all texts at once and
  numpy's accuracy (neither package is installed here; the work is the same).
- **tripleentropy**: ``train_model(TrainConfig(seed=..., epochs=...))`` with every other
  setting at its default (TripleEntropy, lr 1e-4, centers at 1e-2, batch 16, max length 64,
  dynamic padding, length-grouped batches, no validation during training), then
  ``evaluate_model`` once: what ``tripleentropy train --task SST2 --train-size 500 --seed 0``
  does, without saving the model.

The two run one after the other in one process, Hugging Face first: the machine must otherwise
be idle, or the times mean nothing.

    HF_HUB_OFFLINE=1 TRIPLEENTROPY_DATA=../shared/data/senteval \\
        python benchmarks/vs_huggingface.py --threads 2 --json vs_huggingface.json
    python benchmarks/vs_huggingface.py --train-size 16 --epochs 1 --eval-size 32 --hf-max-length 32   # smoke check
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time

import numpy as np
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer, Trainer, TrainingArguments, set_seed

from tripleentropy.data import Example, load_task, sample_train
from tripleentropy.modeling import load_pretrained, resolve_model
from tripleentropy.training import TrainConfig, evaluate_model, train_model

from _encoded import EncodedDataset  # benchmarks/ is on sys.path when a script runs


def accuracy(prediction) -> dict[str, float]:
    return {"accuracy": float(np.mean(np.argmax(prediction.predictions, axis=-1) == prediction.label_ids))}


def run_huggingface(model_path: str, train: list[Example], validation: list[Example], label_names: list[str],
                    max_length: int | None, epochs: float, seed: int) -> dict:
    """The tutorial's fine-tune; returns seconds, accuracy and the settings that matter."""
    started = time.perf_counter()
    set_seed(seed)
    tokenizer = AutoTokenizer.from_pretrained(model_path)
    model = AutoModelForSequenceClassification.from_pretrained(
        model_path, num_labels=len(label_names), id2label=dict(enumerate(label_names)),
        label2id={name: i for i, name in enumerate(label_names)},
    )
    length = max_length or min(tokenizer.model_max_length, 512)

    def encode(examples: list[Example]) -> EncodedDataset:
        encodings = tokenizer([e.text for e in examples], padding="max_length", truncation=True, max_length=length)
        return EncodedDataset(dict(encodings), [e.label for e in examples])

    train_dataset, eval_dataset = encode(train), encode(validation)
    with tempfile.TemporaryDirectory(prefix="vs-huggingface-") as output_dir:
        args = TrainingArguments(output_dir=output_dir, num_train_epochs=epochs, seed=seed)
        trainer = Trainer(model=model, args=args, train_dataset=train_dataset, eval_dataset=eval_dataset,
                          compute_metrics=accuracy)
        summary = trainer.train()
        metrics = trainer.evaluate()
    return {
        "pipeline": "Hugging Face tutorial (CE)", "seconds": time.perf_counter() - started,
        "accuracy": metrics["eval_accuracy"], "train_seconds": summary.metrics["train_runtime"],
        "steps": summary.global_step, "batch_size": args.per_device_train_batch_size, "lr": args.learning_rate,
        "max_length": length, "padding": "to max length",
    }


def run_ours(train: list[Example], validation: list[Example], label_names: list[str], epochs: float,
             seed: int) -> dict:
    """``tripleentropy train`` with its defaults, then one evaluation."""
    started = time.perf_counter()
    config = TrainConfig(seed=seed, epochs=epochs)
    result = train_model(config, train, None, label_names, progress=False)
    metrics = evaluate_model(result.model, result.tokenizer, validation, config.eval_batch_size, label_names,
                             max_length=config.max_length)
    return {
        "pipeline": "tripleentropy train (defaults)", "seconds": time.perf_counter() - started,
        "accuracy": metrics["accuracy"], "train_seconds": result.train_metrics["train_runtime"],
        "steps": result.log_history[-1]["step"], "batch_size": config.batch_size, "lr": config.lr,
        "max_length": config.max_length, "padding": "per batch",
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """This benchmark's flags (``--help`` shows them under the description above), checked."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--train-size", type=int, default=500, help="SST2 training examples, a stratified sample (500)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the sample and of both runs (0)")
    parser.add_argument("--epochs", type=float, default=3.0, help="training epochs of both runs (3: both defaults)")
    parser.add_argument("--eval-size", type=int, default=None,
                        help="evaluate on a stratified sample of this many SST2 validation examples "
                             "(default: all 872)")
    parser.add_argument("--hf-max-length", type=int, default=None,
                        help="length the Hugging Face run pads and truncates to (default: the tokenizer's "
                             "model_max_length capped at 512, what padding='max_length' does: 512 for MiniLM)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--json", default=None, help="also write the results to this JSON file")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    splits = load_task("SST2")
    label_names = splits["train"].label_names
    train = sample_train(splits["train"].examples, args.train_size, seed=args.seed)
    validation = splits["validation"].examples
    if args.eval_size is not None:
        validation = sample_train(validation, args.eval_size, seed=args.seed)
    load_pretrained("minilm")  # untimed: warms the disk cache and the lazy imports for both runs
    model_path = resolve_model("minilm")
    print(f"SST2: {len(train)} training examples, {len(validation)} validation examples, {args.epochs:g} epochs, "
          f"threads {torch.get_num_threads()}", file=sys.stderr)

    rows = [
        run_huggingface(model_path, train, validation, label_names, args.hf_max_length, args.epochs, args.seed),
        run_ours(train, validation, label_names, args.epochs, args.seed),
    ]
    print("| pipeline | batch | lr | max length | padding | steps | train s | total s | validation accuracy |")
    print("|---|---:|---:|---:|---|---:|---:|---:|---:|")
    for row in rows:
        print(f"| {row['pipeline']} | {row['batch_size']} | {row['lr']:g} | {row['max_length']} | {row['padding']} | "
              f"{row['steps']} | {row['train_seconds']:.1f} | {row['seconds']:.1f} | {100 * row['accuracy']:.2f}% |")
    ratio = rows[0]["seconds"] / rows[1]["seconds"]
    print(f"\nHugging Face / tripleentropy wall time: {ratio:.2f}x")
    if args.json:
        setup = {"task": "SST2", "train_size": len(train), "eval_size": len(validation), "seed": args.seed,
                 "epochs": args.epochs, "threads": torch.get_num_threads()}
        with open(args.json, "w") as file:
            json.dump({**setup, "results": rows, "time_ratio_hf_over_ours": ratio}, file, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
