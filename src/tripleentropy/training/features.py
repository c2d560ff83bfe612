"""Tokenised datasets made once and reused across runs, and dynamic-padding batches."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import torch
from torch.utils.data import Dataset
from transformers import DataCollatorWithPadding
from transformers.trainer_pt_utils import LengthGroupedSampler
from transformers.tokenization_utils_base import PreTrainedTokenizerBase

from ..data.examples import Example


class TokenizedExamples(Dataset):
    """Examples tokenised once (no padding): one feature dict per example.

    Tokenise a whole pool once and take ``subset(indices)`` for each run: nothing is tokenised
    again. Each item holds ``input_ids`` (and ``token_type_ids``/``attention_mask`` when the
    tokenizer makes them) and ``labels``.
    """

    def __init__(self, examples: Sequence[Example], features: list[dict[str, list[int]]], max_length: int) -> None:
        self.examples = list(examples)
        self.features = features
        self.max_length = max_length

    def __len__(self) -> int:
        return len(self.features)

    def __getitem__(self, index: int) -> dict[str, list[int] | int]:
        return self.features[index]

    @property
    def lengths(self) -> list[int]:
        return [len(feature["input_ids"]) for feature in self.features]

    @property
    def labels(self) -> list[int]:
        return [example.label for example in self.examples]

    def subset(self, indices: Sequence[int]) -> TokenizedExamples:
        return TokenizedExamples(
            [self.examples[i] for i in indices], [self.features[i] for i in indices], self.max_length
        )


# transformers sets model_max_length to a huge number when a tokenizer names no limit.
_NO_LIMIT = 1_000_000


def tokenize_examples(
    tokenizer: PreTrainedTokenizerBase, examples: Sequence[Example], max_length: int
) -> TokenizedExamples:
    """Tokenise ``examples`` (single sentences or pairs, truncated to ``max_length`` tokens, or to
    the tokenizer's ``model_max_length`` when that is shorter: an encoder reads no more)."""
    examples = list(examples)
    if not examples:
        return TokenizedExamples([], [], max_length)
    is_pair = [example.text_pair is not None for example in examples]
    if any(is_pair) and not all(is_pair):
        raise ValueError("examples mix single sentences and sentence pairs")
    texts = [example.text for example in examples]
    pairs = [example.text_pair for example in examples] if is_pair[0] else None
    limit = getattr(tokenizer, "model_max_length", None)
    truncate_at = min(max_length, limit) if isinstance(limit, int) and limit < _NO_LIMIT else max_length
    encoded = tokenizer(texts, pairs, truncation=True, max_length=truncate_at, padding=False)
    keys = [key for key in ("input_ids", "token_type_ids", "attention_mask") if key in encoded]
    features = []
    for index, example in enumerate(examples):
        feature = {key: encoded[key][index] for key in keys}
        feature["labels"] = int(example.label)
        features.append(feature)
    return TokenizedExamples(examples, features, max_length)


class _PadToAtLeast(DataCollatorWithPadding):
    """Pads each batch to ``max_length`` tokens, or to its longest example when that is longer."""

    def __call__(self, features):
        longest = max((len(feature["input_ids"]) for feature in features), default=0)
        padding = replace(self, padding="max_length", max_length=max(self.max_length, longest))
        return DataCollatorWithPadding.__call__(padding, features)


def make_collator(tokenizer: PreTrainedTokenizerBase, pad_to: int | None = None) -> DataCollatorWithPadding:
    """Pads each batch to its own longest example (dynamic padding), or to at least ``pad_to`` tokens."""
    if pad_to is not None:
        return _PadToAtLeast(tokenizer, padding="max_length", max_length=pad_to, return_tensors="pt")
    return DataCollatorWithPadding(tokenizer, padding="longest", return_tensors="pt")


class EpochLengthGroupedSampler(LengthGroupedSampler):
    """Length-grouped batches in an order fixed by (seed, epoch), so a resumed run sees the same
    batches as an uninterrupted one and every process draws the same order."""

    def __init__(self, batch_size: int, lengths: list[int], seed: int) -> None:
        super().__init__(batch_size, lengths=lengths, generator=torch.Generator())
        self.seed = seed
        self.set_epoch(0)

    def set_epoch(self, epoch: int) -> None:
        self.generator.manual_seed(self.seed + int(epoch))
