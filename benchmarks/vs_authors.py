"""End-to-end time and accuracy: the paper authors' TripleEntropy pipeline against ours.

The authors' pipeline, rebuilt from the paper (Sosnowski et al., FedCSIS 2022, arXiv 2112.08462)
and their public code (https://github.com/sewerynkarolina/TripleEntropy), not copied from it:

- ``AutoModelForSequenceClassification`` of the bundled all-MiniLM-L6-v2 (the paper used
  RoBERTa; no RoBERTa weights can be had offline), trained by the Hugging Face ``Trainer`` with
  ``compute_loss`` overridden to ``beta * CE + (1 - beta) * SoftTriple``;
- pytorch-metric-learning's ``SoftTripleLoss`` (la 8, gamma 0.1, margin 0.1, K 5, no
  regulariser) on the last-layer state of every token, padding included, each token carrying
  its sentence's label;
- every training example padded to the longest example of the whole training sample
  (``tokenizer(all texts, padding=True, truncation=True, max_length=64)``), and the validation
  examples to the longest validation example;
- one AdamW group (lr 1e-5, eps 1e-8, weight decay 0.01) holding the model and the centers,
  cosine schedule after 10 warm-up steps, batch 64 (also for evaluation), beta 0.4;
- evaluation with ``trainer.predict`` on the validation examples (which, as ``Trainer`` does
  with labels, also computes the loss).

Ours is ``train_model`` then ``evaluate_model`` (SoftTriple on the non-padding tokens, batches
padded to their own longest example and grouped by length, the centers in their own group),
with either the same hyperparameters as the authors (``authors``: lr 1e-5 for the encoder and
the centers, batch 64, max length 64, 10 warm-up steps, cosine, beta 0.4, la 8, gamma 0.1,
margin 0.1, K 5, tau 0, weight decay 0.01), so the time ratio compares like with like; or the
same with each batch of 64 formed from length-grouped micro-batches of ``--micro-batch-size``
whose gradients are added before the optimizer step (``authors-accumulated``: the same 64
examples per step and the same number of steps, each micro-batch padded to its own longest
example; the loss is the mean of the micro-batch means); or with our defaults (``defaults``:
lr 1e-4, centers at 1e-2, batch 16, tau 0.2, ...), which learn far more in few epochs.
``--epochs`` applies to every run.

All runs train on the same stratified sample of the SST2 training split and are evaluated on
the same SST2 validation examples (never the test split). Each one's wall time runs from loading
the tokenizer and the model to the accuracy; reading the SentEval files, drawing the sample and
one untimed model load (to warm the disk cache) come before. The runs go one after the other in
one process, the authors' first: the machine must otherwise be idle.

    HF_HUB_OFFLINE=1 TRIPLEENTROPY_DATA=../shared/data/senteval \\
        python benchmarks/vs_authors.py --threads 2 --json vs_authors.json
    python benchmarks/vs_authors.py --train-size 16 --epochs 1 --eval-size 32 --batch-size 8 --micro-batch-size 4   # smoke check
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time

import numpy as np
import torch
from pytorch_metric_learning.losses import SoftTripleLoss
from transformers import (
    AutoModelForSequenceClassification,
    AutoTokenizer,
    Trainer,
    TrainingArguments,
    set_seed,
)

from tripleentropy.data import Example, load_task, sample_train
from tripleentropy.modeling import load_pretrained, resolve_model
from tripleentropy.training import TrainConfig, evaluate_model, train_model

from _encoded import EncodedDataset  # benchmarks/ is on sys.path when a script runs

AUTHORS = {"lr": 1e-5, "warmup_steps": 10, "beta": 0.4, "la": 8.0, "gamma": 0.1, "margin": 0.1, "centers": 5,
           "weight_decay": 0.01}


class AuthorsTrainer(Trainer):
    """``Trainer`` whose loss is ``beta * CE + (1 - beta) * SoftTriple`` over every token."""

    def __init__(self, *args, softtriple: SoftTripleLoss, beta: float, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.softtriple = softtriple
        self.beta = beta

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        outputs = model(**inputs, output_hidden_states=True)
        states = outputs.hidden_states[-1]  # (B, L, D), padding included
        token_labels = inputs["labels"].repeat_interleave(states.shape[1])
        metric = self.softtriple(states.reshape(-1, states.shape[-1]), token_labels)
        loss = self.beta * outputs.loss + (1 - self.beta) * metric
        return (loss, {"logits": outputs.logits}) if return_outputs else loss


def run_authors(model_path: str, train: list[Example], validation: list[Example], label_names: list[str],
                batch_size: int, max_length: int, epochs: float, seed: int) -> dict:
    """The authors' pipeline; returns seconds, accuracy and the settings that matter."""
    started = time.perf_counter()
    set_seed(seed)
    tokenizer = AutoTokenizer.from_pretrained(model_path)
    model = AutoModelForSequenceClassification.from_pretrained(model_path, num_labels=len(label_names))

    def encode(examples: list[Example]) -> EncodedDataset:
        encodings = tokenizer([e.text for e in examples], padding=True, truncation=True, max_length=max_length)
        return EncodedDataset(dict(encodings), [e.label for e in examples])

    train_dataset, eval_dataset = encode(train), encode(validation)
    softtriple = SoftTripleLoss(len(label_names), model.config.hidden_size, centers_per_class=AUTHORS["centers"],
                                la=AUTHORS["la"], gamma=AUTHORS["gamma"], margin=AUTHORS["margin"])
    with tempfile.TemporaryDirectory(prefix="vs-authors-") as output_dir:
        args = TrainingArguments(
            output_dir=output_dir, per_device_train_batch_size=batch_size, per_device_eval_batch_size=batch_size,
            num_train_epochs=epochs, learning_rate=AUTHORS["lr"], lr_scheduler_type="cosine",
            warmup_steps=AUTHORS["warmup_steps"], seed=seed, save_strategy="no", report_to="none",
        )
        softtriple.to(args.device)
        optimizer = torch.optim.AdamW([*model.parameters(), *softtriple.parameters()], lr=AUTHORS["lr"], eps=1e-8,
                                      weight_decay=AUTHORS["weight_decay"])
        # The Trainer builds the cosine schedule with warm-up around this optimizer.
        trainer = AuthorsTrainer(model=model, args=args, train_dataset=train_dataset, optimizers=(optimizer, None),
                                 softtriple=softtriple, beta=AUTHORS["beta"])
        summary = trainer.train()
        prediction = trainer.predict(eval_dataset)
    predicted = np.argmax(prediction.predictions, axis=-1)
    return {
        "pipeline": "authors (HF Trainer + pml SoftTriple)", "seconds": time.perf_counter() - started,
        "accuracy": float(np.mean(predicted == prediction.label_ids)), "train_seconds": summary.metrics["train_runtime"],
        "steps": summary.global_step, "batch_size": batch_size, "lr": AUTHORS["lr"], "center_lr": AUTHORS["lr"],
        "padded_length": len(train_dataset[0]["input_ids"]),
    }


