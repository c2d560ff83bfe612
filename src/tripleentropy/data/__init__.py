"""Data: SentEval tasks, users' files, sampling and folds, all loading into ``Example``s."""

from .examples import Example

__all__ = ["Example"]
