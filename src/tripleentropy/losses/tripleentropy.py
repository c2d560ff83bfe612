"""TripleEntropy: cross-entropy plus SoftTriple (Sosnowski et al., FedCSIS 2022)."""

from __future__ import annotations

import torch
from torch import nn

from ._checks import check_classifier_inputs, check_fraction, cross_entropy
from .output import LossOutput
from .softtriple import SoftTripleLoss


class TripleEntropyLoss(nn.Module):
    r"""TripleEntropy: ``beta * CE(logits, y) + (1 - beta) * SoftTriple(embeddings, y)``.

    Sosnowski, Wróblewska, Gawrysiak, "Applying SoftTriple Loss for Supervised Language Model
    Fine Tuning", FedCSIS 2022 (arXiv:2112.08462). The cross-entropy acts on the classifier's
    logits; SoftTriple acts on the encoder's states (in the paper, every token's last-layer state
    carrying its sentence's label). ``beta = 1`` gives plain cross-entropy exactly, while the
    centers stay in the graph through a zero-weighted term (distributed training then never sees
    unused parameters); the SoftTriple value is still reported, computed without gradient.

    Args:
        beta: weight of the cross-entropy term, in [0, 1].
        softtriple: a ready ``SoftTripleLoss``; if None, one is built from ``softtriple_kwargs``
            (``num_classes`` and ``embedding_dim`` are then required).
        **softtriple_kwargs: arguments of ``SoftTripleLoss``.

    Inputs:
        ``logits`` (N, C), ``embeddings`` (N, D) or token states (N, L, D), ``labels`` (N,),
        optional ``mask`` (N, L) for token states. Returns a ``LossOutput(loss, ce, metric)``.

    Example::

        loss_fn = TripleEntropyLoss(beta=0.4, num_classes=2, embedding_dim=16, centers_per_class=5)
        out = loss_fn(torch.randn(4, 2), torch.randn(4, 7, 16), torch.tensor([0, 1, 1, 0]))
        out.loss.backward()
    """

    def __init__(self, beta: float = 0.4, softtriple: SoftTripleLoss | None = None, **softtriple_kwargs) -> None:
        super().__init__()
        check_fraction("beta", beta)
        if softtriple is None:
            missing = [key for key in ("num_classes", "embedding_dim") if key not in softtriple_kwargs]
            if missing:
                raise ValueError(f"pass a SoftTripleLoss or its arguments; missing: {', '.join(missing)}")
            softtriple = SoftTripleLoss(**softtriple_kwargs)
        elif softtriple_kwargs:
            raise ValueError("pass either a SoftTripleLoss or its arguments, not both")
        self.beta = float(beta)
        self.softtriple = softtriple

    def extra_repr(self) -> str:
        return f"beta={self.beta}"

    def forward(
        self,
        logits: torch.Tensor,
        embeddings: torch.Tensor,
        labels: torch.Tensor,
        mask: torch.Tensor | None = None,
    ) -> LossOutput:
        labels = check_classifier_inputs(logits, embeddings, labels, self.softtriple.num_classes)
        ce = cross_entropy(logits, labels)
        if self.beta == 1.0:
            with torch.no_grad():
                metric = self.softtriple(embeddings, labels, mask)
            return LossOutput(ce + 0.0 * self.softtriple.centers.sum(), ce, metric)
        metric = self.softtriple(embeddings, labels, mask)
        return LossOutput(self.beta * ce + (1.0 - self.beta) * metric, ce, metric)
