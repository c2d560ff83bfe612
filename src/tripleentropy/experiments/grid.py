"""A grid of runs: specs, their paired order, and running what is not finished yet."""

from __future__ import annotations

import contextlib
import math
import multiprocessing
import os
import queue
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Union

from tqdm.auto import tqdm

from ..data.sampling import parse_sample_size, per_class_count
from .store import RECORD_KEYS, RunStore, run_key

TrainSize = Union[int, str]
"""A number of training examples (a stratified sample), ``"N/class"`` (N examples of every
class), or ``"full"`` for the whole training set."""

FULL = "full"


def normalize_train_size(train_size: TrainSize) -> TrainSize:
    """``"full"``, a positive int or ``"N/class"``; ``"100"`` becomes ``100`` and ``"8 / Class"``
    ``"8/class"`` so that spellings of one size share a key."""
    if isinstance(train_size, str) and train_size.strip().lower() == FULL:
        return FULL
    try:
        return parse_sample_size(train_size)
    except ValueError:
        if isinstance(train_size, str) and "/" in train_size:
            raise
        raise ValueError(
            f"training size must be a positive integer, N/class or 'full', got {train_size!r}"
        ) from None


def train_size_order(train_size: TrainSize) -> tuple[int, int]:
    """Sort key for training sizes: totals ascending, then per-class sizes ascending, ``"full"`` last."""
    if train_size == FULL:
        return (2, 0)
    per_class = per_class_count(train_size)
    return (0, int(train_size)) if per_class is None else (1, per_class)


def train_size_slug(train_size: TrainSize) -> str:
    """The size in a file or study name: ``8/class`` is ``8-per-class``."""
    per_class = per_class_count(train_size)
    return str(train_size) if per_class is None else f"{per_class}-per-class"


@dataclass(frozen=True)
class RunSpec:
    """One run of a grid: everything that affects its result, and nothing else.

    ``method`` is a way to train and predict (a fine-tuning loss such as ``ce``, or ``logreg``,
    ``setfit``, ...). ``settings`` holds every other setting that can change its result (learning
    rate, epochs, loss hyperparameters, ``max_eval``, precision, ...) and nothing it does not read;
    it must be JSON-compatible.
    ``data_fingerprint`` covers all data the run sees (training pool and evaluation set), e.g.
    from :func:`~tripleentropy.experiments.store.fingerprint_examples`. ``seed`` seeds both the
    sampling of the training set and the initial weights; ``fold`` is the fold index in k-fold
    designs. Runs that differ only in ``method`` (and its settings) form a pair. ``model`` is the
    model's name as given; ``model_fingerprint``, when set, identifies its weights (see
    :func:`~tripleentropy.modeling.model_fingerprint`) and keys the run in place of the name.
    """

    method: str
    train_size: TrainSize
    seed: int
    model: str
    data_fingerprint: str
    settings: Mapping[str, Any] = field(default_factory=dict)
    fold: int | None = None
    model_fingerprint: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "train_size", normalize_train_size(self.train_size))
        object.__setattr__(self, "settings", dict(self.settings))

    def identity(self) -> dict[str, Any]:
        """The mapping hashed into :attr:`key`."""
        return {
            "method": self.method,
            "train_size": self.train_size,
            "seed": self.seed,
            "fold": self.fold,
            "model": self.model_fingerprint or self.model,
            "data_fingerprint": self.data_fingerprint,
            "settings": self.settings,
        }

    @property
    def key(self) -> str:
        """The run's key in a :class:`~tripleentropy.experiments.store.RunStore`."""
        return run_key(self.identity())

    @property
    def label(self) -> str:
        """A short human-readable name, e.g. ``ce size=20 seed=1``."""
        fold = "" if self.fold is None else f" fold={self.fold}"
        return f"{self.method} size={self.train_size} seed={self.seed}{fold}"


