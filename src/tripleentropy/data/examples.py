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


@dataclass
class LabeledData:
    """Examples from one source with the names of their labels.

    ``label_names[i]`` is the readable name of label ``i``; ``is_pair`` says whether every example
    carries a ``text_pair``; ``source`` says where the examples came from ("task CR", a path).
    """

    examples: list[Example]
    label_names: list[str]
    is_pair: bool
    source: str

    @property
    def num_classes(self) -> int:
        return len(self.label_names)

    @property
    def labels(self) -> list[int]:
        return [example.label for example in self.examples]

    def __len__(self) -> int:
        return len(self.examples)
