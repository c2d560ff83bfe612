"""What ``tune`` searches: the settings of every method and the ranges Optuna draws them from.

This module is the one table of search spaces: a new method (a loss, or a whole recipe) gets its
entry in :data:`METHOD_SPACES`, and ``tune``, ``compare --tune``, ``--help`` and docs/tuning.md's
table follow. It imports nothing heavy, so ``--help`` stays fast; Optuna is imported by
:meth:`Dimension.suggest` only.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import UserError


@dataclass(frozen=True)
class Dimension:
    """One tuned setting: a ``TrainConfig`` field and the distribution Optuna draws it from.

    ``kind`` is ``"float"`` or ``"int"`` (uniform over ``[low, high]``, or log-uniform with
    ``log``) or ``"categorical"`` (one of ``choices``). ``covers`` names the published values the
    range includes, so a reader can check that the paper's and the official settings are in it.
    """

    name: str
    kind: str
    low: float | None = None
    high: float | None = None
    log: bool = False
    choices: tuple[Any, ...] = ()
    covers: str = ""

    def __post_init__(self) -> None:
        if self.kind == "categorical":
            if not self.choices:
                raise ValueError(f"{self.name}: a categorical dimension needs choices")
        elif self.kind in ("float", "int"):
            if self.low is None or self.high is None or not self.low < self.high:
                raise ValueError(f"{self.name}: needs low < high")
            if self.log and self.low <= 0:
                raise ValueError(f"{self.name}: a log range needs low > 0")
        else:
            raise ValueError(f"{self.name}: unknown kind {self.kind!r}")

    def suggest(self, trial: Any) -> Any:
        """Draw this setting for an Optuna trial."""
        if self.kind == "categorical":
            return trial.suggest_categorical(self.name, list(self.choices))
        if self.kind == "int":
            return trial.suggest_int(self.name, int(self.low), int(self.high), log=self.log)
        return trial.suggest_float(self.name, float(self.low), float(self.high), log=self.log)

    def contains(self, value: Any) -> bool:
        """Whether ``value`` lies in this dimension (used by tests and to check published values)."""
        if self.kind == "categorical":
            return value in self.choices
        if self.kind == "int" and (isinstance(value, bool) or not float(value).is_integer()):
            return False
        return self.low <= value <= self.high and math.isfinite(value)

    def range_text(self) -> str:
        """Where the values come from, e.g. ``log-uniform in [1e-05, 0.001]``."""
        if self.kind == "categorical":
            return f"one of {', '.join(str(choice) for choice in self.choices)}"
        scale = "log-uniform" if self.log else "uniform"
        kind = " integer" if self.kind == "int" else ""
        return f"{scale}{kind} in [{_number(self.low)}, {_number(self.high)}]"

    def describe(self) -> str:
        """One line, e.g. ``lr: log-uniform in [1e-05, 0.001] (the paper's 1e-5, ...)``."""
        return f"{self.name}: {self.range_text()}" + (f" ({self.covers})" if self.covers else "")


def _number(value: float | None) -> str:
    return f"{value:g}"


#: Settings every method trains with: tuned for every method alike.
SHARED_SPACE: tuple[Dimension, ...] = (
    Dimension("lr", "float", 1e-5, 1e-3, log=True,
              covers="the paper's 1e-5, our default 5e-5, the classic recipe's 1e-4"),
    Dimension("epochs", "int", 2, 16, covers="the classic recipe's 3, the few-shot presets' and the authors' 8"),
    Dimension("warmup_steps", "int", 0, 20, covers="the authors' and our default 10"),
    Dimension("batch_size", "categorical", choices=(8, 16, 32, 64), covers="our default 16, the authors' 64"),
)

#: Each method's own settings. A method with none (ce) is tuned on the shared ones only.
METHOD_SPACES: dict[str, tuple[Dimension, ...]] = {
    "ce": (),
    "tripleentropy": (
        Dimension("beta", "float", 0.05, 0.95, covers="the authors' 0.4 and their earlier 0.9"),
        Dimension("la", "float", 1.0, 32.0, log=True,
                  covers="official SoftTriple 20, the authors' 8 and their earlier 3.3"),
        Dimension("gamma", "float", 0.01, 1.0, log=True, covers="official and the authors' 0.1"),
        Dimension("margin", "float", 0.001, 0.5, log=True, covers="official 0.01, the authors' 0.1"),
        Dimension("centers", "categorical", choices=(1, 5, 10, 100, 1000),
                  covers="official 10, the authors' 5 and their earlier 1000; 1 is the normalised softmax"),
        Dimension("tau", "float", 0.0, 0.5, covers="official 0.2; the authors' 0: pytorch-metric-learning has no regulariser"),
        Dimension("center_init", "categorical", choices=("uniform", "kaiming", "kmeans"),
                  covers="our default kmeans, the classic recipe's uniform; the authors' kaiming, "
                         "pytorch-metric-learning's"),
        Dimension("center_lr", "float", 1e-5, 1e-1, log=True,
                  covers="official 1e-2, our default; the authors' 1e-5, the encoder's rate"),
    ),
    "supcon": (
        Dimension("beta", "float", 0.05, 0.95,
                  covers="Gunel et al.'s few-shot 0.1 = SupCon weight 0.9, our default; their weights 0.1 to 0.9"),
        Dimension("temperature", "float", 0.05, 1.0, log=True,
                  covers="Gunel et al.'s 0.1 to 0.9; their few-shot 0.3, our default"),
    ),
}


def known_methods() -> list[str]:
    """The methods that have a search space, in table order."""
    return list(METHOD_SPACES)


def search_space(method: str, fixed: Iterable[str] = ()) -> list[Dimension]:
    """The dimensions ``tune`` searches for ``method``: the shared ones, then the method's own,
    less the settings named in ``fixed`` (those the user set, which stay as set).

    Raises ``UserError`` for a method without a search space.
    """
    if method not in METHOD_SPACES:
        raise UserError(f"no search space for method {method!r}; tune one of {', '.join(METHOD_SPACES)}")
    fixed = set(fixed)
    return [dimension for dimension in (*SHARED_SPACE, *METHOD_SPACES[method]) if dimension.name not in fixed]


def tuned_space(method: str, fixed: Iterable[str]) -> list[Dimension]:
    """``search_space(method, fixed)``; ``UserError`` when the user fixed all of it."""
    space = search_space(method, fixed)
    if not space:
        raise UserError(f"nothing to tune for {method}: every setting of its search space is fixed by a flag or "
                        "--config; leave at least one of them to the search")
    return space


def format_search_spaces(methods: Sequence[str] | None = None) -> str:
    """The search spaces as plain text: the shared settings, then each method's own, one a line."""
    lines = ["every method:", *(f"  {dimension.describe()}" for dimension in SHARED_SPACE)]
    for method in methods or known_methods():
        own = METHOD_SPACES[method]
        if own:
            lines += [f"{method}:", *(f"  {dimension.describe()}" for dimension in own)]
        else:
            lines.append(f"{method}: nothing of its own")
    return "\n".join(lines)
