"""``tune``: an equal-budget hyperparameter search with Optuna, on validation data only.

Musgrave et al. ("A Metric Learning Reality Check", ECCV 2020) showed that a comparison in which
one method is tuned and another runs at defaults measures the tuning. Here every method gets the
same number of Optuna trials on the same validation data:

- a study per (method, training size[, outer fold]) in an Optuna RDB storage (an SQLite file by
  default, any database Optuna supports for many machines), TPE seeded, median pruning on the
  validation accuracy reported during training;
- a trial's value is the validation accuracy averaged over ``tune_seeds`` training samples; the
  validation data is a task's validation split or stratified inner folds of the training data,
  never a test split or an evaluation fold (:class:`TuningData`);
- ``n_trials`` is the study's total over every process that shares the storage, and a process
  killed in a trial leaves a trial that the heartbeat marks failed and reruns
  (:func:`run_trials`), so a study ends with exactly ``n_trials`` finished trials.
"""

from __future__ import annotations

import contextlib
import csv
import io
import itertools
import math
import os
import random
import sys
import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm
from transformers import TrainerCallback

from ..data import Example, stratified_folds
from ..data.sampling import per_class_count, shortest_class
from ..errors import UserError
from .compare import Design, _sample_indices, check_train_sizes, run_settings
from .grid import train_size_slug
from .search_space import Dimension, search_space, tuned_space
from .store import canonical_json, fingerprint_examples, fingerprint_split, run_key, write_bytes_atomic, write_json_atomic

# Tuning runs draw their training samples and initial heads with seeds 10000, 10001, ...: never
# the seeds 0, 1, ... of the evaluated runs, so no evaluated run repeats a tuning run.
TUNE_SEED_OFFSET = 10_000
INNER_FOLD_SEED = 2222
PRUNERS = ("median", "none")
# A trial whose process died is rerun with the same settings at most this often.
MAX_RETRIES = 2

BEST_FILE = "best.yaml"
TRIALS_FILE = "trials.csv"
TUNE_SUMMARY_FILE = "tune.json"
HISTORY_PLOT = "optimization_history.png"
IMPORTANCE_PLOT = "param_importances.png"


@contextlib.contextmanager
def _quiet_optuna() -> Iterator[None]:
    """Optuna flags the heartbeat and the retry callback as experimental: that is known here."""
    import optuna

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        warnings.simplefilter("ignore", FutureWarning)
        yield


@dataclass(frozen=True)
class TuneOptions:
    """How a study searches: its budget, the seeds it averages over, pruning and the heartbeat.

    ``n_trials`` is the study's total number of finished (complete or pruned) trials, shared by
    every process that works on it. ``reports_per_run`` validation accuracies are reported per
    training run, at evenly spaced optimizer steps; the last is the run's score.
    """

    n_trials: int
    tune_seeds: int = 3
    inner_folds: int = 5
    reports_per_run: int = 4
    pruner: str = "median"
    sampler_seed: int = 0
    heartbeat: int = 60

    def validate(self, trials_flag: str = "--n-trials") -> TuneOptions:
        """Raise ``UserError`` naming the flag of the first bad value; returns self."""
        for flag, value, low in ((trials_flag, self.n_trials, 1), ("--tune-seeds", self.tune_seeds, 1),
                                 ("--inner-folds", self.inner_folds, 2), ("--reports-per-run", self.reports_per_run, 1),
                                 ("--heartbeat", self.heartbeat, 1), ("--sampler-seed", self.sampler_seed, 0)):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise UserError(f"{flag} must be an integer >= {low}, got {value!r}")
        if self.pruner not in PRUNERS:
            raise UserError(f"--pruner: unknown pruner {self.pruner!r}; choose one of {', '.join(PRUNERS)}")
        return self

    def identity(self) -> dict[str, Any]:
        """What changes a study's trials (the budget and the heartbeat do not: a study may grow)."""
        return {"tune_seeds": self.tune_seeds, "inner_folds": self.inner_folds,
                "reports_per_run": self.reports_per_run, "pruner": self.pruner, "sampler_seed": self.sampler_seed}


