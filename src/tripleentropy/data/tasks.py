"""The eight SentEval transfer tasks: where their files live, how to read them, how to evaluate."""

from __future__ import annotations

import functools
import os
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import platformdirs

from ..errors import UserError
from .examples import Example, LabeledData

DATA_ENV = "TRIPLEENTROPY_DATA"
# SentEval's own seed for its 10-fold cross-validation.
CV_SEED = 1111


@dataclass(frozen=True)
class TaskFile:
    """One file of a task: its path relative to the data directory, its encoding and layout.

    ``layout`` is "senteval" (``<label> <sentence>`` per line) or "mrpc" (the MSR paraphrase TSV).
    """

    path: str
    encoding: str
    layout: str = "senteval"


@dataclass(frozen=True)
class TaskInfo:
    """A SentEval task: its classes, its files per split, and how it is evaluated.

    ``protocol`` is "cv10" (stratified 10-fold cross-validation of the "train" split with
    ``CV_SEED``) or "test" (train on "train", report on "test"; "validation" where present is for
    model selection). ``num_examples`` gives the examples per split after skipping lines without
    text. ``positive_label`` names the class whose F1 the literature reports (MRPC's
    ``paraphrase``); None where accuracy is the measure.
    """

    name: str
    description: str
    label_names: tuple[str, ...]
    is_pair: bool
    protocol: str
    splits: Mapping[str, TaskFile]
    num_examples: Mapping[str, int]
    positive_label: str | None = None

    @property
    def num_classes(self) -> int:
        return len(self.label_names)

    @property
    def num_folds(self) -> int | None:
        return 10 if self.protocol == "cv10" else None


_BINARY_SENTIMENT = ("negative", "positive")

TASKS: dict[str, TaskInfo] = {
    task.name: task
    for task in [
        TaskInfo(
            name="MR",
            description="movie review polarity (Pang & Lee 2005)",
            label_names=_BINARY_SENTIMENT,
            is_pair=False,
            protocol="cv10",
            splits={"train": TaskFile("MR/rt-polarity.all", "latin-1")},
            num_examples={"train": 10662},
        ),
        TaskInfo(
            name="CR",
            description="customer review polarity (Hu & Liu 2004)",
            label_names=_BINARY_SENTIMENT,
            is_pair=False,
            protocol="cv10",
            splits={"train": TaskFile("CR/custrev.all", "utf-8")},
            num_examples={"train": 3771},
        ),
        TaskInfo(
            name="SUBJ",
            description="subjectivity of movie review sentences (Pang & Lee 2004)",
            label_names=("subjective", "objective"),
            is_pair=False,
            protocol="cv10",
            splits={"train": TaskFile("SUBJ/subj.all", "latin-1")},
            num_examples={"train": 10000},
        ),
        TaskInfo(
            name="MPQA",
            description="opinion polarity of short phrases (Wiebe et al. 2005)",
            label_names=_BINARY_SENTIMENT,
            is_pair=False,
            protocol="cv10",
            splits={"train": TaskFile("MPQA/mpqa.all", "utf-8")},
            num_examples={"train": 10603},
        ),
        TaskInfo(
            name="TREC",
            description="question type (Li & Roth 2002)",
            label_names=("DESC", "ENTY", "ABBR", "HUM", "LOC", "NUM"),
            is_pair=False,
            protocol="test",
            splits={
                "train": TaskFile("TREC/TREC.train.all", "latin-1"),
                "test": TaskFile("TREC/TREC.test.all", "utf-8"),
            },
            num_examples={"train": 5452, "test": 500},
        ),
        TaskInfo(
            name="SST2",
            description="Stanford Sentiment Treebank, binary, sentence level (Socher et al. 2013)",
            label_names=_BINARY_SENTIMENT,
            is_pair=False,
            protocol="test",
            splits={
                "train": TaskFile("SST2/stsa.binary.train", "utf-8"),
                "validation": TaskFile("SST2/stsa.binary.dev", "utf-8"),
                "test": TaskFile("SST2/stsa.binary.test", "utf-8"),
            },
            num_examples={"train": 6920, "validation": 872, "test": 1821},
        ),
        TaskInfo(
            name="SST5",
            description="Stanford Sentiment Treebank, five classes, sentence level",
            label_names=("very negative", "negative", "neutral", "positive", "very positive"),
            is_pair=False,
            protocol="test",
            splits={
                "train": TaskFile("SST5/stsa.fine.train", "utf-8"),
                "validation": TaskFile("SST5/stsa.fine.dev", "utf-8"),
                "test": TaskFile("SST5/stsa.fine.test", "utf-8"),
            },
            num_examples={"train": 8544, "validation": 1101, "test": 2210},
        ),
        TaskInfo(
            name="MRPC",
            description="Microsoft Research paraphrase corpus, sentence pairs (Dolan et al. 2004)",
            label_names=("not_paraphrase", "paraphrase"),
            is_pair=True,
            protocol="test",
            splits={
                "train": TaskFile("MRPC/msr_paraphrase_train.txt", "utf-8-sig", "mrpc"),
                "test": TaskFile("MRPC/msr_paraphrase_test.txt", "utf-8-sig", "mrpc"),
            },
            num_examples={"train": 4080, "test": 1725},
            positive_label="paraphrase",
        ),
    ]
}


