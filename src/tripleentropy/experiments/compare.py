"""``compare``: run every method on the same samples from the same weights, then test the gaps.

The paired design: for each training size and seed (or fold), every method (a fine-tuning loss,
``logreg``, ``setfit``: see ``methods``) trains on the same sampled training set, from the same
pretrained weights (and, between fine-tuning methods, the same initial head), and is evaluated on
the same examples. The data is tokenised once per distinct max length and the pretrained weights
are read once per invocation (and worker process); each run copies them. Each run is keyed and
recorded with exactly the settings its method trains with.
"""

from __future__ import annotations

import os
import platform
import shlex
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from typing import Any

from ..data import Example, LabeledData, get_task, load_file, load_task, sample_train, stratified_folds
from ..data.sampling import per_class_count, shortest_class
from ..errors import UserError
from .grid import RunSpec, make_grid, normalize_train_size, run_grid, worker_threads
from .methods import get_method
from .store import RunStore, fingerprint_examples, fingerprint_split

FOLD_SEED = 1111


@dataclass
class Design:
    """The data of a comparison and how each run's training and evaluation sets are drawn.

    With a ``test`` set every run evaluates on it and trains on a sample of ``pool``; without
    one, ``pool`` is split into ``num_folds`` stratified folds and run ``seed`` uses fold
    ``seed % num_folds`` for evaluation and samples its training set from the other folds.
    ``validation`` is a task's validation split when the runs do not evaluate on it: settings
    may be chosen there (``compare --tune``); no run of the grid sees it.

    ``inner_folds`` (with folds) makes the design validate instead of test: run ``seed`` leaves
    out outer fold ``seed % num_folds`` altogether, splits the rest into ``inner_folds``
    stratified folds, evaluates on inner fold ``seed % inner_folds`` and samples its training
    set from the others, so no run sees the test fold of its seed.
    """

    name: str
    label_names: list[str]
    pool: list[Example]
    test: list[Example] | None
    num_folds: int
    max_eval: int | None = None
    positive_label: str | None = None
    validation: list[Example] | None = None
    inner_folds: int | None = None

    def __post_init__(self) -> None:
        self._folds = None if self.test is not None else stratified_folds(
            [example.label for example in self.pool], self.num_folds, FOLD_SEED, source=self.name
        )

    @property
    def uses_folds(self) -> bool:
        return self.test is None

    def fold_of(self, seed: int) -> int | None:
        return seed % self.num_folds if self.uses_folds else None

    def split(self, fold: int | None) -> tuple[list[int], list[int]]:
        """Indices into ``pool`` to train from, and indices of the evaluation examples (into
        ``test``, or into ``pool`` for a fold), capped by ``max_eval`` with a fixed sample."""
        if fold is None:
            train, evaluation = list(range(len(self.pool))), list(range(len(self.test)))
            eval_examples = self.test
        else:
            train, evaluation = self._folds[fold]
            eval_examples = self.pool
            if self.inner_folds:
                inner = stratified_folds([self.pool[index].label for index in train], self.inner_folds,
                                         FOLD_SEED + fold, source=f"{self.name} outside fold {fold}")
                inner_train, inner_evaluation = inner[fold % self.inner_folds]
                train, evaluation = [train[i] for i in inner_train], [train[i] for i in inner_evaluation]
        if self.max_eval is not None and self.max_eval < len(evaluation):
            evaluation = _sample_indices(eval_examples, evaluation, self.max_eval, seed=0, source=self.name)
        return train, evaluation

    def fingerprint(self) -> str:
        """Covers every example either side of the design and how the evaluation sets are drawn."""
        inner = f";inner_folds={self.inner_folds}" if self.inner_folds else ""
        return fingerprint_split(self.pool, "test", self.test,
                                 f"folds={self.num_folds if self.uses_folds else 0};max_eval={self.max_eval}{inner}")


def _sample_indices(examples: Sequence[Example], indices: Sequence[int], size: int | str, seed: int, source: str,
                    label_names: Sequence[str] | None = None) -> list[int]:
    """``sample_train`` over ``examples[indices]``, returning indices (identity, not equality)."""
    chosen = sample_train([examples[i] for i in indices], size, seed, source=source, label_names=label_names)
    position = {id(examples[i]): i for i in indices}
    return [position[id(example)] for example in chosen]


#: Inner folds of the training data that ``--eval-split validation`` evaluates on when a task has
#: no validation split.
VALIDATION_FOLDS = 5


