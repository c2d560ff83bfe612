"""Slow, loop-based float64 transcriptions of the papers' formulas, independent of the library."""

from __future__ import annotations

import torch


def _unit(v: torch.Tensor) -> torch.Tensor:
    return v / torch.sqrt(sum(component * component for component in v))


def _log_sum_exp(values: list[torch.Tensor]) -> torch.Tensor:
    top = max(float(v.detach()) for v in values)
    return top + torch.log(sum(torch.exp(v - top) for v in values))


def softtriple(x, labels, centers, num_classes, k, la, gamma, margin, tau):
    """SoftTriple (Qian et al. 2019), one example and one center at a time."""
    total = 0.0
    for i in range(x.shape[0]):
        xi = _unit(x[i])
        relaxed = []
        for c in range(num_classes):
            sims = [torch.dot(xi, _unit(centers[c * k + j])) for j in range(k)]
            normaliser = sum(torch.exp(s / gamma) for s in sims)
            relaxed.append(sum(torch.exp(s / gamma) / normaliser * s for s in sims))
        y = int(labels[i])
        logits = [la * (relaxed[c] - (margin if c == y else 0.0)) for c in range(num_classes)]
        total = total + (_log_sum_exp(logits) - logits[y])
    loss = total / x.shape[0]
    if tau > 0 and k > 1:
        regulariser = 0.0
        for c in range(num_classes):
            for t in range(k):
                for s in range(t + 1, k):
                    dot = torch.dot(_unit(centers[c * k + t]), _unit(centers[c * k + s]))
                    regulariser = regulariser + torch.sqrt(2.0 + 1e-5 - 2.0 * dot)
        loss = loss + tau * regulariser / (num_classes * k * (k - 1))
    return loss


def supcon(x, labels, temperature):
    """Supervised contrastive loss (Khosla et al. 2020), anchors without positives left out."""
    z = [_unit(row) for row in x]
    count = len(z)
    per_anchor = []
    for i in range(count):
        positives = [p for p in range(count) if p != i and int(labels[p]) == int(labels[i])]
        if not positives:
            continue
        others = [torch.dot(z[i], z[a]) / temperature for a in range(count) if a != i]
        denominator = _log_sum_exp(others)
        terms = [torch.dot(z[i], z[p]) / temperature - denominator for p in positives]
        per_anchor.append(-sum(terms) / len(positives))
    return sum(per_anchor) / len(per_anchor)


def cross_entropy(logits, labels):
    total = 0.0
    for i in range(logits.shape[0]):
        row = [logits[i, c] for c in range(logits.shape[1])]
        total = total + (_log_sum_exp(row) - row[int(labels[i])])
    return total / logits.shape[0]

