"""``compare --tune N``: every method tuned with the same budget on validation data that no
evaluation uses (checked example by example and by the fingerprints the trials record), then the
paired runs with each method's best settings."""

import json
from dataclasses import replace

import pytest

from tests.experiments.test_compare import compare_args, files, records  # noqa: F401  (files is a fixture)
from tests.tiny_models import sentences
from tripleentropy.cli import main
from tripleentropy.data import Example
from tripleentropy.experiments.compare import Design
from tripleentropy.experiments.store import fingerprint_examples
from tripleentropy.experiments.tune import TuneOptions, load_study, open_storage, tune_comparison
from tripleentropy.training import TrainConfig

NAMES = ["negative", "positive"]


def unique(examples, tag):
    """The same sentences, each made unique, so that sets of texts identify examples."""
    return [Example(f"{example.text} {tag}{index}", example.label) for index, example in enumerate(examples)]


def capture_tuning(monkeypatch) -> list[tuple[str, list, list]]:
    """Every training run of the tuning: its study, its training examples, its validation examples."""
    from tripleentropy.training import api

    seen, real = [], api.train_model

    def recording(config, train, *args, callbacks=(), **kwargs):
        reporter = callbacks[0]
        seen.append((reporter.trial.study.study_name, list(train.examples), list(reporter.validation.examples)))
        return real(config, train, *args, callbacks=callbacks, **kwargs)

    monkeypatch.setattr(api, "train_model", recording)
    return seen


def texts(examples) -> set[str]:
    return {example.text for example in examples}


@pytest.mark.parametrize("kind", ["test split with a validation split", "cross-validation folds"])
def test_the_objective_never_sees_an_evaluation_example(kind, tiny_bert, tmp_path, monkeypatch):
    pool = unique(sentences(60, seed=0), "pool")
    if kind.startswith("test"):
        design = Design("task", NAMES, pool, unique(sentences(20, seed=1), "test"), 10, None,
                        validation=unique(sentences(16, seed=2), "dev"))
        seeds = [0, 1]
    else:
        design = Design("cv", NAMES, pool, None, 3)
        seeds = [0, 1]  # outer folds 0 and 1, each tuned on its own training part
    base = TrainConfig(model=str(tiny_bert), epochs=1, min_steps=0, batch_size=8, max_length=16, centers=2)
    configs = {"ce": replace(base, loss="ce"), "tripleentropy": replace(base, loss="tripleentropy")}
    fixed = {"ce": {"epochs"}, "tripleentropy": {"epochs", "centers"}}  # short runs
    options = TuneOptions(n_trials=1, tune_seeds=2, inner_folds=3, pruner="none")
    seen = capture_tuning(monkeypatch)
    tuning = tune_comparison(design, configs, fixed, [8], seeds, options, tmp_path, progress=False)

    studies = {entry["study"]: entry for entry in tuning.summary["studies"]}
    folds = sorted({entry["fold"] for entry in studies.values()}, key=str)
    assert folds == ([None] if design.test is not None else [0, 1])
    assert len(seen) == len(studies) * options.tune_seeds and set(studies) == {name for name, _, _ in seen}
    for name, train, validation in seen:
        fold = studies[name]["fold"]
        evaluated = design.test if fold is None else [design.pool[i] for i in design.split(fold)[1]]
        assert not texts(train + validation) & texts(evaluated), f"{name} saw an evaluation example"
        assert not texts(train) & texts(validation)
        if design.validation is not None:
            assert validation == design.validation
    storage = open_storage(f"sqlite:///{tmp_path / 'tune' / 'study.db'}", 60)
    for name, entry in studies.items():
        trial = load_study(storage, name, options).get_trials()[0]
        runs = [(train, validation) for study, train, validation in seen if study == name]
        assert trial.user_attrs["train_fingerprints"] == [fingerprint_examples(train) for train, _ in runs]
        assert trial.user_attrs["validation_fingerprints"] == [fingerprint_examples(v) for _, v in runs]
        assert entry["finished"] == 1 and set(entry["chosen"]) >= {"lr", "batch_size", "warmup_steps"}
    # every method of a cell is tuned on the same data
    by_cell = {}
    for name, train, validation in seen:
        cell = (studies[name]["train_size"], studies[name]["fold"])
        by_cell.setdefault(cell, {}).setdefault(studies[name]["method"], []).append(
            (fingerprint_examples(train), fingerprint_examples(validation)))
    for methods in by_cell.values():
        assert methods["ce"] == methods["tripleentropy"]