@dataclass
class TuningData:
    """The data one study trains and validates on, disjoint from any evaluation it tunes for.

    Training sets are drawn from ``pool``. Validation is ``validation`` (a task's validation split
    or a user's file) when given, else ``inner_folds`` stratified folds of ``pool``: tuning seed
    ``i`` validates on inner fold ``i mod inner_folds`` and samples its training set from the
    others. ``max_eval`` caps each validation set with one fixed stratified sample.
    """

    name: str
    label_names: list[str]
    pool: list[Example]
    validation: list[Example] | None = None
    inner_folds: int = 5
    max_eval: int | None = None
    _folds: list[tuple[list[int], list[int]]] | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.validation is None:
            self._folds = stratified_folds([example.label for example in self.pool], self.inner_folds,
                                           INNER_FOLD_SEED, source=self.name)

    @property
    def uses_inner_folds(self) -> bool:
        return self.validation is None

    def describe(self) -> str:
        cap = "" if self.max_eval is None else f"capped at {self.max_eval} (one fixed stratified sample)"
        if self.uses_inner_folds:
            cap = f", each {cap}" if cap else ""
            return f"{self.name}: {len(self.pool)} examples, validated on {self.inner_folds} stratified inner folds{cap}"
        cap = f", {cap}" if cap else ""
        return f"{self.name}: {len(self.pool)} training examples, {len(self.validation)} validation examples{cap}"

    def split(self, index: int) -> tuple[list[int], list[int], bool]:
        """Tuning seed ``index``'s training indices into ``pool``, its validation indices, and
        whether those index ``pool`` (inner folds) or ``validation``."""
        if self.uses_inner_folds:
            train, validation = self._folds[index % self.inner_folds]
            examples = self.pool
        else:
            train, validation = list(range(len(self.pool))), list(range(len(self.validation)))
            examples = self.validation
        if self.max_eval is not None and self.max_eval < len(validation):
            validation = _sample_indices(examples, validation, self.max_eval, seed=0, source=self.name)
        return train, validation, self.uses_inner_folds

    def check_size(self, train_size: int | str, tune_seeds: int) -> None:
        """Raise ``UserError`` if a tuning run could not draw ``train_size`` training examples."""
        if train_size == "full":
            return
        pools = [self.split(index)[0] for index in range(min(tune_seeds, self.inner_folds))]
        where = " outside an inner validation fold" if self.uses_inner_folds else ""
        per_class = per_class_count(train_size)
        if per_class is not None:
            shortest = shortest_class([[self.pool[i].label for i in indices] for indices in pools],
                                      len(self.label_names), per_class)
            if shortest is not None:
                label, count = shortest
                raise UserError(f"{self.name} has {count} training examples of the class {self.label_names[label]!r}"
                                f"{where}, fewer than the training size {train_size} to tune for")
            return
        available = min(len(indices) for indices in pools)
        if train_size > available:
            raise UserError(f"{self.name} has {available} training examples{where}, fewer than the training size "
                            f"{train_size} to tune for")

    def fingerprint(self) -> str:
        """Covers every example either side and how the validation sets are drawn."""
        return fingerprint_split(self.pool, "validation", self.validation,
                                 f"inner_folds={self.inner_folds if self.uses_inner_folds else 0};max_eval={self.max_eval}")


def tuning_data_for_design(design: Design, fold: int | None, inner_folds: int) -> TuningData:
    """The tuning data of one cell of a comparison: never an example any of its runs evaluates on.

    With a test split: the design's training pool, validated on the task's validation split when
    it has one (and the runs do not evaluate on it), else on inner folds of the pool. With folds:
    the training part of outer fold ``fold``, validated on inner folds of it.
    """
    if fold is None:
        return TuningData(f"{design.name} training data", design.label_names, list(design.pool), design.validation,
                          inner_folds, design.max_eval)
    train_indices, _ = design.split(fold)
    pool = [design.pool[index] for index in train_indices]
    return TuningData(f"{design.name} outside fold {fold}", design.label_names, pool, None, inner_folds, design.max_eval)


class SurplusTrial(Exception):
    """A trial started while other processes' trials already took the rest of the budget."""


