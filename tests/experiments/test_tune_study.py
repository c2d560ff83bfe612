"""A study's budget over processes: exactly ``n_trials`` finished trials after SIGKILL and restart,
and when two processes share one SQLite study. The objective is a cheap stand-in for training."""

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import tripleentropy
from tripleentropy.experiments.tune import TuneOptions, create_study, open_storage, run_trials

STUDY_SCRIPT = textwrap.dedent(
    """
    import os, sys, time
    from tripleentropy.experiments.tune import TuneOptions, create_study, open_storage, run_trials

    url, n_trials, delay, log = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
    options = TuneOptions(n_trials=n_trials, pruner="none", heartbeat=1)
    study = create_study(open_storage(url, options.heartbeat), "shared", {"test": 1}, options)


    def objective(trial):
        x = trial.suggest_float("x", -1.0, 1.0)
        with open(log, "a") as file:
            file.write(f"start {os.getpid()} {trial.number}\\n")
        time.sleep(delay)
        with open(log, "a") as file:
            file.write(f"end {os.getpid()} {trial.number}\\n")
        return -x * x


    run_trials(study, objective, options, progress=False)
    """
)


def start(tmp_path: Path, url: str, n_trials: int, delay: float, log: Path) -> subprocess.Popen:
    script = tmp_path / "study.py"
    script.write_text(STUDY_SCRIPT)
    source = str(Path(tripleentropy.__file__).parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([source, os.environ.get("PYTHONPATH", "")])}
    return subprocess.Popen([sys.executable, str(script), url, str(n_trials), str(delay), str(log)], env=env,
                            stderr=subprocess.PIPE, text=True)


def lines(log: Path) -> list[list[str]]:
    return [line.split() for line in log.read_text().splitlines()] if log.exists() else []


def trials_of(url: str) -> list:
    options = TuneOptions(n_trials=1, pruner="none", heartbeat=1)
    return create_study(open_storage(url, options.heartbeat), "shared", {"test": 1}, options).get_trials()


def states(trials) -> dict[str, int]:
    counts: dict[str, int] = {}
    for trial in trials:
        counts[trial.state.name] = counts.get(trial.state.name, 0) + 1
    return counts


@pytest.mark.timeout(120)
def test_sigkill_mid_trial_then_the_same_command_ends_with_exactly_n_finished_trials(tmp_path):
    url = f"sqlite:///{tmp_path / 'study.db'}"
    log = tmp_path / "killed.log"
    process = start(tmp_path, url, 4, 1.0, log)
    deadline = time.monotonic() + 60
    # Kill in the middle of the second trial: one finished, one running.
    while [entry[0] for entry in lines(log)].count("start") < 2:
        assert process.poll() is None, process.stderr.read()
        assert time.monotonic() < deadline, "the trials did not start in time"
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    assert process.wait(timeout=10) == -signal.SIGKILL
    killed = int(lines(log)[-1][2])
    assert [trial.state.name for trial in trials_of(url)] == ["COMPLETE", "RUNNING"]

    restarted = start(tmp_path, url, 4, 0.1, tmp_path / "restarted.log")
    _, errors = restarted.communicate(timeout=60)
    assert restarted.returncode == 0, errors
    trials = trials_of(url)
    assert states(trials) == {"COMPLETE": 4, "FAIL": 1}
    assert trials[killed].state.name == "FAIL"
    # The killed trial was rerun with its settings (its heartbeat stopped, so it was marked failed).
    rerun = [trial for trial in trials if trial.system_attrs.get("failed_trial") == killed]
    assert len(rerun) == 1 and rerun[0].state.name == "COMPLETE"
    assert rerun[0].params == trials[killed].params

    # Running the command again once the study is full trains nothing more.
    again = start(tmp_path, url, 4, 0.1, tmp_path / "again.log")
    assert again.wait(timeout=60) == 0
    assert not lines(tmp_path / "again.log")
    assert states(trials_of(url)) == {"COMPLETE": 4, "FAIL": 1}


@pytest.mark.timeout(120)
def test_two_processes_on_one_sqlite_study_share_its_budget(tmp_path):
    url = f"sqlite:///{tmp_path / 'study.db'}"
    create_study(open_storage(url, 1), "shared", {"test": 1}, TuneOptions(n_trials=7, pruner="none", heartbeat=1))
    log = tmp_path / "both.log"
    first, second = (start(tmp_path, url, 7, 0.4, log) for _ in range(2))
    for process in (first, second):
        _, errors = process.communicate(timeout=90)
        assert process.returncode == 0, errors
    trials = trials_of(url)
    assert sum(trial.state.name == "COMPLETE" for trial in trials) == 7
    # Any other trial is one that lost the race for the last slot, and it never trained.
    others = [trial for trial in trials if trial.state.name != "COMPLETE"]
    assert all(trial.state.name == "FAIL" and trial.user_attrs.get("surplus") for trial in others)
    ended = [entry for entry in lines(log) if entry[0] == "end"]
    assert len(ended) == 7
    assert len({entry[1] for entry in ended}) == 2, "both processes should have run trials"
    assert len({trial.params["x"] for trial in trials if trial.state.name == "COMPLETE"}) == 7


def test_the_same_seed_proposes_the_same_trials_and_another_seed_other_ones(tmp_path):
    def proposals(name: str, seed: int) -> list[float]:
        options = TuneOptions(n_trials=12, pruner="none", sampler_seed=seed)
        study = create_study(open_storage(f"sqlite:///{tmp_path / name}", 60), "s", {}, options)
        run_trials(study, lambda trial: -abs(trial.suggest_float("x", -1.0, 1.0) - 0.3), options, progress=False)
        return [trial.params["x"] for trial in study.get_trials()]

    first = proposals("a.db", 3)
    assert proposals("b.db", 3) == first
    assert len(set(first)) == 12
    assert not set(proposals("c.db", 4)) & set(first)


OPEN_SCRIPT = textwrap.dedent(
    """
    import os, sys, time
    from tripleentropy.experiments.tune import TuneOptions, create_study, open_storage

    url, go = sys.argv[1], sys.argv[2]
    open(f"{go}.ready{os.getpid()}", "w").close()
    while not os.path.exists(go):
        time.sleep(0.001)
    options = TuneOptions(n_trials=1, pruner="none", heartbeat=1)
    create_study(open_storage(url, options.heartbeat), "shared", {"test": 1}, options)
    """
)


@pytest.mark.timeout(120)
def test_processes_that_open_a_new_sqlite_storage_at_once_all_get_it(tmp_path):
    # A Slurm array (or `compare --shard`) starts every part at the same moment on a storage that
    # does not exist yet: all of them create its tables at once.
    script = tmp_path / "open.py"
    script.write_text(OPEN_SCRIPT)
    source = str(Path(tripleentropy.__file__).parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([source, os.environ.get("PYTHONPATH", "")])}
    for attempt in range(3):
        url, go = f"sqlite:///{tmp_path / f'study{attempt}.db'}", tmp_path / f"go{attempt}"
        processes = [subprocess.Popen([sys.executable, str(script), url, str(go)], env=env, stderr=subprocess.PIPE,
                                      text=True) for _ in range(4)]
        deadline = time.monotonic() + 60
        while len(list(tmp_path.glob(f"go{attempt}.ready*"))) < len(processes):
            assert time.monotonic() < deadline, "the processes did not start in time"
            time.sleep(0.01)
        go.touch()
        for process in processes:
            _, errors = process.communicate(timeout=60)
            assert process.returncode == 0, errors
        assert len(trials_of(url)) == 0