def design_from_task(
    name: str, data_dir: str | None, num_folds: int | None, max_eval: int | None, eval_split: str = "test"
) -> Design:
    """A task's design: its test split, or 10-fold CV for tasks without one. ``eval_split=
    "validation"`` evaluates on validation data instead, to choose settings honestly: the
    validation split (SST2, SST5), else inner folds of the training split (TREC, MRPC), else
    (MR, CR, SUBJ, MPQA) inner folds of each outer fold's training part, never its test fold."""
    task = get_task(name)
    splits = load_task(task.name, data_dir)
    if eval_split not in ("test", "validation"):
        raise UserError(f"unknown evaluation split {eval_split!r}; use test or validation")
    if num_folds is not None and eval_split == "validation":
        raise UserError("--folds goes with the test split: --eval-split validation evaluates on the validation "
                        f"split or on {VALIDATION_FOLDS} inner folds of the training data; drop --folds")
    if eval_split == "validation" and "validation" not in splits:
        folds = task.num_folds or 10
        if "test" in splits:
            return Design(f"task {task.name} (inner folds of the training split)", list(task.label_names),
                          splits["train"].examples, None, VALIDATION_FOLDS, max_eval, task.positive_label)
        return Design(f"task {task.name} (inner folds of each outer fold's training part)", list(task.label_names),
                      splits["train"].examples, None, folds, max_eval, task.positive_label,
                      inner_folds=VALIDATION_FOLDS)
    test = splits[eval_split].examples if eval_split in splits else None
    if num_folds is not None and test is not None:
        raise UserError(
            f"--folds applies to data without a test split, but {task.name} is evaluated on its {eval_split} split; "
            f"drop --folds (the tasks without one are MR, CR, SUBJ and MPQA)"
        )
    validation = splits["validation"].examples if eval_split == "test" and "validation" in splits else None
    folds = num_folds or task.num_folds or 10
    suffix = " (validation split)" if eval_split == "validation" else ""
    return Design(f"task {task.name}{suffix}", list(task.label_names), splits["train"].examples, test, folds, max_eval,
                  task.positive_label, validation)


def design_from_files(
    train_path: str, test_path: str | None, columns: Mapping[str, Any], num_folds: int | None, max_eval: int | None
) -> Design:
    if num_folds is not None and test_path:
        raise UserError("--folds splits --train when there is no --test file; with --test every run evaluates on it: drop --folds or --test")
    train = load_file(train_path, **columns)
    test = load_file(test_path, label_names=train.label_names, **columns).examples if test_path else None
    return Design(str(train_path), list(train.label_names), train.examples, test, num_folds or 10, max_eval)


def run_settings(config: Any, method: str) -> dict[str, Any]:
    """Every setting of ``config`` that can change the result of a run of ``method``: the values
    of the fields that method reads (see ``methods``; for a fine-tuning loss the training settings,
    learning rate, epochs, max length, ..., and those only that loss reads, its defaults
    resolved). This is what the run's key covers and what its record stores."""
    return get_method(method).key_settings(config)


def check_train_sizes(design: Design, sizes: Sequence[Any], seeds: Sequence[int]) -> None:
    """Refuse, before any training, a training size of 1 (one example, one class: nothing to
    classify) or larger than the data a run samples it from: the whole pool, or with folds the
    pool less the evaluation fold of each seed; for ``N/class``, N examples of every class."""
    available = {seed: design.split(design.fold_of(seed))[0] for seed in seeds}
    smallest = min(len(indices) for indices in available.values()) if available else len(design.pool)
    for size in sizes:
        per_class = per_class_count(size)
        if per_class is not None:
            _check_per_class(design, size, per_class, available)
            continue
        if size != "full" and size < 2:
            # A stratified sample of 2 or more holds two classes (sample_train).
            raise UserError(
                f"--train-sizes {size}: a training sample of one example holds a single class; a classifier "
                "needs at least two (a training size of 2 or more)"
            )
        if size == "full" or size <= smallest:
            continue
        if size > len(design.pool):
            raise UserError(f"{design.name} has {len(design.pool)} training examples, fewer than --train-sizes {size}")
        raise UserError(
            f"--train-sizes {size}: with {design.num_folds}-fold cross-validation each run samples its training set "
            f"from the other folds, which hold only {smallest} of the {len(design.pool)} examples; use sizes of at "
            f"most {smallest}, 'full', or more --folds"
        )


