import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tripleentropy.experiments import RunSpec, RunStore, make_grid, run_grid
from tripleentropy.experiments import grid as grid_module
from tripleentropy.experiments.grid import make_record, report_steps, train_size_order, train_size_slug


def grid(**overrides):
    arguments = dict(model="tiny", data_fingerprint="d", settings={"lr": 1e-5, "epochs": 2},
                     method_settings={"tripleentropy": {"beta": 0.4}})
    arguments.update(overrides)
    return make_grid(["ce", "tripleentropy"], [100, 20, "full"], [0, 1], **arguments)


def accuracy_of(spec):
    return {"metrics": {"accuracy": (int(spec.key[:6], 16) % 1000) / 1000, "macro_f1": 0.5}, "train_examples": 3}


class Recorder:
    def __init__(self):
        self.calls = []

    def __call__(self, spec):
        self.calls.append(spec)
        return accuracy_of(spec)


def test_paired_runs_share_everything_but_the_loss_and_run_next_to_each_other():
    specs = grid()
    assert len(specs) == 12
    for ce, te in zip(specs[0::2], specs[1::2]):
        assert (ce.method, te.method) == ("ce", "tripleentropy")
        assert (ce.train_size, ce.seed, ce.fold, ce.model, ce.data_fingerprint) == (te.train_size, te.seed, te.fold, te.model, te.data_fingerprint)
        assert te.settings == {**ce.settings, "beta": 0.4}
    assert [spec.train_size for spec in specs[::4]] == [100, 20, "full"]
    assert len({spec.key for spec in specs}) == 12


def test_folds_multiply_the_grid_and_enter_the_key():
    specs = make_grid(["ce", "tripleentropy"], [20], [0], model="m", data_fingerprint="d", folds=[0, 1, 2])
    assert [(spec.fold, spec.method) for spec in specs] == [(f, loss) for f in range(3) for loss in ("ce", "tripleentropy")]
    assert len({spec.key for spec in specs}) == 6


def test_train_size_spellings_share_a_key_and_bad_sizes_are_refused():
    assert RunSpec("ce", "100", 0, "m", "d").key == RunSpec("ce", 100, 0, "m", "d").key
    assert RunSpec("ce", "FULL", 0, "m", "d").train_size == "full"
    assert RunSpec("ce", " 8 / Class", 0, "m", "d").key == RunSpec("ce", "8/class", 0, "m", "d").key
    assert RunSpec("ce", "8/class", 0, "m", "d").key != RunSpec("ce", 8, 0, "m", "d").key
    for bad in (0, -3, "all", 2.5, True, "0/class", "8/cls"):
        with pytest.raises(ValueError):
            RunSpec("ce", bad, 0, "m", "d")
    with pytest.raises(ValueError, match="duplicate"):
        make_grid(["ce", "ce"], [20], [0], model="m", data_fingerprint="d")


def test_run_grid_saves_every_run_and_returns_records_in_spec_order(tmp_path):
    specs, run_fn = grid(), Recorder()
    records = run_grid(specs, RunStore(tmp_path), run_fn, progress=False)
    assert [r["key"] for r in records] == [s.key for s in specs]
    assert len(run_fn.calls) == 12 and len(list((tmp_path / "runs").glob("*.json"))) == 12
    first = records[1]
    assert first["method"] == "tripleentropy" and first["train_size"] == 100 and first["seed"] == 0 and "fold" not in first
    assert first["config"] == {"lr": 1e-5, "epochs": 2, "beta": 0.4} and first["model"] == "tiny"
    assert first["data_fingerprint"] == "d" and first["train_examples"] == 3 and first["seconds"] >= 0
    assert first["metrics"] == accuracy_of(specs[1])["metrics"]


def test_run_grid_skips_finished_runs(tmp_path):
    store, specs = RunStore(tmp_path), grid()
    run_grid(specs[:5], store, Recorder(), progress=False)
    run_fn = Recorder()
    records = run_grid(specs, store, run_fn, progress=False)
    assert [spec.key for spec in run_fn.calls] == [spec.key for spec in specs[5:]]
    again = Recorder()
    assert run_grid(specs, store, again, progress=False) == records and again.calls == []