def get_task(name: str) -> TaskInfo:
    """The task called ``name``, ignoring case."""
    task = TASKS.get(name.upper())
    if task is None:
        raise UserError(f"unknown task {name!r}; choose one of {', '.join(TASKS)}")
    return task


def _data_dir_and_origin(data_dir: str | Path | None) -> tuple[Path, str]:
    if data_dir is not None and str(data_dir) != "":
        return Path(data_dir).expanduser(), "--data-dir"
    from_env = os.environ.get(DATA_ENV)
    if from_env:
        return Path(from_env).expanduser(), f"the environment variable {DATA_ENV}"
    return platformdirs.user_cache_path("tripleentropy") / "senteval", "the default cache directory"


def resolve_data_dir(data_dir: str | Path | None = None) -> Path:
    """Where the SentEval files live: ``data_dir``, else $TRIPLEENTROPY_DATA, else the user cache."""
    return _data_dir_and_origin(data_dir)[0]


def task_is_present(task: TaskInfo, data_dir: str | Path | None = None) -> bool:
    """Whether every file of ``task`` exists in the data directory."""
    root = resolve_data_dir(data_dir)
    return all((root / task_file.path).is_file() for task_file in task.splits.values())


def load_task(name: str, data_dir: str | Path | None = None) -> dict[str, LabeledData]:
    """Every split of a SentEval task: "train" always, "validation" and "test" where it has them."""
    task = get_task(name)
    root, origin = _data_dir_and_origin(data_dir)
    for task_file in task.splits.values():
        path = root / task_file.path
        if not path.is_file():
            fetch = "tripleentropy data fetch"
            if origin != "the default cache directory":
                fetch += f" --dest {shlex.quote(str(root))}"
            raise UserError(
                f"the SentEval data for task {task.name} is missing: no file {path} "
                f"(searched the data directory {root}, set by {origin}). "
                f"If the files are elsewhere, point the environment variable {DATA_ENV} at their folder "
                f"(or pass --data-dir DIR; data_dir= in Python); else download them with: {fetch}"
            )
    return {
        split: LabeledData(
            examples=list(_read_task_file(str(root / task_file.path), task_file, task.num_classes)),
            label_names=list(task.label_names),
            is_pair=task.is_pair,
            source=f"task {task.name}",
        )
        for split, task_file in task.splits.items()
    }


@functools.lru_cache(maxsize=32)
def _read_task_file(path: str, task_file: TaskFile, num_classes: int) -> tuple[Example, ...]:
    try:
        text = Path(path).read_bytes().decode(task_file.encoding)
    except UnicodeDecodeError as error:
        raise UserError(f"{path}: not valid {task_file.encoding} ({error.reason})") from None
    # split("\n"), not splitlines(): Latin-1 text may hold \x85 and other characters that
    # splitlines() treats as line breaks.
    lines = [line.rstrip("\r") for line in text.split("\n")]
    if lines and lines[-1] == "":
        lines.pop()
    if task_file.layout == "mrpc":
        return tuple(_parse_mrpc(path, lines, num_classes))
    return tuple(_parse_senteval(path, lines, num_classes))


def _check_label(path: str, line_number: int, raw: str, num_classes: int) -> int:
    if not raw.isdigit() or int(raw) >= num_classes:
        raise UserError(
            f"{path}, line {line_number}: the label {raw!r} is not a class index 0..{num_classes - 1}"
        )
    return int(raw)


def _parse_senteval(path: str, lines: list[str], num_classes: int) -> list[Example]:
    examples = []
    for line_number, line in enumerate(lines, start=1):
        label, _, sentence = line.partition(" ")
        sentence = sentence.strip()
        # A few CR and MPQA lines hold a label and no text: skipped, as SentEval does.
        if not sentence:
            continue
        examples.append(Example(sentence, _check_label(path, line_number, label, num_classes)))
    return examples


def _parse_mrpc(path: str, lines: list[str], num_classes: int) -> list[Example]:
    examples = []
    # Tab-separated with no quote handling: quotes appear inside the sentences.
    for line_number, line in enumerate(lines[1:], start=2):
        fields = line.split("\t")
        if len(fields) != 5:
            raise UserError(f"{path}, line {line_number}: {len(fields)} tab-separated fields, expected 5")
        label = _check_label(path, line_number, fields[0], num_classes)
        examples.append(Example(fields[3].strip(), label, fields[4].strip()))
    return examples