class ValidationReporter(TrainerCallback):
    """A ``TrainerCallback`` that evaluates on validation data at evenly spaced optimizer steps,
    reports each accuracy to an Optuna trial, and ends the trial early when the pruner says so.

    Report ``first_step + j`` is the accuracy after ``ceil((j + 1) / reports * max_steps)``
    steps, so every trial reports at the same fractions of its runs whatever their length.
    """

    def __init__(self, trial: Any, validation: Any, tokenizer: Any, label_names: Sequence[str], batch_size: int,
                 reports: int, first_step: int, prune: bool) -> None:
        self.trial = trial
        self.validation = validation
        self.tokenizer = tokenizer
        self.label_names = list(label_names)
        self.batch_size = batch_size
        self.reports = reports
        self.first_step = first_step
        self.prune = prune
        self.due: dict[int, list[int]] = {}
        self.accuracy: float | None = None

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.due = {}
        for report in range(self.reports):
            step = max(1, math.ceil((report + 1) * state.max_steps / self.reports))
            self.due.setdefault(step, []).append(report)

    def on_step_end(self, args: Any, state: Any, control: Any, model: Any = None, **kwargs: Any) -> None:
        import optuna

        from ..training import evaluate_model

        reports = self.due.get(state.global_step)
        if not reports:
            return
        metrics = evaluate_model(model, self.tokenizer, self.validation, self.batch_size, self.label_names)
        self.accuracy = float(metrics["accuracy"])
        for report in reports:
            self.trial.report(self.accuracy, self.first_step + report)
        if self.prune and self.trial.should_prune():
            raise optuna.TrialPruned(f"validation accuracy {self.accuracy:.4f} after {state.global_step} steps is "
                                     "below the median of earlier trials at that point")


class TuningObjective:
    """The value of one trial: train ``tune_seeds`` runs with the trial's settings, each on its own
    training sample, and return their mean validation accuracy (a fraction).

    The pretrained weights are read and the data tokenised once, on the first trial. Each
    trial records, as user attributes, every run's accuracy and the fingerprints of the
    examples it trained and validated on. A run whose loss becomes NaN ends the trial as
    pruned (the settings diverge), so it uses its share of the budget like any other trial.
    """

    def __init__(self, data: TuningData, base_config: Any, space: Sequence[Dimension], train_size: int | str,
                 options: TuneOptions, pretrained: Any = None, state: dict[str, Any] | None = None) -> None:
        self.data = data
        self.base_config = base_config
        self.space = list(space)
        self.train_size = train_size
        self.options = options
        self.pretrained = pretrained
        # Objectives on the same data (other methods, other sizes) may share it tokenised.
        self.state = state if state is not None else {}

    def prepare(self) -> None:
        from ..modeling import load_pretrained
        from ..training import tokenize_examples

        if self.pretrained is None:
            self.pretrained = load_pretrained(self.base_config.model)
        tokenizer, length = self.pretrained.tokenizer, self.base_config.max_length
        self.state["pool"] = tokenize_examples(tokenizer, self.data.pool, length)
        validation = self.data.validation
        self.state["validation"] = tokenize_examples(tokenizer, validation, length) if validation else None

    def config_for(self, params: Mapping[str, Any]) -> Any:
        """The ``TrainConfig`` of a trial: the base settings with the trial's values."""
        return type(self.base_config).from_dict(dict(params), base=self.base_config).validate()

    def __call__(self, trial: Any) -> float:
        import optuna

        from ..training import NonFiniteLossError, train_model

        if not self.state or self.pretrained is None:
            self.prepare()
        config = self.config_for({dimension.name: dimension.suggest(trial) for dimension in self.space})
        accuracies, train_prints, validation_prints = [], [], []
        for index in range(self.options.tune_seeds):
            seed = TUNE_SEED_OFFSET + index
            train_indices, validation_indices, from_pool = self.data.split(index)
            if self.train_size != "full":
                train_indices = _sample_indices(self.data.pool, train_indices, self.train_size, seed, self.data.name,
                                                self.data.label_names)
            validation = (self.state["pool"] if from_pool else self.state["validation"]).subset(validation_indices)
            train = self.state["pool"].subset(train_indices)
            train_prints.append(fingerprint_examples(train.examples))
            validation_prints.append(fingerprint_examples(validation.examples))
            trial.set_user_attr("train_fingerprints", train_prints)
            trial.set_user_attr("validation_fingerprints", validation_prints)
            reporter = ValidationReporter(trial, validation, self.pretrained.tokenizer, self.data.label_names,
                                          config.eval_batch_size, self.options.reports_per_run,
                                          index * self.options.reports_per_run, self.options.pruner != "none")
            try:
                train_model(replace(config, seed=seed, train_size=None, output_dir=None), train,
                            label_names=self.data.label_names,
                            output_dir=None, pretrained=self.pretrained, progress=False, callbacks=[reporter])
            except NonFiniteLossError as error:
                trial.set_user_attr("diverged", str(error))
                raise optuna.TrialPruned(f"the loss diverged: {error}") from None
            accuracies.append(reporter.accuracy)
            trial.set_user_attr("accuracies", accuracies)
        return float(np.mean(accuracies))


