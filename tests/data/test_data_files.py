import json

import pytest

from tripleentropy.data import Example, load_file
from tripleentropy.errors import UserError


def write(directory, name, content):
    path = directory / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    return path


def test_csv_with_string_labels_sorts_the_label_set(tmp_path):
    path = write(tmp_path, "train.csv", 'text,label\n"good, really",pos\nbad,neg\n"so ""so""",meh\n')
    data = load_file(path)
    assert data.label_names == ["meh", "neg", "pos"]
    assert data.examples == [Example("good, really", 2), Example("bad", 1), Example('so "so"', 0)]
    assert data.source == str(path) and not data.is_pair


def test_integer_labels_sort_numerically(tmp_path):
    path = write(tmp_path, "train.csv", "text,label\na,10\nb,2\nc,-1\n")
    data = load_file(path)
    assert data.label_names == ["-1", "2", "10"]
    assert data.labels == [2, 1, 0]


def test_tsv_with_pairs_and_other_column_names(tmp_path):
    path = write(tmp_path, "train.tsv", "id\tfirst\tsecond\ty\n1\tA cat.\tA feline.\tyes\n2\tA dog.\tA car.\tno\n")
    data = load_file(path, text_column="first", text_pair_column="second", label_column="y")
    assert data.is_pair
    assert data.examples == [Example("A cat.", 1, "A feline."), Example("A dog.", 0, "A car.")]


def test_jsonl_labels_may_be_strings_or_integers(tmp_path):
    lines = [{"text": "a", "label": 1}, {"text": "b", "label": 0}, {}, {"text": "c", "label": "1"}]
    content = "\n".join(json.dumps(line) if line else "" for line in lines) + "\n"
    data = load_file(write(tmp_path, "train.jsonl", content))
    assert data.label_names == ["0", "1"]
    assert data.labels == [1, 0, 1]


def test_utf8_with_and_without_bom_and_crlf(tmp_path):
    plain = load_file(write(tmp_path, "plain.csv", "text,label\ncafé,a\nthé,b\n"))
    bom = load_file(write(tmp_path, "bom.csv", "\ufefftext,label\r\ncafé,a\r\nthé,b\r\n"))
    assert plain.examples == bom.examples == [Example("café", 0), Example("thé", 1)]


def test_evaluation_labels_map_onto_the_training_labels(tmp_path):
    train = load_file(write(tmp_path, "train.csv", "text,label\na,x\nb,y\nc,z\n"))
    test = load_file(write(tmp_path, "test.csv", "text,label\nd,z\ne,x\n"), label_names=train.label_names)
    assert test.label_names == ["x", "y", "z"]
    assert test.labels == [2, 0]


def test_prediction_files_need_no_labels(tmp_path):
    data = load_file(write(tmp_path, "new.csv", "text\nd\ne\n"), label_names=["x", "y"], require_labels=False)
    assert data.labels == [-1, -1] and data.label_names == ["x", "y"]
    partly = load_file(write(tmp_path, "partly.jsonl", '{"text": "a", "label": "y"}\n{"text": "b"}\n'),
                       label_names=["x", "y"], require_labels=False)
    assert partly.labels == [1, -1]


# One test per kind of bad input: each names the file, the line where there is one, and the problem.


def bad(path, match, **kwargs):
    with pytest.raises(UserError, match=match) as raised:
        load_file(path, **kwargs)
    assert str(path) in str(raised.value)


def test_missing_file(tmp_path):
    bad(tmp_path / "nowhere.csv", r"nowhere.csv: no such file")


def test_unknown_extension(tmp_path):
    bad(write(tmp_path, "train.xlsx", "x"), r"unknown file type '.xlsx'; use one of .csv, .tsv, .jsonl")


def test_empty_file(tmp_path):
    bad(write(tmp_path, "train.csv", ""), r"train.csv: the file is empty")


def test_header_without_examples(tmp_path):
    bad(write(tmp_path, "train.csv", "text,label\n"), r"train.csv: the file has a header but no examples")


