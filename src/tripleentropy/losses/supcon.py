"""Supervised contrastive loss (Khosla et al., NeurIPS 2020)."""

from __future__ import annotations

import torch
from torch import nn

from ._checks import check_labels, check_positive
from .softtriple import safe_normalize


class SupConLoss(nn.Module):
    r"""Supervised contrastive loss on L2-normalised sentence embeddings.

    Khosla et al., "Supervised Contrastive Learning", NeurIPS 2020 (arXiv:2004.11362), as used
    for fine-tuning language models by Gunel et al., ICLR 2021 (arXiv:2011.01403). With z the
    normalised embeddings, P(i) the other examples of i's class and A(i) all examples but i::

        L = mean_{i : |P(i)| > 0}  -1/|P(i)| sum_{p in P(i)} log( exp(z_i.z_p / t) / sum_{a in A(i)} exp(z_i.z_a / t) )

    Anchors without a positive in the batch are left out of the mean; a batch with none at all
    gives a zero loss that still has a gradient. Runs in float32 (float64 for float64 input).

    Args:
        temperature: t, the softmax temperature (> 0).

    Inputs:
        ``embeddings`` (N, D), ``labels`` (N,). Returns a scalar tensor.

    Example::

        loss_fn = SupConLoss(temperature=0.1)
        loss = loss_fn(torch.randn(8, 16, requires_grad=True), torch.tensor([0, 1] * 4))
        loss.backward()
    """

    def __init__(self, temperature: float = 0.1) -> None:
        super().__init__()
        check_positive("temperature", temperature)
        self.temperature = float(temperature)

    def extra_repr(self) -> str:
        return f"temperature={self.temperature}"

    def forward(self, embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        if embeddings.dim() != 2:
            raise ValueError(f"embeddings must be (N, D), got shape {tuple(embeddings.shape)}")
        labels = check_labels(labels, embeddings.shape[0], None, "embeddings")
        dtype = torch.promote_types(embeddings.dtype, torch.float32)
        with torch.autocast(device_type=embeddings.device.type, enabled=False):
            z = safe_normalize(embeddings.to(dtype))
            count = z.shape[0]
            self_pairs = torch.eye(count, dtype=torch.bool, device=z.device)
            positives = (labels[:, None] == labels[None, :]) & ~self_pairs
            num_positives = positives.sum(dim=1)
            anchors = num_positives > 0
            if not bool(anchors.any()):
                return z.sum() * 0.0
            similarities = (z @ z.t() / self.temperature).masked_fill(self_pairs, float("-inf"))
            log_prob = similarities - torch.logsumexp(similarities, dim=1, keepdim=True)
            positive_log_prob = log_prob.masked_fill(~positives, 0.0).sum(dim=1)
            return -(positive_log_prob[anchors] / num_positives[anchors]).mean()
