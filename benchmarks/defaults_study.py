"""Choose the default settings on validation data: SST2 validation split, never its test split.

Trains the bundled MiniLM on a stratified sample of SST2's training split with a few settings and
prints validation accuracy and time for each.
Run: python benchmarks/defaults_study.py [train_size [setting ...]]
"""

from __future__ import annotations

import json
import sys
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


def main() -> None:
    train_size = int(sys.argv[1]) if len(sys.argv) > 1 else 400
    torch.set_num_threads(2)
    splits = load_task("SST2")
    train = sample_train(splits["train"].examples, train_size, seed=0)
    pretrained = load_pretrained("minilm")
    base = TrainConfig()
    train_data = tokenize_examples(pretrained.tokenizer, train, base.max_length)
    validation = tokenize_examples(pretrained.tokenizer, splits["validation"].examples, base.max_length)
    names = splits["train"].label_names
    chosen = sys.argv[2:] or list(SETTINGS)
    for name in chosen:
        changes = SETTINGS[name]
        config = TrainConfig.from_dict(changes)
        started = time.perf_counter()
        result = train_model(config, train_data, validation, names, pretrained=pretrained, progress=False)
        seconds = time.perf_counter() - started
        print(json.dumps({"setting": name, "train_size": train_size, "validation_accuracy": result.metrics["accuracy"],
                          "macro_f1": result.metrics["macro_f1"], "seconds": round(seconds, 1)}), flush=True)


if __name__ == "__main__":
    main()
