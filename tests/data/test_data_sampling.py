import random
from collections import Counter

import pytest

from tripleentropy.data import Example, sample_train, stratified_folds
from tripleentropy.data.sampling import parse_sample_size
from tripleentropy.errors import UserError


def make_examples(counts):
    labels = [label for label, count in enumerate(counts) for _ in range(count)]
    random.Random(7).shuffle(labels)
    return [Example(f"sentence {index}", label) for index, label in enumerate(labels)]


EXAMPLES = make_examples([300, 60, 25, 5, 110])


def test_none_means_every_example():
    assert sample_train(EXAMPLES, None, seed=0) == EXAMPLES


@pytest.mark.parametrize("seed", [0, 1, 42])
def test_samples_are_deterministic_nested_and_keep_the_original_order(seed):
    previous: set[Example] = set()
    for train_size in [1, 3, 5, 8, 20, 64, 100, 250, len(EXAMPLES)]:
        sample = sample_train(EXAMPLES, train_size, seed)
        assert sample == sample_train(EXAMPLES, train_size, seed)
        assert len(sample) == len(set(sample)) == train_size
        assert previous <= set(sample)
        positions = [EXAMPLES.index(example) for example in sample]
        assert positions == sorted(positions)
        previous = set(sample)


def test_different_seeds_give_different_samples():
    assert sample_train(EXAMPLES, 20, seed=0) != sample_train(EXAMPLES, 20, seed=1)


@pytest.mark.parametrize("train_size", [5, 6, 10, 20, 50, 100, 333])
def test_samples_are_stratified_with_every_class_present(train_size):
    counts = Counter(example.label for example in sample_train(EXAMPLES, train_size, seed=3))
    assert set(counts) == set(range(5))
    total = Counter(example.label for example in EXAMPLES)
    if train_size >= 20:  # below that, one example per class outweighs the classes' shares
        for label, count in counts.items():
            share = train_size * total[label] / len(EXAMPLES)
            assert abs(count - max(share, 1)) < 2


def test_a_sample_smaller_than_the_classes_has_distinct_classes():
    labels = [example.label for example in sample_train(EXAMPLES, 3, seed=0)]
    assert len(set(labels)) == 3


def test_train_size_larger_than_the_data():
    with pytest.raises(UserError, match=r"train.csv has 500 examples, fewer than the requested training size 501"):
        sample_train(EXAMPLES, 501, seed=0, source="train.csv")


def test_train_size_below_one():
    with pytest.raises(UserError, match="at least 1"):
        sample_train(EXAMPLES, 0, seed=0)


@pytest.mark.parametrize("num_folds", [2, 5, 10])
def test_folds_are_disjoint_covering_balanced_and_stratified(num_folds):
    labels = [example.label for example in EXAMPLES]
    folds = stratified_folds(labels, num_folds, seed=5)
    assert len(folds) == num_folds
    everything = set(range(len(labels)))
    tests = [test for _, test in folds]
    assert sorted(index for test in tests for index in test) == sorted(everything)
    for train, test in folds:
        assert set(train) | set(test) == everything and not set(train) & set(test)
        assert train == sorted(train) and test == sorted(test)
    assert max(map(len, tests)) - min(map(len, tests)) <= 1
    for label, count in Counter(labels).items():
        per_fold = [sum(labels[index] == label for index in test) for test in tests]
        assert max(per_fold) - min(per_fold) <= 1 and sum(per_fold) == count


def test_folds_are_deterministic_given_the_seed():
    labels = [example.label for example in EXAMPLES]
    assert stratified_folds(labels, 10, seed=1) == stratified_folds(labels, 10, seed=1)
    assert stratified_folds(labels, 10, seed=1) != stratified_folds(labels, 10, seed=2)


def test_fewer_examples_than_folds():
    with pytest.raises(UserError, match=r"train.csv has 4 examples, fewer than the 5 folds requested"):
        stratified_folds([0, 1, 0, 1], 5, seed=0, source="train.csv")


def test_fewer_than_two_folds():
    with pytest.raises(UserError, match="at least 2 folds"):
        stratified_folds([0, 1, 0, 1], 1, seed=0)


@pytest.mark.parametrize("seed", [0, 3])
def test_per_class_samples_hold_n_of_every_class_nested_and_in_order(seed):
    previous: set[Example] = set()
    for per_class in [1, 2, 5]:
        sample = sample_train(EXAMPLES, f"{per_class}/class", seed)
        assert sample == sample_train(EXAMPLES, f"{per_class}/class", seed)
        assert Counter(example.label for example in sample) == {label: per_class for label in range(5)}
        assert previous <= set(sample)
        positions = [EXAMPLES.index(example) for example in sample]
        assert positions == sorted(positions)
        previous = set(sample)
    assert sample_train(EXAMPLES, "5/class", seed) != sample_train(EXAMPLES, "5/class", seed + 1)


def test_a_per_class_sample_is_balanced_where_a_stratified_one_of_its_size_is_not():
    stratified = Counter(example.label for example in sample_train(EXAMPLES, 25, seed=0))
    assert stratified[0] > 5 and stratified[3] < 5  # the 300-example class dominates a stratified sample


def test_a_class_with_too_few_examples_for_n_per_class_is_named():
    with pytest.raises(UserError, match=r"has 5 examples of the class 'd', fewer than the requested 6/class; use at most 5/class"):
        sample_train(EXAMPLES, "6/class", seed=0, label_names=["a", "b", "c", "d", "e"])
    with pytest.raises(UserError, match=r"no example of the class 'f'"):
        sample_train(EXAMPLES, "1/class", seed=0, label_names=["a", "b", "c", "d", "e", "f"])


@pytest.mark.parametrize("text, size", [("8/class", "8/class"), (" 8 / Class ", "8/class"), ("16", 16), (3, 3)])
def test_sample_sizes_parse_to_one_spelling(text, size):
    assert parse_sample_size(text) == size


@pytest.mark.parametrize("text", ["0/class", "x/class", "8/cls", "-3", "8.5", "", "full"])
def test_bad_sample_sizes_are_refused(text):
    with pytest.raises(ValueError):
        parse_sample_size(text)
