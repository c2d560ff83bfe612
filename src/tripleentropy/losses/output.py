"""The value returned by the combined (cross-entropy + metric) losses."""

from __future__ import annotations

from typing import NamedTuple

import torch


class LossOutput(NamedTuple):
    """A combined loss and its two parts, so training can log each of them.

    Attributes:
        loss: the total that is back-propagated.
        ce: the cross-entropy term (unweighted).
        metric: the metric-learning term (SoftTriple or SupCon, unweighted).
    """

    loss: torch.Tensor
    ce: torch.Tensor
    metric: torch.Tensor
