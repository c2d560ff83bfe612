"""Published results that reports put beside the measured ones: the TripleEntropy paper's gains
and SetFit's few-shot table."""

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

SETFIT_REFERENCE = (
    "Tunstall et al., \"Efficient Few-Shot Learning Without Prompts\" (SetFit), 2022 (arXiv 2209.11055), "
    "paraphrase-mpnet-base-v2, mean accuracy over 10 random training splits of N examples per "
    "class, on their own test sets"
)
_SETFIT_TABLE = {
    # task: {method: (N=8, N=16, N=64)}
    "CR": {"SetFit (paraphrase-mpnet-base-v2)": (88.5, 89.0, 90.4), "RoBERTa-large fine-tuning": (58.8, 73.2, 88.9)},
    "SST5": {"SetFit (paraphrase-mpnet-base-v2)": (43.6, 47.0, 51.9), "RoBERTa-large fine-tuning": (33.5, 38.9, 45.9)},
}
SETFIT_TABLE: tuple[dict, ...] = tuple(
    {"task": task, "train_size": f"{per_class}/class", "label": label, "accuracy": accuracy}
    for task, rows in _SETFIT_TABLE.items() for label, values in rows.items()
    for per_class, accuracy in zip((8, 16, 64), values)
)
"""SetFit's published accuracies (points) for CR and SST-5, one entry per task, size and method."""
