"""``compare --shard I/N`` and ``--report-only``: parts of one grid in separate processes (here through
the Slurm example script, with a stand-in for ``sbatch``) give the summary of one process."""

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

import tripleentropy
from tripleentropy.cli import main

from tests.experiments.test_compare import records
from tests.tiny_models import sentences, write_csv

SCRIPT = Path(__file__).parents[2] / "examples" / "slurm_compare.sh"

# Runs what it is given at once: an array as that many processes side by side, each with its
# SLURM_ARRAY_TASK_ID; a --wrap command after them (the report job depends on the array).
FAKE_SBATCH = """#!/usr/bin/env bash
array=""; wrap=""; script=""
for arg in "$@"; do
    case $arg in
        --array=*) array=${arg#--array=} ;;
        --wrap=*) wrap=${arg#--wrap=} ;;
        --*) ;;
        *) script=$arg ;;
    esac
done
if [[ -n $wrap ]]; then
    bash -c "$wrap" >> "$FAKE_SLURM_LOG" 2>&1 || exit 1
    echo 2; exit 0
fi
pids=()
for ((task=${array%-*}; task<=${array#*-}; task++)); do
    SLURM_ARRAY_TASK_ID=$task bash "$script" >> "$FAKE_SLURM_LOG" 2>&1 &
    pids+=($!)
done
for pid in "${pids[@]}"; do wait "$pid" || exit 1; done
echo 1
"""


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("shard-data")
    return write_csv(folder / "train.csv", sentences(48, seed=0)), write_csv(folder / "test.csv", sentences(20, seed=1))


def grid_args(files, model) -> list[str]:
    train, test = files
    return ["--train", str(train), "--test", str(test), "--model", str(model), "--losses", "ce,tripleentropy",
            "--train-sizes", "8", "--seeds", "2", "--epochs", "1", "--min-steps", "0", "--batch-size", "8", "--max-length", "16",
            "--jobs", "1"]


def stable(folder: Path):  # everything but the time each run took
    summary = json.loads((folder / "summary.json").read_text())
    results = [{k: v for k, v in entry.items() if not k.endswith("seconds_mean")} for entry in summary["results"]]
    return results, summary["comparisons"], summary["n_runs"], summary["notes"]


@pytest.mark.timeout(300)
def test_two_parts_through_the_slurm_script_give_the_summary_of_one_process(files, tiny_bert, tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "sbatch").write_text(FAKE_SBATCH)
    (bin_dir / "sbatch").chmod(0o755)
    source = str(Path(tripleentropy.__file__).parents[1])
    parts = tmp_path / "parts"
    env = {
        **os.environ, "HF_HUB_OFFLINE": "1", "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "PYTHONPATH": os.pathsep.join([source, os.environ.get("PYTHONPATH", "")]),
        "FAKE_SLURM_LOG": str(tmp_path / "slurm.log"), "PARTS": "2", "OUTPUT_DIR": str(parts),
        "COMPARE_ARGS": shlex.join(grid_args(files, tiny_bert)),
        "TRIPLEENTROPY": f"{shlex.quote(sys.executable)} -m tripleentropy",
    }
    result = subprocess.run(["bash", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=280)
    log = (tmp_path / "slurm.log").read_text() if (tmp_path / "slurm.log").exists() else ""
    assert result.returncode == 0, result.stderr + log
    assert "submitted array job 1 (2 parts) and report job 2" in result.stdout

    one = tmp_path / "one"
    assert main(["compare", *grid_args(files, tiny_bert), "--output-dir", str(one), "--quiet"]) == 0
    assert stable(parts) == stable(one)
    keys = [sorted(run["key"] for run in records(folder)) for folder in (parts, one)]
    assert keys[0] == keys[1] and len(keys[1]) == 4
    report = (parts / "report.md").read_text()
    assert "--report-only: 4 stored runs reported" in report


def test_a_part_trains_only_its_cells_and_reports_the_runs_present(files, tiny_bert, tmp_path, monkeypatch):
    from tripleentropy.training import api

    trained, real = [], api.train_model

    def counting(config, *args, **kwargs):
        trained.append(config.seed)
        return real(config, *args, **kwargs)

    monkeypatch.setattr(api, "train_model", counting)
    output = tmp_path / "out"
    assert main(["compare", *grid_args(files, tiny_bert), "--output-dir", str(output), "--quiet", "--shard", "2/2"]) == 0
    assert trained == [1, 1]  # the second cell (seed 1), both losses
    summary = json.loads((output / "summary.json").read_text())
    assert summary["n_runs"] == 2 and "2 of the grid's 4 runs are stored" in summary["notes"][0]
    assert "**Part of the grid**: 2 of 2" in (output / "report.md").read_text()


@pytest.mark.parametrize("extra, message", [
    (["--shard", "3/2"], "--shard: expected I/N with 1 <= I <= N"),
    (["--shard", "0/2"], "--shard: expected I/N with 1 <= I <= N"),
    (["--shard", "half"], "got 'half'"),
    (["--shard", "1/2", "--report-only"], "leave out --shard"),
])
def test_bad_shards_exit_2_before_training(files, tiny_bert, tmp_path, capsys, extra, message):
    assert main(["compare", *grid_args(files, tiny_bert), "--output-dir", str(tmp_path / "bad"), *extra]) == 2
    error = capsys.readouterr().err
    assert message in error and "Traceback" not in error
    assert not (tmp_path / "bad").exists()
