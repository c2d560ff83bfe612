"""Killed with SIGKILL in the middle of a grid and started again, it ends as if never interrupted."""

import json
import os
import runpy
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import tripleentropy
from tripleentropy.experiments import RunStore, run_grid, summarize

GRID_SCRIPT = textwrap.dedent(
    """
    import json, sys, time
    from tripleentropy.experiments import RunStore, make_grid, run_grid

    SPECS = make_grid(["ce", "tripleentropy"], [20, "full"], [0, 1], model="tiny", data_fingerprint="d",
                      settings={"lr": 1e-5})


    def deterministic_result(spec):
        return {"metrics": {"accuracy": (int(spec.key[:6], 16) % 1000) / 1000, "macro_f1": 0.5}}


    if __name__ == "__main__":
        output_dir, calls_log, delay, records_path = sys.argv[1:5]

        def run_fn(spec):
            with open(calls_log, "a") as log:
                log.write(spec.key + "\\n")
            time.sleep(float(delay))
            return deterministic_result(spec)

        records = run_grid(SPECS, RunStore(output_dir), run_fn, progress=False)
        with open(records_path, "w") as file:
            json.dump(records, file)
    """
)


def start(tmp_path: Path, output_dir: Path, name: str, delay: float) -> subprocess.Popen:
    script = tmp_path / "grid.py"
    script.write_text(GRID_SCRIPT)
    source = str(Path(tripleentropy.__file__).parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([source, os.environ.get("PYTHONPATH", "")])}
    return subprocess.Popen([sys.executable, str(script), str(output_dir), str(tmp_path / f"{name}.calls"), str(delay),
                             str(tmp_path / f"{name}.records.json")], env=env)


def calls(tmp_path: Path, name: str) -> list[str]:
    path = tmp_path / f"{name}.calls"
    return path.read_text().split() if path.exists() else []


def stored_keys(runs_dir: Path) -> set[str]:
    return {path.stem for path in runs_dir.glob("*.json")}


@pytest.mark.timeout(60)
def test_sigkill_then_restart_gives_the_uninterrupted_summary_without_redoing_finished_runs(tmp_path):
    output_dir = tmp_path / "study"
    runs_dir = output_dir / "runs"
    # Kill three times, each time as soon as one more run is stored (so mid-run or mid-write of the
    # next one), checking that no restart redoes a stored run.
    for attempt in range(3):
        before = stored_keys(runs_dir)
        process = start(tmp_path, output_dir, f"killed{attempt}", delay=0.05)
        deadline = time.monotonic() + 30
        while len(stored_keys(runs_dir)) <= len(before):
            assert process.poll() is None, "the grid finished before it could be killed"
            assert time.monotonic() < deadline, "no run was stored in time"
            time.sleep(0.005)
        process.send_signal(signal.SIGKILL)
        assert process.wait(timeout=10) == -signal.SIGKILL
        assert not before & set(calls(tmp_path, f"killed{attempt}")), "a stored run was run again"
        assert stored_keys(runs_dir) <= set(calls(tmp_path, f"killed{attempt}")) | before
    finished = stored_keys(runs_dir)
    assert 3 <= len(finished) < 8

    last = start(tmp_path, output_dir, "last", delay=0.0)
    assert last.wait(timeout=30) == 0
    redone = calls(tmp_path, "last")
    assert not finished & set(redone), "a stored run was run again"
    assert sorted(redone) == sorted(set(redone)) and len(redone) == 8 - len(finished)
    assert not list(runs_dir.glob("*.corrupt-*")), "a kill left a partial run file"
    resumed = json.loads((tmp_path / "last.records.json").read_text())

    # The same grid, never interrupted, in this process.
    grid = runpy.run_path(str(tmp_path / "grid.py"))
    clean = run_grid(grid["SPECS"], RunStore(tmp_path / "clean"), grid["deterministic_result"], progress=False)
    def without_times(summary):  # how long each run took is the one thing a rerun changes
        return {**summary, "results": [{k: v for k, v in entry.items() if not k.endswith("seconds_mean")}
                                       for entry in summary["results"]]}

    assert without_times(summarize(resumed)) == without_times(summarize(clean))
    assert [record["metrics"] for record in resumed] == [record["metrics"] for record in clean]
    assert len(RunStore(output_dir).all_records()) == 8


WORKERS_SCRIPT = textwrap.dedent(
    """
    import os, sys, time
    from tripleentropy.experiments import RunStore, make_grid, run_grid

    SPECS = make_grid(["ce", "tripleentropy"], [20], [0, 1], model="tiny", data_fingerprint="d")


    def slow_run(spec):
        with open(os.path.join(sys.argv[2], str(os.getpid())), "w"):
            pass
        time.sleep(120)
        return {"metrics": {"accuracy": 0.5, "macro_f1": 0.5}}


    if __name__ == "__main__":
        run_grid(SPECS, RunStore(sys.argv[1]), slow_run, progress=False, jobs=2)
    """
)


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs; an orphan that exited may stay a zombie where no init reaps it."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads process states from /proc")
@pytest.mark.timeout(60)
@pytest.mark.parametrize("signal_number", [signal.SIGTERM, signal.SIGKILL])
def test_workers_stop_soon_after_the_grid_process_is_killed(tmp_path, signal_number):
    # A killed compare (SIGTERM from a batch scheduler's time limit, or SIGKILL) would otherwise
    # leave its workers training to the end of their runs, whose results nobody stores.
    script, pids = tmp_path / "workers.py", tmp_path / "pids"
    script.write_text(WORKERS_SCRIPT)
    pids.mkdir()
    source = str(Path(tripleentropy.__file__).parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([source, os.environ.get("PYTHONPATH", "")])}
    process = subprocess.Popen([sys.executable, str(script), str(tmp_path / "study"), str(pids)], env=env)
    deadline = time.monotonic() + 40
    while len(list(pids.iterdir())) < 2:
        assert process.poll() is None and time.monotonic() < deadline, "the workers did not start"
        time.sleep(0.05)
    workers = [int(path.name) for path in pids.iterdir()]
    process.send_signal(signal_number)
    process.wait(timeout=10)
    deadline = time.monotonic() + 10
    while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [pid for pid in workers if _alive(pid)], "workers outlived the killed grid process"
