"""``compare`` end to end on a tiny random BERT: paired runs, restarts, stale runs, bad input."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tripleentropy.cli import build_parser, main

from tests.tiny_models import sentences, write_csv


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("compare-data")
    return write_csv(folder / "train.csv", sentences(48, seed=0)), write_csv(folder / "test.csv", sentences(20, seed=1))


def compare_args(files, model, output_dir, *extra):
    train, test = files
    return [
        "compare", "--train", str(train), "--test", str(test), "--output-dir", str(output_dir),
        "--model", str(model), "--losses", "ce,tripleentropy", "--train-sizes", "8,16", "--seeds", "2",
        "--epochs", "1", "--min-steps", "0", "--batch-size", "8", "--max-length", "16", "--jobs", "1", "--quiet", *extra,
    ]


def records(output_dir: Path) -> list[dict]:
    return [json.loads(path.read_text()) for path in sorted((output_dir / "runs").glob("*.json"))]


def count_training(monkeypatch) -> list:
    from tripleentropy.training import api

    calls, real = [], api.train_model

    def counting(config, *args, **kwargs):
        calls.append((config.loss, config.seed))
        return real(config, *args, **kwargs)

    monkeypatch.setattr(api, "train_model", counting)
    return calls


def test_paired_runs_summary_report_and_plots(files, tiny_bert, tmp_path, capsys):
    output = tmp_path / "out"
    assert main(compare_args(files, tiny_bert, output)) == 0
    assert "report:" in capsys.readouterr().out
    runs = records(output)
    assert len(runs) == 8
    for run in runs:
        assert {"method", "train_size", "seed", "metrics", "config", "data_fingerprint", "seconds"} <= set(run)
        assert 0.0 <= run["metrics"]["accuracy"] <= 1.0
        assert run["eval_examples"] == 20 and run["train_examples"] == run["train_size"]
    by_cell = {}
    for run in runs:
        by_cell.setdefault((run["train_size"], run["seed"]), []).append(run)
    assert len(by_cell) == 4
    for pair in by_cell.values():
        assert sorted(run["method"] for run in pair) == ["ce", "tripleentropy"]
        assert pair[0]["train_fingerprint"] == pair[1]["train_fingerprint"]
        assert pair[0]["eval_fingerprint"] == pair[1]["eval_fingerprint"]
    # different seeds draw different training samples
    assert by_cell[(8, 0)][0]["train_fingerprint"] != by_cell[(8, 1)][0]["train_fingerprint"]

    summary = json.loads((output / "summary.json").read_text())
    assert [c["n_pairs"] for c in summary["comparisons"]] == [2, 2]
    assert {(r["train_size"], r["method"]) for r in summary["results"]} == {
        (8, "ce"), (8, "tripleentropy"), (16, "ce"), (16, "tripleentropy")}
    ce8 = [r["metrics"]["accuracy"] for r in runs if r["method"] == "ce" and r["train_size"] == 8]
    mean8 = next(r for r in summary["results"] if r["train_size"] == 8 and r["method"] == "ce")["mean"]
    assert mean8 == pytest.approx(100 * sum(ce8) / 2)
    report = (output / "report.md").read_text()
    assert "paired t-test" in report and "accuracy.png" in report
    assert (output / "accuracy.png").stat().st_size > 0 and (output / "differences.png").stat().st_size > 0


def test_per_class_sizes_sample_n_of_every_class_for_every_method(files, tiny_bert, tmp_path):
    output = tmp_path / "out"
    args = compare_args(files, tiny_bert, output, "--losses", "ce,logreg", "--train-sizes", "3/class,8", "--seeds", "2")
    assert main(args) == 0
    runs = records(output)
    per_class = [run for run in runs if run["train_size"] == "3/class"]
    assert len(per_class) == 4 and all(run["train_examples"] == 6 for run in per_class)
    by_seed = {}
    for run in per_class:
        by_seed.setdefault(run["seed"], set()).add(run["train_fingerprint"])
    assert all(len(prints) == 1 for prints in by_seed.values()) and by_seed[0] != by_seed[1]
    summary = json.loads((output / "summary.json").read_text())
    assert summary["train_sizes"] == [8, "3/class"]
    assert [c["train_size"] for c in summary["comparisons"]] == [8, "3/class"]
    assert "| 3/class |" in (output / "report.md").read_text()
    # The same command again trains nothing: the per-class runs are found under their keys.
    assert main(args) == 0 and len(records(output)) == 8


def test_rerun_reuses_finished_runs_and_changed_settings_do_not(files, tiny_bert, tmp_path, monkeypatch):
    output = tmp_path / "out"
    calls = count_training(monkeypatch)
    assert main(compare_args(files, tiny_bert, output)) == 0
    assert len(calls) == 8
    assert main(compare_args(files, tiny_bert, output)) == 0
    assert len(calls) == 8  # nothing redone
    assert main(compare_args(files, tiny_bert, output, "--beta", "tripleentropy=0.6")) == 0
    assert sorted(calls[8:]) == [("tripleentropy", 0)] * 2 + [("tripleentropy", 1)] * 2  # ce runs reused
    assert main(compare_args(files, tiny_bert, output, "--lr", "3e-4")) == 0
    assert len(calls) == 20  # a shared setting changes every run
    summary = json.loads((output / "summary.json").read_text())
    assert summary["n_runs"] == 8


def test_killed_and_restarted_gives_the_same_summary(files, tiny_bert, tmp_path):
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    command = [sys.executable, "-m", "tripleentropy"]
    killed = tmp_path / "killed"
    process = subprocess.Popen(command + compare_args(files, tiny_bert, killed), env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and len(list((killed / "runs").glob("*.json"))) < 3 and process.poll() is None:
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    done_before = len(list((killed / "runs").glob("*.json")))
    assert 0 < done_before < 8, "the kill should land mid-grid"
    subprocess.run(command + compare_args(files, tiny_bert, killed), env=env, check=True, capture_output=True)
    straight = tmp_path / "straight"
    subprocess.run(command + compare_args(files, tiny_bert, straight), env=env, check=True, capture_output=True)

    def stable(folder):  # everything but the time each run took
        summary = json.loads((folder / "summary.json").read_text())
        results = [{k: v for k, v in entry.items() if not k.endswith("seconds_mean")} for entry in summary["results"]]
        return results, summary["comparisons"]

    assert stable(killed) == stable(straight)
    assert len(records(killed)) == 8


def test_worker_processes_give_the_runs_of_one_process(files, tiny_bert, tmp_path):
    assert main(compare_args(files, tiny_bert, tmp_path / "one")) == 0
    assert main(compare_args(files, tiny_bert, tmp_path / "two", "--jobs", "2")) == 0
    result_keys = ("key", "method", "train_size", "seed", "metrics", "config", "train_fingerprint", "eval_fingerprint")
    one, two = records(tmp_path / "one"), records(tmp_path / "two")
    assert [{k: run[k] for k in result_keys} for run in one] == [{k: run[k] for k in result_keys} for run in two]
    assert "2 worker processes of 1 thread" in (tmp_path / "two" / "report.md").read_text()


def test_without_test_file_runs_use_cross_validation_folds(files, tiny_bert, tmp_path):
    train, _ = files
    output = tmp_path / "cv"
    args = ["compare", "--train", str(train), "--output-dir", str(output), "--model", str(tiny_bert),
            "--train-sizes", "8", "--seeds", "3", "--folds", "3", "--epochs", "1", "--min-steps", "0", "--batch-size", "8", "--quiet"]
    assert main(args) == 0
    runs = records(output)
    assert sorted({run["fold"] for run in runs}) == [0, 1, 2]
    assert all(run["eval_examples"] == 16 for run in runs)  # 48 examples in 3 folds


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--losses", "tripleentropy"], "--methods needs the baseline and at least one other method"),
        (["--losses", "ce,foo"], "unknown method 'foo'"),
        (["--train-sizes", "0"], "training size must be a positive integer"),
        (["--train-sizes", "500"], "fewer than --train-sizes 500"),
        (["--beta", "supcon=0.5"], "'supcon' is not one of --methods ce,tripleentropy; add it to --methods"),
        (["--train-sizes", "1,8"], "a training sample of one example holds a single class"),
        (["--train-sizes", "8,25/class"], "has only 24 examples of the class 'negative' in its training data; use at most 24/class"),
        (["--train-sizes", "0/class"], "a per-class size needs at least 1 example of each class"),
        (["--lr", "fast"], "--lr: 'fast' is not a valid float"),
        (["--seeds", "0"], "--seeds must be at least 1"),
        (["--jobs", "0"], "expected a positive number of workers or 'auto', got '0'"),
        (["--jobs", "many"], "expected a positive number of workers or 'auto', got 'many'"),
    ],
)
def test_bad_flags_exit_2_with_a_message(files, tiny_bert, tmp_path, capsys, extra, message):
    assert main(compare_args(files, tiny_bert, tmp_path / "bad") + extra) == 2
    error = capsys.readouterr().err
    assert message in error and "Traceback" not in error
    assert not (tmp_path / "bad" / "runs").exists() or not list((tmp_path / "bad" / "runs").iterdir())


def test_output_directory_is_checked_before_any_work(files, tiny_bert, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("tripleentropy.experiments.compare.design_from_files",
                        lambda *args, **kwargs: pytest.fail("the data was read before the output was checked"))
    (tmp_path / "afile").write_text("not a folder\n")
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    (model_dir / "config.json").write_text("{}")
    (tmp_path / "training" / "checkpoint-5").mkdir(parents=True)
    for output, message in [
        (tmp_path / "afile" / "cmp", f"{tmp_path / 'afile'} is a file, not a directory"),
        (model_dir, "holds a trained model"),
        (tmp_path / "training", "holds a trained model"),
    ]:
        assert main(compare_args(files, tiny_bert, output)) == 2
        error = capsys.readouterr().err
        assert message in error and error.count("\n") == 1, error
    assert sorted(path.name for path in model_dir.iterdir()) == ["config.json"]
    assert main(["reproduce", "--preset", "smoke", "--output-dir", str(model_dir)]) == 2
    assert "holds a trained model" in capsys.readouterr().err


def test_compare_and_reproduce_do_not_overwrite_each_others_summary(files, tiny_bert, tmp_path, capsys):
    reproduced = tmp_path / "reproduced"
    reproduced.mkdir()
    (reproduced / "summary.json").write_text('{"preset": "smoke"}\n')
    compared = tmp_path / "compared"
    (compared / "runs").mkdir(parents=True)
    (compared / "summary.json").write_text('{"results": []}\n')
    assert main(compare_args(files, tiny_bert, reproduced)) == 2
    assert "holds the results of `reproduce --preset smoke`" in capsys.readouterr().err
    assert main(["reproduce", "--preset", "smoke", "--output-dir", str(compared)]) == 2
    assert "holds the runs of a `compare`" in capsys.readouterr().err
    assert (reproduced / "summary.json").read_text() == '{"preset": "smoke"}\n'
    assert (compared / "summary.json").read_text() == '{"results": []}\n'


def test_reproduce_paper_preset_fails_cleanly_offline(tmp_path):
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    started = time.time()
    result = subprocess.run([sys.executable, "-m", "tripleentropy", "reproduce", "--preset", "paper",
                             "--output-dir", str(tmp_path / "paper")], env=env, capture_output=True, text=True)
    assert result.returncode == 2
    assert "roberta-base" in result.stderr and "HF_HUB_OFFLINE" in result.stderr and "Traceback" not in result.stderr
    assert "--preset quick" in result.stderr
    assert "--model" not in result.stderr  # reproduce has no such flag
    assert time.time() - started < 60


def test_reproduce_seeds_replace_the_presets_own_number(tmp_path, capsys):
    from tripleentropy.experiments.cli import validate_reproduce

    argv = ["reproduce", "--preset", "smoke", "--output-dir", str(tmp_path / "smoke")]
    assert validate_reproduce(build_parser().parse_args(argv)).seeds == 2
    assert validate_reproduce(build_parser().parse_args([*argv, "--seeds", "7"])).seeds == 7
    assert main([*argv, "--seeds", "0"]) == 2
    assert "--seeds must be at least 1, got 0" in capsys.readouterr().err and not (tmp_path / "smoke").exists()


def test_reproduce_train_sizes_picks_some_of_the_presets_sizes(tmp_path, capsys):
    from tripleentropy.experiments.cli import validate_reproduce

    argv = ["reproduce", "--preset", "fewshot", "--output-dir", str(tmp_path / "fewshot")]
    assert validate_reproduce(build_parser().parse_args(argv)).run_sizes is None
    assert validate_reproduce(build_parser().parse_args([*argv, "--train-sizes", " 64 ,16"])).run_sizes == [64, 16]
    assert main([*argv, "--train-sizes", "16,20"]) == 2
    error = capsys.readouterr().err
    assert "--train-sizes: 20 not in the fewshot preset (16, 64)" in error and "Traceback" not in error
    assert not (tmp_path / "fewshot").exists()


def test_run_sizes_train_only_those_and_the_report_covers_the_whole_grid(files, tiny_bert, tmp_path, monkeypatch):
    from tripleentropy.errors import UserError
    from tripleentropy.experiments.compare import design_from_files, run_comparison
    from tripleentropy.training.config import TrainConfig

    calls = count_training(monkeypatch)
    design = design_from_files(str(files[0]), str(files[1]), {}, None, None)
    configs = {loss: TrainConfig(model=str(tiny_bert), loss=loss, epochs=1, min_steps=0, batch_size=8, max_length=16).validate()
               for loss in ("ce", "tripleentropy")}
    output = tmp_path / "grid"

    def grid(run_sizes):
        return run_comparison(design, configs, ["ce", "tripleentropy"], [8, 16], [0], str(output), title="t",
                              progress=False, run_sizes=run_sizes)

    result = grid([16])
    assert len(calls) == 2 and {record["train_size"] for record in result.records} == {16}
    assert "2 of the grid's 4 runs are stored" in (output / "report.md").read_text()
    result = grid(["8"])
    assert len(calls) == 4 and sorted(record["train_size"] for record in result.records) == [8, 8, 16, 16]
    assert "runs are stored" not in (output / "report.md").read_text()
    with pytest.raises(UserError, match="training size 32 is not one of the grid's"):
        grid([32])
    assert len(calls) == 4


def test_without_waiting_the_runs_another_process_holds_are_counted_and_left_for_later(files, tiny_bert, tmp_path):
    from tripleentropy.experiments import RunStore
    from tripleentropy.experiments.compare import design_from_files, run_comparison
    from tripleentropy.training.config import TrainConfig

    design = design_from_files(str(files[0]), str(files[1]), {}, None, None)
    configs = {loss: TrainConfig(model=str(tiny_bert), loss=loss, epochs=1, min_steps=0, batch_size=8, max_length=16).validate()
               for loss in ("ce", "tripleentropy")}

    def grid(output, wait_for_others=True, earlier=None):
        return run_comparison(design, configs, ["ce", "tripleentropy"], [8], [0], str(output), title="t",
                              progress=False, wait_for_others=wait_for_others, earlier=earlier)

    key = grid(tmp_path / "first").records[0]["key"]  # the keys do not depend on the folder
    other = RunStore(tmp_path / "shared")
    assert other.claim(key)
    result = grid(tmp_path / "shared", wait_for_others=False)
    assert result.held_elsewhere == 1 and [record["key"] for record in result.records] != [key]
    assert len(result.records) == 1 and "1 of the grid's 2 runs are stored" in (tmp_path / "shared" / "report.md").read_text()
    assert result.trained == 1
    other.release(key)
    again = grid(tmp_path / "shared", wait_for_others=False, earlier=result)
    assert again.held_elsewhere == 0 and len(again.records) == 2
    # The report counts the runs both calls trained, and their time.
    assert again.trained == 2 and again.seconds > result.seconds
    assert "(2 runs trained, 0 reused)" in (tmp_path / "shared" / "report.md").read_text()


def test_reproduce_comes_back_to_the_tasks_whose_runs_other_processes_held(tmp_path, monkeypatch, capsys):
    from tripleentropy.experiments import compare, reproduce

    calls = []

    def run_comparison(design, *args, wait_for_others=True, earlier=None, **kwargs):
        calls.append((design, wait_for_others))
        assert earlier is (first_pass[design] if wait_for_others else None)  # the second pass continues the first
        held = int(design == "CR" and not wait_for_others)
        result = compare.CompareResult([], {"task": design}, "report.md", 0.0, 1, held_elsewhere=held)
        first_pass.setdefault(design, result)
        return result

    first_pass = {}

    monkeypatch.setattr(compare, "design_from_task", lambda task, *args: task)
    monkeypatch.setattr(compare, "run_comparison", run_comparison)
    monkeypatch.setattr("tripleentropy.modeling.load_pretrained", lambda model: None)
    monkeypatch.setattr("tripleentropy.experiments.report.format_summary_table", lambda summary: f"table of {summary['task']}")
    monkeypatch.setattr(reproduce, "write_overall_report", lambda preset, summaries, records, *args: str(summaries))
    assert main(["reproduce", "--preset", "smoke", "--output-dir", str(tmp_path / "r"), "--quiet"]) == 0
    assert calls == [("CR", False), ("TREC", False), ("CR", True)]
    err = capsys.readouterr()
    assert err.err.index("table of TREC") < err.err.index("table of CR") and err.err.count("table of CR") == 1
    assert "{'CR': {'task': 'CR'}, 'TREC': {'task': 'TREC'}}" in err.out  # every task, in the preset's order


@pytest.mark.e2e
def test_reproduce_smoke_preset_on_the_bundled_model(tmp_path):
    from tripleentropy.data import resolve_data_dir, tasks

    if not all(tasks.task_is_present(tasks.get_task(name), resolve_data_dir()) for name in ("CR", "TREC")):
        pytest.skip("SentEval data not found (set TRIPLEENTROPY_DATA)")
    output = tmp_path / "smoke"
    assert main(["reproduce", "--preset", "smoke", "--output-dir", str(output), "--quiet"]) == 0
    summary = json.loads((output / "summary.json").read_text())
    assert set(summary["tasks"]) == {"CR", "TREC"}
    assert summary["pooled"][0]["n_pairs"] == 4
    for task in ("CR", "TREC"):
        assert len(list((output / task / "runs").glob("*.json"))) == 4
    assert "beside the paper" in (output / "report.md").read_text()
    # --report-only rewrites the reports from the stored runs, training nothing.
    assert main(["reproduce", "--preset", "smoke", "--output-dir", str(output), "--quiet", "--report-only"]) == 0
    assert json.loads((output / "summary.json").read_text())["pooled"] == summary["pooled"]


def test_reproduce_report_only_trains_and_loads_nothing(tmp_path, monkeypatch):
    from tripleentropy.data import resolve_data_dir, tasks

    if not all(tasks.task_is_present(tasks.get_task(name), resolve_data_dir()) for name in ("CR", "TREC")):
        pytest.skip("SentEval data not found (set TRIPLEENTROPY_DATA)")
    monkeypatch.setattr("tripleentropy.modeling.load_pretrained", lambda *a, **k: pytest.fail("model loaded"))
    output = tmp_path / "smoke"
    assert main(["reproduce", "--preset", "smoke", "--output-dir", str(output), "--quiet", "--report-only"]) == 0
    assert not list((output / "CR" / "runs").glob("*.json"))
    assert "0 of the grid's 4 runs are stored" in (output / "CR" / "report.md").read_text()


def spy_training(monkeypatch) -> list:
    """(loss, lr, max_length, longest training input in tokens) of every run trained."""
    from tripleentropy.training import api

    seen, real = [], api.train_model

    def spy(config, train, *args, **kwargs):
        seen.append((config.loss, config.lr, config.max_length, max(train.lengths)))
        return real(config, train, *args, **kwargs)

    monkeypatch.setattr(api, "train_model", spy)
    return seen


def test_each_loss_is_keyed_and_recorded_with_its_own_settings(files, tiny_bert, tmp_path, monkeypatch):
    output = tmp_path / "out"
    seen = spy_training(monkeypatch)
    small = ["--train-sizes", "8", "--seeds", "1"]
    per_loss = ["--lr", "ce=5e-5,tripleentropy=1e-4", "--max-length", "ce=16,tripleentropy=6"]
    assert main(compare_args(files, tiny_bert, output, *small, *per_loss)) == 0
    runs = {run["method"]: run for run in records(output)}
    assert (runs["ce"]["config"]["lr"], runs["ce"]["config"]["max_length"]) == (5e-5, 16)
    assert (runs["tripleentropy"]["config"]["lr"], runs["tripleentropy"]["config"]["max_length"]) == (1e-4, 6)
    trained = {loss: rest for loss, *rest in seen}
    assert trained["ce"][:2] == [5e-5, 16] and trained["tripleentropy"][:2] == [1e-4, 6]
    assert trained["tripleentropy"][2] <= 6 < trained["ce"][2]  # each loss tokenised with its own max length
    # Only tripleentropy's learning rate changes: only its run is redone, and recorded with the new value.
    assert main(compare_args(files, tiny_bert, output, *small, "--lr", "ce=5e-5,tripleentropy=2e-4",
                             "--max-length", "ce=16,tripleentropy=6")) == 0
    assert [(loss, lr) for loss, lr, *_ in seen[2:]] == [("tripleentropy", 2e-4)]
    assert sorted(run["config"]["lr"] for run in records(output) if run["method"] == "tripleentropy") == [1e-4, 2e-4]


def test_a_local_model_is_keyed_by_its_content(files, tmp_path, monkeypatch):
    import shutil

    from tests.tiny_models import make_tiny_bert

    model = make_tiny_bert(tmp_path / "model", seed=1)
    calls = count_training(monkeypatch)

    def run(path) -> int:
        return main(compare_args(files, path, tmp_path / "out", "--train-sizes", "8", "--seeds", "1"))

    assert run(model) == 0 and len(calls) == 2
    assert run(model) == 0 and len(calls) == 2  # the same weights: the runs are reused
    make_tiny_bert(model, seed=2)  # retrained in place: new weights under the same path
    assert run(model) == 0 and len(calls) == 4
    shutil.copytree(model, tmp_path / "copy")
    assert run(tmp_path / "copy") == 0 and len(calls) == 4  # the same content elsewhere: reused
    assert all(run["model_fingerprint"].startswith("sha256:") for run in records(tmp_path / "out"))


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--folds", "3"], "--folds splits --train when there is no --test file"),
        (["--folds", "3", "--no-test", "--train-sizes", "40"], "hold only 32 of the 48 examples"),
    ],
)
def test_settings_that_cannot_apply_stop_before_any_training(files, tiny_bert, tmp_path, monkeypatch, capsys, extra, message):
    calls = count_training(monkeypatch)
    args = compare_args(files, tiny_bert, tmp_path / "bad", *[flag for flag in extra if flag != "--no-test"])
    if "--no-test" in extra:
        at = args.index("--test")
        del args[at:at + 2]
    assert main(args) == 2
    error = capsys.readouterr().err
    assert message in error and "Traceback" not in error
    assert calls == []


def test_early_stopping_in_a_compare_config_file_is_refused(files, tiny_bert, tmp_path, monkeypatch, capsys):
    calls = count_training(monkeypatch)
    config = tmp_path / "run.yaml"
    config.write_text("early_stopping_patience: 2\n")
    assert main(compare_args(files, tiny_bert, tmp_path / "bad", "--config", str(config))) == 2
    assert "no validation data to stop early on" in capsys.readouterr().err and calls == []


def test_folds_on_a_task_with_a_test_split_are_refused(tmp_path, capsys):
    from tripleentropy.data import resolve_data_dir, tasks

    if not tasks.task_is_present(tasks.get_task("TREC"), resolve_data_dir()):
        pytest.skip("SentEval data not found (set TRIPLEENTROPY_DATA)")
    assert main(["compare", "--task", "TREC", "--folds", "5", "--output-dir", str(tmp_path / "out"), "--quiet"]) == 2
    assert "TREC is evaluated on its test split" in capsys.readouterr().err
