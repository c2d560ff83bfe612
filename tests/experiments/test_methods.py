"""Methods beyond losses in ``compare``: logreg and setfit beside ce, their run keys, pairing,
resume, workers, two baselines, and the refusals."""

import json
import re

import pytest

from tests.experiments.test_compare import records
from tests.tiny_models import sentences, write_csv
from tripleentropy.cli import main
from tripleentropy.experiments.methods import FINE_TUNING_FIELDS, METHODS
from tripleentropy.training import TrainConfig


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("methods-data")
    return write_csv(folder / "train.csv", sentences(32, seed=0)), write_csv(folder / "test.csv", sentences(16, seed=1))


def args(files, model, output_dir, *extra):
    train, test = files
    return ["compare", "--train", str(train), "--test", str(test), "--output-dir", str(output_dir), "--model", str(model),
            "--methods", "ce,logreg,setfit", "--baseline", "ce,setfit", "--train-sizes", "8", "--seeds", "2",
            "--epochs", "1", "--min-steps", "0", "--batch-size", "8", "--max-length", "16", "--quiet", *extra]


def count_runs(monkeypatch) -> list:
    calls = []
    for method in METHODS.values():
        real = method.run

        def counting(config, *rest, _real=real, _name=method.name):
            calls.append((_name, config.seed))
            return _real(config, *rest)

        monkeypatch.setattr(method, "run", counting)
    return calls


def test_logreg_and_setfit_are_paired_keyed_resumed_and_reported(files, tiny_bert, tmp_path, monkeypatch):
    output = tmp_path / "out"
    assert main(args(files, tiny_bert, output, "--jobs", "2")) == 0
    runs = records(output)
    assert sorted(run["method"] for run in runs) == ["ce", "ce", "logreg", "logreg", "setfit", "setfit"]
    by_method = {run["method"]: run for run in runs if run["seed"] == 0}
    # Each run's key and stored config hold what its method reads, and nothing else.
    assert by_method["setfit"]["config"]["max_eval"] is None and set(by_method["setfit"]["config"]) == {"max_eval", "setfit",
                                                                                                          "setfit_iterations"}
    assert set(by_method["logreg"]["config"]) == {"max_eval", "pooling", "max_length"}
    assert set(by_method["ce"]["config"]) == {"max_eval", *FINE_TUNING_FIELDS}
    for run in runs:
        assert run["train_seconds"] > 0 and run["seconds"] >= run["train_seconds"]
    for seed in (0, 1):
        pair = [run for run in runs if run["seed"] == seed]
        assert len({run["train_fingerprint"] for run in pair}) == 1 and len({run["eval_fingerprint"] for run in pair}) == 1

    summary = json.loads((output / "summary.json").read_text())
    assert summary["baselines"] == ["ce", "setfit"] and summary["methods"] == ["ce", "setfit", "logreg"]
    against = {(c["baseline"], c["method"]): c["n_pairs"] for c in summary["comparisons"]}
    assert against == {("ce", "logreg"): 2, ("ce", "setfit"): 2, ("setfit", "ce"): 2, ("setfit", "logreg"): 2}
    assert all("seconds_mean" in entry and "train_seconds_mean" in entry for entry in summary["results"])
    report = (output / "report.md").read_text()
    assert "## Paired comparison against `ce`" in report and "## Paired comparison against `setfit`" in report
    assert "## Time per run" in report

    calls = count_runs(monkeypatch)
    assert main(args(files, tiny_bert, output, "--jobs", "1")) == 0
    assert calls == []  # every run found in the store
    assert main(args(files, tiny_bert, output, "--jobs", "1", "--lr", "3e-4")) == 0
    assert sorted(calls) == [("ce", 0), ("ce", 1)]  # logreg and setfit do not read --lr
    assert main(args(files, tiny_bert, output, "--jobs", "1", "--lr", "3e-4", "--pooling", "logreg=mean")) == 0
    assert sorted(calls[2:]) == [("logreg", 0), ("logreg", 1)]


