import argparse
import json
import os
import re
import subprocess
import sys

import pytest

from tripleentropy.cli import build_parser, main
from tripleentropy.data import TASKS, add_data_arguments


def run(capsys, *argv):
    status = main(list(argv))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_data_list_prints_a_table_of_the_tasks(capsys, senteval_dir):
    status, out, _ = run(capsys, "data", "list", "--data-dir", str(senteval_dir))
    assert status == 0
    lines = out.splitlines()
    assert lines[0].split() == ["task", "input", "classes", "train", "validation", "test", "protocol", "present"]
    assert [line.split()[0] for line in lines[1:9]] == list(TASKS)
    assert lines[1].split() == ["MR", "sentence", "2", "10,662", "-", "-", "10-fold", "CV", "yes"]
    assert lines[8].split() == ["MRPC", "pair", "2", "4,080", "-", "1,725", "test", "split", "yes"]
    assert f"data directory: {senteval_dir}" in out


def test_data_list_json(capsys, tmp_path):
    status, out, _ = run(capsys, "data", "list", "--json", "--data-dir", str(tmp_path))
    assert status == 0
    rows = json.loads(out)
    assert [row["task"] for row in rows] == list(TASKS)
    sst5 = rows[6]
    assert sst5["num_classes"] == 5 and sst5["protocol"] == "test"
    assert sst5["splits"] == {"train": 8544, "validation": 1101, "test": 2210}
    assert sst5["label_names"][0] == "very negative"
    assert rows[0]["protocol"] == "cv10"
    assert not any(row["present"] for row in rows)


def test_data_without_a_subcommand_prints_help(capsys):
    status, out, _ = run(capsys, "data")
    assert status == 0 and "list" in out and "fetch" in out


def test_every_data_flag_has_help():
    parsers = [build_parser()]
    seen = []
    while parsers:
        parser = parsers.pop()
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                parsers.extend(action.choices.values())
            else:
                seen.append(action.dest)
                assert action.help, f"{parser.prog} {action.option_strings or action.dest} has no help"
    assert {"data_dir", "json", "dest", "base_url", "text_column", "label_column", "train_size"} <= set(seen)


def test_add_data_arguments_gives_the_column_flags_and_defaults():
    parser = argparse.ArgumentParser()
    add_data_arguments(parser)
    args = parser.parse_args([])
    assert (args.data_dir, args.text_column, args.text_pair_column, args.label_column) == (None, "text", None, "label")
    args = parser.parse_args(
        ["--data-dir", "d", "--text-column", "a", "--text-pair-column", "b", "--label-column", "c"]
    )
    assert (args.data_dir, args.text_column, args.text_pair_column, args.label_column) == ("d", "a", "b", "c")


def test_data_check_summarises_training_and_evaluation_files(capsys, tmp_path):
    (tmp_path / "train.csv").write_text("sentence,y\na,pos\nb,neg\nc,pos\nd,neg\n")
    (tmp_path / "test.jsonl").write_text('{"sentence": "e", "y": "neg"}\n')
    status, out, _ = run(
        capsys, "data", "check", str(tmp_path / "train.csv"), "--eval-file", str(tmp_path / "test.jsonl"),
        "--text-column", "sentence", "--label-column", "y", "--train-size", "2", "--folds", "2",
    )
    assert status == 0
    assert out.splitlines() == [
        f"{tmp_path / 'train.csv'}: 2 examples (neg: 1, pos: 1)",
        f"{tmp_path / 'test.jsonl'}: 1 example (neg: 1, pos: 0)",
    ]


def test_data_check_of_a_per_class_sample(capsys, tmp_path):
    (tmp_path / "train.csv").write_text("text,label\n" + "".join(f"t{i},{'xyz'[i % 3] if i < 9 else 'x'}\n" for i in range(20)))
    status, out, _ = run(capsys, "data", "check", str(tmp_path / "train.csv"), "--train-size", "3/class")
    assert status == 0
    assert out.splitlines() == [f"{tmp_path / 'train.csv'}: 9 examples (x: 3, y: 3, z: 3)"]


BAD_INPUT = {
    "missing file": ([], {}, r"nowhere.csv: no such file"),
    "empty file": ([], {"train.csv": ""}, r"train.csv: the file is empty"),
    "missing column": ([], {"train.csv": "sentence,label\na,x\n"}, r"train.csv, line 1: no column 'text'"),
    "ragged row": ([], {"train.csv": "text,label\na,x\nb,y,z\n"}, r"train.csv, line 3: 3 fields"),
    "invalid JSON line": ([], {"train.jsonl": '{"text": "a"\n'}, r"train.jsonl, line 1: not valid JSON"),
    "empty text": ([], {"train.csv": "text,label\na,x\n,y\n"}, r"train.csv, line 3: the text column 'text' is empty"),
    "empty label": (
        [], {"train.csv": "text,label\na,x\nb,\n"}, r"train.csv, line 3: the label column 'label' is empty"
    ),
    "single class": ([], {"train.csv": "text,label\na,x\nb,x\n"}, r"train.csv: every example has the label 'x'"),
    "non-UTF-8": ([], {"train.csv": b"text,label\n\xff,x\n"}, r"train.csv, line 2: not valid UTF-8"),
    "unknown evaluation label": (
        ["--eval-file", "{dir}/test.csv"],
        {"train.csv": "text,label\na,x\nb,y\n", "test.csv": "text,label\nc,x\nd,z\n"},
        r"test.csv, line 3: the label 'z' is not one of the training labels \(x, y\)",
    ),
    "train size too large": (
        ["--train-size", "3"], {"train.csv": "text,label\na,x\nb,y\n"},
        r"train.csv has 2 examples, fewer than the requested training size 3",
    ),
    "single-class sample": (
        ["--train-size", "1"], {"train.csv": "text,label\na,x\nb,y\n"},
        r"train.csv: a training sample of 1 example holds only the class '[xy]'; a classifier needs at least two",
    ),
    "class short of a per-class size": (
        ["--train-size", "2/class"], {"train.csv": "text,label\na,x\nb,y\nc,x\n"},
        r"train.csv has 1 example of the class 'y', fewer than the requested 2/class; use at most 1/class",
    ),
    "too many folds": (
        ["--folds", "3"], {"train.csv": "text,label\na,x\nb,y\n"}, r"train.csv has 2 examples, fewer than the 3 folds",
    ),
}


@pytest.mark.parametrize("case", list(BAD_INPUT))
def test_bad_input_exits_2_with_one_clear_message(capsys, tmp_path, case):
    extra, files, message = BAD_INPUT[case]
    for name, content in files.items():
        (tmp_path / name).write_bytes(content if isinstance(content, bytes) else content.encode())
    train = tmp_path / next(iter(files), "nowhere.csv")
    status, out, err = run(capsys, "data", "check", str(train), *(arg.format(dir=tmp_path) for arg in extra))
    assert status == 2 and out == ""
    assert err.startswith("tripleentropy: error: ") and err.count("\n") == 1
    assert str(tmp_path) in err and "Traceback" not in err
    assert re.search(message, err), err


def test_bad_input_from_the_installed_command_has_no_traceback(tmp_path):
    (tmp_path / "train.tsv").write_text("text\tlabel\na\tx\nb\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    result = subprocess.run(
        [sys.executable, "-m", "tripleentropy", "data", "check", str(tmp_path / "train.tsv")],
        capture_output=True, text=True, env=env,
    )
    assert result.returncode == 2
    assert result.stderr == f"tripleentropy: error: {tmp_path / 'train.tsv'}, line 3: 1 field, but the header has 2\n"
