"""Cross-entropy plus supervised contrastive loss (Gunel et al., ICLR 2021)."""

from __future__ import annotations

import torch
from torch import nn

from ._checks import check_classifier_inputs, check_fraction, cross_entropy
from .output import LossOutput
from .supcon import SupConLoss


class SupConCrossEntropyLoss(nn.Module):
    r"""``beta * CE(logits, y) + (1 - beta) * SupCon(embeddings, y)``.

    The fine-tuning objective of Gunel et al., "Supervised Contrastive Learning for Pre-trained
    Language Model Fine-tuning", ICLR 2021 (arXiv:2011.01403), ``(1 - lambda) CE + lambda SCL``,
    written with the cross-entropy weight ``beta = 1 - lambda`` as in ``TripleEntropyLoss``; the
    comparison baseline of the TripleEntropy paper. The defaults are the values of Gunel et al.'s
    few-shot experiments, lambda 0.9 (``beta = 0.1``) and temperature 0.3. Same call and return
    value as ``TripleEntropyLoss``.

    Args:
        beta: weight of the cross-entropy term, in [0, 1]; SupCon gets ``1 - beta``.
        temperature: SupCon temperature (> 0).

    Inputs:
        ``logits`` (N, C), sentence ``embeddings`` (N, D) (the first token's state), ``labels``
        (N,). ``mask`` exists for call compatibility and must be None. Returns a
        ``LossOutput(loss, ce, metric)``.

    Example::

        loss_fn = SupConCrossEntropyLoss(beta=0.1, temperature=0.3)
        out = loss_fn(torch.randn(4, 2), torch.randn(4, 16), torch.tensor([0, 1, 1, 0]))
        print(out.loss, out.ce, out.metric)
    """

    def __init__(self, beta: float = 0.1, temperature: float = 0.3) -> None:
        super().__init__()
        check_fraction("beta", beta)
        self.beta = float(beta)
        self.supcon = SupConLoss(temperature)

    def extra_repr(self) -> str:
        return f"beta={self.beta}"

    def forward(
        self,
        logits: torch.Tensor,
        embeddings: torch.Tensor,
        labels: torch.Tensor,
        mask: torch.Tensor | None = None,
    ) -> LossOutput:
        if mask is not None or embeddings.dim() != 2:
            raise ValueError("SupCon takes one embedding per sentence (N, D) and no token mask")
        labels = check_classifier_inputs(logits, embeddings, labels)
        ce = cross_entropy(logits, labels)
        metric = self.supcon(embeddings, labels)
        return LossOutput(self.beta * ce + (1.0 - self.beta) * metric, ce, metric)
