"""Seeded, stratified training samples (nested across sizes) and stratified k-fold splits."""

from __future__ import annotations

import random
from collections.abc import Sequence

from ..errors import UserError
from .examples import Example


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


def sample_train(
    examples: list[Example], train_size: int | None, seed: int, *, source: str = "the training data"
) -> list[Example]:
    """A stratified sample of ``train_size`` examples drawn with ``seed`` (``None``: all of them).

    Every class is present once ``train_size`` reaches the number of classes; a larger sample with
    the same seed contains the smaller one. The sample keeps the examples' original order.
    """
    if train_size is None:
        return list(examples)
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
