from collections import Counter

import pytest

from tripleentropy.data import CV_SEED, TASKS, get_task, load_task, resolve_data_dir, stratified_folds
from tripleentropy.errors import UserError

# Label counts per split from the data README, minus the lines that hold a label and no text:
# CR lines 769, 1368 (label 0) and 3691, 3775 (label 1; the README lists three lines but the last
# line of the file is one more), MPQA lines 6415, 7294 (label 0) and 10606 (label 1).
EXPECTED_COUNTS = {
    "MR": {"train": {0: 5331, 1: 5331}},
    "CR": {"train": {0: 1368 - 2, 1: 2407 - 2}},
    "SUBJ": {"train": {0: 5000, 1: 5000}},
    "MPQA": {"train": {0: 7294 - 2, 1: 3312 - 1}},
    "TREC": {"train": 5452, "test": 500},
    "SST2": {"train": 6920, "validation": 872, "test": 1821},
    "SST5": {"train": 8544, "validation": 1101, "test": 2210},
    "MRPC": {"train": 4080, "test": 1725},
}


def _total(expected):
    return expected if isinstance(expected, int) else sum(expected.values())


def test_registry_describes_the_eight_tasks():
    assert list(TASKS) == ["MR", "CR", "SUBJ", "MPQA", "TREC", "SST2", "SST5", "MRPC"]
    assert TASKS["TREC"].label_names == ("DESC", "ENTY", "ABBR", "HUM", "LOC", "NUM")
    assert TASKS["SST5"].label_names[0] == "very negative" and TASKS["SST5"].label_names[-1] == "very positive"
    assert TASKS["MRPC"].label_names == ("not_paraphrase", "paraphrase")
    assert [name for name, task in TASKS.items() if task.is_pair] == ["MRPC"]
    assert {name for name, task in TASKS.items() if task.protocol == "cv10"} == {"MR", "CR", "SUBJ", "MPQA"}
    assert all(task.num_folds == (10 if task.protocol == "cv10" else None) for task in TASKS.values())
    for name, expected in EXPECTED_COUNTS.items():
        assert {split: _total(counts) for split, counts in expected.items()} == dict(TASKS[name].num_examples)


def test_get_task_ignores_case_and_lists_valid_names():
    assert get_task("sst2") is TASKS["SST2"]
    with pytest.raises(UserError, match="unknown task 'SST3'.*MR, CR, SUBJ, MPQA, TREC, SST2, SST5, MRPC"):
        get_task("SST3")


@pytest.mark.parametrize("name", list(TASKS))
def test_real_counts_match_the_data_readme(senteval_dir, name):
    splits = load_task(name, senteval_dir)
    assert set(splits) == set(EXPECTED_COUNTS[name])
    for split, expected in EXPECTED_COUNTS[name].items():
        data = splits[split]
        assert len(data) == _total(expected)
        if isinstance(expected, dict):
            assert Counter(data.labels) == expected
        assert data.label_names == list(TASKS[name].label_names)
        assert data.source == f"task {name}"
        assert data.is_pair == (name == "MRPC")
        assert all(example.text and example.text == example.text.strip() for example in data.examples)
        assert all((example.text_pair is not None) == data.is_pair for example in data.examples)
        assert set(data.labels) == set(range(data.num_classes))


def test_latin1_files_decode_to_accented_text(senteval_dir):
    mr = load_task("MR", senteval_dir)["train"]
    assert sum("é" in example.text for example in mr.examples) > 0
    assert not any("\ufffd" in example.text for example in mr.examples)
    trec = load_task("TREC", senteval_dir)["train"]
    assert trec.examples[0].text == "How did serfdom develop in and then leave Russia ?"
    assert trec.examples[0].label == TASKS["TREC"].label_names.index("DESC")


def test_mrpc_reads_pairs_without_bom_crlf_or_quote_handling(senteval_dir):
    first = load_task("MRPC", senteval_dir)["train"].examples[0]
    assert first.label == 1
    assert first.text.startswith('Amrozi accused his brother, whom he called "the witness", of deliberately')
    assert first.text_pair.startswith('Referring to him as only "the witness", Amrozi')
    assert not first.text_pair.endswith("\r")


def test_cv_folds_of_a_task_are_fixed(senteval_dir):
    labels = load_task("CR", senteval_dir)["train"].labels
    folds = stratified_folds(labels, TASKS["CR"].num_folds, CV_SEED)
    assert folds == stratified_folds(labels, 10, CV_SEED)
    assert sorted(len(test) for _, test in folds) == [377] * 9 + [378]


def test_data_dir_comes_from_the_flag_then_the_environment_then_the_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("TRIPLEENTROPY_DATA", str(tmp_path / "from-env"))
    assert resolve_data_dir(tmp_path / "flag") == tmp_path / "flag"
    assert resolve_data_dir() == tmp_path / "from-env"
    monkeypatch.delenv("TRIPLEENTROPY_DATA")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert resolve_data_dir().name == "senteval"
    assert "tripleentropy" in resolve_data_dir().parts


def test_missing_data_names_the_directory_and_the_fetch_command(monkeypatch, tmp_path):
    monkeypatch.setenv("TRIPLEENTROPY_DATA", str(tmp_path))
    with pytest.raises(UserError) as raised:
        load_task("cr")
    message = str(raised.value)
    assert str(tmp_path) in message and "TRIPLEENTROPY_DATA" in message
    assert f"tripleentropy data fetch --dest {tmp_path}" in message
    assert "--data-dir" in message and "data_dir=" in message


def test_a_damaged_task_file_is_reported_with_its_line(tmp_path):
    (tmp_path / "CR").mkdir()
    (tmp_path / "CR" / "custrev.all").write_text("0 fine\n7 not a class\n")
    with pytest.raises(UserError, match=r"custrev.all, line 2: the label '7' is not a class index 0..1"):
        load_task("CR", tmp_path)


def test_task_file_lines_split_only_on_newlines(tmp_path):
    (tmp_path / "MR").mkdir()
    # 0x85 is "…" in Windows-1252 and NEL in Latin-1: it must not split the line.
    (tmp_path / "MR" / "rt-polarity.all").write_bytes(b"0 caf\xe9 \x85 bad \n1 good\n")
    data = load_task("MR", tmp_path)["train"]
    assert [example.text for example in data.examples] == ["caf\xe9 \x85 bad", "good"]