def make_grid(
    methods: Sequence[str],
    train_sizes: Sequence[TrainSize],
    seeds: Sequence[int],
    *,
    model: str,
    data_fingerprint: str,
    settings: Mapping[str, Any] | None = None,
    method_settings: Mapping[str, Mapping[str, Any]] | None = None,
    folds: Sequence[int] | None = None,
    model_fingerprint: str | None = None,
) -> list[RunSpec]:
    """All runs of a paired grid, ordered so that paired runs are neighbours.

    The order is training size (as given), seed, fold, then method (as given): every method of
    one (size, seed, fold) runs back to back, so an interrupted grid still holds complete pairs.
    ``settings`` apply to every run; ``method_settings[method]`` are added to that method's runs
    only (so tuning a TripleEntropy hyperparameter does not redo the cross-entropy runs).
    """
    if len(set(methods)) != len(methods):
        raise ValueError(f"duplicate method in {list(methods)}")
    sizes = [normalize_train_size(size) for size in train_sizes]
    if len(set(sizes)) != len(sizes):
        raise ValueError(f"duplicate training size in {list(train_sizes)}")
    unknown = set(method_settings or {}) - set(methods)
    if unknown:
        raise ValueError(f"method_settings for methods not in the grid: {sorted(unknown)}")
    specs = []
    for train_size in sizes:
        for seed in seeds:
            for fold in folds if folds is not None else [None]:
                for method in methods:
                    run_settings = {**(settings or {}), **(method_settings or {}).get(method, {})}
                    specs.append(RunSpec(method, train_size, seed, model, data_fingerprint, run_settings, fold,
                                         model_fingerprint))
    return specs


RunFunction = Callable[[RunSpec], Mapping[str, Any]]
"""Trains and evaluates one run: returns ``{"metrics": {"accuracy": fraction, "macro_f1": ...},
...extra}``. Extra keys (e.g. ``history``, ``train_examples``) go into the run's record; they
must be JSON-compatible and must not reuse the record's own keys."""


