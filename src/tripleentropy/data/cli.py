"""The ``data`` command (``list``, ``fetch``, ``check``) and argument helpers for other commands."""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from collections.abc import Callable
from typing import Any

from ..cli_help import add_command
from .examples import LabeledData
from .fetch import GITHUB_RAW, SOURCES, fetch_senteval
from .files import load_file
from .sampling import check_sample_classes, parse_sample_size, sample_train, stratified_folds
from .tasks import DATA_ENV, TASKS, resolve_data_dir, task_is_present

_PROTOCOLS = {"cv10": "10-fold CV", "test": "test split"}
_SPLITS = ("train", "validation", "test")


def add_data_dir_argument(parser: argparse._ActionsContainer) -> None:
    """Add ``--data-dir``: where the SentEval files live."""
    parser.add_argument(
        "--data-dir",
        metavar="DIR",
        help=f"directory holding the SentEval files (default: ${DATA_ENV}, else the user cache directory)",
    )


def add_column_arguments(parser: argparse._ActionsContainer) -> None:
    """Add the column flags for users' CSV, TSV and JSON Lines files."""
    parser.add_argument(
        "--text-column", default="text", metavar="NAME", help="column holding the text (default: %(default)s)"
    )
    parser.add_argument(
        "--text-pair-column",
        metavar="NAME",
        help="column holding the second text of sentence-pair tasks (default: none, single sentences)",
    )
    parser.add_argument(
        "--label-column", default="label", metavar="NAME", help="column holding the label (default: %(default)s)"
    )


def add_data_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--data-dir`` and the column flags for users' CSV, TSV and JSON Lines files."""
    add_data_dir_argument(parser)
    add_column_arguments(parser)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``data`` command with its ``list``, ``fetch`` and ``check`` subcommands."""
    data = add_command(
        subparsers,
        "data",
        help="list and download the SentEval tasks, check your own files",
        description=(
            "The SentEval tasks the paper evaluates on. Their files are looked for in --data-dir, "
            f"else ${DATA_ENV}, else the user cache directory."
        ),
        examples=[
            "tripleentropy data list",
            "tripleentropy data fetch",
            "tripleentropy data check train.csv --eval-file test.csv --train-size 16/class",
        ],
        docs="docs/guide.md",
    )

    def print_data_help(args: argparse.Namespace) -> int:
        data.print_help()
        return 0

    data.set_defaults(handler=print_data_help)
    commands = data.add_subparsers(dest="data_command", metavar="SUBCOMMAND")

    list_parser = commands.add_parser(
        "list",
        help="show the SentEval tasks and whether their files are present",
        description="Show the SentEval tasks: classes, examples per split, evaluation protocol, presence.",
    )
    add_data_dir_argument(list_parser)
    list_parser.add_argument("--json", action="store_true", help="print a JSON list of objects instead of a table")
    list_parser.set_defaults(handler=_list)

    fetch_parser = commands.add_parser(
        "fetch",
        help="download the SentEval files and verify their checksums",
        description="Download every SentEval file from its public address and verify its SHA-256.",
    )
    fetch_parser.add_argument(
        "--dest",
        metavar="DIR",
        help=f"directory to download into (default: ${DATA_ENV}, else the user cache directory)",
    )
    fetch_parser.add_argument(
        "--base-url",
        metavar="URL",
        help=f"mirror that replaces {GITHUB_RAW} in every address, keeping the rest of the path",
    )
    fetch_parser.set_defaults(handler=_fetch)

    check_parser = commands.add_parser(
        "check",
        help="check your own training file (and evaluation files) and summarise them",
        description=(
            "Read a CSV, TSV or JSON Lines training file the way training does, report the first "
            "problem with its file and line, or print the examples per label."
        ),
    )
    check_parser.add_argument("train_file", metavar="TRAIN_FILE", help="training file (.csv, .tsv or .jsonl)")
    check_parser.add_argument(
        "--eval-file",
        action="append",
        default=[],
        metavar="FILE",
        help="evaluation file whose labels must all occur in the training file (repeatable)",
    )
    add_column_arguments(check_parser)
    check_parser.add_argument("--train-size", type=argument_type(parse_sample_size), metavar="N|N/class",
                              help="check a stratified sample of N examples, or N/class: N examples of every class")
    check_parser.add_argument("--folds", type=int, metavar="K", help="check a stratified K-fold split")
    check_parser.add_argument("--seed", type=int, default=0, help="seed for the sample and folds (default: 0)")
    check_parser.set_defaults(handler=_check)


def _task_rows(data_dir: str | None) -> list[dict]:
    return [
        {
            "task": task.name,
            "description": task.description,
            "num_classes": task.num_classes,
            "label_names": list(task.label_names),
            "is_pair": task.is_pair,
            "splits": dict(task.num_examples),
            "protocol": task.protocol,
            "present": task_is_present(task, data_dir),
        }
        for task in TASKS.values()
    ]


def _list(args: argparse.Namespace) -> int:
    rows = _task_rows(args.data_dir)
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    header = ["task", "input", "classes", *_SPLITS, "protocol", "present"]
    table = [
        [
            row["task"],
            "pair" if row["is_pair"] else "sentence",
            str(row["num_classes"]),
            *(f"{row['splits'][split]:,}" if split in row["splits"] else "-" for split in _SPLITS),
            _PROTOCOLS[row["protocol"]],
            "yes" if row["present"] else "no",
        ]
        for row in rows
    ]
    widths = [max(len(line[i]) for line in [header, *table]) for i in range(len(header))]
    for line in [header, *table]:
        print("  ".join(cell.ljust(width) for cell, width in zip(line, widths)).rstrip())
    print(f"\ndata directory: {resolve_data_dir(args.data_dir)}")
    return 0


def argument_type(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    """``parse`` as an argparse type: its ``ValueError`` becomes the flag's error message."""
    def argument(text: str) -> Any:
        try:
            return parse(text)
        except ValueError as error:
            raise argparse.ArgumentTypeError(str(error)) from None

    return argument


def _check(args: argparse.Namespace) -> int:
    columns = {
        "text_column": args.text_column,
        "text_pair_column": args.text_pair_column,
        "label_column": args.label_column,
    }
    train = load_file(args.train_file, **columns)
    evaluation = [load_file(path, label_names=train.label_names, **columns) for path in args.eval_file]
    sample = sample_train(train.examples, args.train_size, args.seed, source=train.source, label_names=train.label_names)
    if args.train_size is not None:
        check_sample_classes(sample, train.label_names, source=train.source)
    if args.folds is not None:
        stratified_folds([example.label for example in sample], args.folds, args.seed, source=train.source)
    for data in [LabeledData(sample, train.label_names, train.is_pair, train.source), *evaluation]:
        counts = Counter(data.labels)
        per_label = ", ".join(f"{name}: {counts[i]}" for i, name in enumerate(data.label_names))
        print(f"{data.source}: {len(data)} example{'' if len(data) == 1 else 's'} ({per_label})")
    return 0


def _fetch(args: argparse.Namespace) -> int:
    root = resolve_data_dir(args.dest)
    downloaded = fetch_senteval(root, args.base_url)
    kept = len(SOURCES) - len(downloaded)
    print(
        f"{len(downloaded)} files downloaded and {kept} already present, all verified, in {root}",
        file=sys.stderr,
    )
    return 0