def count_training(monkeypatch) -> list[str]:
    from tripleentropy.training import api

    calls, real = [], api.train_model

    def counting(config, *args, **kwargs):
        # A tuning trial reports to the study; a run has only the step report for the run bar.
        tuning = any(type(callback).__name__ != "StepReport" for callback in kwargs.get("callbacks", ()))
        calls.append("tuning" if tuning else "run")
        return real(config, *args, **kwargs)

    monkeypatch.setattr(api, "train_model", counting)
    return calls


def test_compare_tune_runs_each_method_with_its_chosen_settings(files, tiny_bert, tmp_path, monkeypatch):  # noqa: F811
    output = tmp_path / "tuned"
    args = compare_args(files, tiny_bert, output, "--train-sizes", "8", "--tune", "2", "--tune-seeds", "1",
                        "--lr", "5e-3", "--pruner", "none", "--centers", "2")
    calls = count_training(monkeypatch)
    assert main(args) == 0
    assert calls.count("tuning") == 2 * 2 and calls.count("run") == 2 * 2
    summary = json.loads((output / "summary.json").read_text())
    tuning = summary["tuning"]
    assert tuning["budget"] == 2 and tuning["fixed"] == {"ce": ["lr", "epochs", "batch_size"],
                                                         "tripleentropy": ["lr", "epochs", "batch_size", "centers"]}
    chosen = {entry["method"]: entry["chosen"] for entry in tuning["studies"]}
    assert set(chosen["ce"]) == {"warmup_steps"}
    assert set(chosen["tripleentropy"]) == {"warmup_steps", "beta", "la", "gamma", "margin", "tau", "center_init",
                                            "center_lr"}
    for run in records(output):
        assert {name: run["config"][name] for name in chosen[run["method"]]} == chosen[run["method"]]
        assert run["config"]["lr"] == 5e-3
    report = (output / "report.md").read_text()
    assert "## Tuning" in report and "same budget of **2 Optuna trials**" in report
    assert (output / "tune" / tuning["studies"][1]["study"] / "best.yaml").is_file()

    # Again: the studies are full and the runs stored, so nothing trains; the summary is the same.
    assert main(args) == 0
    assert len(calls) == 8
    assert json.loads((output / "summary.json").read_text()) == summary
    assert main([*args, "--report-only"]) == 0 and len(calls) == 8


@pytest.mark.parametrize("extra, message", [
    (["--tune", "0"], "--tune must be an integer >= 1, got 0"),
    (["--storage", "sqlite:////tmp/x.db"], "--storage goes with --tune N"),
    (["--tune-seeds", "2"], "--tune-seeds goes with --tune N"),
    (["--tune", "2", "--storage", "sqlite:////no/such/folder/study.db"], "cannot open the study storage"),
    (["--tune", "2", "--losses", "ce,tripleentropy", "--lr", "ce=1e-4", "--warmup-steps", "3"], "nothing to tune for ce"),
])
def test_bad_tuning_flags_exit_2_before_training(files, tiny_bert, tmp_path, capsys, monkeypatch, extra, message):  # noqa: F811
    calls = count_training(monkeypatch)
    assert main(compare_args(files, tiny_bert, tmp_path / "bad", *extra)) == 2
    error = capsys.readouterr().err
    assert message in error and "Traceback" not in error
    assert calls == [] and not (tmp_path / "bad").exists()
