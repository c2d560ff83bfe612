"""``tune``: the search spaces, the validation reports, the outputs, best.yaml through ``train``, bad input."""

import csv
import json
from dataclasses import fields
from pathlib import Path

import optuna
import pytest
import yaml

from tests.tiny_models import sentences, write_csv
from tripleentropy.cli import build_parser, main
from tripleentropy.errors import UserError
from tripleentropy.experiments.compare import run_settings
from tripleentropy.experiments.presets import AUTHORS_SETTINGS
from tripleentropy.experiments.search_space import METHOD_SPACES, SHARED_SPACE, search_space
from tripleentropy.experiments.tune import ValidationReporter, tuned_space
from tripleentropy.modeling.settings import LOSSES
from tripleentropy.modeling import load_pretrained
from tripleentropy.training import TrainConfig, evaluate_model, tokenize_examples, train_model

NAMES = ["negative", "positive"]
OFFICIAL_SOFTTRIPLE = {"la": 20.0, "gamma": 0.1, "tau": 0.2, "margin": 0.01, "centers": 10, "center_lr": 1e-2}
AUTHORS_EARLIER = {"la": 3.3, "centers": 1000, "beta": 0.9}


def dimension(method: str, name: str):
    return next(d for d in search_space(method) if d.name == name)


def test_every_loss_has_a_search_space_of_settings_it_reads():
    assert set(LOSSES) <= set(METHOD_SPACES)
    field_names = {item.name for item in fields(TrainConfig)}
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for method in LOSSES:
        space = search_space(method)
        assert [d.name for d in space[: len(SHARED_SPACE)]] == ["lr", "epochs", "warmup_steps", "batch_size"]
        assert len({d.name for d in space}) == len(space) and {d.name for d in space} <= field_names
        for _ in range(5):
            trial = study.ask()
            params = {d.name: d.suggest(trial) for d in space}
            config = TrainConfig.from_dict({**params, "loss": method}).validate()
            # every drawn value reaches the run (and its key): nothing tuned is ignored
            assert {name: run_settings(config, method)[name] for name in params} == pytest.approx(params)
            assert all(d.contains(params[d.name]) for d in space)


TRIPLEENTROPY_SETTINGS = ("lr", "epochs", "warmup_steps", "batch_size", "beta", "la", "gamma", "margin", "centers",
                          "tau", "center_init", "center_lr")


@pytest.mark.parametrize("source, values", [
    ("the authors' TripleEntropy setup", {k: v for k, v in AUTHORS_SETTINGS.items() if k in TRIPLEENTROPY_SETTINGS}),
    ("the authors' earlier script", AUTHORS_EARLIER),
    ("official SoftTriple", OFFICIAL_SOFTTRIPLE),
    # epochs auto is a rule that adapts to the sample, not a number: the space searches whole epochs.
    ("our defaults", {name: value for name, value in run_settings(TrainConfig(loss="tripleentropy"), "tripleentropy").items()
                      if name in TRIPLEENTROPY_SETTINGS and name != "epochs"}),
    ("the classic recipe", {name: value for name, value in
                            run_settings(TrainConfig(recipe="classic", loss="tripleentropy"), "tripleentropy").items()
                            if name in TRIPLEENTROPY_SETTINGS}),
])
def test_the_tripleentropy_space_covers_published_settings(source, values):
    assert [d.name for d in search_space("tripleentropy")] == list(TRIPLEENTROPY_SETTINGS)
    if source in ("the authors' TripleEntropy setup", "the classic recipe"):
        assert set(values) == set(TRIPLEENTROPY_SETTINGS)
    if source == "our defaults":
        assert set(values) == set(TRIPLEENTROPY_SETTINGS) - {"epochs"}
    for name, value in values.items():
        assert dimension("tripleentropy", name).contains(value), f"{source}: {name} {value}"


def test_supcon_space_covers_gunel_et_al_and_fixed_settings_leave_the_space():
    for value in (0.1, 0.3, 0.5, 0.7, 0.9):
        assert dimension("supcon", "temperature").contains(value)
        assert dimension("supcon", "beta").contains(1 - value)
    assert [d.name for d in search_space("tripleentropy", fixed={"lr", "centers"})] == [
        "epochs", "warmup_steps", "batch_size", "beta", "la", "gamma", "margin", "tau", "center_init", "center_lr"]
    with pytest.raises(UserError, match="nothing to tune for ce"):
        tuned_space("ce", ["lr", "epochs", "warmup_steps", "batch_size"])
    with pytest.raises(UserError, match="no search space for method 'setfit'"):
        search_space("setfit")


