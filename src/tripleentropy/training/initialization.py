"""Start from the data: the head from a linear probe, the SoftTriple centers from k-means.

Both read the frozen pretrained encoder (in eval mode, no gradients) on the training sample
before fine-tuning begins, and are deterministic under the run's seed.

- Head (``head_init="probe"``): a logistic regression fitted on exactly what the output layer
  reads (the pooled vector with ``mean`` pooling; the input of the architecture's last linear
  layer with ``cls``) is copied into that layer; fine-tuning then updates everything. This is
  LP-FT (Kumar et al., "Fine-Tuning can Distort Pretrained Features and Underperform
  Out-of-Distribution", ICLR 2022): a head fitted first keeps the early gradients from
  distorting pretrained features. The ``logreg`` method of ``compare`` is the probe alone.
- Centers (``center_init="kmeans"``): K centers per class from k-means of that class's unit
  embeddings as SoftTriple reads them (tokens or pooled vectors), or the class mean plus small
  noise when a class has fewer distinct points than K.
"""

from __future__ import annotations

import warnings
import numpy as np
import torch

from ..errors import UserError
from .features import TokenizedExamples, make_collator

# Norm of the noise that separates the K centers of a class with fewer points than K.
_CENTER_NOISE = 1e-2


@torch.no_grad()
def frozen_features(model, tokenizer, data: TokenizedExamples, batch_size: int = 128,
                    pad_to: int | None = None, head: bool = True, softtriple: bool = False) -> dict[str, np.ndarray]:
    """What the model reads from ``data`` before training, as float64 arrays.

    ``head``: ``features`` (N, D), the input of the output layer, and ``labels`` (N,).
    ``softtriple``: ``embeddings`` (M, D), the vectors SoftTriple reads (one per counted token, or
    one per sentence), and ``embedding_labels`` (M,). ``pad_to`` pads every batch to that length,
    as training does for ``tokens-with-padding``.
    """
    collate = make_collator(tokenizer, pad_to=pad_to)
    captured: list[torch.Tensor] = []
    hook = model.output_layer().register_forward_pre_hook(lambda _, inputs: captured.append(inputs[0].detach()))
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    features, labels, embeddings, embedding_labels = [], [], [], []
    try:
        for start in range(0, len(data), batch_size):
            batch = collate([data[i] for i in range(start, min(len(data), start + batch_size))])
            batch = {key: value.to(device) for key, value in batch.items()}
            batch_labels = batch.pop("labels")
            captured.clear()
            _, states, sentence = model.encode(**batch, need_states=softtriple)
            if head:
                features.append(captured[-1].float().cpu())
                labels.append(batch_labels.cpu())
            if softtriple:
                vectors, mask = model.softtriple_input(states, batch.get("attention_mask"), sentence)
                if vectors.dim() == 3:
                    keep = torch.ones(vectors.shape[:2], dtype=torch.bool, device=vectors.device) if mask is None else mask.bool()
                    embedding_labels.append(batch_labels[:, None].expand_as(keep)[keep].cpu())
                    vectors = vectors[keep]
                else:
                    embedding_labels.append(batch_labels.cpu())
                embeddings.append(vectors.float().cpu())
    finally:
        hook.remove()
        model.train(was_training)
    out = {}
    if head:
        out["features"] = torch.cat(features).double().numpy()
        out["labels"] = torch.cat(labels).numpy()
    if softtriple:
        out["embeddings"] = torch.cat(embeddings).double().numpy()
        out["embedding_labels"] = torch.cat(embedding_labels).numpy()
    return out


def fit_probe(features: np.ndarray, labels: np.ndarray, seed: int) -> tuple[torch.Tensor, torch.Tensor, list[int]]:
    """A logistic regression (scikit-learn's defaults: L2, C = 1, lbfgs) of ``labels`` on
    ``features``, as ``(weight (C', D), bias (C',), classes)``: one row per class present in
    ``labels`` (``classes``, ascending), giving the same softmax as the fitted model.
    """
    from sklearn.linear_model import LogisticRegression

    classes = sorted(int(label) for label in np.unique(labels))
    if len(classes) < 2:
        raise UserError("a logistic-regression probe needs training examples of at least two classes")
    probe = LogisticRegression(max_iter=1000, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # lbfgs convergence notes on tiny samples
        probe.fit(features, labels)
    weight = torch.as_tensor(probe.coef_, dtype=torch.float32)
    bias = torch.as_tensor(probe.intercept_, dtype=torch.float32)
    if len(classes) == 2:  # one row for the second class: split it into two of the same softmax
        weight, bias = torch.cat([-weight / 2, weight / 2]), torch.cat([-bias / 2, bias / 2])
    return weight, bias, classes


@torch.no_grad()
def init_head_from_probe(model, features: np.ndarray, labels: np.ndarray, seed: int) -> None:
    """Copy a logistic-regression probe on ``features`` into the model's output layer. Classes
    absent from ``labels`` keep their rows as they were."""
    weight, bias, classes = fit_probe(features, labels, seed)
    layer = model.output_layer()
    layer.weight[classes] = weight.to(layer.weight)
    layer.bias[classes] = bias.to(layer.bias)


@torch.no_grad()
def init_centers_by_kmeans(model, embeddings: np.ndarray, labels: np.ndarray, seed: int) -> None:
    """Set each class's K SoftTriple centers to the k-means centroids of its unit embeddings, or
    to their mean plus noise of norm 1e-2 when the class has fewer distinct points than K. A class
    without any embedding keeps its centers."""
    from sklearn.cluster import KMeans

    softtriple = model.criterion.softtriple
    k = softtriple.centers_per_class
    units = embeddings / np.maximum(np.linalg.norm(embeddings, axis=1, keepdims=True), 1e-12)
    generator = torch.Generator().manual_seed(seed)
    for label in range(softtriple.num_classes):
        points = units[labels == label]
        if len(points) == 0:
            continue
        if len(np.unique(points, axis=0)) >= k:
            centers = torch.as_tensor(KMeans(n_clusters=k, random_state=seed, n_init=10).fit(points).cluster_centers_)
        else:
            noise = torch.randn(k, points.shape[1], generator=generator, dtype=torch.float64)
            centers = torch.as_tensor(points.mean(axis=0)) + _CENTER_NOISE * noise / noise.norm(dim=1, keepdim=True)
        softtriple.centers[label * k:(label + 1) * k] = centers.to(softtriple.centers)


def initialize_from_data(model, tokenizer, data: TokenizedExamples, head_init: str, center_init: str | None,
                         seed: int, batch_size: int = 128, pad_to: int | None = None) -> None:
    """Apply ``head_init="probe"`` and ``center_init="kmeans"`` (others leave the model as built)."""
    probe = head_init == "probe"
    kmeans = center_init == "kmeans" and model.centers is not None
    if not (probe or kmeans):
        return
    found = frozen_features(model, tokenizer, data, batch_size, pad_to, head=probe, softtriple=kmeans)
    if probe:
        init_head_from_probe(model, found["features"], found["labels"], seed)
    if kmeans:
        init_centers_by_kmeans(model, found["embeddings"], found["embedding_labels"], seed)

