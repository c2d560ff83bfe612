"""SoftTriple loss (Qian et al., ICCV 2019), with token-level input for language models."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from torch.autograd.function import once_differentiable

from ._checks import check_labels, check_positive

# Rows of the (N, C*K) similarity matrix handled at once; bounds the temporaries of the
# softmax over centers to about 16 MiB in float32 whatever the batch and K.
_CHUNK_ELEMENTS = 1 << 22


def safe_normalize(x: torch.Tensor) -> torch.Tensor:
    """L2-normalise the last dimension without overflow (huge inputs) or NaN (zero vectors).

    The vector is first divided by its largest absolute entry (a detached scale: normalisation
    is scale invariant, so the gradient stays exact), so the norm never overflows; a zero vector
    maps to zero with a finite gradient.
    """
    amax = x.detach().abs().amax(dim=-1, keepdim=True)
    scale = torch.where(amax > 0, amax, torch.ones_like(amax))
    return F.normalize(x / scale, dim=-1, eps=1e-6)


class _RelaxedSimilarity(torch.autograd.Function):
    """S[n, c] = sum_k softmax_k(s[n, c, :] / gamma) * s[n, c, k] with s = x @ w.T.

    Hand-written backward, computed in row chunks: only s (N, C*K) is kept for backward and the
    softmax is recomputed chunk by chunk, so memory stays near one (N, C*K) matrix where
    autograd would keep the similarities, the softmax and their product.
    dS_c / ds_ck = p_ck * (1 + (s_ck - S_c) / gamma).
    """

    @staticmethod
    def forward(ctx, x, w, num_classes: int, centers_per_class: int, gamma: float):
        rows, cols = x.shape[0], w.shape[0]
        step = max(1, _CHUNK_ELEMENTS // cols)
        sims = x.new_empty(rows, cols)
        relaxed = x.new_empty(rows, num_classes)
        for start in range(0, rows, step):
            stop = min(rows, start + step)
            chunk = torch.mm(x[start:stop], w.t(), out=sims[start:stop]).view(-1, num_classes, centers_per_class)
            prob = torch.softmax(chunk / gamma, dim=-1)
            relaxed[start:stop] = torch.linalg.vecdot(prob, chunk)
        ctx.save_for_backward(x, w, sims, relaxed)
        ctx.shape = (num_classes, centers_per_class, gamma, step)
        return relaxed

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_relaxed):
        x, w, sims, relaxed = ctx.saved_tensors
        num_classes, centers_per_class, gamma, step = ctx.shape
        need_x, need_w = ctx.needs_input_grad[:2]
        grad_x = torch.empty_like(x) if need_x else None
        grad_w = torch.zeros_like(w) if need_w else None
        for start in range(0, x.shape[0], step):
            stop = min(x.shape[0], start + step)
            chunk = sims[start:stop].view(-1, num_classes, centers_per_class)
            prob = torch.softmax(chunk / gamma, dim=-1)
            grad = chunk - relaxed[start:stop, :, None]
            grad.div_(gamma).add_(1.0).mul_(prob).mul_(grad_relaxed[start:stop, :, None])
            grad = grad.view(stop - start, -1)
            if need_x:
                torch.mm(grad, w, out=grad_x[start:stop])
            if need_w:
                grad_w.addmm_(grad.t(), x[start:stop])
        return grad_x, grad_w, None, None, None


class SoftTripleLoss(nn.Module):
    r"""SoftTriple loss: a softmax over classes, each class represented by K learnable centers.

    With x and every center w_c^k L2-normalised (Qian et al., "SoftTriple Loss: Deep Metric
    Learning Without Triplet Sampling", ICCV 2019, arXiv:1909.05235)::

        s_ck = x . w_c^k
        S_c  = sum_k softmax_k(s_ck / gamma) * s_ck                  (relaxed similarity)
        L    = mean_x CE(la * (S - margin * onehot(y)), y) + tau * R
        R    = sum_c sum_{t<s} sqrt(2 + 1e-5 - 2 w_c^t . w_c^s) / (C * K * (K - 1))

    R is added only when ``tau > 0`` and ``K > 1``, as in the official code. The loss runs in
    float32 (float64 for float64 input) even under autocast, and ``centers`` is a float32
    parameter initialised in the constructor.

    Args:
        num_classes: number of classes C.
        embedding_dim: size D of the embeddings.
        centers_per_class: K, the number of centers of each class (>= 1).
        la: lambda, the scale of the similarities in the softmax over classes.
        gamma: temperature of the softmax over a class's centers (small: max over centers).
        margin: delta, subtracted from the true class's similarity.
        tau: weight of the regulariser that merges redundant centers.

    Inputs:
        ``embeddings`` (N, D) with ``labels`` (N,); or token states (B, L, D) with sentence
        labels (B,) that every token inherits and an optional ``mask`` (B, L) of 0/1: tokens
        with mask 0 are left out and the mean runs over the counted tokens.

    Attributes:
        centers: (C * K, D) parameter, class major: rows c*K .. c*K+K-1 belong to class c.

    Example::

        loss_fn = SoftTripleLoss(num_classes=3, embedding_dim=16, centers_per_class=5)
        loss = loss_fn(torch.randn(8, 16, requires_grad=True), torch.randint(0, 3, (8,)))
        loss.backward()
    """

    def __init__(
        self,
        num_classes: int,
        embedding_dim: int,
        centers_per_class: int = 10,
        la: float = 20.0,
        gamma: float = 0.1,
        margin: float = 0.01,
        tau: float = 0.2,
    ) -> None:
        super().__init__()
        if int(num_classes) < 1:
            raise ValueError(f"num_classes must be >= 1, got {num_classes}")
        if int(embedding_dim) < 1:
            raise ValueError(f"embedding_dim must be >= 1, got {embedding_dim}")
        if int(centers_per_class) < 1:
            raise ValueError(f"centers_per_class must be >= 1, got {centers_per_class}")
        check_positive("la", la)
        check_positive("gamma", gamma)
        if tau < 0:
            raise ValueError(f"tau must be >= 0, got {tau}")
        self.num_classes = int(num_classes)
        self.embedding_dim = int(embedding_dim)
        self.centers_per_class = int(centers_per_class)
        self.la = float(la)
        self.gamma = float(gamma)
        self.margin = float(margin)
        self.tau = float(tau)
        # Initialised here with a tensor method, not torch.nn.init: transformers disables the
        # nn.init functions while it builds a model, which would leave the centers as garbage.
        bound = 1.0 / math.sqrt(self.embedding_dim)
        centers = torch.empty(self.num_classes * self.centers_per_class, self.embedding_dim, dtype=torch.float32)
        self.centers = nn.Parameter(centers.uniform_(-bound, bound))

    def extra_repr(self) -> str:
        return (
            f"num_classes={self.num_classes}, embedding_dim={self.embedding_dim}, "
            f"centers_per_class={self.centers_per_class}, la={self.la}, gamma={self.gamma}, "
            f"margin={self.margin}, tau={self.tau}"
        )

    def _compute_dtype(self, embeddings: torch.Tensor) -> torch.dtype:
        return torch.promote_types(torch.promote_types(embeddings.dtype, self.centers.dtype), torch.float32)

    def _relaxed_similarities(self, embeddings: torch.Tensor) -> torch.Tensor:
        dtype = self._compute_dtype(embeddings)
        with torch.autocast(device_type=embeddings.device.type, enabled=False):
            x = safe_normalize(embeddings.to(dtype))
            w = safe_normalize(self.centers.to(dtype))
            return _RelaxedSimilarity.apply(x, w, self.num_classes, self.centers_per_class, self.gamma)

    def _check_dim(self, embeddings: torch.Tensor) -> None:
        if embeddings.shape[-1] != self.embedding_dim:
            raise ValueError(
                f"embeddings have size {embeddings.shape[-1]} in their last dimension, "
                f"but the loss was built with embedding_dim={self.embedding_dim}"
            )

    def logits(self, embeddings: torch.Tensor) -> torch.Tensor:
        """Relaxed class similarities S (..., C) of embeddings (..., D), usable as a classifier."""
        self._check_dim(embeddings)
        flat = embeddings.reshape(-1, self.embedding_dim)
        return self._relaxed_similarities(flat).reshape(*embeddings.shape[:-1], self.num_classes)

    def flatten(
        self, embeddings: torch.Tensor, labels: torch.Tensor, mask: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Validate the input and return (N, D) embeddings with their (N,) labels.

        Token states (B, L, D) become one row per counted token, each with its sentence's label.
        """
        if embeddings.dim() not in (2, 3):
            raise ValueError(f"embeddings must be (N, D) or (B, L, D), got shape {tuple(embeddings.shape)}")
        self._check_dim(embeddings)
        check_labels(labels, embeddings.shape[0], self.num_classes, "embeddings")
        if embeddings.dim() == 2:
            if mask is not None:
                raise ValueError("mask applies to token states (B, L, D) only, but embeddings are (N, D)")
            return embeddings, labels
        if mask is None:
            return embeddings.reshape(-1, self.embedding_dim), labels.repeat_interleave(embeddings.shape[1])
        if mask.shape != embeddings.shape[:2]:
            raise ValueError(
                f"mask must have shape (B, L) = {tuple(embeddings.shape[:2])}, got {tuple(mask.shape)}"
            )
        keep = mask.bool()
        return embeddings[keep], labels[:, None].expand_as(keep)[keep]

    def regularizer(self) -> torch.Tensor:
        """R: mean distance between the centers of each class (0 when K = 1)."""
        k = self.centers_per_class
        dtype = torch.promote_types(self.centers.dtype, torch.float32)
        with torch.autocast(device_type=self.centers.device.type, enabled=False):
            w = safe_normalize(self.centers.to(dtype)).view(self.num_classes, k, self.embedding_dim)
            if k == 1:
                return w.sum() * 0.0
            gram = torch.bmm(w, w.transpose(1, 2))
            upper = torch.ones(k, k, dtype=torch.bool, device=w.device).triu_(1)
            distances = torch.sqrt(2.0 + 1e-5 - 2.0 * gram[:, upper])
            return distances.sum() / (self.num_classes * k * (k - 1))

    def forward(
        self, embeddings: torch.Tensor, labels: torch.Tensor, mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        x, y = self.flatten(embeddings, labels, mask)
        if x.shape[0] == 0:
            raise ValueError("no embeddings to compute the loss on: the mask leaves out every token")
        relaxed = self._relaxed_similarities(x)
        margin = F.one_hot(y, self.num_classes).to(relaxed.dtype) * self.margin
        loss = F.cross_entropy(self.la * (relaxed - margin), y)
        if self.tau > 0 and self.centers_per_class > 1:
            loss = loss + self.tau * self.regularizer()
        return loss