@pytest.mark.parametrize("extra, message", [
    (["--lr", "setfit=1e-4"], "--lr: method setfit does not read this setting"),
    (["--methods", "ce,tripleentropy,setfit", "--center-init", "ce=kmeans"],
     "--center-init: method ce does not read this setting (those that do here: tripleentropy)"),
    (["--center-init", "supcon=kmeans"], "--center-init applies to none of the methods"),
    (["--beta", "supcon=0.5", "--methods", "ce,tripleentropy,setfit"], "'supcon' is not one of --methods"),
    (["--la", "4"], "--la applies to none of the methods ce,setfit,logreg"),
    (["--methods", "ce,tripleentropy", "--baseline", "ce", "--setfit-iterations", "20"], "--setfit-iterations applies to none of the methods ce,tripleentropy"),
    (["--setfit-iterations", "ce=20"], "--setfit-iterations: method ce does not read this setting (those that do here: setfit)"),
    (["--setfit-iterations", "0"], "setfit_iterations must be an integer >= 1, got 0"),
    (["--methods", "ce,tripleentropy", "--baseline", "setfit"], "--baseline setfit is not one of --methods ce,tripleentropy"),
    (["--methods", "ce,svm"], "unknown method 'svm'"),
    (["--baseline", "ce,ce"], "--baseline needs one method or several distinct ones"),
    (["--pooling", "max"], "--pooling: 'max' is not one of auto, cls, mean"),
    (["--recipe", "nonsense"], "--recipe: 'nonsense' is not one of default, classic"),
    (["--epochs", "ce=many"], "--epochs: epochs is 'auto' or a number > 0, got 'many'"),
])
def test_bad_method_input_exits_2_before_any_run(files, tiny_bert, tmp_path, capsys, extra, message):
    assert main(args(files, tiny_bert, tmp_path / "bad", *extra)) == 2
    error = capsys.readouterr().err
    assert message in error and "Traceback" not in error
    assert not (tmp_path / "bad" / "runs").exists() or not list((tmp_path / "bad" / "runs").iterdir())


def test_setfit_keeps_its_chatter_out_of_compare(files, tiny_bert, tmp_path, capfd):
    assert main(args(files, tiny_bert, tmp_path / "quiet", "--methods", "ce,setfit", "--baseline", "ce")) == 0
    output = "".join(capfd.readouterr())
    for chatter in ("Running training", "embedding_loss", "train_runtime", "Map:", "model_head.pkl", "pin_memory"):
        assert chatter not in output


def test_fine_tuning_and_setfit_report_their_steps_on_the_run_bar(files, tiny_bert, tmp_path, capfd):
    command = [arg for arg in args(files, tiny_bert, tmp_path / "steps", "--methods", "ce,setfit", "--baseline", "ce",
                                   "--seeds", "1", "--jobs", "1") if arg != "--quiet"]
    assert main(command) == 0
    error = capfd.readouterr().err
    for method in ("ce", "setfit"):
        steps = re.findall(rf"{method} size=8 seed=0: step (\d+)/(\d+), ", error)
        assert steps and steps[-1][0] == steps[-1][1] and int(steps[-1][1]) > 0


def test_the_fewshot_preset():
    from tripleentropy.experiments.presets import PRESETS

    preset = PRESETS["fewshot"]
    assert len(preset.tasks) == 8 and preset.train_sizes == (16, 64) and preset.seeds == 5 and preset.max_eval == 500
    assert set(preset.methods) == {"ce", "tripleentropy", "setfit", "logreg"} and preset.baselines == ("ce", "setfit")
    assert preset.settings["pooling"] == "auto" and preset.settings["head_init"] == "probe"


def test_reproduce_report_pools_every_task_against_each_baseline(tmp_path):
    from tripleentropy.experiments.presets import PRESETS
    from tripleentropy.experiments.reproduce import write_overall_report
    from tripleentropy.experiments.stats import summarize

    def record(task, method, size, seed, accuracy):
        return {"key": f"{task}{method}{size}{seed}", "method": method, "train_size": size, "seed": seed,
                "metrics": {"accuracy": accuracy}, "config": {}, "data_fingerprint": task, "seconds": 2.0,
                "train_seconds": 1.0, "finished_at": "t"}

    gains = {"ce": 0.0, "tripleentropy": 0.02, "setfit": 0.05, "logreg": 0.01}
    by_task = {task: [record(task, method, size, seed, 0.6 + gain + 0.01 * seed)
                      for method, gain in gains.items() for size in (16, 64) for seed in range(3)]
               for task in ("SST2", "TREC")}
    preset = PRESETS["fewshot"]
    summaries = {task: summarize(runs, baseline=list(preset.baselines)) for task, runs in by_task.items()}
    report = write_overall_report(preset, summaries, by_task, tmp_path, {"command": "test"}).read_text()
    summary = json.loads((tmp_path / "summary.json").read_text())
    pooled = {(c["baseline"], c["method"], c["train_size"]): c for c in summary["pooled"]}
    assert pooled[("ce", "tripleentropy", 16)]["n_pairs"] == 6
    assert pooled[("ce", "tripleentropy", 16)]["mean_diff"] == pytest.approx(2.0)
    assert pooled[("setfit", "tripleentropy", 64)]["mean_diff"] == pytest.approx(-3.0)
    results = {(r["method"], r["train_size"]): r for r in summary["pooled_results"]}
    assert results[("logreg", 16)]["n"] == 6 and results[("logreg", 16)]["seconds_mean"] == 2.0
    assert "## All tasks pooled, against `ce`, beside the paper" in report
    assert "## All tasks pooled, against `setfit`" in report and "## Every task, against `setfit`" in report


