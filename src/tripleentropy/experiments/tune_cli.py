"""The ``tune`` command, and the tuning flags it shares with ``compare --tune``."""

from __future__ import annotations

import argparse
import sys
from dataclasses import fields, replace
from typing import Any, NamedTuple

from ..cli_help import add_command
from ..data import add_column_arguments, add_data_dir_argument
from ..errors import UserError
from .search_space import format_search_spaces, tuned_space

# TrainConfig fields that tune sets itself (per run) or that do not apply to a tuning run.
_TUNE_OWNS = {"output_dir", "resume", "seed", "save_steps", "save_total_limit", "logging_steps", "report_to",
              "early_stopping_patience"}
# name -> (TuneOptions field, default, help); the defaults are TuneOptions'.
_TUNING_FLAGS = {
    "--tune-seeds": ("tune_seeds", 3, "training samples (and initial heads) each trial is averaged over, so that "
                                      "one lucky sample does not win"),
    "--inner-folds": ("inner_folds", 5, "stratified inner folds of the training data that validate the trials when "
                                        "there is no validation split (seed i validates on inner fold i mod K)"),
    "--reports-per-run": ("reports_per_run", 4, "validation accuracies reported to the pruner per training run, at "
                                                "evenly spaced steps; the last is the run's score"),
    "--sampler-seed": ("sampler_seed", 0, "seed of the TPE sampler"),
    "--heartbeat": ("heartbeat", 60, "seconds between a running trial's heartbeats; a trial silent for twice as long "
                                     "(its process died) is marked failed and rerun. Use one value for every process "
                                     "of a study"),
}


def add_tuning_flags(parser: argparse._ActionsContainer) -> None:
    """The flags of a study besides its budget (``--n-trials`` or ``--tune``). Unset flags are None."""
    for flag, (_, default, help_text) in _TUNING_FLAGS.items():
        parser.add_argument(flag, type=int, default=None, metavar="N", help=f"{help_text} (default: {default})")
    parser.add_argument("--pruner", choices=("median", "none"), default=None,
                        help="median: end a trial whose validation accuracy falls below the median of earlier trials "
                             "at the same point (from the end of its first run on, after 5 trials); none: never "
                             "(default: median)")
    parser.add_argument("--storage", metavar="URL", default=None,
                        help="an Optuna RDB storage URL (sqlite:///PATH, postgresql://..., mysql+pymysql://...): "
                             "processes and machines given the same URL and command share one study and its "
                             "budget (default: an SQLite file in the output folder)")


def tuning_flags_given(args: argparse.Namespace) -> list[str]:
    """The tuning flags set on the command line (for ``compare`` without ``--tune``)."""
    names = [flag for flag, (dest, _, _) in _TUNING_FLAGS.items() if getattr(args, dest) is not None]
    return names + [flag for flag in ("--pruner", "--storage") if getattr(args, flag[2:]) is not None]


def tune_options_from_args(args: argparse.Namespace, n_trials: int, trials_flag: str) -> Any:
    """``TuneOptions`` from the flags (defaults where unset), checked."""
    from .tune import TuneOptions

    given = {dest: getattr(args, dest) for dest, _, _ in _TUNING_FLAGS.values() if getattr(args, dest) is not None}
    if args.pruner is not None:
        given["pruner"] = args.pruner
    return TuneOptions(n_trials=n_trials, **given).validate(trials_flag)


def fixed_by_flags(args: argparse.Namespace) -> set[str]:
    """Settings set on the command line or in ``--config``: ``tune`` keeps them, searches the rest."""
    from ..training.config import TrainConfig, read_config_file

    names = {item.name for item in fields(TrainConfig) if hasattr(args, item.name) and item.name not in _TUNE_OWNS}
    if args.config:
        names |= {str(key).replace("-", "_") for key in read_config_file(args.config)}
    return names


