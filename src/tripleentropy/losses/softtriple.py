"""SoftTriple loss (Qian et al., ICCV 2019), with token-level input for language models."""

from __future__ import annotations

import math

import torch
from torch import nn

from ._checks import check_labels, check_positive

CENTER_INITS = ("uniform", "kaiming")

# Elements of the (rows, C*K) similarity block handled at once: bounds the temporaries of the
# softmax over centers to about 4 MiB each in float32, whatever the batch and K.
_CHUNK_ELEMENTS = 1 << 20


class _Normalize(torch.autograd.Function):
    """x / ||x|| over the last dimension, without overflow, NaN, or extra copies.

    Each row is first divided by its largest absolute entry, so the norm cannot overflow for
    huge inputs; a zero row maps to zero with a finite gradient. Returns the unit rows and the
    norms ||x||; only these are allocated in forward. Backward gives the input gradient
    (g - y (g . y)) / ||x|| (+ g_norm y), in place when no graph is wanted, and otherwise as a
    differentiable function of the two outputs, so that second-order gradients are exact.
    """

    @staticmethod
    def forward(ctx, x):
        largest = torch.linalg.vector_norm(x, ord=float("inf"), dim=-1, keepdim=True)
        largest = torch.where(largest > 0, largest, torch.ones_like(largest))
        unit = x / largest
        norm = torch.linalg.vector_norm(unit, dim=-1, keepdim=True).clamp_min_(1e-6)
        unit.div_(norm)
        norm.mul_(largest)
        ctx.save_for_backward(unit, norm)
        ctx.set_materialize_grads(False)
        return unit, norm

    @staticmethod
    def backward(ctx, grad, grad_norm):
        unit, norm = ctx.saved_tensors
        if grad is None:
            grad = torch.zeros_like(unit)
        along = torch.linalg.vecdot(grad, unit).unsqueeze(-1)
        if torch.is_grad_enabled():  # create_graph=True: keep the graph through unit and norm
            result = (grad - unit * along) / norm
            return result if grad_norm is None else result + grad_norm * unit
        result = torch.addcmul(grad, unit, along, value=-1.0).div_(norm)
        return result if grad_norm is None else result.addcmul_(grad_norm.expand_as(unit), unit)


def safe_normalize(x: torch.Tensor) -> torch.Tensor:
    """L2-normalise the last dimension; safe for huge inputs (no overflow) and zero vectors (no NaN)."""
    return _Normalize.apply(x)[0]