def test_a_changed_setting_never_reuses_a_stale_run(tmp_path):
    store = RunStore(tmp_path)
    run_grid(grid(), store, Recorder(), progress=False)
    run_fn = Recorder()
    records = run_grid(grid(settings={"lr": 2e-5, "epochs": 2}), store, run_fn, progress=False)
    assert len(run_fn.calls) == 12
    assert all(record["config"]["lr"] == 2e-5 for record in records)
    # A TripleEntropy-only setting redoes the TripleEntropy runs and keeps the cross-entropy ones.
    run_fn = Recorder()
    run_grid(grid(settings={"lr": 2e-5, "epochs": 2}, method_settings={"tripleentropy": {"beta": 0.9}}), store, run_fn, progress=False)
    assert {spec.method for spec in run_fn.calls} == {"tripleentropy"} and len(run_fn.calls) == 6
    run_fn = Recorder()
    run_grid(grid(data_fingerprint="changed data"), store, run_fn, progress=False)
    assert len(run_fn.calls) == 12


def test_a_failing_run_keeps_the_runs_finished_before_it(tmp_path):
    store, specs = RunStore(tmp_path), grid()

    def fail_on_fourth(spec):
        if spec.key == specs[3].key:
            raise RuntimeError("out of memory")
        return accuracy_of(spec)

    with pytest.raises(RuntimeError):
        run_grid(specs, store, fail_on_fourth, progress=False)
    assert {r["key"] for r in store.all_records()} == {s.key for s in specs[:3]}


@pytest.mark.parametrize("result", [{"accuracy": 0.5}, {"metrics": {"accuracy": 0.5}, "seed": 3}, {"metrics": {"accuracy": 50.0}}])
def test_bad_run_function_results_are_refused(tmp_path, result):
    with pytest.raises(ValueError):
        run_grid(grid()[:1], RunStore(tmp_path), lambda spec: result, progress=False)


def test_progress_bar_goes_to_stderr_and_counts_stored_runs(tmp_path, capsys):
    store, specs = RunStore(tmp_path), grid()
    run_grid(specs[:4], store, Recorder(), progress=False)
    run_grid(specs, store, Recorder())
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "4/12" in captured.err and "12/12" in captured.err and "run" in captured.err


def reporting_four_steps(spec):
    for step in range(1, 5):
        report_steps(step, 4)
    return accuracy_of(spec)


@pytest.mark.parametrize("interval, shown, dropped", [(0, [1, 2, 3, 4], []), (3600, [1, 4], [2, 3])])
def test_the_steps_a_run_reports_show_on_the_bar_at_most_once_an_interval(tmp_path, capsys, monkeypatch,
                                                                        interval, shown, dropped):
    monkeypatch.setattr(grid_module, "STEP_REPORT_SECONDS", interval)
    spec = grid()[0]
    run_grid([spec], RunStore(tmp_path), reporting_four_steps)
    error = capsys.readouterr().err
    for step in shown:
        assert f"{spec.label}: step {step}/4, " in error
    for step in dropped:
        assert f"step {step}/4" not in error
    assert "00:00 left" in error
    report_steps(1, 4)  # outside a run: nothing to report to, and no error


def reporting_a_step_and_sleeping(spec):
    report_steps(1, 3)
    time.sleep(2.5 * grid_module.STEP_REPORT_SECONDS)
    return accuracy_of(spec)


def test_the_steps_runs_in_workers_report_reach_the_bar(tmp_path, capsys):
    specs = grid()[:2]
    run_grid(specs, RunStore(tmp_path), reporting_a_step_and_sleeping, jobs=2)
    error = capsys.readouterr().err
    assert all(f"{spec.label}: step 1/3, " in error for spec in specs)


def test_a_grid_holding_one_run_twice_is_refused(tmp_path):
    spec = grid()[0]
    with pytest.raises(ValueError, match="twice"):
        run_grid([spec, spec], RunStore(tmp_path), Recorder(), progress=False)


def fail_on_first_seed_1(spec):
    if spec.seed == 1 and spec.method == "ce" and spec.train_size == 100:
        raise RuntimeError("out of memory")
    return accuracy_of(spec)


