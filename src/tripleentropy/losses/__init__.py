"""Losses for fine-tuning encoders: pure torch, usable in any training loop.

- ``SoftTripleLoss``: SoftTriple (Qian et al. 2019) on sentence or token embeddings.
- ``TripleEntropyLoss``: ``beta * CE + (1 - beta) * SoftTriple`` (Sosnowski et al. 2022).
- ``SupConLoss``: supervised contrastive loss (Khosla et al. 2020).
- ``SupConCrossEntropyLoss``: ``beta * CE + (1 - beta) * SupCon`` (Gunel et al. 2021, lambda = 1 - beta).
"""

from .output import LossOutput
from .softtriple import SoftTripleLoss
from .supcon import SupConLoss
from .supcon_cross_entropy import SupConCrossEntropyLoss
from .tripleentropy import TripleEntropyLoss

__all__ = ["LossOutput", "SoftTripleLoss", "SupConCrossEntropyLoss", "SupConLoss", "TripleEntropyLoss"]
