"""Choose the default settings on validation data: SST2 validation split, never its test split.

Trains the bundled MiniLM on a stratified sample (seed 0) of SST2's training split with each
setting in turn, every other setting at its default, and prints one JSON line per setting:
validation accuracy, macro F1 and seconds. Needs the SST2 files (TRIPLEENTROPY_DATA).

    python benchmarks/defaults_study.py --train-size 400
    python benchmarks/defaults_study.py --train-size 400 --settings "ce lr=1e-4" "te lr=1e-4 center_lr=1e-2"
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from tripleentropy.data import load_task, sample_train
from tripleentropy.modeling import load_pretrained
from tripleentropy.training import TrainConfig, tokenize_examples, train_model

SETTINGS = {
    "ce lr=1e-4": {"loss": "ce", "lr": 1e-4},
    "te lr=1e-4 center_lr=1e-2": {"lr": 1e-4, "center_lr": 1e-2},
    "te lr=5e-5 center_lr=1e-2": {"lr": 5e-5, "center_lr": 1e-2},
    "te lr=1e-4 center_lr=1e-4": {"lr": 1e-4, "center_lr": 1e-4},
    "te lr=2e-4 center_lr=1e-2": {"lr": 2e-4, "center_lr": 1e-2},
    "ce lr=2e-4": {"loss": "ce", "lr": 2e-4},
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """This benchmark's flags (``--help`` shows them under the description above), checked."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--train-size", type=int, default=400, help="SST2 training examples, a stratified sample (400)")
    parser.add_argument("--settings", nargs="+", choices=list(SETTINGS), default=list(SETTINGS), metavar="SETTING",
                        help=f"the settings to train, each one quoted (default: all of {', '.join(SETTINGS)})")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (2)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    train_size = args.train_size
    torch.set_num_threads(args.threads)
    splits = load_task("SST2")
    train = sample_train(splits["train"].examples, train_size, seed=0)
    pretrained = load_pretrained("minilm")
    base = TrainConfig()
    train_data = tokenize_examples(pretrained.tokenizer, train, base.max_length)
    validation = tokenize_examples(pretrained.tokenizer, splits["validation"].examples, base.max_length)
    names = splits["train"].label_names
    for name in args.settings:
        changes = SETTINGS[name]
        config = TrainConfig.from_dict(changes)
        started = time.perf_counter()
        result = train_model(config, train_data, validation, names, pretrained=pretrained, progress=False)
        seconds = time.perf_counter() - started
        print(json.dumps({"setting": name, "train_size": train_size, "validation_accuracy": result.metrics["accuracy"],
                          "macro_f1": result.metrics["macro_f1"], "seconds": round(seconds, 1)}), flush=True)


if __name__ == "__main__":
    main()