def test_missing_text_column(tmp_path):
    bad(write(tmp_path, "train.csv", "sentence,label\na,x\n"),
        r"train.csv, line 1: no column 'text' \(columns: 'sentence', 'label'\); name the right one with --text-column")


def test_missing_label_column(tmp_path):
    bad(write(tmp_path, "train.tsv", "text\tclass\na\tx\n"), r"train.tsv, line 1: no column 'label'.*--label-column")


def test_missing_pair_column(tmp_path):
    bad(write(tmp_path, "train.csv", "text,label\na,x\n"), r"line 1: no column 'other'.*--text-pair-column",
        text_pair_column="other")


def test_missing_key_in_a_json_line(tmp_path):
    bad(write(tmp_path, "train.jsonl", '{"text": "a", "label": 0}\n{"label": 1}\n'),
        r"train.jsonl, line 2: no column 'text'")


def test_ragged_row(tmp_path):
    bad(write(tmp_path, "train.csv", "text,label\na,x\nb,y,extra\n"),
        r"train.csv, line 3: 3 fields, but the header has 2")


def test_unterminated_quote(tmp_path):
    bad(write(tmp_path, "train.csv", 'text,label\na,x\n"b,y\n'), r"train.csv, line \d+: unexpected end of data")


def test_invalid_json_line(tmp_path):
    bad(write(tmp_path, "train.jsonl", '{"text": "a", "label": 0}\n\n{"text": "b", label: 1}\n'),
        r"train.jsonl, line 3: not valid JSON")


def test_json_line_that_is_not_an_object(tmp_path):
    bad(write(tmp_path, "train.jsonl", '["a", 0]\n'), r"train.jsonl, line 1: expected a JSON object, found list")


def test_empty_text(tmp_path):
    bad(write(tmp_path, "train.csv", "text,label\na,x\n  ,y\n"), r"train.csv, line 3: the text column 'text' is empty")


def test_empty_text_pair(tmp_path):
    bad(write(tmp_path, "train.tsv", "text\tpair\tlabel\na\tb\tx\nc\t\ty\n"),
        r"train.tsv, line 3: the text column 'pair' is empty", text_pair_column="pair")


def test_text_that_is_not_a_string(tmp_path):
    bad(write(tmp_path, "train.jsonl", '{"text": 3, "label": 0}\n'),
        r"train.jsonl, line 1: the text column 'text' is not a string")


def test_empty_label(tmp_path):
    bad(write(tmp_path, "data.csv", "text,label\na,x\nb,y\nc,\n"),
        r"data.csv, line 4: the label column 'label' is empty")


def test_null_label_in_json(tmp_path):
    bad(write(tmp_path, "data.jsonl", '{"text": "a", "label": null}\n'),
        r"data.jsonl, line 1: the label column 'label' is empty")


def test_label_of_another_type(tmp_path):
    bad(write(tmp_path, "data.jsonl", '{"text": "a", "label": 0.5}\n'),
        r"data.jsonl, line 1: the label 0.5 is neither a string nor an integer")


def test_single_class(tmp_path):
    bad(write(tmp_path, "train.csv", "text,label\na,x\nb,x\n"),
        r"train.csv: every example has the label 'x'; a classifier needs at least two classes")


def test_non_utf8_bytes(tmp_path):
    bad(write(tmp_path, "train.csv", b"text,label\na,x\ncaf\xe9,y\n"),
        r"train.csv, line 3: not valid UTF-8 \(byte 0xe9\); save the file as UTF-8")


def test_evaluation_label_the_training_file_lacks(tmp_path):
    path = write(tmp_path, "test.csv", "text,label\na,x\nb,w\n")
    bad(path, r"test.csv, line 3: the label 'w' is not one of the training labels \(x, y\)", label_names=["x", "y"])


def test_a_directory_instead_of_a_file(tmp_path):
    (tmp_path / "train.csv").mkdir()
    bad(tmp_path / "train.csv", r"train.csv: not a file")
