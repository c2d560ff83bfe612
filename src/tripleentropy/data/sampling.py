"""Seeded training samples, stratified or balanced per class (nested across sizes), and
stratified k-fold splits."""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from typing import Union

from ..errors import UserError
from .examples import Example

SampleSize = Union[int, str]
"""A training sample's size: a number of examples (a stratified sample), or ``"N/class"`` for
``N`` examples of every class (a balanced one)."""

PER_CLASS = "/class"
_PER_CLASS_PATTERN = re.compile(r"\s*(\d+)\s*/\s*class\s*", re.IGNORECASE)


def parse_sample_size(value: SampleSize) -> SampleSize:
    """A positive int, or ``"N/class"`` with N >= 1 (``" 8 / Class"`` reads as ``"8/class"``);
    raises ``ValueError`` for anything else."""
    if isinstance(value, str):
        match = _PER_CLASS_PATTERN.fullmatch(value)
        if match:
            count = int(match.group(1))
            if count >= 1:
                return f"{count}{PER_CLASS}"
            raise ValueError(f"a per-class size needs at least 1 example of each class, got {value!r}")
    try:
        size = int(value)
    except (TypeError, ValueError):
        raise ValueError(f"a training size is a positive integer or N/class, got {value!r}") from None
    if size <= 0 or isinstance(value, bool) or (isinstance(value, float) and size != value):
        raise ValueError(f"a training size is a positive integer or N/class, got {value!r}")
    return size


def per_class_count(size: object) -> int | None:
    """``N`` for a per-class size ``"N/class"``; ``None`` for a total or ``"full"``."""
    if isinstance(size, str) and size.endswith(PER_CLASS):
        return int(size[: -len(PER_CLASS)])
    return None


def short_class_counts(labels: Sequence[int], num_classes: int, per_class: int) -> list[tuple[int, int]]:
    """``(class, count)`` of every class with fewer than ``per_class`` of ``labels``, fewest first."""
    counts = [0] * num_classes
    for label in labels:
        counts[label] += 1
    return sorted(((label, count) for label, count in enumerate(counts) if count < per_class), key=lambda item: item[1])


def shortest_class(pools: Sequence[Sequence[int]], num_classes: int, per_class: int) -> tuple[int, int] | None:
    """Over several pools of labels, the ``(class, count)`` furthest below ``per_class``, or None."""
    short = [item for labels in pools for item in short_class_counts(labels, num_classes, per_class)]
    return min(short, key=lambda item: item[1], default=None)


def _indices_by_class(labels: Sequence[int], rng: random.Random) -> dict[int, list[int]]:
    by_class: dict[int, list[int]] = {}
    for index, label in enumerate(labels):
        by_class.setdefault(label, []).append(index)
    for indices in by_class.values():
        rng.shuffle(indices)
    return dict(sorted(by_class.items()))


def _stratified_prefix(labels: Sequence[int], size: int, seed: int) -> list[int]:
    """The first ``size`` indices of an order whose every prefix is as stratified as it can be.

    One example of each class comes first (classes in a seeded random order), then each next
    example is taken from the class furthest below its share of the prefix. Taking a prefix makes
    samples of different sizes with one seed nested.
    """
    rng = random.Random(seed)
    by_class = _indices_by_class(labels, rng)
    classes = list(by_class)
    rng.shuffle(classes)
    order = [by_class[label][0] for label in classes]
    taken = dict.fromkeys(classes, 1)
    total = len(labels)
    for length in range(len(order), size):
        label = max(classes, key=lambda c: ((length + 1) * len(by_class[c]) / total - taken[c], -c))
        order.append(by_class[label][taken[label]])
        taken[label] += 1
    return order[:size]


def _balanced(labels: Sequence[int], per_class: int, seed: int) -> list[int]:
    """``per_class`` seeded indices of each class (the first ones of each shuffled class, so
    samples with one seed are nested across counts)."""
    return [index for indices in _indices_by_class(labels, random.Random(seed)).values() for index in indices[:per_class]]


def sample_train(
    examples: list[Example], train_size: SampleSize | None, seed: int, *, source: str = "the training data",
    label_names: Sequence[str] | None = None,
) -> list[Example]:
    """A sample of ``train_size`` examples drawn with ``seed`` (``None``: all of them).

    A number gives a stratified sample: every class is present once ``train_size`` reaches the
    number of classes. ``"N/class"`` gives ``N`` examples of each class in ``label_names`` (by
    default, of each class present), and raises ``UserError`` naming a class that has fewer. A
    larger sample with the same seed contains the smaller one; the sample keeps the examples'
    original order.
    """
    if train_size is None:
        return list(examples)
    per_class = per_class_count(train_size)
    if per_class is not None:
        labels = [example.label for example in examples]
        names = list(label_names) if label_names is not None else [str(label) for label in range(max(labels, default=-1) + 1)]
        short = [(label, count) for label, count in short_class_counts(labels, len(names), per_class)
                 if label_names is not None or count > 0]
        if short:
            label, count = short[0]
            raise UserError(
                f"{source} has {count} example{'' if count == 1 else 's'} of the class {names[label]!r}, fewer than "
                f"the requested {train_size}; use at most {count}/class" if count else
                f"{source} has no example of the class {names[label]!r}, so no sample can hold {train_size}"
            )
        return [examples[index] for index in sorted(_balanced(labels, per_class, seed))]
    if train_size < 1:
        raise UserError(f"the training size must be at least 1, not {train_size}")
    if train_size > len(examples):
        raise UserError(
            f"{source} has {len(examples)} examples, fewer than the requested training size {train_size}"
        )
    chosen = sorted(_stratified_prefix([example.label for example in examples], train_size, seed))
    return [examples[index] for index in chosen]


def check_sample_classes(
    sample: Sequence[Example], label_names: Sequence[str], *, source: str = "the training data"
) -> None:
    """Raise ``UserError`` unless a training ``sample`` holds at least two classes.

    A classifier trained on one class learns nothing. A stratified sample of two or more
    examples from data with two or more classes always holds two, so only a training size of 1
    fails here.
    """
    classes = sorted({example.label for example in sample})
    if len(classes) < 2:
        held = f"only the class {label_names[classes[0]]!r}" if classes else "no examples"
        raise UserError(
            f"{source}: a training sample of {len(sample)} example{'' if len(sample) == 1 else 's'} holds {held}; "
            "a classifier needs at least two classes (a training size of 2 or more)"
        )


def stratified_folds(
    labels: Sequence[int], num_folds: int, seed: int, *, source: str = "the data"
) -> list[tuple[list[int], list[int]]]:
    """(train indices, test indices) of each of ``num_folds`` stratified folds, shuffled with ``seed``.

    The test parts are disjoint and cover every index; each class is spread over the folds as
    evenly as its size allows, and fold sizes differ by at most one.
    """
    if num_folds < 2:
        raise UserError(f"cross-validation needs at least 2 folds, not {num_folds}")
    if len(labels) < num_folds:
        raise UserError(f"{source} has {len(labels)} examples, fewer than the {num_folds} folds requested")
    by_class = _indices_by_class(labels, random.Random(seed))
    dealt = [index for indices in by_class.values() for index in indices]
    fold_of = {index: position % num_folds for position, index in enumerate(dealt)}
    folds = []
    for fold in range(num_folds):
        test = [index for index in range(len(labels)) if fold_of[index] == fold]
        train = [index for index in range(len(labels)) if fold_of[index] != fold]
        folds.append((train, test))
    return folds
