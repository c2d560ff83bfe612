"""The scripts of examples/, run end to end as a user runs them, on a tiny random model and small
made-up CSV files, with the settings that keep them short given the way the scripts take them.
tests/experiments/test_compare_shards.py runs examples/slurm_compare.sh."""

from __future__ import annotations

import json
import os
import runpy
import subprocess
import sys
from pathlib import Path

import pytest

from tests.tiny_models import sentences, write_csv

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"


@pytest.fixture
def user_folder(tmp_path: Path) -> Path:
    """A folder holding train.csv (24 examples) and test.csv (12), text and label columns."""
    write_csv(tmp_path / "train.csv", sentences(24))
    write_csv(tmp_path / "test.csv", sentences(12, seed=1))
    return tmp_path


def run_script(name: str, args: list[str], folder: Path, **settings: str) -> subprocess.CompletedProcess:
    """``bash examples/NAME ARGS`` in ``folder``, where the environment's ``tripleentropy`` is on
    the PATH (as after ``source .venv/bin/activate``), with ``settings`` in the environment."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "OMP_NUM_THREADS": "1", **settings}
    return subprocess.run(["bash", str(EXAMPLES / name), *args], cwd=folder, env=env, capture_output=True,
                          text=True, timeout=300)


def test_your_csv_checks_trains_evaluates_and_predicts(user_folder, tiny_sentence_bert):
    result = run_script("your_csv.sh", ["train.csv", "test.csv"], user_folder, MODEL=str(tiny_sentence_bert),
                        TRAIN_ARGS="--max-steps 2 --batch-size 8")
    assert result.returncode == 0, result.stderr
    assert "train.csv: 24 examples (negative: 12, positive: 12)" in result.stdout  # data check
    assert "test.csv: 12 examples" in result.stdout and "accuracy" in result.stdout  # evaluate
    model = user_folder / "models" / "your-csv"
    assert (model / "config.json").is_file()
    predictions = [json.loads(line) for line in (model / "predictions.jsonl").read_text().splitlines()]
    assert len(predictions) == 12 and {record["label"] for record in predictions} <= {"negative", "positive"}


def test_compare_your_data_reports_the_paired_comparison(user_folder, tiny_sentence_bert):
    result = run_script("compare_your_data.sh", ["train.csv", "test.csv"], user_folder,
                        MODEL=str(tiny_sentence_bert), TRAIN_SIZES="8", SEEDS="1",
                        COMPARE_ARGS="--max-steps 2 --batch-size 8 --jobs 1 --quiet")
    assert result.returncode == 0, result.stderr
    output = user_folder / "runs" / "compare-your-data"
    summary = json.loads((output / "summary.json").read_text())
    assert summary["methods"] == ["ce", "tripleentropy"] and summary["n_runs"] == 2
    assert (output / "report.md").is_file() and "report: runs/compare-your-data/report.md" in result.stdout


@pytest.mark.parametrize("name", ["your_csv.sh", "compare_your_data.sh"])
def test_the_scripts_say_how_to_call_them(name, tmp_path):
    result = run_script(name, [], tmp_path)
    assert result.returncode == 2 and result.stderr.startswith(f"usage: bash examples/{name} ")


def test_the_plain_pytorch_loop_trains_with_the_losses(tiny_sentence_bert, monkeypatch, capsys):
    script = EXAMPLES / "plain_pytorch_loop.py"
    monkeypatch.setattr(sys, "argv", [str(script), "--model", str(tiny_sentence_bert), "--epochs", "2"])
    runpy.run_path(str(script), run_name="__main__")
    output = capsys.readouterr().out
    assert "epoch 2: loss" in output and "SoftTriple" in output
    assert "accuracy on the training sentences" in output


def test_every_example_is_run_by_a_test():
    tested = Path(__file__).read_text() + (ROOT / "tests" / "experiments" / "test_compare_shards.py").read_text()
    assert [path.name for path in sorted(EXAMPLES.iterdir()) if path.name not in tested] == []