# ---- the study -----------------------------------------------------------------------------


def default_storage(output_dir: str | os.PathLike) -> str:
    """The embedded SQLite storage ``DIR/study.db`` (the folder is created)."""
    folder = Path(output_dir).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{folder / 'study.db'}"


def _safe_url(url: str) -> str:
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # not a URL SQLAlchemy can parse: show it as given
        return url


_STORAGE_ATTEMPTS = 5


def _lost_creation_race(error: Exception) -> bool:
    """Whether opening a storage failed because another process was creating its tables."""
    from sqlalchemy.exc import IntegrityError, OperationalError

    return isinstance(error, IntegrityError) or (isinstance(error, OperationalError) and "already exists" in str(error))


def open_storage(url: str, heartbeat: int) -> Any:
    """An Optuna ``RDBStorage`` with a heartbeat every ``heartbeat`` seconds; a trial whose process
    stopped beating for twice that long is marked failed and queued again with its settings.

    Raises ``UserError`` when the storage cannot be opened (bad URL, missing driver, server or
    folder not reachable), before any training.
    """
    from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback

    engine_kwargs = {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else {}
    try:
        for attempt in itertools.count(1):
            try:
                with _quiet_optuna():
                    return RDBStorage(url, engine_kwargs=engine_kwargs, heartbeat_interval=heartbeat,
                                      heartbeat_stale_trial_callback=RetryHeartbeatStaleTrialCallback(max_retry=MAX_RETRIES))
            except Exception as error:
                # Processes started together (shards, a Slurm array) on a new storage all create its
                # tables at once; the losers see the winner's tables half made. Once made, they open.
                if attempt == _STORAGE_ATTEMPTS or not _lost_creation_race(error):
                    raise
                time.sleep(random.uniform(0.1, 0.5) * attempt)
    except Exception as error:  # SQLAlchemy's and the drivers' many errors all mean: cannot open it
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise UserError(
            f"--storage {_safe_url(url)}: cannot open the study storage ({type(error).__name__}: {reason}). Give a URL "
            "Optuna supports (sqlite:///PATH in an existing folder, postgresql://USER:PASSWORD@HOST/DB, "
            "mysql+pymysql://...) whose server is reachable and whose driver is installed"
        ) from None


def study_name(method: str, train_size: int | str, fold: int | None, identity: Mapping[str, Any]) -> str:
    """The study's name: readable, and different whenever anything that changes its trials differs."""
    fold_part = "" if fold is None else f"-fold{fold}"
    return f"{method}-size{train_size_slug(train_size)}{fold_part}-{run_key(identity)[:12]}"


def study_identity(method: str, train_size: int | str, fold: int | None, data: TuningData, base_config: Any,
                   space: Sequence[Dimension], options: TuneOptions) -> dict[str, Any]:
    """Everything a study's trials depend on: the method, the model's weights, the data, the fixed
    settings and the space."""
    from ..modeling import model_fingerprint

    tuned = {dimension.name for dimension in space}
    settings = run_settings(replace(base_config, loss=method), method)
    fixed = {name: value for name, value in settings.items() if name not in tuned}
    return {
        "method": method, "train_size": train_size, "fold": fold, "model": model_fingerprint(base_config.model),
        "tuning_data": data.fingerprint(), "fixed": fixed,
        "space": [f"{dimension.name}: {dimension.range_text()}" for dimension in space],  # not the notes
        **options.identity(),
    }


def _sampler(seed: int, trial_number: int) -> Any:
    import optuna

    # One seed per trial, drawn from the study's seed and the trial's number: the same command
    # gives the same trials, and processes sharing a study never propose alike by sharing a seed.
    trial_seed = int(np.random.SeedSequence([seed, trial_number]).generate_state(1)[0])
    with _quiet_optuna():
        return optuna.samplers.TPESampler(seed=trial_seed)


def _pruner(options: TuneOptions) -> Any:
    import optuna

    if options.pruner == "none":
        return optuna.pruners.NopPruner()
    # No pruning in the first five trials, nor before the first training run is over: a few-shot
    # run's accuracy early in training says more about its learning rate than its result.
    return optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=options.reports_per_run - 1)


