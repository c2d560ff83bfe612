import json
import os
from pathlib import Path

import pytest

from tripleentropy.data import Example
from tripleentropy.experiments import store as store_module
from tripleentropy.experiments.store import RunStore, fingerprint_examples, run_key, write_json_atomic

SPEC = {"method": "ce", "train_size": 20, "seed": 0, "model": "m", "settings": {"lr": 1e-5, "epochs": 3, "beta": 0.4}}


def record(key, accuracy=0.8):
    return {"key": key, "method": "ce", "train_size": 20, "seed": 0, "metrics": {"accuracy": accuracy, "macro_f1": 0.7},
            "config": {}, "data_fingerprint": "d", "seconds": 1.0, "finished_at": "2026-01-01T00:00:00+00:00"}


def test_run_key_ignores_dict_order_and_is_stable():
    reordered = {"settings": {"beta": 0.4, "epochs": 3, "lr": 1e-5}, "model": "m", "seed": 0, "train_size": 20, "method": "ce"}
    assert run_key(SPEC) == run_key(reordered)
    assert run_key(SPEC) == run_key(json.loads(json.dumps(SPEC)))
    assert len(run_key(SPEC)) == 64 and int(run_key(SPEC), 16) >= 0


@pytest.mark.parametrize("change", [
    {"method": "tripleentropy"}, {"train_size": 21}, {"train_size": "full"}, {"seed": 1}, {"model": "m2"},
    {"settings": {"lr": 2e-5, "epochs": 3, "beta": 0.4}}, {"settings": {"lr": 1e-5, "epochs": 3, "beta": 0.5}},
    {"settings": {"lr": 1e-5, "epochs": 3.0, "beta": 0.4}}, {"settings": {"lr": 1e-5, "epochs": 3, "beta": 0.4, "new": None}},
])
def test_run_key_changes_with_any_setting(change):
    assert run_key({**SPEC, **change}) != run_key(SPEC)


def test_run_key_rejects_values_json_cannot_represent_exactly():
    with pytest.raises(TypeError):
        run_key({"path": Path("x")})
    with pytest.raises(ValueError):
        run_key({"lr": float("nan")})


def test_fingerprint_examples_accepts_tuples_and_examples_and_sees_every_field():
    examples = [Example("a b", 1), Example("c", 0, text_pair="d")]
    fingerprint = fingerprint_examples(examples)
    assert fingerprint == fingerprint_examples([("a b", None, 1), ("c", "d", 0)])
    assert fingerprint == fingerprint_examples([["a b", None, 1], ["c", "d", 0]])
    assert fingerprint != fingerprint_examples([Example("a b", 0), Example("c", 0, text_pair="d")])
    assert fingerprint != fingerprint_examples([Example("a b", 1), Example("c", 0)])
    assert fingerprint != fingerprint_examples(examples[::-1])
    # Joining texts must not make two datasets alike.
    assert fingerprint_examples([("ab", None, 0)]) != fingerprint_examples([("a", "b", 0)])


def test_save_load_round_trip_and_all_records(tmp_path):
    store = RunStore(tmp_path)
    store.save("k1", record("k1"))
    store.save("k2", record("k2", 0.9))
    assert store.path_for("k1") == tmp_path / "runs" / "k1.json"
    assert store.load("k1") == record("k1")
    assert store.load("missing") is None
    assert [r["key"] for r in store.all_records()] == ["k1", "k2"]
    assert not [p for p in (tmp_path / "runs").iterdir() if p.suffix != ".json"]


def test_save_rejects_invalid_records(tmp_path):
    store = RunStore(tmp_path)
    with pytest.raises(ValueError, match="accuracy"):
        store.save("k", record("k", accuracy=85.0))  # points instead of a fraction
    with pytest.raises(ValueError, match="missing"):
        store.save("k", {"key": "k"})
    with pytest.raises(ValueError, match="strict JSON"):
        store.save("k", {**record("k"), "history": [float("nan")]})
    assert list((tmp_path / "runs").iterdir()) == []


@pytest.mark.parametrize("fail_at", ["fsync", "replace"])
def test_crash_during_save_leaves_old_file_and_no_temp_file(tmp_path, monkeypatch, fail_at):
    store = RunStore(tmp_path)
    store.save("k", record("k", 0.5))

    def crash(*args, **kwargs):
        raise OSError("simulated crash")

    monkeypatch.setattr(store_module.os, fail_at, crash)
    with pytest.raises(OSError, match="simulated crash"):
        store.save("k", record("k", 0.9))
    with pytest.raises(OSError, match="simulated crash"):
        store.save("new", record("new", 0.9))
    monkeypatch.undo()
    assert store.load("k")["metrics"]["accuracy"] == 0.5
    assert store.load("new") is None
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == ["k.json"]


@pytest.mark.parametrize("content", ['{"key": "k", "method": "ce", "metr', "", "[1, 2]", '{"key": "other"}', "\xff\xfe"])
def test_corrupt_or_partial_file_counts_as_missing_and_is_moved_aside(tmp_path, content):
    store = RunStore(tmp_path)
    store.path_for("k").write_bytes(content.encode("latin-1"))
    with pytest.warns(UserWarning, match="will be redone"):
        assert store.load("k") is None
    assert not store.path_for("k").exists()
    assert len(list((tmp_path / "runs").glob("k.json.corrupt-*"))) == 1
    store.save("k", record("k"))
    assert store.load("k") == record("k")


def test_record_saved_under_another_key_is_not_trusted(tmp_path):
    store = RunStore(tmp_path)
    store.save("a", record("a"))
    os.replace(store.path_for("a"), store.path_for("b"))
    with pytest.warns(UserWarning, match="does not match"):
        assert store.load("b") is None


def test_left_over_temp_file_is_ignored(tmp_path):
    store = RunStore(tmp_path)
    (tmp_path / "runs" / ".k.json.abc.tmp").write_text('{"key": "k"')  # what a kill mid-write leaves
    assert store.load("k") is None and store.all_records() == []


def test_write_json_atomic_is_strict(tmp_path):
    with pytest.raises(ValueError):
        write_json_atomic(tmp_path / "x.json", {"a": float("inf")})
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("umask", [0o022, 0o002, 0o077])
def test_atomic_writes_get_the_permissions_open_would_give(tmp_path, umask):
    # mkstemp alone makes 0600 files, which hide a shared run store from the rest of a group.
    previous = os.umask(umask)
    try:
        write_json_atomic(tmp_path / "new.json", {"a": 1})
        (tmp_path / "old.json").write_text("{}")
        write_json_atomic(tmp_path / "old.json", {"a": 2})
    finally:
        os.umask(previous)
    for name in ("new.json", "old.json"):
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o666 & ~umask
