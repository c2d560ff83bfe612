"""The published TripleEntropy gains that reports put beside the measured ones."""

from __future__ import annotations

PAPER_REFERENCE = (
    "Sosnowski, Wróblewska, Gawrysiak, \"Applying SoftTriple Loss for Supervised Language Model Fine "
    "Tuning\", FedCSIS 2022 (arXiv 2112.08462)"
)
PAPER_GAIN_RANGE = (0.02, 2.29)
"""Smallest and largest gain over the cross-entropy baseline across the paper's tasks, in accuracy points."""

PAPER_GAINS: tuple[dict, ...] = (
    {"label": "small training sets", "gain": 0.7},
    {"label": "medium training sets", "gain": 0.86},
    {"label": "large training sets", "gain": 0.20},
    {"label": "extra-large training sets", "gain": 0.04},
)
"""The paper's average gain (TripleEntropy minus CE, accuracy points) by training-set size class.

They carry no ``train_size``: a caller that maps a class onto one of its measured training sizes
adds it (``{**gain, "train_size": 100}``) before passing them to ``summarize``."""