def create_study(storage: Any, name: str, identity: Mapping[str, Any], options: TuneOptions) -> Any:
    """Create the study, or load it when it exists (another process, or an earlier run, made it)."""
    import optuna

    with _quiet_optuna():
        study = optuna.create_study(storage=storage, study_name=name, direction="maximize",
                                    sampler=_sampler(options.sampler_seed, 0), pruner=_pruner(options),
                                    load_if_exists=True)
    if "identity" not in study.user_attrs:
        study.set_user_attr("identity", canonical_json(dict(identity)))
    return study


def load_study(storage: Any, name: str, options: TuneOptions) -> Any | None:
    """The study of this name, or None when no process has created it yet."""
    import optuna

    try:
        with _quiet_optuna():
            return optuna.load_study(study_name=name, storage=storage, sampler=_sampler(options.sampler_seed, 0),
                                     pruner=_pruner(options))
    except KeyError:
        return None


def _counts(study: Any) -> tuple[int, int, list[Any]]:
    from optuna.trial import TrialState

    trials = study.get_trials(deepcopy=False)
    finished = sum(trial.state in (TrialState.COMPLETE, TrialState.PRUNED) for trial in trials)
    running = sum(trial.state == TrialState.RUNNING for trial in trials)
    return finished, running, trials


def finished_trials(study: Any) -> int:
    """Complete and pruned trials: the ones that count towards the budget."""
    return _counts(study)[0]


def _fail_stale_trials(study: Any) -> None:
    import optuna

    with _quiet_optuna():
        optuna.storages.fail_stale_trials(study)


def run_trials(study: Any, objective: Callable[[Any], float], options: TuneOptions, *, wait: bool = True,
               progress: bool = True, description: str | None = None) -> int:
    """Run trials of ``study`` until it holds ``options.n_trials`` finished (complete or pruned)
    trials, counted over every process that shares its storage. Returns the trials run here.

    Before each trial a process counts the finished trials and those running elsewhere; once
    they take the whole budget it starts no more, and (with ``wait``) waits for the running
    ones: a trial whose process died stops beating, is marked failed after the storage's grace
    period and queued again, and this process reruns it. Two processes that start the last
    trial at the same moment both see it: the trial with the higher number gives way (it ends
    as failed, marked ``surplus``, before training), so the count is never exceeded. Without
    ``wait`` the function returns as soon as the budget is taken, so a caller can work on
    other studies meanwhile.
    """
    from optuna.trial import TrialState

    n_trials = options.n_trials
    poll_seconds = min(5.0, options.heartbeat / 2)

    def guarded(trial: Any) -> float:
        finished, _, trials = _counts(study)
        ahead = sum(other.state == TrialState.RUNNING and other.number < trial.number for other in trials)
        if finished + ahead >= n_trials:
            trial.set_user_attr("surplus", True)
            raise SurplusTrial(f"the study's {n_trials} trials were all started by other processes")
        study.sampler = _sampler(options.sampler_seed, trial.number)
        return objective(trial)

    ran = 0
    finished, running, trials = _counts(study)
    if finished >= n_trials:
        return ran
    with tqdm(total=n_trials, initial=min(finished, n_trials), unit="trial", desc=description or study.study_name,
              file=sys.stderr, disable=not progress, dynamic_ncols=True) as bar:
        while True:
            _fail_stale_trials(study)
            finished, running, trials = _counts(study)
            bar.n = min(finished, n_trials)
            if any(trial.state == TrialState.COMPLETE for trial in trials):
                bar.set_postfix_str(f"best {100 * study.best_value:.2f}")
            bar.refresh()
            if finished >= n_trials:
                return ran
            if finished + running >= n_trials:
                if not wait:
                    return ran
                time.sleep(poll_seconds)
                continue
            with _quiet_optuna():
                study.optimize(guarded, n_trials=1, catch=(SurplusTrial,))
            ran += 1