def test_help_lists_every_search_space():
    tune = build_parser()._subparsers._group_actions[0].choices["tune"]
    text = " ".join(tune.format_help().split())
    for method in METHOD_SPACES:
        for item in (*SHARED_SPACE, *METHOD_SPACES[method]):
            assert " ".join(item.describe().split()) in text


def test_the_docs_table_is_the_search_space_table():
    readme = (Path(__file__).parents[2] / "docs" / "tuning.md").read_text()
    for label, space in [("every method", SHARED_SPACE), *METHOD_SPACES.items()]:
        rows = [f"| {label} | `{d.name}` | {d.range_text()} | {d.covers} |" for d in space]
        for row in rows or [f"| {label} | (nothing of its own) | | |"]:
            assert row in readme


class RecordingTrial:
    """The two calls a reporter makes on an Optuna trial, recorded; prunes when told to."""

    def __init__(self, prune_at: int | None = None):
        self.reports: list[tuple[int, float]] = []
        self.prune_at = prune_at

    def report(self, value, step):
        self.reports.append((step, value))

    def should_prune(self):
        return self.prune_at is not None and self.reports[-1][0] >= self.prune_at


def test_validation_reports_at_even_fractions_of_training_and_pruning_ends_it(tiny_bert):
    pretrained = load_pretrained(str(tiny_bert))
    validation = tokenize_examples(pretrained.tokenizer, sentences(24, seed=1), 16)
    config = TrainConfig(model=str(tiny_bert), epochs=3, min_steps=0, batch_size=8, lr=5e-3, max_length=16, seed=0)
    trial = RecordingTrial()
    reporter = ValidationReporter(trial, validation, pretrained.tokenizer, NAMES, 64, reports=4, first_step=8, prune=True)
    result = train_model(config, sentences(40), label_names=NAMES, pretrained=pretrained, progress=False,
                         callbacks=[reporter])
    assert [step for step, _ in trial.reports] == [8, 9, 10, 11]  # 15 steps: after steps 4, 8, 12 and 15
    final = evaluate_model(result.model, pretrained.tokenizer, validation, 64, NAMES)["accuracy"]
    assert trial.reports[-1][1] == reporter.accuracy == final

    pruned = RecordingTrial(prune_at=9)
    reporter = ValidationReporter(pruned, validation, pretrained.tokenizer, NAMES, 64, reports=4, first_step=8, prune=True)
    with pytest.raises(optuna.TrialPruned):
        train_model(config, sentences(40), label_names=NAMES, pretrained=pretrained, progress=False, callbacks=[reporter])
    assert [step for step, _ in pruned.reports] == [8, 9]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tune-data")
    return (write_csv(folder / "train.csv", sentences(40, seed=0)), write_csv(folder / "dev.csv", sentences(16, seed=2)))


def tune_args(files, model, output_dir, *extra):
    train, dev = files
    return ["tune", "--train", str(train), "--validation", str(dev), "--model", str(model), "--output-dir",
            str(output_dir), "--train-size", "16", "--tune-seeds", "2", "--epochs", "1", "--min-steps", "0", "--max-length", "16",
            "--loss", "tripleentropy", "--quiet", *extra]