PIPELINES = {
    "authors": "ours (authors' settings)",
    "authors-accumulated": "ours (authors' settings, accumulated micro-batches)",
    "defaults": "ours (our defaults)",
}


def run_ours(settings: str, train: list[Example], validation: list[Example], label_names: list[str],
             batch_size: int, max_length: int, epochs: float, seed: int, micro_batch_size: int) -> dict:
    """``train_model`` with the authors' hyperparameters or our defaults, then one evaluation."""
    started = time.perf_counter()
    if settings.startswith("authors"):
        accumulation = batch_size // micro_batch_size if settings == "authors-accumulated" else 1
        config = TrainConfig(
            seed=seed, epochs=epochs, batch_size=batch_size // accumulation, gradient_accumulation_steps=accumulation,
            max_length=max_length, lr=AUTHORS["lr"], center_lr=AUTHORS["lr"], warmup_steps=AUTHORS["warmup_steps"],
            scheduler="cosine", beta=AUTHORS["beta"], la=AUTHORS["la"], gamma=AUTHORS["gamma"],
            margin=AUTHORS["margin"], centers=AUTHORS["centers"], tau=0.0, weight_decay=AUTHORS["weight_decay"],
        )
    else:
        config = TrainConfig(seed=seed, epochs=epochs)
    result = train_model(config, train, None, label_names, progress=False)
    metrics = evaluate_model(result.model, result.tokenizer, validation, config.eval_batch_size, label_names,
                             max_length=config.max_length)
    return {
        "pipeline": PIPELINES[settings], "seconds": time.perf_counter() - started,
        "accuracy": metrics["accuracy"], "train_seconds": result.train_metrics["train_runtime"],
        "steps": result.log_history[-1]["step"],
        "batch_size": config.batch_size if config.gradient_accumulation_steps == 1
        else f"{config.gradient_accumulation_steps} x {config.batch_size}",
        "lr": config.lr,
        "center_lr": config.center_lr, "padded_length": "per batch",
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """This benchmark's flags (``--help`` shows them under the description above), checked."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--train-size", type=int, default=100, help="SST2 training examples, a stratified sample (100)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the sample and of every run (0)")
    parser.add_argument("--epochs", type=float, default=8.0, help="training epochs of every run (8, the authors')")
    parser.add_argument("--batch-size", type=int, default=64,
                        help="batch size of the authors' run and of ours with authors settings (64)")
    parser.add_argument("--max-length", type=int, default=64,
                        help="truncation length of the authors' run and of ours with authors settings (64)")
    parser.add_argument("--ours-settings", default="authors,authors-accumulated,defaults",
                        help="comma-separated: run ours with the authors' hyperparameters (authors), the same "
                             "with batches formed from accumulated micro-batches (authors-accumulated), and/or our "
                             "defaults (defaults); each is one row (authors,authors-accumulated,defaults)")
    parser.add_argument("--micro-batch-size", type=int, default=16,
                        help="micro-batch size of authors-accumulated; must divide --batch-size (16)")
    parser.add_argument("--eval-size", type=int, default=None,
                        help="evaluate on a stratified sample of this many SST2 validation examples "
                             "(default: all 872)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--json", default=None, help="also write the results to this JSON file")
    args = parser.parse_args(argv)
    unknown = set(args.ours_settings.split(",")) - set(PIPELINES)
    if unknown:
        parser.error(f"--ours-settings takes {', '.join(PIPELINES)}, not {', '.join(sorted(unknown))}")
    if args.micro_batch_size < 1 or args.batch_size % args.micro_batch_size:
        parser.error(f"--micro-batch-size {args.micro_batch_size} does not divide --batch-size {args.batch_size}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    ours_settings = args.ours_settings.split(",")
    if args.threads:
        torch.set_num_threads(args.threads)

    splits = load_task("SST2")
    label_names = splits["train"].label_names
    train = sample_train(splits["train"].examples, args.train_size, seed=args.seed)
    validation = splits["validation"].examples
    if args.eval_size is not None:
        validation = sample_train(validation, args.eval_size, seed=args.seed)
    load_pretrained("minilm")  # untimed: warms the disk cache and the lazy imports for every run
    print(f"SST2: {len(train)} training examples, {len(validation)} validation examples, {args.epochs:g} epochs, "
          f"threads {torch.get_num_threads()}", file=sys.stderr)

    common = (train, validation, label_names, args.batch_size, args.max_length, args.epochs, args.seed)
    rows = [run_authors(resolve_model("minilm"), *common)]
    rows += [run_ours(settings, *common, args.micro_batch_size) for settings in ours_settings]
    for row in rows:
        row["time_ratio_authors_over_this"] = rows[0]["seconds"] / row["seconds"]
    print("| pipeline | batch | lr | center lr | padded length | steps | train s | total s | validation accuracy | authors time / this |")
    print("|---|---:|---:|---:|---|---:|---:|---:|---:|---:|")
    for row in rows:
        print(f"| {row['pipeline']} | {row['batch_size']} | {row['lr']:g} | {row['center_lr']:g} | "
              f"{row['padded_length']} | {row['steps']} | {row['train_seconds']:.1f} | {row['seconds']:.1f} | "
              f"{100 * row['accuracy']:.2f}% | {row['time_ratio_authors_over_this']:.2f}x |")
    if args.json:
        setup = {"task": "SST2", "train_size": len(train), "eval_size": len(validation), "seed": args.seed,
                 "epochs": args.epochs, "threads": torch.get_num_threads()}
        with open(args.json, "w") as file:
            json.dump({**setup, "results": rows}, file, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