# ---- outputs -------------------------------------------------------------------------------


def best_settings(base_config: Any, method: str, params: Mapping[str, Any], train_size: int | str) -> dict[str, Any]:
    """A ``--config`` mapping for ``train`` and ``compare``: the method, the training size it was
    tuned for, and every setting that changes a result (the tuned ones set to ``params``)."""
    config = type(base_config).from_dict({**params, "loss": method}, base=base_config).validate()
    size = None if train_size == "full" else train_size
    return {"loss": method, "train_size": size, "model": config.model, **run_settings(config, method)}


def trial_rows(study: Any) -> tuple[list[str], list[list[Any]]]:
    """``trials.csv``: one row per trial with its state, value (accuracy points), settings,
    each run's accuracy, its duration and why it ended early, if it did."""
    trials = study.get_trials(deepcopy=False)
    params = sorted({name for trial in trials for name in trial.params})
    header = ["number", "state", "value", *params, "accuracies", "seconds", "note", "started"]
    rows = []
    for trial in trials:
        seconds = (trial.datetime_complete - trial.datetime_start).total_seconds() \
            if trial.datetime_complete and trial.datetime_start else None
        accuracies = trial.user_attrs.get("accuracies", [])
        note = ("surplus (the budget was taken)" if trial.user_attrs.get("surplus")
                else "diverged (non-finite loss)" if trial.user_attrs.get("diverged")
                else f"rerun of trial {trial.system_attrs['failed_trial']}" if "failed_trial" in trial.system_attrs
                else "")
        rows.append([
            trial.number, trial.state.name, "" if trial.value is None else round(100 * trial.value, 4),
            *[trial.params.get(name, "") for name in params],
            " ".join(f"{100 * value:.2f}" for value in accuracies),
            "" if seconds is None else round(seconds, 1), note,
            trial.datetime_start.isoformat(timespec="seconds") if trial.datetime_start else "",
        ])
    return header, rows