def test_tune_writes_its_outputs_and_best_yaml_round_trips_through_train(files, tiny_bert, tmp_path, capsys):
    output = tmp_path / "tune"
    assert main(tune_args(files, tiny_bert, output, "--n-trials", "3", "--centers", "2")) == 0
    assert "best mean validation accuracy" in capsys.readouterr().out
    for name in ("study.db", "best.yaml", "trials.csv", "tune.json", "optimization_history.png", "param_importances.png"):
        assert (output / name).stat().st_size > 0, name
    with (output / "trials.csv").open() as file:
        rows = list(csv.DictReader(file))
    assert [row["state"] for row in rows] == ["COMPLETE"] * 3
    assert all(len(row["accuracies"].split()) == 2 for row in rows)
    summary = json.loads((output / "tune.json").read_text())
    assert summary["finished"] == 3 and set(summary["best_params"]) == {d.name for d in search_space("tripleentropy", {"epochs", "centers"})}
    best = yaml.safe_load((output / "best.yaml").read_text())
    assert best["loss"] == "tripleentropy" and best["train_size"] == 16 and best["centers"] == 2 and best["epochs"] == 1.0
    for name, value in summary["best_params"].items():
        assert best[name] == pytest.approx(value)

    train, dev = files
    model_dir = tmp_path / "final"
    assert main(["train", "--config", str(output / "best.yaml"), "--train", str(train), "--output-dir", str(model_dir)]) == 0
    trained = json.loads((model_dir / "run_config.json").read_text())["config"]
    assert {name: trained[name] for name in best} == best

    # The same command again finds the study finished and trains nothing.
    before = (output / "trials.csv").read_text()
    assert main(tune_args(files, tiny_bert, output, "--n-trials", "3", "--centers", "2")) == 0
    assert (output / "trials.csv").read_text() == before


def test_a_per_class_size_is_tuned_and_round_trips_through_train(files, tiny_bert, tmp_path, capsys):
    output = tmp_path / "tune"
    assert main(tune_args(files, tiny_bert, output, "--n-trials", "1", "--train-size", "4/class")) == 0
    best = yaml.safe_load((output / "best.yaml").read_text())
    assert best["train_size"] == "4/class"
    summary = json.loads((output / "tune.json").read_text())
    assert summary["train_size"] == "4/class" and "/" not in summary["study"]
    train, _ = files
    model_dir = tmp_path / "final"
    assert main(["train", "--config", str(output / "best.yaml"), "--train", str(train), "--output-dir", str(model_dir)]) == 0
    run_config = json.loads((model_dir / "run_config.json").read_text())
    assert run_config["config"]["train_size"] == "4/class" and run_config["num_train_examples"] == 8


def refuse_training(monkeypatch):
    from tripleentropy.training import api

    def no_training(*args, **kwargs):
        raise AssertionError("bad input must be refused before any training")

    monkeypatch.setattr(api, "train_model", no_training)


@pytest.mark.parametrize("extra, message", [
    (["--n-trials", "0"], "--n-trials must be an integer >= 1, got 0"),
    (["--n-trials", "2", "--tune-seeds", "0"], "--tune-seeds must be an integer >= 1, got 0"),
    (["--n-trials", "2", "--storage", "sqlite:////no/such/folder/study.db"], "--storage sqlite:////no/such/folder/study.db: cannot open"),
    (["--n-trials", "2", "--storage", "postgresql://user:secret@127.0.0.1:1/db"], "--storage postgresql://user:***@127.0.0.1:1/db: cannot open"),
    (["--n-trials", "2", "--train-size", "50"], "fewer than the training size 50 to tune for"),
    (["--n-trials", "2", "--train-size", "21/class"], "has 20 training examples of the class 'negative', fewer than the training size 21/class to tune for"),
    (["--n-trials", "2", "--loss", "ce", "--lr", "1e-4", "--warmup-steps", "1", "--batch-size", "8"], "nothing to tune for ce"),
])
def test_bad_input_exits_2_before_training_and_writes_nothing(files, tiny_bert, tmp_path, capsys, monkeypatch, extra, message):
    refuse_training(monkeypatch)
    assert main(tune_args(files, tiny_bert, tmp_path / "out", *extra)) == 2
    error = capsys.readouterr().err
    assert message in error and "Traceback" not in error and "secret" not in error
    assert not (tmp_path / "out").exists()


def test_early_stopping_in_a_config_file_is_refused(files, tiny_bert, tmp_path, capsys, monkeypatch):
    refuse_training(monkeypatch)
    config = tmp_path / "run.yaml"
    config.write_text("early_stopping_patience: 2\n")
    assert main(tune_args(files, tiny_bert, tmp_path / "out", "--n-trials", "2", "--config", str(config))) == 2
    assert "set early_stopping_patience to 0" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_unknown_method_exits_2(files, tiny_bert, tmp_path, capsys):
    with pytest.raises(SystemExit) as stop:
        main(tune_args(files, tiny_bert, tmp_path / "out", "--n-trials", "2", "--loss", "setfit"))
    assert stop.value.code == 2
    assert "invalid choice: 'setfit'" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