def register_tune(subparsers: argparse._SubParsersAction) -> None:
    from ..training.cli import _add_config_flags

    parser = add_command(
        subparsers,
        "tune",
        help="search a method's settings with Optuna on validation data (resumable, shared across machines)",
        description="\n\n".join((
            "Search the settings of one method (--loss) for one training size with Optuna: a seeded TPE sampler, "
            "median pruning on the validation accuracy reported during training, and a trial's value the mean "
            "validation accuracy over --tune-seeds training samples. Validation data only: the task's validation "
            "split, --validation FILE, or stratified inner folds of the training data; never a test split.",
            "The study lives in an Optuna storage (DIR/study.db, or --storage URL): run the same command again "
            "after a crash or a kill and it continues, or start it on several machines at once; --n-trials is "
            "the study's total. Writes DIR/best.yaml (a --config file for train and compare), DIR/trials.csv, "
            "DIR/tune.json, DIR/optimization_history.png and DIR/param_importances.png.",
            "Settings given as flags or in --config are fixed; the rest of the method's search space is searched.",
        )),
        epilog="search spaces:\n" + "\n".join(f"  {line}" for line in format_search_spaces().splitlines()),
        examples=[
            "tripleentropy tune --task SST2 --train-size 16/class --n-trials 30 --output-dir runs/tune-sst2",
            "tripleentropy tune --train train.csv --validation dev.csv --loss ce --n-trials 20 "
            "--output-dir runs/tune-ce",
        ],
        docs="docs/tuning.md",
    )
    parser.add_argument("--config", metavar="FILE", help="YAML or JSON file of settings (these are fixed)")
    study = parser.add_argument_group("the study")
    study.add_argument("--n-trials", type=int, required=True, metavar="N",
                       help="finished (complete or pruned) trials the study ends with, over all its processes")
    add_tuning_flags(study)
    groups = _add_config_flags(parser, skip=_TUNE_OWNS)
    groups["data"].add_argument("--max-eval", type=int, default=None, metavar="N",
                                help="validate on a fixed stratified sample of N examples of each validation set")
    add_data_dir_argument(groups["data"])
    add_column_arguments(groups["data"])
    groups["output"].add_argument("--output-dir", required=True, metavar="DIR",
                                  help="where the study and its outputs go")
    groups["output"].add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(handler=_tune, validate=validate_tune)


class TuneRequest(NamedTuple):
    """What ``tune`` runs, from its validated flags: the base settings, the study's options and
    the settings the command fixes."""

    config: Any
    options: Any
    fixed: set[str]


def validate_tune(args: argparse.Namespace) -> TuneRequest:
    """Everything ``tune`` checks before it reads data or loads a model: every flag, the settings,
    that something is left to search, the output directory and the model name."""
    from ..data import get_task
    from ..modeling import resolve_model
    from ..outputs import check_output_dir
    from ..training.cli import config_from_args

    options = tune_options_from_args(args, args.n_trials, "--n-trials")
    if args.max_eval is not None and args.max_eval < 1:
        raise UserError(f"--max-eval must be at least 1, got {args.max_eval}")
    config = replace(config_from_args(args), output_dir=None)  # --output-dir is the study's folder
    if (config.task is None) == (config.train is None):
        raise UserError("name the training data with either --task NAME or --train FILE (one of them)")
    if config.task is not None:
        get_task(config.task)
    if config.early_stopping_patience:
        raise UserError("tune scores every run at its end and stops none early: set early_stopping_patience to 0 "
                        "in --config")
    fixed = fixed_by_flags(args)
    tuned_space(config.loss, fixed)
    check_output_dir(args.output_dir)
    resolve_model(config.model)
    return TuneRequest(config, options, fixed)


def _tune(args: argparse.Namespace) -> int:
    import optuna

    from ..data import get_task
    from ..training.api import load_training_data
    from .tune import TuningData, tune

    config, options, fixed = validate_tune(args)
    train, validation = load_training_data(replace(config, train_size=None))
    data = TuningData(train.source, list(train.label_names), train.examples,
                      validation.examples if validation is not None else None, options.inner_folds, args.max_eval)
    context: dict[str, Any] = {"command": " ".join(["tripleentropy", *sys.argv[1:]])}
    if config.task is not None and get_task(config.task).protocol == "cv10":
        context["note"] = (f"{get_task(config.task).name} is evaluated by cross-validation over the same examples "
                           "these settings were chosen on; for an honest comparison use compare --tune, which "
                           "tunes inside each outer fold")
        print(f"tripleentropy: note: {context['note']}", file=sys.stderr)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    train_size = config.train_size if config.train_size is not None else "full"
    summary = tune(data, config, config.loss, train_size, options, args.storage, args.output_dir, fixed=sorted(fixed),
                   progress=not args.quiet, context=context)
    settings = ", ".join(f"{name} {summary['settings'][name]}" for name in summary["best_params"])
    print(f"{config.loss}: best mean validation accuracy {summary['best_accuracy']:.2f} (trial {summary['best_trial']}, "
          f"{summary['finished']} of {options.n_trials} trials finished: {summary['trials']['complete']} complete, "
          f"{summary['trials']['pruned']} pruned)")
    print(f"chosen: {settings}")
    print(f"settings: {args.output_dir}/best.yaml (use with: tripleentropy train --config {args.output_dir}/best.yaml ...)")
    return 0
