"""Shared by the benchmarks that train through a plain Hugging Face ``Trainer``."""

from __future__ import annotations

import torch


class EncodedDataset(torch.utils.data.Dataset):
    """Tokenizer output and labels as the feature dicts ``Trainer`` batches."""

    def __init__(self, encodings: dict[str, list[list[int]]], labels: list[int]) -> None:
        self.encodings = encodings
        self.labels = labels

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        item = {key: torch.tensor(values[index]) for key, values in self.encodings.items()}
        item["labels"] = torch.tensor(self.labels[index])
        return item