def make_record(spec: RunSpec, result: Mapping[str, Any], seconds: float) -> dict[str, Any]:
    """The stored record of a finished run: the spec's fields, its metrics, then ``result``'s extras."""
    if "metrics" not in result:
        raise ValueError(f"run {spec.label}: the run function returned no 'metrics'")
    reserved = (set(RECORD_KEYS) | {"fold", "model", "model_fingerprint"}) & (set(result) - {"metrics"})
    if reserved:
        raise ValueError(f"run {spec.label}: the run function returned reserved keys {sorted(reserved)}")
    record: dict[str, Any] = {"key": spec.key, "method": spec.method, "train_size": spec.train_size, "seed": spec.seed}
    if spec.fold is not None:
        record["fold"] = spec.fold
    record.update(
        {
            "metrics": dict(result["metrics"]),
            "model": spec.model,
            **({"model_fingerprint": spec.model_fingerprint} if spec.model_fingerprint else {}),
            "config": dict(spec.settings),
            "data_fingerprint": spec.data_fingerprint,
            "seconds": round(seconds, 3),
            "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }
    )
    record.update({name: value for name, value in result.items() if name != "metrics"})
    return record


def run_grid(specs: Sequence[RunSpec], store: RunStore, run_fn: RunFunction, progress: bool = True,
             jobs: int = 1, wait: bool = True) -> list[dict]:
    """Run every spec whose key is not in ``store`` yet, saving each record as soon as it finishes.

    Runs start in the given order (see :func:`make_grid`). With ``jobs`` above 1 they run in that
    many worker processes (started with ``spawn``, each with an equal share of this process's
    torch threads); ``run_fn`` must then pickle, and is copied into each worker once. A progress
    bar over runs, on stderr, counts the runs already stored as done and estimates the time left
    from the runs done in this call; beside it, the runs going now with the steps each reported
    (:func:`report_steps`), in this process or a worker. If ``run_fn`` raises, the error
    propagates once the runs already going have finished; every finished run is stored, so
    calling ``run_grid`` again resumes after it. Returns the records of all specs, in spec
    order, whether they were run now or found in the store.

    Processes may share one store: each run is claimed (:meth:`RunStore.claim`) before it starts,
    so a run another process is training is skipped, and once nothing else is left this call
    waits for it, then uses its record; a run whose process ended without storing it is trained
    here. With ``wait`` false it does not wait: the runs other processes still hold are left out
    of the records returned.
    """
    keys = [spec.key for spec in specs]
    if len(set(keys)) != len(keys):
        raise ValueError("the grid holds the same run twice (two specs with the same key)")
    if jobs < 1:
        raise ValueError(f"jobs must be at least 1, got {jobs}")
    records: dict[str, dict] = {}
    for key in keys:
        record = store.load(key)
        if record is not None:
            records[key] = record
    todo = [spec for spec, key in zip(specs, keys) if key not in records]
    with tqdm(total=len(specs), initial=len(specs) - len(todo), unit="run", desc="runs", file=sys.stderr,
              disable=not progress, dynamic_ncols=True) as bar:
        pending, held_elsewhere = deque(todo), []

        def take() -> RunSpec | None:
            """The next pending run, claimed for this call; runs finished elsewhere meanwhile are
            recorded, runs held elsewhere set aside."""
            while pending:
                spec = pending.popleft()
                if not store.claim(spec.key):
                    held_elsewhere.append(spec)
                    continue
                record = store.load(spec.key)
                if record is None:
                    return spec
                store.release(spec.key)
                records[spec.key] = record
                bar.update(1)
            return None

        try:
            while True:
                run_all = _run_in_workers if jobs > 1 and len(todo) > 1 else _run_here
                for spec, result, seconds in run_all(take, run_fn, min(jobs, len(todo)), bar):
                    record = make_record(spec, result, seconds)
                    store.save(record["key"], record)
                    store.release(record["key"])
                    records[record["key"]] = record
                    bar.update(1)
                if not held_elsewhere:
                    break
                if not wait:  # the records of held runs that have finished meanwhile
                    records.update((spec.key, record) for spec in held_elsewhere
                                   if (record := store.load(spec.key)) is not None)
                    break
                held = len(held_elsewhere)
                bar.set_postfix_str(f"waiting for {held} run{'s' if held > 1 else ''} that other processes hold")
                store.claim(held_elsewhere[0].key, wait=True)
                pending.extend(held_elsewhere)
                held_elsewhere.clear()
        finally:
            store.release_all()
    return [records[key] for key in keys if key in records]


STEP_REPORT_SECONDS = 1.0
"""The least time between two step reports of one run that reach the progress bar (the last
step's always does)."""

_step_report: Callable[[int, int], None] | None = None


def report_steps(done: int, total: int) -> None:
    """Say that the run going in this process has done ``done`` of its ``total`` steps.

    For a run function, or what it calls, to show progress inside a long run: the progress bar
    of :func:`run_grid` then reads e.g. ``setfit size=64/class seed=2: step 120/800, 1:02:10
    left``, the time left extrapolated from the run's time so far. Reports less than
    :data:`STEP_REPORT_SECONDS` after the last one shown are dropped, but for the last step.
    Outside a run of :func:`run_grid` it does nothing."""
    if _step_report is not None:
        _step_report(done, total)


@contextlib.contextmanager
def _steps_reported_to(report: Callable[[int, int], None]) -> Iterator[None]:
    """Within the block, :func:`report_steps` calls ``report``, at most once a
    :data:`STEP_REPORT_SECONDS` but for the last step."""
    global _step_report
    last_shown = -math.inf

    def throttled(done: int, total: int) -> None:
        nonlocal last_shown
        now = time.monotonic()
        if done >= total or now - last_shown >= STEP_REPORT_SECONDS:
            last_shown = now
            report(done, total)

    previous, _step_report = _step_report, throttled
    try:
        yield
    finally:
        _step_report = previous


class _RunningRuns:
    """The progress bar's postfix: the runs going now, each with the last steps it reported."""

    def __init__(self, bar: tqdm) -> None:
        self.bar = bar
        self.runs: dict[str, tuple[str, float, tuple[int, int] | None]] = {}

    def start(self, spec: RunSpec) -> None:
        self.runs[spec.key] = (spec.label, time.monotonic(), None)
        self.show()

    def steps(self, key: str, done: int, total: int) -> None:
        if key in self.runs:
            label, started, _ = self.runs[key]
            self.runs[key] = (label, started, (done, total))
            self.show()

    def finish(self, spec: RunSpec) -> None:
        self.runs.pop(spec.key, None)

    def show(self) -> None:
        parts = []
        for label, started, steps in self.runs.values():
            if steps is None or steps[0] <= 0 or steps[1] <= 0:
                parts.append(label)
                continue
            done, total = steps
            left = (time.monotonic() - started) * max(total - done, 0) / done
            parts.append(f"{label}: step {done}/{total}, {tqdm.format_interval(left)} left")
        self.bar.set_postfix_str("; ".join(parts))


def _timed(run_fn: RunFunction, spec: RunSpec) -> tuple[Mapping[str, Any], float]:
    started = time.perf_counter()
    result = run_fn(spec)
    return result, time.perf_counter() - started


def _run_here(take: Callable[[], RunSpec | None], run_fn: RunFunction, jobs: int,
              bar: tqdm) -> Iterator[tuple[RunSpec, Mapping, float]]:
    running = _RunningRuns(bar)
    while (spec := take()) is not None:
        running.start(spec)
        with _steps_reported_to(lambda done, total, key=spec.key: running.steps(key, done, total)):
            outcome = _timed(run_fn, spec)
        running.finish(spec)
        yield spec, *outcome


_worker_run: RunFunction | None = None
_worker_steps: Any = None  # the queue that takes a worker's step reports to the grid's process


def _exit_when_orphaned(parent: int, interval: float = 0.5) -> None:
    """End this worker once ``parent`` is gone: a grid process killed by a signal it cannot
    handle (SIGTERM, SIGKILL) would otherwise leave its workers running to the end of their runs,
    whose results no one stores."""
    while os.getppid() == parent:
        time.sleep(interval)
    os._exit(1)


def _start_worker(run_fn: RunFunction, threads: int, steps: Any) -> None:
    import torch

    # Ctrl-C reaches the whole process group: the parent stops the workers, which stay quiet.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Thread(target=_exit_when_orphaned, args=(os.getppid(),), daemon=True, name="orphan-watch").start()
    global _worker_run, _worker_steps
    _worker_run, _worker_steps = run_fn, steps
    torch.set_num_threads(threads)


def _work(spec: RunSpec) -> tuple[Mapping[str, Any], float]:
    assert _worker_run is not None, "worker not started"
    with _steps_reported_to(lambda done, total: _worker_steps.put((spec.key, done, total))):
        return _timed(_worker_run, spec)


def worker_threads(jobs: int) -> int:
    """Torch threads of each of ``jobs`` workers: this process's threads shared out evenly."""
    import torch

    return max(1, torch.get_num_threads() // jobs)


def _run_in_workers(take: Callable[[], RunSpec | None], run_fn: RunFunction, jobs: int,
                    bar: tqdm) -> Iterator[tuple[RunSpec, Mapping, float]]:
    context = multiprocessing.get_context("spawn")
    steps = context.Queue()
    executor = ProcessPoolExecutor(max_workers=jobs, mp_context=context,
                                   initializer=_start_worker, initargs=(run_fn, worker_threads(jobs), steps))
    running: dict[Future, RunSpec] = {}
    shown = _RunningRuns(bar)
    error: BaseException | None = None
    stopped = False
    try:
        while True:
            while error is None and len(running) < jobs and (spec := take()) is not None:
                running[executor.submit(_work, spec)] = spec
                shown.start(spec)
            if not running:
                break
            done, _ = wait(running, timeout=STEP_REPORT_SECONDS, return_when=FIRST_COMPLETED)
            with contextlib.suppress(queue.Empty):
                while True:
                    shown.steps(*steps.get_nowait())
            for future in done:
                spec = running.pop(future)
                shown.finish(spec)
                try:
                    result, seconds = future.result()
                except BaseException as exception:  # start no more runs, but keep those that finish
                    error = error or exception
                    continue
                yield spec, result, seconds
    except (KeyboardInterrupt, GeneratorExit):  # interrupted, or the caller stopped: end the runs now
        stopped = True
        for process in list((getattr(executor, "_processes", None) or {}).values()):
            process.terminate()
        raise
    finally:
        executor.shutdown(wait=not stopped, cancel_futures=True)
        steps.close()
    if error is not None:
        raise error