def test_worker_processes_store_the_same_records(tmp_path):
    specs = grid()
    here = run_grid(specs, RunStore(tmp_path / "here"), accuracy_of, progress=False)
    workers = run_grid(specs, RunStore(tmp_path / "workers"), accuracy_of, progress=False, jobs=2)
    assert [r["key"] for r in workers] == [s.key for s in specs]
    assert [(r["metrics"], r["config"]) for r in workers] == [(r["metrics"], r["config"]) for r in here]
    assert len(list((tmp_path / "workers" / "runs").glob("*.json"))) == 12


def test_a_failing_run_in_a_worker_propagates_and_keeps_the_finished_runs(tmp_path):
    store, specs = RunStore(tmp_path), grid()
    with pytest.raises(RuntimeError, match="out of memory"):
        run_grid(specs, store, fail_on_first_seed_1, progress=False, jobs=2)
    stored = {path.stem for path in (tmp_path / "runs").glob("*.json")}
    assert specs[0].key in stored and specs[2].key not in stored
    records = run_grid(specs, store, accuracy_of, progress=False, jobs=2)
    assert [r["key"] for r in records] == [s.key for s in specs]


def test_resolve_jobs(monkeypatch):
    import torch

    from tripleentropy.experiments.compare import available_cores, resolve_jobs

    assert resolve_jobs(3, runs=10) == 3 and resolve_jobs(3, runs=2) == 2 and resolve_jobs(3, runs=0) == 1
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_jobs("auto", runs=100) == min(available_cores(), 8)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_jobs("auto", runs=100) == 1


def sleep_in_worker(spec):
    import os
    import time

    with open(os.path.join(os.environ["GRID_TEST_PIDS"], f"{os.getpid()}"), "w"):
        pass
    time.sleep(120)
    return accuracy_of(spec)


ROOT = Path(__file__).resolve().parents[2]


def grid_script(store: Path, run_fn: str, jobs: int) -> str:
    """Python source that runs :func:`grid` into ``store`` with this module's ``run_fn``."""
    return (
        f"from tests.experiments.test_run_grid import grid, {run_fn}\n"
        "from tripleentropy.experiments import RunStore, run_grid\n"
        f"run_grid(grid(), RunStore({str(store)!r}), {run_fn}, progress=False, jobs={jobs})\n"
    )


def _running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/status") as status:
            return not any(line.startswith("State:") and "Z" in line.split()[1] for line in status)
    except FileNotFoundError:
        return False


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="reads /proc")
def test_ctrl_c_stops_the_workers_at_once(tmp_path):
    pids = tmp_path / "pids"
    pids.mkdir()
    script = grid_script(tmp_path / "store", "sleep_in_worker", jobs=2)
    # Ctrl-C in a terminal reaches a process whose SIGINT is not ignored; a test run started in the
    # background of a non-interactive shell (CI, `make test &`) would hand down an ignored one.
    process = subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, start_new_session=True,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
                               env={**os.environ, "GRID_TEST_PIDS": str(pids)}, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while len(list(pids.iterdir())) < 2 and time.time() < deadline:
        time.sleep(0.1)
    assert len(list(pids.iterdir())) == 2, "both workers should be running a run"
    os.killpg(process.pid, signal.SIGINT)
    started = time.time()
    _, error = process.communicate(timeout=30)
    assert process.returncode != 0 and time.time() - started < 10
    assert error.count("Traceback") <= 1  # the parent's KeyboardInterrupt only, none from the workers
    time.sleep(0.5)
    assert not [pid for pid in (int(path.name) for path in pids.iterdir()) if _running(pid)]
    assert not list((tmp_path / "store" / "runs").glob("*.json"))


def test_training_sizes_sort_totals_then_per_class_sizes_then_full():
    sizes = ["full", "16/class", 64, "2/class", 8]
    assert sorted(sizes, key=train_size_order) == [8, 64, "2/class", "16/class", "full"]
    assert [train_size_slug(size) for size in (8, "16/class", "full")] == ["8", "16-per-class", "full"]


def test_a_claim_is_exclusive_until_released_and_leaves_no_file(tmp_path):
    mine, theirs = RunStore(tmp_path), RunStore(tmp_path)
    assert mine.claim("k") and mine.claim("k")
    assert not theirs.claim("k")
    mine.release("k")
    assert not mine.claim_path_for("k").exists()
    assert theirs.claim("k")
    theirs.release_all()
    assert not list((tmp_path / "runs").iterdir())