def _check_per_class(design: Design, size: str, per_class: int, available: Mapping[int, Sequence[int]]) -> None:
    """Refuse ``--train-sizes N/class`` when a class has fewer than N examples to sample from."""
    pools = list(available.values()) or [range(len(design.pool))]
    shortest = shortest_class([[design.pool[i].label for i in indices] for indices in pools], len(design.label_names),
                              per_class)
    if shortest is None:
        return
    label, count = shortest
    where = (f"the training folds of a seed ({design.num_folds}-fold cross-validation)" if design.uses_folds
             else "its training data")
    advice = f"use at most {count}/class" if count else "a per-class size needs every class in the training data"
    raise UserError(
        f"--train-sizes {size}: {design.name} has only {count} example{'' if count == 1 else 's'} of the class "
        f"{design.label_names[label]!r} in {where}; {advice}"
    )


@dataclass
class CompareResult:
    records: list[dict]
    summary: dict
    report: str
    seconds: float
    workers: int
    held_elsewhere: int = 0
    """Runs of this call's part that other processes were still training when it ended (only
    with ``wait_for_others`` false)."""
    trained: int = 0
    """Runs trained by this call (and by the ``earlier`` call it continued, if any)."""


def machine_description(jobs: int = 1) -> str:
    import torch

    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else f"{os.cpu_count()} CPU cores"
    threads = f"{jobs} worker processes of {worker_threads(jobs)} thread(s)" if jobs > 1 else f"{torch.get_num_threads()} threads"
    return f"{platform.machine()}, {device}, torch {torch.__version__}, {threads}"


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def parse_jobs(text: str) -> int | str:
    """A ``--jobs`` value: ``"auto"`` or a positive number of workers."""
    if text.strip().lower() == "auto":
        return "auto"
    try:
        jobs = int(text)
    except ValueError:
        jobs = 0
    if jobs < 1:
        raise UserError(f"--jobs: expected a positive number of workers or 'auto', got {text!r}")
    return jobs


def parse_shard(text: str) -> tuple[int, int]:
    """A ``--shard`` value ``I/N``: part I (1-based) of N disjoint parts of a grid."""
    part, _, parts = text.partition("/")
    try:
        shard = (int(part), int(parts))
    except ValueError:
        shard = (0, 0)
    if not 1 <= shard[0] <= shard[1]:
        raise UserError(f"--shard: expected I/N with 1 <= I <= N (part I of N, e.g. 1/4 to 4/4), got {text!r}")
    return shard


def resolve_jobs(jobs: int | str, runs: int) -> int:
    """How many worker processes train side by side: ``jobs``, or for ``"auto"`` one per CPU core
    this process may use (at most 8) when no GPU is present and 1 when one is; never more than
    ``runs``, and at least 1.

    On CPU, several one-thread workers beat one many-thread process: a few-shot MiniLM step is
    too small to keep several threads busy (docs/compare.md, "Runs side by side")."""
    import torch

    if jobs == "auto":
        jobs = 1 if torch.cuda.is_available() else min(available_cores(), 8)
    return max(1, min(int(jobs), runs))


