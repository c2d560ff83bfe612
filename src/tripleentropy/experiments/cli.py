"""The ``compare`` and ``reproduce`` commands."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import fields
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, NamedTuple

from ..cli_help import add_command
from ..data import add_column_arguments, add_data_dir_argument
from ..errors import UserError
from ..outputs import check_output_dir
from .search_space import tuned_space
from .tune_cli import add_tuning_flags, tune_options_from_args, tuning_flags_given

# TrainConfig fields that compare sets itself (per run) or takes from its own flags.
_COMPARE_OWNS = {
    "task", "train", "validation", "train_size", "seed", "loss", "output_dir", "resume",
    "data_dir", "text_column", "text_pair_column", "label_column",
    # compare saves no checkpoints and has no validation set to log or stop early on
    "save_steps", "save_total_limit", "logging_steps", "report_to", "early_stopping_patience",
}
_DEFAULT_METHODS = "ce,tripleentropy"


def _add_training_flags(parser: argparse.ArgumentParser) -> None:
    """``--config`` and every ``train`` flag that applies to a run, in one argument group; a value
    may be given per method (METHOD=VALUE,...)."""
    from ..training.cli import flag_help
    from ..training.config import TrainConfig

    group = parser.add_argument_group(
        "training settings",
        "the flags of `tripleentropy train`, for every method that reads them (logreg reads --pooling and "
        "--max-length, setfit only --setfit-iterations: it runs at its defaults otherwise); give METHOD=VALUE[,METHOD=VALUE] to set one "
        "per method, e.g. --lr ce=5e-5,tripleentropy=1e-4 (each method's runs train, are keyed and are "
        "recorded with their own values; --model is the same for all)",
    )
    group.add_argument("--config", metavar="FILE", help="YAML or JSON file of training settings")
    for item in fields(TrainConfig):
        if item.name in _COMPARE_OWNS or not item.metadata.get("cli", True):
            continue
        flag = "--" + item.name.replace("_", "-")
        help_text = flag_help(item)
        if str(item.type) == "bool":
            group.add_argument(flag, dest=item.name, action=argparse.BooleanOptionalAction,
                               default=argparse.SUPPRESS, help=help_text)
        else:
            choices = item.metadata.get("choices")
            metavar = "{" + ",".join(choices) + "}" if choices else item.metadata.get("metavar", "VALUE")
            group.add_argument(flag, dest=item.name, default=argparse.SUPPRESS, metavar=metavar, help=help_text)


def _convert(item: Any, raw: str) -> Any:
    """A flag's text as its ``TrainConfig`` field takes it: by the field's own parser, else its type."""
    from ..training.cli import field_type

    flag = "--" + item.name.replace("_", "-")
    parse = item.metadata.get("parse")
    if parse is not None:
        try:
            return parse(raw)
        except ValueError as error:
            raise UserError(f"{flag}: {error}") from None
    kind = field_type(item.type)
    try:
        value = kind(raw)
    except ValueError:
        raise UserError(f"{flag}: {raw!r} is not a valid {kind.__name__}") from None
    choices = item.metadata.get("choices")
    if choices and value not in choices:
        raise UserError(f"{flag}: {raw!r} is not one of {', '.join(map(str, choices))}")
    return value


def _readers(name: str, methods: Sequence[str]) -> list[str]:
    """The methods of ``methods`` whose runs a setting can change: those that read it; for
    ``recipe`` those that read a setting it fills in; ``model`` all of them."""
    from ..training.config import RECIPE_FIELDS
    from .methods import get_method

    if name == "model":
        return list(methods)
    names = RECIPE_FIELDS if name == "recipe" else (name,)
    return [method for method in methods if any(field in get_method(method).reads for field in names)]


def configs_from_args(args: argparse.Namespace, methods: Sequence[str]) -> dict[str, Any]:
    """One ``TrainConfig`` per method: defaults, then ``--config FILE``, then the flags.

    A flag given for a method that does not read it (``--lr setfit=1e-4``), or given for all
    while no method of the grid reads it, is refused."""
    from ..modeling.settings import LOSSES
    from ..training.config import TrainConfig

    base = TrainConfig.from_file(args.config) if args.config else TrainConfig()
    shared: dict[str, Any] = {}
    per_method: dict[str, dict[str, Any]] = {method: {} for method in methods}
    for item in fields(TrainConfig):
        if not hasattr(args, item.name) or item.name in _COMPARE_OWNS:
            continue
        flag = "--" + item.name.replace("_", "-")
        readers = _readers(item.name, methods)
        if not readers:
            raise UserError(f"{flag} applies to none of the methods {','.join(methods)}; leave it out")
        raw = getattr(args, item.name)
        if isinstance(raw, bool):
            shared[item.name] = raw
            continue
        parts = [part.strip() for part in str(raw).split(",")]
        if all("=" in part for part in parts):
            if item.name == "model":
                raise UserError("--model must be the same for every method (the runs are paired)")
            for part in parts:
                method, value = (piece.strip() for piece in part.split("=", 1))
                if method not in per_method:
                    raise UserError(
                        f"{flag}: {method!r} is not one of --methods {','.join(methods)}; "
                        f"add it to --methods to compare it, or drop its value"
                    )
                if method not in readers:
                    raise UserError(f"{flag}: method {method} does not read this setting (those that do here: "
                                    f"{', '.join(readers)}); leave {method}={value} out")
                per_method[method][item.name] = _convert(item, value)
        else:
            shared[item.name] = _convert(item, str(raw))
    return {
        method: TrainConfig.from_dict(
            {**shared, **per_method[method], **({"loss": method} if method in LOSSES else {})}, base=base
        ).validate()
        for method in methods
    }


def fixed_settings(args: argparse.Namespace, methods: Sequence[str]) -> dict[str, set[str]]:
    """Per method, the settings the command sets (a flag, for every method or as METHOD=VALUE, or a
    ``--config`` key): ``compare --tune`` keeps them as set and searches the rest."""
    from ..training.config import TrainConfig, read_config_file

    from_file = {str(key).replace("-", "_") for key in read_config_file(args.config)} if args.config else set()
    fixed = {method: set(from_file) for method in methods}
    for item in fields(TrainConfig):
        if not hasattr(args, item.name) or item.name in _COMPARE_OWNS:
            continue
        raw = getattr(args, item.name)
        parts = [part.strip() for part in str(raw).split(",")]
        per_method = not isinstance(raw, bool) and all("=" in part for part in parts)
        for method in ([part.split("=", 1)[0].strip() for part in parts] if per_method else methods):
            fixed[method].add(item.name)
    return fixed


def _parse_methods(text: str, baselines: Sequence[str]) -> list[str]:
    """The ``--methods`` list, known and distinct, the baselines first (in their order)."""
    from .methods import METHODS

    methods = [method.strip() for method in text.split(",") if method.strip()]
    unknown = [method for method in methods if method not in METHODS]
    if unknown:
        raise UserError(f"--methods: unknown method {unknown[0]!r}; choose from {', '.join(METHODS)}")
    if len(set(methods)) != len(methods):
        raise UserError(f"--methods names a method twice: {text}")
    if len(methods) < 2:
        raise UserError("--methods needs the baseline and at least one other method, e.g. ce,tripleentropy")
    missing = [name for name in baselines if name not in methods]
    if missing:
        raise UserError(f"--baseline {missing[0]} is not one of --methods {','.join(methods)}: add it there, "
                        "or choose a baseline among them")
    return list(baselines) + [method for method in methods if method not in baselines]


def _parse_baselines(text: str) -> list[str]:
    baselines = [name.strip() for name in text.split(",") if name.strip()]
    if not baselines or len(set(baselines)) != len(baselines):
        raise UserError(f"--baseline needs one method or several distinct ones, e.g. ce or ce,setfit; got {text!r}")
    return baselines


def _parse_sizes(text: str) -> list[Any]:
    from .grid import normalize_train_size

    try:
        sizes = [normalize_train_size(part.strip()) for part in text.split(",") if part.strip()]
    except ValueError as error:
        raise UserError(f"--train-sizes: {error}") from None
    if not sizes or len(set(sizes)) != len(sizes):
        raise UserError(f"--train-sizes needs distinct sizes, e.g. 20,100,full; got {text!r}")
    return sizes


def _positive(name: str, value: int | None) -> None:
    if value is not None and value < 1:
        raise UserError(f"{name} must be at least 1, got {value}")


def _add_jobs_flag(parser: argparse._ActionsContainer) -> None:
    parser.add_argument(
        "--jobs", default="auto", metavar="N",
        help="train N runs side by side in worker processes that share the CPU threads; 'auto' (the "
             "default) is 1 with a GPU and one per CPU core (at most 8) without. Each worker holds its "
             "own copy of the model",
    )


def register_compare(subparsers: argparse._SubParsersAction) -> None:
    parser = add_command(
        subparsers,
        "compare",
        help="does TripleEntropy beat cross-entropy (or SetFit) on your data? paired runs, statistics, report",
        description=(
            "Run every method (fine-tuning losses, logreg, setfit) on the same sampled training sets "
            "from the same initial weights, evaluate on the same examples, and report the paired "
            "differences against the baseline (ce by default) with a 95% confidence interval and a "
            "paired t-test. Writes DIR/runs/ (one JSON per run), "
            "DIR/summary.json, DIR/report.md, DIR/accuracy.png and DIR/differences.png. Rerunning "
            "the same command does only the runs that are missing; a changed setting never "
            "reuses an old run."
        ),
        examples=[
            "tripleentropy compare --train mine.csv --output-dir runs/mine",
            "tripleentropy compare --task SST2 --methods ce,tripleentropy,setfit --train-sizes 16/class "
            "--output-dir runs/sst2",
            "tripleentropy compare --task CR --tune 20 --output-dir runs/cr-tuned",
        ],
        docs="docs/compare.md",
    )
    data = parser.add_argument_group("data")
    source = data.add_mutually_exclusive_group(required=True)
    source.add_argument("--task", help="a SentEval task (MR, CR, SUBJ, MPQA, TREC, SST2, SST5, MRPC)")
    source.add_argument("--train", metavar="FILE", help="your training file (CSV, TSV or JSON Lines)")
    data.add_argument("--test", metavar="FILE",
                      help="your test file; without it, --train is split into --folds stratified folds")
    data.add_argument("--eval-split", choices=("test", "validation"), default="test",
                      help="with --task: evaluate on its test split (default) or on validation data, to choose "
                           "settings without looking at test data: the validation split (SST2, SST5), else 5 "
                           "stratified inner folds of the training split (TREC, MRPC), else of each seed's outer "
                           "training part (MR, CR, SUBJ, MPQA; seed i leaves out fold i altogether)")
    data.add_argument("--folds", type=int, default=None, metavar="K",
                      help="folds for data without a test split; seed i evaluates on fold i mod K and samples "
                           "its training set from the other folds (default: 10, the SentEval protocol; refused "
                           "with a test split)")
    data.add_argument("--max-eval", type=int, default=None, metavar="N",
                      help="evaluate on a fixed stratified sample of N examples, for quick studies: one sample of "
                           "the test set shared by every run, or with folds one sample of each fold shared by the "
                           "runs on that fold")
    add_data_dir_argument(data)
    add_column_arguments(data)
    grid = parser.add_argument_group(
        "grid", "every method runs on every training size with every seed; the runs of one size and seed share "
                "their training sample"
    )
    grid.add_argument("--methods", "--losses", dest="methods", default=_DEFAULT_METHODS,
                      help="comma-separated methods, the baseline among them: the losses ce, tripleentropy, "
                           "supcon (fine-tuning), logreg (logistic regression on the frozen encoder's "
                           "features) and setfit (the SetFit library with its own settings); --losses is an alias "
                           f"(default: {_DEFAULT_METHODS})")
    grid.add_argument("--baseline", default="ce", metavar="METHOD[,METHOD]",
                      help="what every method is compared against, one of --methods; several, e.g. "
                           "ce,setfit, give one comparison table each (default: ce)")
    grid.add_argument("--train-sizes", default="20,100", metavar="SIZES",
                      help="comma-separated training-set sizes: N examples (a stratified sample), N/class (N "
                           "examples of every class, as SetFit's few-shot tables sample), 'full' for all "
                           "(default: 20,100)")
    grid.add_argument("--seeds", type=int, default=5, metavar="N",
                      help="seeds per size: each draws its own training sample and initial head (default: 5)")
    output = parser.add_argument_group("running and output")
    output.add_argument("--output-dir", required=True, metavar="DIR",
                        help="where runs, summary, report and plots go; processes given the same grid and DIR split "
                             "its runs (each run is claimed by one) and each reports the whole grid")
    _add_jobs_flag(output)
    output.add_argument("--shard", metavar="I/N",
                        help="run only part I of N disjoint parts of the grid (1/N to N/N; each training size and "
                             "seed with all its methods is one unit), e.g. one part per task of a Slurm array "
                             "sharing DIR; every part writes the summary of the runs stored so far")
    output.add_argument("--report-only", action="store_true",
                        help="train nothing: write summary, report and plots from the runs of this grid already in "
                             "DIR")
    output.add_argument("--quiet", action="store_true", help="no progress bar")
    tuning = parser.add_argument_group(
        "equal-budget tuning",
        "--tune N first tunes every method with the same N Optuna trials per training size (and outer fold), on "
        "the same validation data, disjoint from every evaluation set: the task's validation split, else "
        "stratified inner folds of the training data (of each outer fold's training part, with folds); --max-eval "
        "caps it too. The runs then use each method's best settings. Settings given as flags or in --config stay "
        "fixed (for one method with METHOD=VALUE). Search spaces: see `tripleentropy tune --help`",
    )
    tuning.add_argument("--tune", type=int, metavar="N", help="Optuna trials per method, training size and fold")
    add_tuning_flags(tuning)
    _add_training_flags(parser)
    parser.set_defaults(handler=_compare, validate=validate_compare)


def _check_comparison_dir(output_dir: str, command: str = "compare") -> None:
    """A comparison's folder must be writable, must not be a trained model's folder, and must not
    hold the other command's results (each writes its own summary.json there)."""
    from ..training.api import holds_trained_model
    from .store import RUNS_DIR, SUMMARY_FILE

    check_output_dir(output_dir)
    if holds_trained_model(output_dir):
        raise UserError(
            f"--output-dir {output_dir} holds a trained model (its config.json or checkpoints, from train): "
            "choose another --output-dir for the comparison"
        )
    try:
        summary = json.loads((Path(output_dir) / SUMMARY_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        summary = None
    preset = summary.get("preset") if isinstance(summary, dict) else None
    if command == "compare" and preset is not None:
        raise UserError(
            f"--output-dir {output_dir} holds the results of `reproduce --preset {preset}` (its {SUMMARY_FILE} "
            "would be overwritten): choose another --output-dir for the comparison"
        )
    if command == "reproduce" and (Path(output_dir) / RUNS_DIR).is_dir():
        raise UserError(
            f"--output-dir {output_dir} holds the runs of a `compare` (its {SUMMARY_FILE} would be overwritten): "
            "choose another --output-dir; reproduce puts each task's comparison in DIR/TASK"
        )


class CompareRequest(NamedTuple):
    """What ``compare`` runs, from its validated flags: methods (the baselines first), training
    sizes, the ``--jobs`` value, one ``TrainConfig`` per method, the baselines, the part of the
    grid (``--shard``, or None) and the tuning (``TuneOptions`` of ``--tune``, or None)."""

    methods: list[str]
    sizes: list[Any]
    jobs: int | str
    configs: dict[str, Any]
    baselines: list[str]
    shard: tuple[int, int] | None
    tuning: Any


def _check_methods(methods: Sequence[str], configs: dict[str, Any]) -> None:
    """What each method needs beyond its settings (setfit: its package), before any work."""
    from .methods import get_method

    for method in methods:
        get_method(method).key_settings(configs[method])


def validate_compare(args: argparse.Namespace) -> CompareRequest:
    """Everything ``compare`` checks before it reads data or loads a model: every flag and
    combination of flags (``--methods``, ``--baseline``, a method's setting for a method that
    does not read it), each method's settings, the output directory and the model name."""
    from ..data import get_task
    from ..modeling import resolve_model
    from .compare import parse_jobs, parse_shard

    baselines = _parse_baselines(args.baseline)
    methods = _parse_methods(args.methods, baselines)
    sizes = _parse_sizes(args.train_sizes)
    jobs = parse_jobs(args.jobs)
    shard = parse_shard(args.shard) if args.shard is not None else None
    if shard is not None and args.report_only:
        raise UserError("--report-only trains nothing and covers the whole grid: leave out --shard")
    options = tune_options_from_args(args, args.tune, "--tune") if args.tune is not None else None
    if options is None and tuning_flags_given(args):
        raise UserError(f"{tuning_flags_given(args)[0]} goes with --tune N (tuning); without --tune nothing is tuned")
    for name in ("--seeds", "--folds", "--max-eval"):
        _positive(name, getattr(args, name[2:].replace("-", "_")))
    if args.test and not args.train:
        raise UserError("--test goes with --train (a task brings its own test split)")
    if args.eval_split != "test" and not args.task:
        raise UserError("--eval-split goes with --task; with your own files, pass the validation file as --test")
    if args.task:
        get_task(args.task)
    configs = configs_from_args(args, methods)
    if any(config.early_stopping_patience for config in configs.values()):
        raise UserError("compare has no validation data to stop early on: set early_stopping_patience to 0 in --config")
    _check_methods(methods, configs)
    _check_comparison_dir(args.output_dir)
    if options is not None:
        fixed = fixed_settings(args, methods)
        for method in methods:
            tuned_space(method, fixed[method])
    # Fail fast, before reading the data; a packaged model is unzipped here, once, not in each worker.
    resolve_model(configs[methods[0]].model)
    return CompareRequest(methods, sizes, jobs, configs, baselines, shard, options)


def _compare(args: argparse.Namespace) -> int:
    from .compare import design_from_files, design_from_task, run_comparison
    from .report import format_summary_table

    methods, sizes, jobs, configs, baselines, shard, options = validate_compare(args)
    if args.task:
        design = design_from_task(args.task, args.data_dir, args.folds, args.max_eval, args.eval_split)
    else:
        columns = {"text_column": args.text_column, "text_pair_column": args.text_pair_column,
                   "label_column": args.label_column}
        design = design_from_files(args.train, args.test, columns, args.folds, args.max_eval)
    tuning = None
    if options is not None:
        import optuna

        from .tune import tune_comparison

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        tuning = tune_comparison(design, configs, fixed_settings(args, methods), sizes, list(range(args.seeds)), options,
                                 args.output_dir, args.storage, progress=not args.quiet, report_only=args.report_only)
    result = run_comparison(
        design, configs, methods, sizes, list(range(args.seeds)), args.output_dir,
        title=f"{' vs '.join(methods)} on {design.name}", baselines=baselines, progress=not args.quiet, jobs=jobs,
        shard=shard, report_only=args.report_only,
        cell_settings=tuning.settings if tuning else None, tuning=tuning.summary if tuning else None,
    )
    print(format_summary_table(result.summary))
    print(f"report: {result.report}")
    return 0


def register_reproduce(subparsers: argparse._SubParsersAction) -> None:
    from .presets import PRESETS

    parser = add_command(
        subparsers,
        "reproduce",
        help="run the paper's experiment grid (or a CPU-sized version of it)",
        description="Presets: " + "; ".join(f"{name}: {preset.description}" for name, preset in PRESETS.items()),
        examples=[
            "tripleentropy reproduce --preset smoke --output-dir runs/smoke",
            "tripleentropy reproduce --preset quick --tasks CR,SST2 --seeds 3 --output-dir runs/quick",
        ],
        docs="docs/reproduce.md",
    )
    parser.add_argument("--preset", required=True, choices=sorted(PRESETS), help="which grid to run")
    parser.add_argument("--output-dir", required=True, metavar="DIR",
                        help="one compare folder per task in DIR/TASK, and the overall report in DIR/report.md; "
                             "processes given the same grid and DIR split its runs (each run is claimed by one)")
    parser.add_argument("--tasks", default=None, help="comma-separated subset of the preset's tasks")
    parser.add_argument("--train-sizes", default=None, metavar="SIZES",
                        help="train only these of the preset's training sizes, comma-separated (e.g. 16/class): a "
                             "CPU can run a grid size by size. The reports still cover every size of the preset, "
                             "from the runs stored so far (they say how many are missing)")
    parser.add_argument("--model", default=None, metavar="MODEL",
                        help="run the preset's grid on this encoder instead of the preset's own: a shortcut "
                             "(minilm, mpnet; see `tripleentropy models`), a local model directory or a hub id")
    parser.add_argument("--recipe", default=None, choices=("default", "classic"),
                        help="train the preset's grid with this recipe (see `tripleentropy train --help`) instead of "
                             "the preset's own settings, e.g. to measure today's defaults on a preset's samples; "
                             "not for the paper preset, whose point is the authors' settings")
    parser.add_argument("--seeds", type=int, default=None, metavar="N",
                        help="seeds per training size instead of the preset's own number (each seed draws its own "
                             "training sample; with folds, seed i evaluates on fold i mod 10): fewer for a CPU, and "
                             "a grid resumed with more seeds keeps the runs of the first ones")
    _add_jobs_flag(parser)
    parser.add_argument("--report-only", action="store_true",
                        help="train nothing: write every task's report and the overall one from the runs of the "
                             "grid already in DIR (they say how many are missing)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    add_data_dir_argument(parser)
    parser.set_defaults(handler=_reproduce, validate=validate_reproduce)


class ReproduceRequest(NamedTuple):
    """What ``reproduce`` runs, from its validated flags: the preset, its tasks to run, the
    ``--jobs`` value, one ``TrainConfig`` per method, the model (``--model`` or the preset's), the
    number of seeds (``--seeds`` or the preset's) and the sizes to train (``--train-sizes``; None:
    all of the preset's)."""

    preset: Any
    tasks: list[str]
    jobs: int | str
    configs: dict[str, Any]
    model: str
    seeds: int
    run_sizes: list[Any] | None


def validate_reproduce(args: argparse.Namespace) -> ReproduceRequest:
    """Everything ``reproduce`` checks before it reads data or loads a model: the tasks, the
    jobs, the output directory, what the preset's methods need and whether the preset's model
    can be had."""
    from ..modeling import BUNDLED_MODEL, resolve_model
    from ..modeling.packaged import PACKAGED_MODELS
    from ..modeling.settings import LOSSES
    from ..training.config import RECIPE_FIELDS, TrainConfig
    from .compare import parse_jobs
    from .presets import PRESETS

    preset = PRESETS[args.preset]
    jobs = parse_jobs(args.jobs)
    _positive("--seeds", args.seeds)
    seeds = preset.seeds if args.seeds is None else args.seeds
    tasks = list(preset.tasks)
    if args.tasks:
        wanted = [task.strip().upper() for task in args.tasks.split(",") if task.strip()]
        unknown = [task for task in wanted if task not in tasks]
        if unknown:
            raise UserError(f"--tasks: {', '.join(unknown)} not in the {preset.name} preset ({', '.join(tasks)})")
        tasks = wanted
    run_sizes = None
    if args.train_sizes:
        from .grid import normalize_train_size

        run_sizes = _parse_sizes(args.train_sizes)
        grid_sizes = [normalize_train_size(size) for size in preset.train_sizes]
        unknown = [str(size) for size in run_sizes if size not in grid_sizes]
        if unknown:
            raise UserError(f"--train-sizes: {', '.join(unknown)} not in the {preset.name} preset "
                            f"({', '.join(map(str, grid_sizes))})")
    model = args.model or preset.model
    settings = dict(preset.settings)
    if args.recipe is not None:
        if preset.name == "paper":
            raise UserError(
                f"--recipe {args.recipe}: the paper preset trains with the authors' settings, which a recipe would "
                "replace; leave out --recipe, or run another preset's grid with it"
            )
        settings = {key: value for key, value in settings.items() if key not in RECIPE_FIELDS}
        settings["recipe"] = args.recipe
    configs = {
        method: TrainConfig.from_dict(
            {**settings, "model": model, **({"loss": method} if method in LOSSES else {})}
        ).validate()
        for method in preset.methods
    }
    _check_methods(preset.methods, configs)
    _check_comparison_dir(args.output_dir, "reproduce")
    if args.model or model in PACKAGED_MODELS:
        resolve_model(model)  # a missing shortcut says how to install it
        return ReproduceRequest(preset, tasks, jobs, configs, model, seeds, run_sizes)
    try:
        resolve_model(model)
    except UserError:
        # A preset's model is the bundled one or a hub id, so the hub is offline without a copy.
        offline_presets = " or ".join(name for name, other in PRESETS.items() if other.model == BUNDLED_MODEL)
        raise UserError(
            f"the {preset.name} preset fine-tunes {preset.model} from the Hugging Face hub, which is offline here "
            f"(HF_HUB_OFFLINE=1) and has no cached copy of it: run it where the hub can be reached, without "
            f"HF_HUB_OFFLINE, or run --preset {offline_presets} (the bundled model)"
        ) from None
    return ReproduceRequest(preset, tasks, jobs, configs, model, seeds, run_sizes)


def _reproduce(args: argparse.Namespace) -> int:
    from ..modeling import load_pretrained
    from .compare import design_from_task, machine_description, run_comparison
    from .report import format_summary_table
    from .reproduce import write_overall_report

    preset, tasks, jobs, configs, model, seeds, run_sizes = validate_reproduce(args)
    designs = {task: design_from_task(task, args.data_dir, None, preset.max_eval) for task in tasks}
    pretrained = None if args.report_only else load_pretrained(model)
    started = time.perf_counter()
    summaries, records, results, workers = {}, {}, {}, 1
    # A first pass leaves the runs that other processes sharing the folder hold; a second waits
    # for them, so processes splitting the preset do not idle at the end of every task.
    pending = list(tasks)
    for wait_for_others in (False, True):
        held = []
        for task in pending:
            result = run_comparison(
                designs[task], configs, list(preset.methods), list(preset.train_sizes), list(range(seeds)),
                os.path.join(args.output_dir, task), title=f"{preset.name} preset: {task}", baselines=preset.baselines,
                paper_gains=preset.paper_gains() or None, progress=not args.quiet, pretrained=pretrained, jobs=jobs,
                run_sizes=run_sizes, report_only=args.report_only, wait_for_others=wait_for_others,
                earlier=results.get(task),
            )
            summaries[task], records[task], results[task] = result.summary, result.records, result
            workers = max(workers, result.workers)
            if result.held_elsewhere:
                held.append(task)
                if not args.quiet:
                    runs = f"{result.held_elsewhere} run{'s' if result.held_elsewhere > 1 else ''}"
                    print(f"{task}: other processes hold {runs}; back to it after the other tasks", file=sys.stderr)
            else:
                print(f"{task}:\n{format_summary_table(result.summary)}\n", file=sys.stderr)
        pending = held
    context = {
        "command": " ".join(["tripleentropy", *sys.argv[1:]]),
        "model": model if model == preset.model else f"{model} (instead of the preset's {preset.model})",
        **({"recipe": f"{args.recipe} (instead of the preset's settings)"} if args.recipe else {}),
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine_description(workers),
        "wall time of this invocation": f"{(time.perf_counter() - started) / 60:.1f} min",
    }
    report = write_overall_report(preset, summaries, records, args.output_dir, context)
    print(f"report: {report}")
    return 0