def test_a_claim_file_left_by_a_killed_process_is_taken_over(tmp_path):
    (tmp_path / "runs").mkdir()
    (tmp_path / "runs" / "k.claim").write_text("other-host pid 1\n")  # its process gone: no lock
    assert RunStore(tmp_path).claim("k")


@pytest.mark.parametrize("jobs", [1, 2])
def test_a_run_another_process_holds_is_waited_for_and_its_record_used(tmp_path, jobs):
    specs, other = grid(), RunStore(tmp_path)
    assert other.claim(specs[0].key)
    returned = []
    thread = threading.Thread(target=lambda: returned.append(run_grid(specs, RunStore(tmp_path), accuracy_of,
                                                                      progress=False, jobs=jobs)))
    thread.start()
    deadline = time.time() + 60
    while len(list((tmp_path / "runs").glob("*.json"))) < 11 and time.time() < deadline:
        time.sleep(0.05)
    time.sleep(0.2)
    assert thread.is_alive(), "run_grid should wait for the run the other process holds"
    theirs = make_record(specs[0], {"metrics": {"accuracy": 0.123}}, 1.0)
    other.save(specs[0].key, theirs)
    other.release(specs[0].key)
    thread.join(timeout=60)
    assert not thread.is_alive() and returned[0][0] == theirs
    assert [r["key"] for r in returned[0]] == [s.key for s in specs]
    assert not list((tmp_path / "runs").glob("*.claim"))


def test_a_run_whose_holder_ended_without_storing_it_is_trained_here(tmp_path):
    specs, other, run_fn = grid()[:2], RunStore(tmp_path), Recorder()
    assert other.claim(specs[0].key)
    threading.Timer(0.3, other.release, args=(specs[0].key,)).start()
    records = run_grid(specs, RunStore(tmp_path), run_fn, progress=False)
    assert [spec.key for spec in run_fn.calls] == [specs[1].key, specs[0].key]
    assert records[0]["metrics"] == accuracy_of(specs[0])["metrics"]


def test_a_failed_run_releases_every_claim(tmp_path):
    store, specs = RunStore(tmp_path), grid()
    with pytest.raises(RuntimeError):
        run_grid(specs, store, fail_on_first_seed_1, progress=False)
    assert all(RunStore(tmp_path).claim(spec.key) for spec in specs)


def note_the_run_and_sleep(spec):
    import os
    import time

    marks = Path(os.environ["GRID_TEST_MARKS"])
    (marks / f"{spec.key}-{os.getpid()}").touch()
    time.sleep(0.3)
    return accuracy_of(spec)


def test_two_processes_on_one_store_train_every_run_once(tmp_path):
    marks = tmp_path / "marks"
    marks.mkdir()
    script = grid_script(tmp_path / "store", "note_the_run_and_sleep", jobs=1)
    processes = [subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, env={**os.environ, "GRID_TEST_MARKS": str(marks)})
                 for _ in range(2)]
    assert [process.wait(timeout=120) for process in processes] == [0, 0]
    trained = [name.split("-")[0] for name in os.listdir(marks)]
    assert sorted(trained) == sorted(spec.key for spec in grid())
    assert len({name.split("-")[1] for name in os.listdir(marks)}) == 2, "both processes should have trained runs"
    assert len(list((tmp_path / "store" / "runs").glob("*.json"))) == 12


def test_without_wait_the_runs_others_hold_are_left_out_at_once(tmp_path):
    specs, other, run_fn = grid(), RunStore(tmp_path), Recorder()
    assert other.claim(specs[0].key) and other.claim(specs[5].key)
    other.save(specs[5].key, make_record(specs[5], {"metrics": {"accuracy": 0.5}}, 1.0))  # finished, not released yet
    records = run_grid(specs, RunStore(tmp_path), run_fn, progress=False, wait=False)
    assert [r["key"] for r in records] == [s.key for s in specs if s is not specs[0]]
    assert sorted(spec.key for spec in run_fn.calls) == sorted(s.key for s in specs[1:] if s is not specs[5])
    assert not RunStore(tmp_path).claim(specs[0].key), "the other process still holds its run"
    claims = sorted(path.name for path in (tmp_path / "runs").glob("*.claim"))
    assert claims == sorted(f"{spec.key}.claim" for spec in (specs[0], specs[5]))  # the other process's only