def test_the_setfit_table_report_sets_measured_cells_beside_the_published_ones(tmp_path):
    from tripleentropy.experiments.presets import PRESETS
    from tripleentropy.experiments.reproduce import write_overall_report
    from tripleentropy.experiments.stats import summarize

    def record(task, method, seed, accuracy):
        return {"key": f"{task}{method}{seed}", "method": method, "train_size": "8/class", "seed": seed,
                "metrics": {"accuracy": accuracy}, "config": {}, "data_fingerprint": task, "seconds": 2.0,
                "train_seconds": 1.0, "finished_at": "t"}

    by_task = {task: [record(task, method, seed, base + 0.01 * seed)
                      for method, base in (("ce", 0.70), ("tripleentropy", 0.72), ("setfit", 0.80)) for seed in range(3)]
               for task in ("CR", "SST5")}
    preset = PRESETS["setfit-table"]
    summaries = {task: summarize(runs, baseline=list(preset.baselines)) for task, runs in by_task.items()}
    report = write_overall_report(preset, summaries, by_task, tmp_path, {"command": "test"}).read_text()
    assert "## Beside the published table" in report and "beside the paper" not in report
    assert "| CR | 8/class | 71.00 ± 1.00 | 81.00 ± 1.00 | 73.00 ± 1.00 | 88.5 | 58.8 |" in report
    assert "| SST5 | 8/class | 71.00 ± 1.00 | 81.00 ± 1.00 | 73.00 ± 1.00 | 43.6 | 33.5 |" in report
    assert "| CR | 64/class | – | – | – | 90.4 | 88.9 |" in report  # not run: the published cells stand alone


def test_the_overall_report_of_a_partial_grid_where_a_baseline_has_no_runs_at_a_size(tmp_path):
    """A grid stopped part-way: at 16/class only a ce run is stored, none of setfit (a baseline)."""
    from tripleentropy.experiments.presets import PRESETS
    from tripleentropy.experiments.reproduce import write_overall_report
    from tripleentropy.experiments.stats import summarize

    def record(method, size, seed, accuracy):
        return {"key": f"{method}{size}{seed}", "method": method, "train_size": size, "seed": seed,
                "metrics": {"accuracy": accuracy}, "config": {}, "data_fingerprint": "CR", "seconds": 2.0,
                "train_seconds": 1.0, "finished_at": "t"}

    runs = [record(method, "8/class", seed, 0.7 + 0.01 * seed) for method in ("ce", "setfit") for seed in range(2)]
    runs.append(record("ce", "16/class", 0, 0.8))
    preset = PRESETS["setfit-table"]
    summaries = {"CR": summarize(runs, baseline=list(preset.baselines))}
    report = write_overall_report(preset, summaries, {"CR": runs}, tmp_path, {"command": "test"}).read_text()
    assert "| CR | 16/class | 80.00 | – | 89.0 | 73.2 |" in report


def test_setfit_iterations_reach_setfit_and_its_key_only_when_set(files, tiny_bert, tmp_path, monkeypatch):
    from tripleentropy.experiments import methods

    calls, real = [], methods.train_setfit

    def spying(model_path, texts, labels, seed, callbacks=(), **arguments):
        calls.append(arguments)
        return real(model_path, texts, labels, seed, callbacks=callbacks, **arguments)

    monkeypatch.setattr(methods, "train_setfit", spying)
    output = tmp_path / "out"
    library = tmp_path / "library.yaml"
    library.write_text("setfit_iterations: null\n")  # setfit's own default
    base = args(files, tiny_bert, output, "--methods", "ce,setfit", "--baseline", "ce", "--seeds", "1", "--jobs", "1")
    assert main([*base, "--config", str(library)]) == 0 and calls == [{}]
    defaults = {run["key"]: run for run in records(output) if run["method"] == "setfit"}
    assert [set(run["config"]) for run in defaults.values()] == [{"max_eval", "setfit"}]
    assert main([*base, "--setfit-iterations", "2"]) == 0 and calls == [{}, {"num_iterations": 2}]
    tuned = [run for run in records(output) if run["method"] == "setfit" and run["key"] not in defaults]
    assert len(tuned) == 1 and tuned[0]["config"]["setfit_iterations"] == 2
    # The run at setfit's own default is found under the key it had before 20 became the default.
    assert main([*base, "--config", str(library)]) == 0 and len(calls) == 2
    assert TrainConfig().setfit_iterations == 20