class ComparisonRun:
    """Trains and evaluates one run of a comparison (a :data:`~.grid.RunFunction`).

    The pretrained weights are read on the first call and the data tokenised once per maximum
    length, once per process; the object pickles without that state, so worker processes each
    prepare their own. ``cell_settings[(method, train_size, fold)]`` overrides settings of that
    method in that cell (the settings ``compare --tune`` chose there).
    """

    def __init__(self, design: Design, configs: Mapping[str, Any], model_name: str, pretrained: Any = None,
                 cell_settings: Mapping[tuple, Mapping[str, Any]] | None = None):
        self.design = design
        self.configs = dict(configs)
        self.model_name = model_name
        self.pretrained = pretrained
        self.cell_settings = dict(cell_settings or {})
        self.state: dict[str, Any] = {}

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "state": {}}

    def prepare(self) -> None:
        from ..modeling import load_pretrained

        pretrained = self.pretrained if self.pretrained is not None else load_pretrained(self.model_name)
        self.state["pretrained"] = pretrained
        self.state["tokenized"] = {}

    def tokenized(self, max_length: int) -> tuple[Any, Any]:
        """The pool and the test set tokenised with ``max_length``, once per distinct length."""
        from ..training import tokenize_examples

        cache, design = self.state["tokenized"], self.design
        if max_length not in cache:
            tokenizer = self.state["pretrained"].tokenizer
            cache[max_length] = (
                tokenize_examples(tokenizer, design.pool, max_length),
                tokenize_examples(tokenizer, design.test, max_length) if design.test else None,
            )
        return cache[max_length]

    def __call__(self, spec: RunSpec) -> dict[str, Any]:
        if not self.state:
            self.prepare()
        design, state = self.design, self.state
        tuned = self.cell_settings.get((spec.method, spec.train_size, spec.fold), {})
        config = replace(self.configs[spec.method], **tuned, seed=spec.seed, train_size=None)
        pool, test = self.tokenized(config.max_length)
        train_indices, eval_indices = design.split(spec.fold)
        if spec.train_size != "full":
            train_indices = _sample_indices(design.pool, train_indices, spec.train_size, spec.seed, design.name,
                                            design.label_names)
        evaluation = (test if spec.fold is None else pool).subset(eval_indices)
        result = get_method(spec.method).run(config, pool.subset(train_indices), evaluation, state["pretrained"],
                                             design.label_names, design.positive_label)
        return {
            "metrics": result.metrics,
            "train_examples": len(train_indices),
            "eval_examples": len(eval_indices),
            "train_fingerprint": fingerprint_examples(design.pool[i] for i in train_indices),
            "eval_fingerprint": fingerprint_examples(evaluation.examples),
            "train_seconds": round(result.train_seconds, 3),
            **result.training,
        }


