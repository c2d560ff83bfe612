"""The train, evaluate and predict commands, resuming after SIGKILL, and two processes."""

import io
import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch
from safetensors.torch import load_file
from transformers import pipeline

from tests.tiny_models import pairs, sentences, write_csv
from tripleentropy.cli import main

LABELS = ["neg", "pos"]
FAST = ["--recipe", "classic", "--epochs", "5", "--lr", "5e-3", "--batch-size", "8", "--warmup-steps", "2", "--logging-steps", "4"]


def _run(*argv, timeout=120, **kwargs):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    return subprocess.run(
        [sys.executable, "-m", "tripleentropy", *argv], capture_output=True, text=True, timeout=timeout, env=env, **kwargs
    )


def test_train_evaluate_predict(tiny_bert, tmp_path, capsys, monkeypatch):
    train = write_csv(tmp_path / "train.csv", sentences(96), LABELS)
    valid = write_csv(tmp_path / "valid.csv", sentences(48, seed=1), LABELS)
    out = tmp_path / "model"
    assert main(["train", "--model", str(tiny_bert), "--train", str(train), "--validation", str(valid),
                 "--output-dir", str(out), *FAST]) == 0
    assert "accuracy" in capsys.readouterr().out
    for name in ("config.json", "model.safetensors", "tripleentropy_loss.safetensors", "tripleentropy_loss.json",
                 "run_config.json", "metrics.json", "tokenizer.json"):
        assert (out / name).is_file(), name
    run_config = json.loads((out / "run_config.json").read_text())
    assert run_config["config"]["lr"] == 5e-3 and run_config["label_names"] == LABELS

    assert main(["evaluate", "--model-dir", str(out), "--data", str(valid), "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert metrics["num_examples"] == 48 and metrics["accuracy"] >= 0.8
    assert set(metrics["per_class_f1"]) == set(LABELS) and 0 <= metrics["macro_f1"] <= 1
    assert metrics["accuracy"] == json.loads((out / "metrics.json").read_text())["validation"]["accuracy"]

    # predict: a CSV (its label column ignored), a .txt file and standard input agree with pipeline().
    texts = [example.text for example in sentences(6, seed=5)]
    (tmp_path / "input.txt").write_text("\n".join(texts) + "\n")
    assert main(["predict", "--model-dir", str(out), "--input", str(valid), "--output", str(tmp_path / "p.jsonl")]) == 0
    assert len((tmp_path / "p.jsonl").read_text().splitlines()) == 48
    assert main(["predict", "--model-dir", str(out), "--input", str(tmp_path / "input.txt")]) == 0
    from_file = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    monkeypatch.setattr("sys.stdin", io.StringIO("\n".join(texts)))
    assert main(["predict", "--model-dir", str(out), "--input", "-"]) == 0
    from_stdin = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    expected = pipeline("text-classification", model=str(out), device="cpu")(texts)
    assert [r["text"] for r in from_file] == texts
    for ours, theirs, stdin in zip(from_file, expected, from_stdin):
        assert ours["label"] == theirs["label"] == stdin["label"]
        assert ours["score"] == pytest.approx(theirs["score"], abs=1e-5)


def test_evaluate_shows_macro_f1_and_the_majority_rate_beside_accuracy(tiny_bert, tmp_path, capsys):
    examples = sentences(24, seed=1)
    # 9 of the 12 held-out examples are negative: always predicting "neg" scores 75%.
    held_out = [e for e in examples if e.label == 0][:9] + [e for e in examples if e.label == 1][:3]
    data = write_csv(tmp_path / "held_out.csv", held_out, LABELS)
    out = tmp_path / "model"
    assert main(["train", "--model", str(tiny_bert), "--train", str(write_csv(tmp_path / "train.csv", sentences(16), LABELS)),
                 "--output-dir", str(out), "--epochs", "1", "--min-steps", "0", "--batch-size", "8"]) == 0
    capsys.readouterr()
    assert main(["evaluate", "--model-dir", str(out), "--data", str(data), "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert metrics["majority_rate"] == 0.75 and 0 <= metrics["macro_f1"] <= 1
    assert main(["evaluate", "--model-dir", str(out), "--data", str(data)]) == 0
    lines = capsys.readouterr().out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip().startswith("accuracy"))
    assert lines[start + 1].split()[:2] == ["majority", "75.00%"]
    assert f"macro F1  {100 * metrics['macro_f1']:.2f}" in "\n".join(lines)


def test_clear_errors(tiny_bert, tmp_path, capsys):
    train = write_csv(tmp_path / "train.csv", sentences(8), LABELS)
    assert main(["train", "--model", str(tmp_path / "nothing"), "--train", str(train), "--output-dir", "o"]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["evaluate", "--model-dir", str(tmp_path / "none"), "--data", str(train)]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["train", "--model", str(tiny_bert), "--output-dir", str(tmp_path / "o")]) == 2
    assert "--task NAME or --train FILE" in capsys.readouterr().err
    assert main(["train", "--model", str(tiny_bert), "--train", str(train), "--output-dir", "o", "--lr", "-1"]) == 2
    assert "lr must be" in capsys.readouterr().err
    # A hub id while offline fails fast, in a fresh process, with advice.
    started = time.perf_counter()
    result = _run("train", "--model", "nobody/nothing", "--train", str(train), "--output-dir", str(tmp_path / "o"))
    assert result.returncode == 2 and "local model directory" in result.stderr
    assert time.perf_counter() - started < 20


def test_predict_input_that_is_not_utf8_stops_with_its_line(tiny_bert, tmp_path):
    model = tmp_path / "model"
    assert main(["train", "--model", str(tiny_bert), "--train", str(write_csv(tmp_path / "t.csv", sentences(8), LABELS)),
                 "--output-dir", str(model), "--max-steps", "1", "--batch-size", "8"]) == 0
    latin1 = "a fine film\nun caf\u00e9 sans go\u00fbt\n".encode("latin-1")
    (tmp_path / "input.txt").write_bytes(latin1)
    output = tmp_path / "predictions.jsonl"
    for argv, stdin, where in (
        (["--input", str(tmp_path / "input.txt"), "--output", str(output)], None, f"{tmp_path / 'input.txt'}, line 2"),
        (["--input", "-"], latin1, "standard input, line 2"),
    ):
        result = subprocess.run([sys.executable, "-m", "tripleentropy", "predict", "--model-dir", str(model), *argv],
                                input=stdin, capture_output=True, timeout=120,
                                env={**os.environ, "HF_HUB_OFFLINE": "1"})
        error = result.stderr.decode()
        assert result.returncode == 2 and f"{where}: not valid UTF-8 (byte 0xe9)" in error, error
        assert "Traceback" not in error and not output.exists()


def test_predict_that_fails_midway_leaves_the_old_output_whole(tiny_bert, tmp_path, monkeypatch):
    import tripleentropy.training.cli as training_cli

    model = tmp_path / "model"
    assert main(["train", "--model", str(tiny_bert), "--train", str(write_csv(tmp_path / "t.csv", sentences(8), LABELS)),
                 "--output-dir", str(model), "--max-steps", "1", "--batch-size", "8"]) == 0
    (tmp_path / "input.txt").write_text("a fine film\na dull film\nan odd film\n")
    output = tmp_path / "predictions.jsonl"
    output.write_text("yesterday's predictions\n")

    class FailsOnTheSecondRecord:
        calls = 0

        def __getattr__(self, name):
            return getattr(json, name)

        def dumps(self, *args, **kwargs):
            type(self).calls += 1
            if self.calls == 2:
                raise KeyboardInterrupt
            return json.dumps(*args, **kwargs)

    monkeypatch.setattr(training_cli, "json", FailsOnTheSecondRecord())
    # Ctrl-C while the predictions are being written
    assert main(["predict", "--model-dir", str(model), "--input", str(tmp_path / "input.txt"), "--output", str(output)]) == 130
    assert output.read_text() == "yesterday's predictions\n"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["input.txt", "model", "predictions.jsonl", "t.csv"]

    monkeypatch.undo()
    assert main(["predict", "--model-dir", str(model), "--input", str(tmp_path / "input.txt"), "--output", str(output)]) == 0
    assert [json.loads(line)["text"] for line in output.read_text().splitlines()] == ["a fine film", "a dull film", "an odd film"]


def test_resume_after_sigkill_matches_an_uninterrupted_run(tiny_bert, tmp_path):
    train = write_csv(tmp_path / "train.csv", sentences(96), LABELS)
    valid = write_csv(tmp_path / "valid.csv", sentences(48, seed=1), LABELS)
    common = ["train", "--model", str(tiny_bert), "--train", str(train), "--validation", str(valid),
              *FAST, "--save-steps", "5", "--seed", "3"]
    whole = _run(*common, "--output-dir", str(tmp_path / "whole"))
    assert whole.returncode == 0, whole.stderr

    killed_dir = tmp_path / "killed"
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    process = subprocess.Popen([sys.executable, "-m", "tripleentropy", *common, "--output-dir", str(killed_dir)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    deadline = time.time() + 90
    while not (killed_dir / "checkpoint-15" / "trainer_state.json").exists():
        assert process.poll() is None, "training ended before it could be killed"
        assert time.time() < deadline
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not (killed_dir / "metrics.json").exists()
    resumed = _run(*common, "--output-dir", str(killed_dir), "--resume")
    assert resumed.returncode == 0, resumed.stderr
    expected = json.loads((tmp_path / "whole" / "metrics.json").read_text())["validation"]
    assert json.loads((killed_dir / "metrics.json").read_text())["validation"] == expected
    torch.testing.assert_close(
        load_file(killed_dir / "tripleentropy_loss.safetensors")["centers"],
        load_file(tmp_path / "whole" / "tripleentropy_loss.safetensors")["centers"],
    )


DUMP_CENTERS = """
import os, sys
import torch
import tripleentropy.training.api as api
from tripleentropy.cli import main

train_model = api.train_model

def train_and_dump(*args, **kwargs):
    result = train_model(*args, **kwargs)
    os.makedirs({dump!r}, exist_ok=True)
    torch.save(result.model.centers.detach().cpu(), os.path.join({dump!r}, "rank" + os.environ["RANK"] + ".pt"))
    return result

api.train_model = train_and_dump
sys.exit(main(sys.argv[1:]))
"""


def test_two_processes_match_one_process_on_the_same_global_batches(tiny_bert_no_dropout, tmp_path):
    # Equal-length sentences: the per-process token means average to the global one.
    train = write_csv(tmp_path / "train.csv", sentences(64, words=6), LABELS)
    common = ["--model", str(tiny_bert_no_dropout), "--train", str(train), "--epochs", "2", "--min-steps", "0", "--lr", "5e-3",
              "--warmup-steps", "2", "--no-group-by-length", "--seed", "1"]
    # The command line of `python -m tripleentropy`, with each rank's final centers dumped.
    launcher = tmp_path / "train_and_dump.py"
    launcher.write_text(DUMP_CENTERS.format(dump=str(tmp_path / "centers")))
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    two = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
         str(launcher), "train", *common, "--batch-size", "8", "--output-dir", str(tmp_path / "two")],
        capture_output=True, text=True, timeout=180, env=env,
    )
    assert two.returncode == 0, two.stderr[-3000:]
    one = _run("train", *common, "--batch-size", "16", "--output-dir", str(tmp_path / "one"))
    assert one.returncode == 0, one.stderr
    rank0 = torch.load(tmp_path / "centers" / "rank0.pt")
    rank1 = torch.load(tmp_path / "centers" / "rank1.pt")
    assert torch.equal(rank0, rank1)
    single = load_file(tmp_path / "one" / "tripleentropy_loss.safetensors")["centers"]
    torch.testing.assert_close(rank0, single, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(load_file(tmp_path / "two" / "tripleentropy_loss.safetensors")["centers"], rank0)


def test_sentence_pair_files(tiny_roberta, tmp_path, capsys):
    path = tmp_path / "pairs.jsonl"
    path.write_text("".join(json.dumps({"a": e.text, "b": e.text_pair, "y": LABELS[e.label]}) + "\n" for e in pairs(32)))
    columns = ["--text-column", "a", "--text-pair-column", "b", "--label-column", "y"]
    out = tmp_path / "model"
    assert main(["train", "--model", str(tiny_roberta), "--train", str(path), "--output-dir", str(out),
                 "--epochs", "1", "--min-steps", "0", "--batch-size", "8", *columns]) == 0
    capsys.readouterr()
    assert main(["predict", "--model-dir", str(out), "--input", str(path), *columns]) == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(records) == 32 and records[0]["text_pair"] == pairs(32)[0].text_pair
    assert {record["label"] for record in records} <= set(LABELS)


def test_early_stopping_without_validation_data_stops_before_training(tiny_bert, tmp_path, capsys):
    train = write_csv(tmp_path / "train.csv", sentences(8), LABELS)
    output = tmp_path / "o"
    args = ["train", "--model", str(tiny_bert), "--train", str(train), "--output-dir", str(output),
            "--early-stopping-patience", "2", "--epochs", "1", "--min-steps", "0"]
    assert main(args) == 2
    error = capsys.readouterr().err
    assert "--early-stopping-patience needs validation data" in error and "--validation FILE" in error
    assert not output.exists()  # nothing trained, nothing written


@pytest.fixture
def no_model_loading(monkeypatch):
    """Fails a test that loads a model: its checks must come first."""
    from tripleentropy.training import api

    def refuse(*args, **kwargs):
        raise AssertionError("a model was loaded before the bad input was refused")

    monkeypatch.setattr(api, "load_pretrained", refuse)
    monkeypatch.setattr("tripleentropy.training.cli._load_model", refuse)


def _refused(capsys, argv, message):
    assert main(argv) == 2
    error = capsys.readouterr().err
    assert error.startswith("tripleentropy: error: ") and error.count("\n") == 1, error
    assert message in error
    return error


def test_output_locations_are_checked_before_any_work(tiny_bert, tmp_path, capsys, no_model_loading):
    train = write_csv(tmp_path / "train.csv", sentences(8), LABELS)
    (tmp_path / "afile").write_text("not a folder\n")
    model = ["--model", str(tiny_bert), "--train", str(train)]
    _refused(capsys, ["train", *model, "--output-dir", str(tmp_path / "afile" / "run")],
             f"--output-dir {tmp_path / 'afile' / 'run'}: {tmp_path / 'afile'} is a file, not a directory")
    _refused(capsys, ["train", *model, "--output-dir", str(tmp_path / "afile")], "is a file, not a directory")
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    (model_dir / "config.json").write_text("{}")
    _refused(capsys, ["predict", "--model-dir", str(model_dir), "--input", str(train),
                      "--output", str(tmp_path / "afile" / "p.jsonl")], "is a file, not a directory")
    _refused(capsys, ["predict", "--model-dir", str(model_dir), "--input", str(train), "--output", str(tmp_path)],
             "is a directory, not a file")
    _refused(capsys, ["predict", "--model-dir", str(model_dir), "--input", str(tmp_path / "none.txt")],
             "--input")
    _refused(capsys, ["evaluate", "--model-dir", str(tmp_path / "none"), "--data", str(train)], "does not exist")
    assert not (tmp_path / "afile").is_dir()


def test_train_refuses_a_folder_holding_a_comparison(tiny_bert, tmp_path, capsys, no_model_loading):
    from tripleentropy.cli import check_arguments

    train = write_csv(tmp_path / "train.csv", sentences(8), LABELS)
    (tmp_path / "cmp" / "runs").mkdir(parents=True)
    (tmp_path / "cmp" / "runs" / "0123abcd.json").write_text("{}")
    (tmp_path / "summarised").mkdir()
    (tmp_path / "summarised" / "summary.json").write_text("{}")
    for folder in ("cmp", "summarised"):
        before = sorted(path.name for path in (tmp_path / folder).iterdir())
        _refused(capsys, ["train", "--model", str(tiny_bert), "--train", str(train),
                          "--output-dir", str(tmp_path / folder)], "holds a comparison")
        assert sorted(path.name for path in (tmp_path / folder).iterdir()) == before
    # A model trained with --report-to tensorboard keeps its logs in runs/<time>/: not a comparison.
    (tmp_path / "model" / "runs" / "Nov28_15-10-32").mkdir(parents=True)
    (tmp_path / "model" / "runs" / "Nov28_15-10-32" / "events.out.tfevents.1").write_text("")
    (tmp_path / "model" / "config.json").write_text("{}")
    check_arguments(["train", "--model", str(tiny_bert), "--train", str(train), "--output-dir", str(tmp_path / "model")])


def test_report_to_an_integration_that_is_not_installed_is_refused(tiny_bert, tmp_path, capsys, monkeypatch):
    from transformers.integrations import integration_utils

    train = write_csv(tmp_path / "train.csv", sentences(8), LABELS)
    argv = ["train", "--model", str(tiny_bert), "--train", str(train), "--output-dir", str(tmp_path / "o"),
            "--report-to", "tensorboard"]
    with monkeypatch.context() as patched:
        patched.setattr(integration_utils, "get_available_reporting_integrations", lambda: [])
        patched.setattr("tripleentropy.training.api.load_pretrained", lambda *a, **k: pytest.fail("model loaded"))
        _refused(capsys, argv, "pip install tensorboard")
        _refused(capsys, [*argv[:-1], "tensorbored"], "unknown integration 'tensorbored'")
    assert not (tmp_path / "o").exists()
    # Where the integration is installed, the flag passes the checks and reaches the Trainer.
    monkeypatch.setattr(integration_utils, "get_available_reporting_integrations", lambda: ["tensorboard"])
    from tripleentropy.cli import check_arguments

    assert check_arguments(argv).report_to == "tensorboard"


def test_a_training_sample_of_one_class_is_refused(tiny_bert, tmp_path, capsys, no_model_loading):
    train = write_csv(tmp_path / "train.csv", sentences(8), LABELS)
    _refused(capsys, ["train", "--model", str(tiny_bert), "--train", str(train), "--train-size", "1",
                      "--output-dir", str(tmp_path / "o")],
             f"{train}: a training sample of 1 example holds only the class")


def test_mean_pooled_model_trains_evaluates_predicts_and_loads_in_sentence_transformers(tiny_sentence_bert, tmp_path, capsys):
    from sentence_transformers import SentenceTransformer

    train = write_csv(tmp_path / "train.csv", sentences(96), LABELS)
    valid = write_csv(tmp_path / "valid.csv", sentences(48, seed=1), LABELS)
    out = tmp_path / "model"
    # early stopping reloads the best checkpoint (load_weights) of a mean-pooled model
    assert main(["train", "--model", str(tiny_sentence_bert), "--train", str(train), "--validation", str(valid),
                 "--output-dir", str(out), "--pooling", "auto", "--early-stopping-patience", "2", *FAST]) == 0
    capsys.readouterr()
    assert json.loads((out / "tripleentropy_loss.json").read_text())["pooling"] == "mean"
    assert main(["evaluate", "--model-dir", str(out), "--data", str(valid), "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert metrics["accuracy"] == json.loads((out / "metrics.json").read_text())["validation"]["accuracy"] >= 0.8
    texts = [example.text for example in sentences(8, seed=5)]
    (tmp_path / "input.txt").write_text("\n".join(texts) + "\n")
    assert main(["predict", "--model-dir", str(out), "--input", str(tmp_path / "input.txt")]) == 0
    ours = [json.loads(line)["label"] for line in capsys.readouterr().out.splitlines()]
    logits = SentenceTransformer(str(out), device="cpu").encode(texts)
    id2label = json.loads((out / "config.json").read_text())["id2label"]
    assert [id2label[str(index)] for index in logits.argmax(-1)] == ours


def test_unknown_pooling_exits_2(tiny_bert, tmp_path):
    train = write_csv(tmp_path / "train.csv", sentences(8), LABELS)
    result = _run("train", "--model", str(tiny_bert), "--train", str(train), "--output-dir", str(tmp_path / "o"),
                  "--pooling", "max")
    assert result.returncode == 2 and "--pooling" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "o").exists()
