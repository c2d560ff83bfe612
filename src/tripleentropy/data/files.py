"""Users' own text: labelled CSV, TSV and JSON Lines files, checked line by line, and plain text."""

from __future__ import annotations

import csv
import io
import json
import re
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

from ..errors import UserError
from .examples import Example, LabeledData

FORMATS = {".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl"}
_INTEGER = re.compile(r"-?\d+")

# A row as read from a file: its first line number and its cells by column name.
_Row = tuple[int, dict[str, object]]


def load_file(
    path: str | Path,
    text_column: str = "text",
    text_pair_column: str | None = None,
    label_column: str = "label",
    label_names: Sequence[str] | None = None,
    require_labels: bool = True,
) -> LabeledData:
    """Read labelled examples from a CSV, TSV or JSON Lines file (chosen by the extension).

    With ``label_names=None`` the label set is the sorted set of labels in this file (numerically
    if every label is an integer). With ``label_names`` given (evaluation or prediction files),
    labels must be among them. With ``require_labels=False`` the label column may be missing, and
    label cells may be empty: such examples get label -1. Any problem raises ``UserError`` naming
    the file and the line.
    """
    name = str(path)
    file_format = FORMATS.get(Path(path).suffix.lower())
    if file_format is None:
        raise UserError(
            f"{name}: unknown file type {Path(path).suffix or '(no extension)'!r}; "
            f"use one of {', '.join(FORMATS)}"
        )
    text = _read_utf8(Path(path))
    if not text.strip():
        raise UserError(f"{name}: the file is empty")
    if file_format == "jsonl":
        rows = list(_jsonl_rows(name, text))
        columns = None
    else:
        columns, rows = _delimited_rows(name, text, "," if file_format == "csv" else "\t")
    if not rows:
        raise UserError(f"{name}: the file has a header but no examples")

    required = [text_column, *([text_pair_column] if text_pair_column else [])]
    if require_labels:
        required.append(label_column)
    if columns is not None:
        for column in required:
            if column not in columns:
                raise UserError(_missing_column(name, 1, column, columns, text_column, label_column))

    texts: list[tuple[str, str | None]] = []
    raw_labels: list[tuple[int, str | None]] = []
    for line_number, row in rows:
        for column in required:
            if column not in row:
                raise UserError(_missing_column(name, line_number, column, list(row), text_column, label_column))
        sentence = _text_cell(name, line_number, row, text_column)
        pair = _text_cell(name, line_number, row, text_pair_column) if text_pair_column else None
        texts.append((sentence, pair))
        raw_labels.append((line_number, _label_cell(name, line_number, row, label_column, require_labels)))

    if label_names is None:
        present = {label for _, label in raw_labels if label is not None}
        names = _sorted_labels(present)
        if require_labels and len(names) < 2:
            raise UserError(
                f"{name}: every example has the label {names[0]!r}; "
                "a classifier needs at least two classes"
            )
    else:
        names = [str(label) for label in label_names]
    index = {label: i for i, label in enumerate(names)}
    examples = []
    for (sentence, pair), (line_number, label) in zip(texts, raw_labels):
        if label is None:
            label_index = -1
        elif label in index:
            label_index = index[label]
        else:
            raise UserError(
                f"{name}, line {line_number}: the label {label!r} is not one of the training "
                f"labels ({', '.join(names)})"
            )
        examples.append(Example(sentence, label_index, pair))
    return LabeledData(examples=examples, label_names=names, is_pair=text_pair_column is not None, source=name)


def read_lines(path: str | Path) -> list[str]:
    """The non-blank lines of a plain-text file, stripped, or of standard input for ``-``; bytes
    that are not UTF-8 stop with the line they are on."""
    if str(path) == "-":
        stream = getattr(sys.stdin, "buffer", None)  # None when standard input is already text
        text = _decode_utf8("standard input", stream.read()) if stream is not None else sys.stdin.read()
    else:
        text = _read_utf8(Path(path))
    return [line.strip() for line in text.splitlines() if line.strip()]


def _read_utf8(path: Path) -> str:
    name = str(path)
    if not path.exists():
        raise UserError(f"{name}: no such file")
    if not path.is_file():
        raise UserError(f"{name}: not a file")
    return _decode_utf8(name, path.read_bytes())


def _decode_utf8(name: str, data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line_number = data.count(b"\n", 0, error.start) + 1
        raise UserError(
            f"{name}, line {line_number}: not valid UTF-8 (byte 0x{data[error.start]:02x}); "
            "save the file as UTF-8"
        ) from None


def _delimited_rows(name: str, text: str, delimiter: str) -> tuple[list[str], list[_Row]]:
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    rows: list[_Row] = []
    header: list[str] | None = None
    try:
        while True:
            line_number = reader.line_num + 1
            try:
                cells = next(reader)
            except StopIteration:
                break
            if not cells:
                continue
            if header is None:
                header = [cell.strip() for cell in cells]
                continue
            if len(cells) != len(header):
                raise UserError(
                    f"{name}, line {line_number}: {_count(len(cells), 'field')}, "
                    f"but the header has {len(header)}"
                )
            rows.append((line_number, dict(zip(header, cells))))
    except csv.Error as error:
        raise UserError(f"{name}, line {reader.line_num}: {error}") from None
    assert header is not None  # the file is not blank
    return header, rows


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


def _jsonl_rows(name: str, text: str) -> Iterator[_Row]:
    for line_number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as error:
            raise UserError(f"{name}, line {line_number}: not valid JSON ({error.msg})") from None
        if not isinstance(row, dict):
            raise UserError(f"{name}, line {line_number}: expected a JSON object, found {type(row).__name__}")
        yield line_number, row


def _missing_column(
    name: str, line_number: int, column: str, columns: list[str], text_column: str, label_column: str
) -> str:
    flag = {text_column: "--text-column", label_column: "--label-column"}.get(column, "--text-pair-column")
    available = ", ".join(repr(c) for c in columns) or "none"
    return (
        f"{name}, line {line_number}: no column {column!r} (columns: {available}); "
        f"name the right one with {flag}"
    )


def _text_cell(name: str, line_number: int, row: dict[str, object], column: str) -> str:
    value = row[column]
    if not isinstance(value, str):
        raise UserError(f"{name}, line {line_number}: the text column {column!r} is not a string")
    if not value.strip():
        raise UserError(f"{name}, line {line_number}: the text column {column!r} is empty")
    return value


def _label_cell(
    name: str, line_number: int, row: dict[str, object], column: str, require_labels: bool
) -> str | None:
    if column not in row:
        return None
    value = row[column]
    # bool is an int subclass, but true/false are not class labels.
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if value is None or (isinstance(value, str) and not value.strip()):
        if require_labels:
            raise UserError(f"{name}, line {line_number}: the label column {column!r} is empty")
        return None
    if not isinstance(value, str):
        raise UserError(
            f"{name}, line {line_number}: the label {value!r} is neither a string nor an integer"
        )
    return value.strip()


def _sorted_labels(labels: set[str]) -> list[str]:
    if all(_INTEGER.fullmatch(label) for label in labels):
        return sorted(labels, key=lambda label: (int(label), label))
    return sorted(labels)