def _write_csv(path: Path, header: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(header)
    writer.writerows(rows)
    write_bytes_atomic(path, text.getvalue().encode("utf-8"))


def _save_axes(axes: Any, path: Path) -> None:
    figure = axes.get_figure()
    figure.set_size_inches(7, 4.5)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=120, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(figure)
    write_bytes_atomic(path, buffer.getvalue())


def write_plots(study: Any, output_dir: Path) -> list[str]:
    """The optimisation history and, with two complete trials and something tuned, the
    parameter importances (PED-ANOVA), as PNG. Returns the files written."""
    import matplotlib

    matplotlib.use("Agg", force=False)  # Optuna draws with pyplot: off screen, no display needed
    from optuna.trial import TrialState
    from optuna.visualization import matplotlib as optuna_plots

    written = []
    with _quiet_optuna():
        _save_axes(optuna_plots.plot_optimization_history(study, target_name="validation accuracy"),
                   output_dir / HISTORY_PLOT)
        written.append(HISTORY_PLOT)
        complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        if len(complete) >= 2 and any(trial.params for trial in complete):
            # With every value equal PED-ANOVA warns that the importances are equal: the plot shows it.
            warnings.simplefilter("ignore", UserWarning)
            _save_axes(optuna_plots.plot_param_importances(study, target_name="validation accuracy"),
                       output_dir / IMPORTANCE_PLOT)
            written.append(IMPORTANCE_PLOT)
    return written


def study_summary(study: Any, n_trials: int) -> dict[str, Any]:
    """The study's state: trials by state, and the best trial (None before one completes)."""
    from optuna.trial import TrialState

    trials = study.get_trials(deepcopy=False)
    by_state = {state.name.lower(): sum(trial.state == state for trial in trials) for state in TrialState}
    complete = [trial for trial in trials if trial.state == TrialState.COMPLETE]
    best = max(complete, key=lambda trial: (trial.value, -trial.number)) if complete else None
    return {
        "study": study.study_name,
        "budget": n_trials,
        "finished": by_state["complete"] + by_state["pruned"],
        "trials": by_state,
        "best_trial": None if best is None else best.number,
        "best_accuracy": None if best is None else round(100 * best.value, 4),
        "best_accuracies": None if best is None else [round(100 * a, 4) for a in best.user_attrs.get("accuracies", [])],
        "best_params": None if best is None else dict(best.params),
    }


def write_study_outputs(study: Any, output_dir: str | os.PathLike, base_config: Any, method: str,
                        train_size: int | str, n_trials: int, context: Mapping[str, Any]) -> dict[str, Any]:
    """Write ``best.yaml``, ``trials.csv``, ``tune.json`` and the plots; returns ``tune.json``'s content.

    ``context`` (the data, the command, ...) goes into ``tune.json`` and the head of ``best.yaml``.
    Raises ``UserError`` when no trial has completed.
    """
    import yaml

    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    summary = study_summary(study, n_trials)
    if summary["best_trial"] is None:
        raise UserError(f"study {study.study_name} has no complete trial ({summary['trials']}): nothing to choose; "
                        "see trials.csv, and run more trials or lower the learning rates")
    header, rows = trial_rows(study)
    _write_csv(output_dir / TRIALS_FILE, header, rows)
    settings = best_settings(base_config, method, summary["best_params"], train_size)
    summary = {**summary, "method": method, "train_size": train_size, **context, "settings": settings,
               "plots": write_plots(study, output_dir)}
    comment = [
        f"Chosen by `tripleentropy tune`: trial {summary['best_trial']} of study {study.study_name},",
        f"mean validation accuracy {summary['best_accuracy']:.2f} over {len(summary['best_accuracies'])} training "
        f"samples ({summary['finished']} of {n_trials} trials finished).",
        *(f"{name}: {value}" for name, value in context.items()),
        "Use with: tripleentropy train --config best.yaml ... (or compare --config best.yaml ...)",
    ]
    text = "".join(f"# {line}\n" for line in comment) + yaml.safe_dump(settings, sort_keys=False)
    write_bytes_atomic(output_dir / BEST_FILE, text.encode("utf-8"))
    write_json_atomic(output_dir / TUNE_SUMMARY_FILE, summary)
    return summary


# ---- one study, and the studies of a comparison --------------------------------------------


def tune(data: TuningData, base_config: Any, method: str, train_size: int | str, options: TuneOptions,
         storage_url: str | None, output_dir: str | os.PathLike, *, fixed: Sequence[str] = (), pretrained: Any = None,
         progress: bool = True, context: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Run (or continue, or join) the study of ``method`` at ``train_size`` until it has
    ``options.n_trials`` finished trials, then write its outputs into ``output_dir``.

    ``fixed`` names settings that keep ``base_config``'s values instead of being searched. The
    study is stored at ``storage_url``, by default ``DIR/study.db``. Everything that can be wrong
    with the input is checked before the storage is opened and before any training. Returns the
    content of ``tune.json``.
    """
    space = tuned_space(method, fixed)
    data.check_size(train_size, options.tune_seeds)
    identity = study_identity(method, train_size, None, data, base_config, space, options)
    name = study_name(method, train_size, None, identity)
    storage_url = storage_url or default_storage(output_dir)
    storage = open_storage(storage_url, options.heartbeat)
    study = create_study(storage, name, identity, options)
    objective = TuningObjective(data, base_config, space, train_size, options, pretrained)
    run_trials(study, objective, options, progress=progress, description=f"tune {method}")
    context = {"data": data.describe(), "storage": _safe_url(storage_url), **(context or {})}
    return write_study_outputs(study, output_dir, base_config, method, train_size, options.n_trials, context)


@dataclass
class ComparisonTuning:
    """What ``compare --tune`` chose: per (method, training size, fold) the tuned settings of the
    runs of that cell, and ``summary`` (budget, validation data, each study's choice) for the
    report and ``summary.json``. Cells whose study has not finished are absent from ``settings``."""

    settings: dict[tuple[str, int | str, int | None], dict[str, Any]]
    summary: dict[str, Any]


def tune_comparison(
    design: Design,
    configs: Mapping[str, Any],
    fixed: Mapping[str, Sequence[str]],
    train_sizes: Sequence[int | str],
    seeds: Sequence[int],
    options: TuneOptions,
    output_dir: str | os.PathLike,
    storage_url: str | None = None,
    *,
    pretrained: Any = None,
    progress: bool = True,
    report_only: bool = False,
) -> ComparisonTuning:
    """Tune every method of a comparison with the same budget on the same validation data.

    One study per method, training size and outer fold (one fold, ``None``, with a test split),
    on :func:`tuning_data_for_design`'s data: never an example the cell's runs evaluate on. Every
    process working on the grid (``--jobs``, shards, machines sharing ``storage_url``) takes part in
    every study: each first runs trials of every study while budget is left, then waits for the
    studies to finish. With ``report_only`` nothing is trained: finished studies are read.
    Studies live in ``storage_url`` (default ``DIR/tune/study.db``); each study's ``best.yaml``,
    ``trials.csv`` and plots go to ``DIR/tune/NAME/``.
    """
    methods = list(configs)
    tune_dir = Path(output_dir) / "tune"
    check_train_sizes(design, train_sizes, seeds)
    folds = list(dict.fromkeys(design.fold_of(seed) for seed in seeds))
    cells, state_of = [], {}
    for size in train_sizes:
        for fold in folds:
            data = tuning_data_for_design(design, fold, options.inner_folds)
            data.check_size(size, options.tune_seeds)
            for method in methods:
                space = tuned_space(method, fixed.get(method, ()))
                identity = study_identity(method, size, fold, data, configs[method], space, options)
                cells.append((method, size, fold, data, space, identity, study_name(method, size, fold, identity)))
    url = storage_url or default_storage(tune_dir)
    storage = open_storage(url, options.heartbeat)
    if not report_only:
        studies = {}
        for method, size, fold, data, space, identity, name in cells:
            studies[name] = create_study(storage, name, identity, options)
        rounds = (False, True)  # first every study while budget is left, then wait for each to finish
        for wait in rounds:
            for method, size, fold, data, space, identity, name in cells:
                state = state_of.setdefault((size, fold), {})
                objective = TuningObjective(data, configs[method], space, size, options, pretrained, state)
                label = f"tune {method} size {size}" + ("" if fold is None else f" fold {fold}")
                run_trials(studies[name], objective, options, wait=wait, progress=progress, description=label)
                pretrained = objective.pretrained if objective.pretrained is not None else pretrained
    chosen: dict[tuple[str, int | str, int | None], dict[str, Any]] = {}
    entries = []
    for method, size, fold, data, space, identity, name in cells:
        study = load_study(storage, name, options)
        entry = {"method": method, "train_size": size, "fold": fold, "study": name, "validation": data.describe(),
                 "tuning_data_fingerprint": data.fingerprint()}
        if study is None or finished_trials(study) < options.n_trials:
            entry["finished"] = 0 if study is None else finished_trials(study)
            entries.append(entry)
            continue
        context = {"data": data.describe(), "storage": _safe_url(url)}
        outputs = write_study_outputs(study, tune_dir / name, configs[method], method, size, options.n_trials, context)
        tuned = {dimension.name for dimension in space}
        chosen[(method, size, fold)] = {key: value for key, value in outputs["settings"].items() if key in tuned}
        entry.update({key: outputs[key] for key in ("finished", "trials", "best_trial", "best_accuracy",
                                                      "best_accuracies")})
        entry["chosen"] = chosen[(method, size, fold)]
        entries.append(entry)
    summary = {
        "budget": options.n_trials,
        "tune_seeds": options.tune_seeds,
        "reports_per_run": options.reports_per_run,
        "pruner": options.pruner,
        "sampler_seed": options.sampler_seed,
        "storage": _safe_url(url),
        "search_spaces": {method: [d.describe() for d in tuned_space(method, fixed.get(method, ()))]
                          for method in methods},
        "fixed": {method: [d.name for d in search_space(method) if d.name in fixed.get(method, ())]
                  for method in methods},
        "studies": entries,
    }
    return ComparisonTuning(chosen, summary)
