"""Batched, gradient-free prediction and the classification metrics."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm
from transformers.tokenization_utils_base import PreTrainedTokenizerBase

from ..data.examples import Example
from .features import TokenizedExamples, make_collator, tokenize_examples

DEFAULT_MAX_LENGTH = 512


def _device_of(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


@torch.no_grad()
def predict_logits(
    model: nn.Module,
    tokenizer: PreTrainedTokenizerBase,
    examples: Sequence[Example] | TokenizedExamples,
    batch_size: int = 128,
    max_length: int = DEFAULT_MAX_LENGTH,
    progress: bool = False,
) -> torch.Tensor:
    """Classifier logits (N, C), float32 on the CPU, in the order of ``examples``.

    ``model`` is a ``TripleEntropyForSequenceClassification`` or any Hugging Face sequence
    classifier. Batches hold examples of similar length, padded to their longest (dynamic
    padding), so large batches cost little.
    """
    data = examples if isinstance(examples, TokenizedExamples) else tokenize_examples(tokenizer, examples, max_length)
    if len(data) == 0:
        return torch.empty(0, model.config.num_labels)
    collate = make_collator(tokenizer)
    order = np.argsort(np.asarray(data.lengths), kind="stable")
    device = _device_of(model)
    was_training = model.training
    model.eval()
    logits = torch.empty(len(data), model.config.num_labels)
    try:
        starts = range(0, len(order), batch_size)
        for start in tqdm(starts, desc="predicting", unit="batch", disable=not progress):
            indices = order[start : start + batch_size]
            batch = collate([{k: v for k, v in data[int(i)].items() if k != "labels"} for i in indices])
            batch = {key: value.to(device) for key, value in batch.items()}
            logits[torch.as_tensor(indices)] = model(**batch).logits.float().cpu()
    finally:
        model.train(was_training)
    return logits


def classification_metrics(
    labels: Sequence[int], predictions: Sequence[int], label_names: Sequence[str], positive_label: str | None = None
) -> dict:
    """Accuracy (a fraction), macro F1, F1 of each class by name, the number of examples and
    ``majority_rate``: the fraction of the examples in their most frequent class, the accuracy of
    always predicting that class; with ``positive_label`` (e.g. MRPC's ``paraphrase``) also
    ``f1``, that class's F1, the measure the literature reports for such tasks, and
    ``positive_label`` itself.

    A class with neither gold nor predicted examples has F1 0 and still counts in the macro mean.
    """
    labels = np.asarray(labels, dtype=np.int64)
    predictions = np.asarray(predictions, dtype=np.int64)
    per_class = {}
    for index, name in enumerate(label_names):
        true_positive = int(np.sum((predictions == index) & (labels == index)))
        predicted = int(np.sum(predictions == index))
        gold = int(np.sum(labels == index))
        denominator = predicted + gold
        per_class[str(name)] = 2.0 * true_positive / denominator if denominator else 0.0
    metrics = {
        "accuracy": float(np.mean(predictions == labels)) if len(labels) else 0.0,
        "macro_f1": float(np.mean(list(per_class.values()))) if per_class else 0.0,
        "per_class_f1": per_class,
        "num_examples": int(len(labels)),
        "majority_rate": float(np.bincount(labels).max() / len(labels)) if len(labels) else 0.0,
    }
    if positive_label is not None:
        if str(positive_label) not in per_class:
            raise ValueError(f"positive label {positive_label!r} is not one of the labels {list(per_class)}")
        metrics.update({"f1": per_class[str(positive_label)], "positive_label": str(positive_label)})
    return metrics


def evaluate_model(
    model: nn.Module,
    tokenizer: PreTrainedTokenizerBase,
    examples: Sequence[Example] | TokenizedExamples,
    batch_size: int = 128,
    label_names: Sequence[str] | None = None,
    max_length: int = DEFAULT_MAX_LENGTH,
    progress: bool = False,
    positive_label: str | None = None,
) -> dict:
    """Metrics of ``model`` on labelled ``examples`` (see ``classification_metrics``; with
    ``positive_label`` they include that class's F1 as ``f1``).

    ``label_names`` default to the model's ``id2label``. Pass a ``TokenizedExamples`` to skip
    tokenisation (e.g. the same test set for many runs).
    """
    logits = predict_logits(model, tokenizer, examples, batch_size, max_length, progress)
    items = examples.examples if isinstance(examples, TokenizedExamples) else list(examples)
    if label_names is None:
        id2label = model.config.id2label
        label_names = [id2label[i] for i in range(model.config.num_labels)]
    return classification_metrics([e.label for e in items], logits.argmax(dim=-1).tolist(), label_names, positive_label)