def _relaxed(sims: torch.Tensor, gamma: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Softmax over each class's centers of sims (n, C, K), and the relaxed similarity S (n, C)."""
    prob = torch.softmax(sims / gamma, dim=-1)
    return prob, torch.linalg.vecdot(prob, sims)


def _softtriple_cross_entropy(x, w, labels, num_classes: int, centers_per_class: int, gamma: float, la: float,
                              margin: float) -> torch.Tensor:
    """The loss of :class:`_SoftTripleCrossEntropy` in plain differentiable operations (the whole
    batch at once): what second-order gradients are taken of."""
    sims = (x @ w.t()).view(-1, num_classes, centers_per_class)
    logits = la * _relaxed(sims, gamma)[1]
    logits = logits - la * margin * torch.nn.functional.one_hot(labels, num_classes).to(logits.dtype)
    return torch.nn.functional.cross_entropy(logits, labels)


class _SoftTripleCrossEntropy(torch.autograd.Function):
    """mean_n CE(la * (S_n - margin * onehot(y_n)), y_n), S from unit embeddings x and centers w.

    Computed in row chunks, with the gradients formed during the forward pass, chunk by chunk,
    while the similarities are at hand: nothing of size (N, C*K) outlives a chunk, where autograd
    would keep the similarities, the softmax over centers and their product for the whole batch.
    Backward only scales the stored gradients. With p the softmax over centers and q the softmax
    over classes, dL/dS_c = la * (q_c - onehot_c) / N and dS_c/ds_ck = p_ck (1 + (s_ck - S_c) / gamma).

    ``build_grads`` False (no gradient wanted: ``torch.no_grad()``, or inputs without
    ``requires_grad``) skips forming the gradients. Under ``create_graph=True`` backward
    differentiates a plain recomputation of the loss instead (:func:`_softtriple_cross_entropy`),
    so gradient penalties and other second-order uses get exact, differentiable gradients.
    """

    @staticmethod
    def forward(ctx, x, w, labels, num_classes: int, centers_per_class: int, gamma: float, la: float, margin: float,
                build_grads: bool = True):
        rows, cols = x.shape[0], w.shape[0]
        step = max(1, _CHUNK_ELEMENTS // cols)
        need_x, need_w = (need and build_grads for need in ctx.needs_input_grad[:2])
        grad_x = torch.empty_like(x) if need_x else None
        grad_w = torch.zeros_like(w) if need_w else None
        total = x.new_zeros(())
        for start in range(0, rows, step):
            stop = min(rows, start + step)
            x_chunk, y_chunk = x[start:stop], labels[start:stop, None]
            sims = torch.mm(x_chunk, w.t()).view(-1, num_classes, centers_per_class)
            prob, relaxed = _relaxed(sims, gamma)
            logits = la * relaxed
            logits.scatter_add_(1, y_chunk, logits.new_full(y_chunk.shape, -la * margin))
            total += (torch.logsumexp(logits, dim=1) - logits.gather(1, y_chunk).squeeze(1)).sum()
            if need_x or need_w:
                grad_relaxed = torch.softmax(logits, dim=1)
                grad_relaxed.scatter_add_(1, y_chunk, grad_relaxed.new_full(y_chunk.shape, -1.0))
                grad_relaxed.mul_(la / rows)
                grad = sims.sub_(relaxed.unsqueeze(-1)).div_(gamma).add_(1.0).mul_(prob)
                grad = grad.mul_(grad_relaxed.unsqueeze(-1)).view(stop - start, cols)
                if need_x:
                    torch.mm(grad, w, out=grad_x[start:stop])
                if need_w:
                    grad_w.addmm_(grad.t(), x_chunk)
        if need_x or need_w:
            # x and w are kept alive by the normalisation that made them: saving them costs nothing.
            ctx.save_for_backward(grad_x, grad_w, x, w, labels)
            ctx.settings = (num_classes, centers_per_class, gamma, la, margin)
        return total / rows

    @staticmethod
    def backward(ctx, grad_loss):
        grad_x, grad_w, x, w, labels = ctx.saved_tensors
        none = (None,) * 7
        if torch.is_grad_enabled():  # create_graph=True: exact gradients with their own graph
            wanted = [tensor for tensor, need in zip((x, w), ctx.needs_input_grad[:2]) if need]
            with torch.enable_grad():
                loss = _softtriple_cross_entropy(x, w, labels, *ctx.settings)
                grads = iter(torch.autograd.grad(loss, wanted, grad_loss, create_graph=True))
            return (next(grads) if ctx.needs_input_grad[0] else None,
                    next(grads) if ctx.needs_input_grad[1] else None, *none)
        return (
            grad_x * grad_loss if grad_x is not None else None,
            grad_w * grad_loss if grad_w is not None else None,
            *none,
        )


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
        center_init: how the centers start. ``uniform``: every entry from U(-1/sqrt(D), 1/sqrt(D)),
            centers of norm about 0.58; ``kaiming``: pytorch-metric-learning's and the official
            SoftTriple code's ``kaiming_uniform_(a=sqrt(5))`` on the (D, C * K) matrix, i.e.
            every entry from U(-1/sqrt(C * K), 1/sqrt(C * K)) drawn in that layout (the same
            values as theirs from the same random state), centers of norm about sqrt(D / (3 C K)),
            5.1 for D = 768, C = 2, K = 5. The loss only sees the centers' directions, but an
            optimizer's steps move larger centers more slowly: with Adam, ``kaiming`` centers
            turn about norm-ratio times slower than ``uniform`` ones at the same learning rate.

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
        center_init: str = "uniform",
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
        if center_init not in CENTER_INITS:
            raise ValueError(f"center_init must be one of {', '.join(CENTER_INITS)}, got {center_init!r}")
        self.center_init = center_init
        # Initialised here with a tensor method, not torch.nn.init: transformers disables the
        # nn.init functions while it builds a model, which would leave the centers as garbage.
        count = self.num_classes * self.centers_per_class
        if center_init == "kaiming":  # kaiming_uniform_(a=sqrt(5)) of a (D, C*K) matrix: fan_in C*K
            bound = 1.0 / math.sqrt(count)
            centers = torch.empty(self.embedding_dim, count, dtype=torch.float32).uniform_(-bound, bound).t().contiguous()
        else:
            bound = 1.0 / math.sqrt(self.embedding_dim)
            centers = torch.empty(count, self.embedding_dim, dtype=torch.float32).uniform_(-bound, bound)
        self.centers = nn.Parameter(centers)

    def extra_repr(self) -> str:
        return (
            f"num_classes={self.num_classes}, embedding_dim={self.embedding_dim}, "
            f"centers_per_class={self.centers_per_class}, la={self.la}, gamma={self.gamma}, "
            f"margin={self.margin}, tau={self.tau}, center_init={self.center_init}"
        )

    def _compute_dtype(self, embeddings: torch.Tensor) -> torch.dtype:
        return torch.promote_types(torch.promote_types(embeddings.dtype, self.centers.dtype), torch.float32)

    def _unit(self, embeddings: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Unit embeddings and centers in the loss's compute dtype."""
        dtype = self._compute_dtype(embeddings)
        return safe_normalize(embeddings.to(dtype)), safe_normalize(self.centers.to(dtype))

    def _check_dim(self, embeddings: torch.Tensor) -> None:
        if embeddings.shape[-1] != self.embedding_dim:
            raise ValueError(
                f"embeddings have size {embeddings.shape[-1]} in their last dimension, "
                f"but the loss was built with embedding_dim={self.embedding_dim}"
            )

    def logits(self, embeddings: torch.Tensor) -> torch.Tensor:
        """Relaxed class similarities S (..., C) of embeddings (..., D), usable as a classifier."""
        self._check_dim(embeddings)
        with torch.autocast(device_type=embeddings.device.type, enabled=False):
            x, w = self._unit(embeddings.reshape(-1, self.embedding_dim))
            sims = (x @ w.t()).view(-1, self.num_classes, self.centers_per_class)
            relaxed = _relaxed(sims, self.gamma)[1]
        return relaxed.reshape(*embeddings.shape[:-1], self.num_classes)

    def flatten(
        self, embeddings: torch.Tensor, labels: torch.Tensor, mask: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Validate the input and return (N, D) embeddings with their (N,) labels.

        Token states (B, L, D) become one row per counted token, each with its sentence's label.
        """
        if embeddings.dim() not in (2, 3):
            raise ValueError(f"embeddings must be (N, D) or (B, L, D), got shape {tuple(embeddings.shape)}")
        self._check_dim(embeddings)
        labels = check_labels(labels, embeddings.shape[0], self.num_classes, "embeddings")
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
        with torch.autocast(device_type=x.device.type, enabled=False):
            x, w = self._unit(x)
            build_grads = torch.is_grad_enabled() and (x.requires_grad or w.requires_grad)
            loss = _SoftTripleCrossEntropy.apply(
                x, w, y, self.num_classes, self.centers_per_class, self.gamma, self.la, self.margin, build_grads
            )
        if self.tau > 0 and self.centers_per_class > 1:
            loss = loss + self.tau * self.regularizer()
        return loss
