"""Input validation shared by the losses: clear ValueErrors instead of silent broadcasting."""

from __future__ import annotations

import torch


def check_fraction(name: str, value: float) -> None:
    if not 0.0 <= float(value) <= 1.0:
        raise ValueError(f"{name} must lie in [0, 1], got {value}")


def check_positive(name: str, value: float) -> None:
    if not float(value) > 0.0:
        raise ValueError(f"{name} must be > 0, got {value}")


def check_labels(labels: torch.Tensor, num_rows: int, num_classes: int | None, what: str) -> torch.Tensor:
    """Labels must be a 1-D integer tensor (any integer dtype: int64, int32, int16, uint8, ...)
    with one entry per row of ``what``, within range. Returns them as int64, the index dtype."""
    if labels.dim() != 1:
        raise ValueError(f"labels must be 1-D (one class index per example), got shape {tuple(labels.shape)}")
    if labels.dtype.is_floating_point or labels.dtype == torch.bool:
        raise ValueError(f"labels must be an integer tensor, got dtype {labels.dtype}")
    if labels.shape[0] != num_rows:
        raise ValueError(f"{what} has {num_rows} examples but labels has {labels.shape[0]}")
    if labels.numel() and num_classes is not None:
        low, high = int(labels.min()), int(labels.max())
        if low < 0 or high >= num_classes:
            bad = low if low < 0 else high
            raise ValueError(f"label {bad} is out of range for {num_classes} classes (expected 0..{num_classes - 1})")
    return labels.long()


def check_classifier_inputs(
    logits: torch.Tensor, embeddings: torch.Tensor, labels: torch.Tensor, num_classes: int | None = None
) -> torch.Tensor:
    """Logits (N, C) (C = ``num_classes`` when given), embeddings and labels with N examples each.
    Returns the labels as int64."""
    expected = "C" if num_classes is None else str(num_classes)
    if logits.dim() != 2 or (num_classes is not None and logits.shape[1] != num_classes):
        raise ValueError(f"logits must be (N, {expected}), got shape {tuple(logits.shape)}")
    labels = check_labels(labels, logits.shape[0], logits.shape[1], "logits")
    if embeddings.shape[0] != logits.shape[0]:
        raise ValueError(f"logits have {logits.shape[0]} examples but embeddings have {embeddings.shape[0]}")
    return labels


def cross_entropy(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy in float32, or in float64 for float64 logits (never below the input's precision)."""
    return torch.nn.functional.cross_entropy(logits.to(torch.promote_types(logits.dtype, torch.float32)), labels)
