"""The one in-memory form every data source loads into."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Example:
    """One labelled example: a sentence, or a sentence pair, and its class index.

    ``label`` indexes the label names of the dataset it belongs to; it is -1 for unlabelled
    input (prediction).
    """

    text: str
    label: int
    text_pair: str | None = None