def run_comparison(
    design: Design,
    configs: Mapping[str, Any],
    methods: Sequence[str],
    train_sizes: Sequence[Any],
    seeds: Sequence[int],
    output_dir: str,
    *,
    title: str,
    baselines: Sequence[str] = ("ce",),
    paper_gains: Sequence[Mapping[str, Any]] | None = None,
    progress: bool = True,
    pretrained: Any = None,
    jobs: int | str = 1,
    cell_settings: Mapping[tuple, Mapping[str, Any]] | None = None,
    tuning: Mapping[str, Any] | None = None,
    shard: tuple[int, int] | None = None,
    run_sizes: Sequence[Any] | None = None,
    report_only: bool = False,
    wait_for_others: bool = True,
    earlier: CompareResult | None = None,
) -> CompareResult:
    """Run (or finish) the paired grid and write runs/, summary.json, report.md and the plots.

    ``configs[method]`` is the ``TrainConfig`` of each method (see ``methods``; the same
    ``model`` for all); each run's key holds only the settings its method reads. Every method is
    compared with each of ``baselines`` (methods of the grid; the first is the main one).
    ``jobs`` runs that many worker processes side by side (see :func:`resolve_jobs`).
    ``cell_settings[(method, train_size, fold)]`` (from ``compare --tune``) overrides that method's
    settings in that cell; a loss without an entry for a cell has no run there yet (its tuning
    is not finished). ``tuning`` describes the tuning for the report and ``summary.json``.
    ``shard=(i, n)`` runs only the i-th (1-based) of n disjoint parts of the grid: cell number c
    (one training size and seed, every loss) belongs to part ``c % n + 1``. ``run_sizes`` (some of
    ``train_sizes``) trains only the runs at those sizes. ``report_only`` trains nothing. Either
    way the summary covers every run of the grid already stored, by any part, and says how many
    are missing. Runs that other processes sharing ``output_dir`` hold are waited for (see
    :func:`run_grid`), unless ``wait_for_others`` is false: then they are left out of this
    summary and counted in ``held_elsewhere``. ``earlier``, the result of a call of the same
    invocation on the same grid that left such runs (``reproduce``'s first pass), adds its time
    and runs trained to this call's, in the report and the result.
    """
    from .report import write_outputs

    missing = [name for name in baselines if name not in methods]
    if missing or not baselines:
        raise UserError(f"baseline {', '.join(missing) or '(none)'} is not one of the methods {', '.join(methods)}")
    started = time.perf_counter()
    base = configs[methods[0]]
    model_name = base.model
    other_models = sorted({configs[method].model for method in methods} - {model_name})
    if other_models:
        raise UserError(f"every method must start from the same model (the runs are paired); got {model_name} and {', '.join(other_models)}")
    sizes = [normalize_train_size(size) for size in train_sizes]
    check_train_sizes(design, sizes, seeds)
    sizes_to_run = sizes if run_sizes is None else [normalize_train_size(size) for size in run_sizes]
    not_in_grid = [str(size) for size in sizes_to_run if size not in sizes]
    if not_in_grid:
        raise UserError(f"training size {', '.join(not_in_grid)} is not one of the grid's ({', '.join(map(str, sizes))})")
    fingerprint = design.fingerprint()
    from ..modeling import model_fingerprint

    weights = model_fingerprint(model_name)
    # Each method's runs are keyed and recorded with exactly the settings they train with.
    def keyed(method: str, tuned: Mapping[str, Any]) -> dict[str, Any]:
        return {**run_settings(replace(configs[method], **tuned), method), "max_eval": design.max_eval}

    settings = {method: keyed(method, {}) for method in methods}
    specs: list[RunSpec] = []
    mine: list[RunSpec] = []
    untuned = cell_number = 0
    for size in sizes:
        for seed in seeds:
            fold = design.fold_of(seed)
            cell_methods, cell_method_settings = list(methods), settings
            if cell_settings is not None:
                cell_methods = [method for method in methods if (method, size, fold) in cell_settings]
                untuned += len(methods) - len(cell_methods)
                cell_method_settings = {method: keyed(method, cell_settings[(method, size, fold)])
                                        for method in cell_methods}
            cell = make_grid(
                cell_methods, [size], [seed], model=model_name, data_fingerprint=fingerprint,
                method_settings=cell_method_settings, folds=None if fold is None else [fold], model_fingerprint=weights,
            )
            if (shard is None or cell_number % shard[1] == shard[0] - 1) and size in sizes_to_run:
                mine += cell
            specs += cell
            cell_number += 1
    store = RunStore(output_dir)
    todo = [] if report_only else [spec for spec in mine if store.load(spec.key) is None]
    run = ComparisonRun(design, configs, model_name, pretrained, cell_settings)
    if todo and progress:
        which = [] if shard is None else [f"part {shard[0]} of {shard[1]}"]
        which += [] if run_sizes is None else [f"at {', '.join(map(str, sizes_to_run))}"]
        part = f" ({', '.join(which)}: {len(mine)} runs)" if which else ""
        print(f"{design.name}: {len(specs)} runs{part}, {len(mine) - len(todo)} already done", file=sys.stderr)
    workers = resolve_jobs(jobs, len(todo))
    if not report_only:
        run_grid(mine, store, run, progress=progress, jobs=workers, wait=wait_for_others)
    records = [record for record in (store.load(spec.key) for spec in specs) if record is not None]
    stored = {record["key"] for record in records}
    held_elsewhere = 0 if report_only else sum(spec.key not in stored for spec in mine)
    notes = []
    if len(records) < len(specs) + untuned:
        notes.append(f"{len(records)} of the grid's {len(specs) + untuned} runs are stored: the statistics cover "
                     "those (the other parts of the grid, or an interrupted invocation, have the rest)")
    if untuned:
        notes.append(f"{untuned} runs wait for their method's tuning to finish (`compare --tune`)")
    seconds = time.perf_counter() - started + (earlier.seconds if earlier else 0.0)
    trained = len(store.saved_keys) + (earlier.trained if earlier else 0)
    context = {
        "command": " ".join(shlex.quote(arg) for arg in ["tripleentropy", *sys.argv[1:]]),
        "model": model_name,
        "data": design.name + (f" ({design.num_folds}-fold cross-validation)" if design.uses_folds else ""),
        "methods": ", ".join(methods),
        "training sizes": ", ".join(str(size) for size in sizes),
        "seeds": ", ".join(str(seed) for seed in seeds),
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine_description(workers),
        "wall time of this invocation": f"{seconds / 60:.1f} min ({trained} runs trained, "
                                        f"{len(records) - trained} reused)",
    }
    if report_only:
        context["wall time of this invocation"] = f"{seconds / 60:.1f} min (--report-only: {len(records)} stored runs reported)"
    if shard is not None:
        context["part of the grid"] = f"{shard[0]} of {shard[1]} (`--shard {shard[0]}/{shard[1]}`)"
    summary = write_outputs(
        records, output_dir, title=title, context=context, baseline=list(baselines), paper_gains=paper_gains,
        max_eval=design.max_eval, eval_folds=design.num_folds if design.uses_folds else None, notes=notes,
        tuning=tuning,
    )
    return CompareResult(records, summary, os.path.join(output_dir, "report.md"), seconds, workers, held_elsewhere,
                         trained)

