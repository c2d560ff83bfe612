"""``train_model``: one readable path from a ``TrainConfig`` and examples to a trained model."""

from __future__ import annotations

import json
import math
import os
import platform
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import transformers
from transformers import EarlyStoppingCallback, PrinterCallback, TrainerCallback, TrainingArguments
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR
from transformers.tokenization_utils_base import PreTrainedTokenizerBase
from transformers.utils import CONFIG_NAME

from .. import __version__
from ..errors import UserError
from ..modeling import PretrainedEncoder, TripleEntropyForSequenceClassification, load_pretrained
from .config import TrainConfig, auto_epochs
from .evaluation import classification_metrics, evaluate_model
from .features import TokenizedExamples, make_collator, tokenize_examples
from .initialization import initialize_from_data
from .model_card import write_model_card
from .trainer import TripleEntropyTrainer

RUN_CONFIG_NAME = "run_config.json"
METRICS_NAME = "metrics.json"


@dataclass
class TrainResult:
    """What ``train_model`` returns.

    Attributes:
        model: the trained module (on the training device, in eval mode).
        tokenizer: its tokenizer.
        label_names: class names, index = label.
        metrics: ``evaluate_model`` metrics on the validation data (None without validation).
        train_metrics: the Trainer's summary (runtime, samples per second, mean loss, ...).
        log_history: every logged record (loss, ce, metric, learning rate, eval metrics).
        output_dir: where the model was saved (None when not saved).
    """

    model: TripleEntropyForSequenceClassification
    tokenizer: PreTrainedTokenizerBase
    label_names: list[str]
    metrics: dict | None
    train_metrics: dict[str, Any]
    log_history: list[dict[str, Any]] = field(default_factory=list)
    output_dir: str | None = None


def _examples_and_names(data: Any, label_names: Sequence[str] | None) -> tuple[Any, list[str] | None]:
    """Accept LabeledData (duck-typed: ``.examples`` and ``.label_names``), a TokenizedExamples
    or a list of Examples."""
    if hasattr(data, "label_names") and hasattr(data, "examples") and not isinstance(data, TokenizedExamples):
        return data.examples, list(label_names or data.label_names)
    return data, list(label_names) if label_names is not None else None


def _tokenized(tokenizer, data, max_length: int) -> TokenizedExamples:
    if isinstance(data, TokenizedExamples):
        if data.max_length != max_length:
            raise UserError(
                f"the data was tokenised with max length {data.max_length}, but the run's max_length is "
                f"{max_length}: tokenise it with the run's max_length"
            )
        return data
    return tokenize_examples(tokenizer, list(data), max_length)


def steps_per_epoch(config: TrainConfig, num_examples: int, world_size: int = 1) -> int:
    """Optimizer steps in one epoch of ``num_examples``, as the Trainer counts them."""
    batches = math.ceil(num_examples / (config.batch_size * world_size))
    return max(math.ceil(batches / config.gradient_accumulation_steps), 1)


def training_epochs(config: TrainConfig, num_examples: int, world_size: int = 1) -> float:
    """The epochs a run of ``config`` on ``num_examples`` trains for: ``epochs``, or for ``auto``
    ``auto_epochs`` of its steps per epoch (before ``min_steps`` and ``max_steps``)."""
    if config.epochs == "auto":
        return float(auto_epochs(steps_per_epoch(config, num_examples, world_size)))
    return float(config.epochs)


def optimizer_steps(config: TrainConfig, num_examples: int, world_size: int = 1) -> int:
    """How many optimizer steps a run of ``config`` on ``num_examples`` takes: ``max_steps`` if
    set, else ``training_epochs`` worth of steps (as the Trainer counts them), at least
    ``min_steps``."""
    if config.max_steps is not None:
        return config.max_steps
    per_epoch = steps_per_epoch(config, num_examples, world_size)
    return max(math.ceil(training_epochs(config, num_examples, world_size) * per_epoch), config.min_steps)


def _training_arguments(config: TrainConfig, output_dir: str, save: bool, has_validation: bool,
                        num_examples: int) -> TrainingArguments:
    early_stopping = config.early_stopping_patience > 0
    if not save and not early_stopping:
        save_strategy = "no"
    elif config.save_steps and not early_stopping:
        save_strategy = "steps"
    else:
        save_strategy = "epoch"
    scheduler = "constant_with_warmup" if config.scheduler == "constant" else config.scheduler
    args = TrainingArguments(
        output_dir=output_dir,
        per_device_train_batch_size=config.batch_size,
        gradient_accumulation_steps=config.gradient_accumulation_steps,
        per_device_eval_batch_size=config.eval_batch_size,
        learning_rate=config.lr,
        weight_decay=config.weight_decay,
        adam_epsilon=1e-8,
        num_train_epochs=training_epochs(config, num_examples),
        # transformers 5 reads a warm-up below 1 as a fraction of the steps (it has no warmup_ratio)
        warmup_steps=config.warmup_ratio if config.warmup_ratio is not None else config.warmup_steps,
        lr_scheduler_type=scheduler,
        logging_strategy="steps",
        logging_steps=config.logging_steps,
        save_strategy=save_strategy,
        save_steps=config.save_steps or 500,
        save_total_limit=config.save_total_limit,
        eval_strategy="epoch" if has_validation else "no",
        load_best_model_at_end=early_stopping,
        metric_for_best_model="accuracy" if early_stopping else None,
        greater_is_better=True if early_stopping else None,
        seed=config.seed,
        data_seed=config.seed,
        bf16=config.bf16,
        use_cpu=not torch.cuda.is_available(),
        report_to=config.report_to_list(),
        remove_unused_columns=False,
        dataloader_num_workers=0,
        ddp_find_unused_parameters=False,  # every parameter, centers included, is in each step's graph
        disable_tqdm=False,
    )
    if config.max_steps is not None or config.min_steps or config.epochs == "auto":
        # A step budget: the Trainer repeats epochs until max_steps and schedules over them.
        args.max_steps = optimizer_steps(config, num_examples, args.world_size)
    return args


def _fixed_padding(config: TrainConfig, train_data: TokenizedExamples) -> int | None:
    # The authors' code tokenises the whole training sample at once, padded to its longest example
    # (at most max_length), and feeds that padding to SoftTriple: every batch then has that length
    # (Sosnowski et al. 2022, https://github.com/sewerynkarolina/TripleEntropy). Everything else
    # pads each batch to its own longest example.
    exact = config.loss == "tripleentropy" and config.softtriple_input == "tokens-with-padding"
    return max(train_data.lengths) if exact else None


def _trainer_metrics(label_names: list[str]):
    def compute(prediction) -> dict[str, float]:
        logits = prediction.predictions[0] if isinstance(prediction.predictions, tuple) else prediction.predictions
        metrics = classification_metrics(prediction.label_ids, np.argmax(logits, axis=-1), label_names)
        return {"accuracy": metrics["accuracy"], "macro_f1": metrics["macro_f1"]}

    return compute


def train_model(
    config: TrainConfig,
    train: Any,
    validation: Any = None,
    label_names: Sequence[str] | None = None,
    output_dir: str | os.PathLike | None = None,
    pretrained: PretrainedEncoder | None = None,
    progress: bool = True,
    callbacks: Sequence[TrainerCallback] = (),
) -> TrainResult:
    """Fine-tune ``config.model`` on ``train`` and return the trained model and its metrics.

    Args:
        config: the run's settings (validated here).
        train: ``LabeledData``, a list of ``Example``, or a ``TokenizedExamples`` made with the
            same tokenizer and ``max_length`` (tokenise once, reuse across runs).
        validation: the same kinds; evaluated after each epoch (and for early stopping) and at
            the end, into ``TrainResult.metrics``.
        label_names: class names (taken from ``LabeledData`` when not given; else "0", "1", ...).
        output_dir: where to save checkpoints and the final model; defaults to
            ``config.output_dir``; None means nothing is written (fast runs in one process).
        pretrained: an encoder loaded once with ``load_pretrained(config.model)``: its weights
            are copied, not read again. Every run starts from the same pretrained weights and a
            head and centers drawn from ``config.seed``.
        progress: show the progress bar and the log lines.
        callbacks: more ``TrainerCallback``s for the Trainer (e.g. ``tune``'s validation reports).
    """
    config.validate()
    output_dir = str(output_dir) if output_dir is not None else config.output_dir
    train_items, names = _examples_and_names(train, label_names)
    validation_items, _ = _examples_and_names(validation, None) if validation is not None else (None, None)
    if config.early_stopping_patience > 0 and not validation_items:
        raise UserError(
            "--early-stopping-patience needs validation data to stop on: pass --validation FILE (or use a task "
            "with a validation split, SST2 or SST5), or leave early stopping off (0)"
        )
    pretrained = pretrained if pretrained is not None else load_pretrained(config.model)
    tokenizer = pretrained.tokenizer
    train_data = _tokenized(tokenizer, train_items, config.max_length)
    if len(train_data) == 0:
        raise UserError("there are no training examples")
    if names is None:
        names = [str(i) for i in range(max(train_data.labels) + 1)]
    bad = [label for label in set(train_data.labels) if not 0 <= label < len(names)]
    if bad:
        raise UserError(f"training labels {sorted(bad)} are outside the {len(names)} label names {names}")
    validation_data = _tokenized(tokenizer, validation_items, config.max_length) if validation_items else None

    model = TripleEntropyForSequenceClassification.from_encoder(
        pretrained, num_labels=len(names), loss=config.loss, id2label=dict(enumerate(names)),
        seed=config.seed, pooling=config.pooling, **config.loss_kwargs(),
    )
    initialize_from_data(model, tokenizer, train_data, config.head_init, config.loss_kwargs().get("center_init"),
                         config.seed, config.eval_batch_size, _fixed_padding(config, train_data))
    with tempfile.TemporaryDirectory(prefix="tripleentropy-") as scratch:
        run_dir = output_dir or scratch
        args = _training_arguments(config, run_dir, save=output_dir is not None,
                                   has_validation=validation_data is not None, num_examples=len(train_data))
        args.disable_tqdm = not progress
        if not progress:
            args.log_level = "error"
        early_stopping = [EarlyStoppingCallback(config.early_stopping_patience)] if args.load_best_model_at_end else []
        trainer = TripleEntropyTrainer(
            model=model,
            args=args,
            train_dataset=train_data,
            eval_dataset=validation_data,
            data_collator=make_collator(tokenizer, pad_to=_fixed_padding(config, train_data)),
            processing_class=tokenizer,
            compute_metrics=_trainer_metrics(names),
            callbacks=[*early_stopping, *callbacks],
            center_lr=config.center_lr,
            group_by_length=config.group_by_length,
        )
        if not progress:
            trainer.remove_callback(PrinterCallback)
        checkpoint = None
        if config.resume:
            if output_dir is None:
                raise UserError("--resume needs --output-dir (the checkpoints are there)")
            checkpoint = last_complete_checkpoint(output_dir)
            if checkpoint is None and trainer.is_world_process_zero():
                print(f"tripleentropy: no checkpoint in {output_dir}; starting from the beginning")
        started = time.perf_counter()
        summary = trainer.train(resume_from_checkpoint=checkpoint)
        train_metrics = dict(summary.metrics)
        train_metrics["wall_seconds"] = time.perf_counter() - started
        train_metrics["optimizer_steps"] = summary.global_step
        train_metrics["epochs_trained"] = round(float(trainer.state.epoch or 0.0), 4)
        model.eval()
        metrics = None
        if validation_data is not None:
            metrics = evaluate_model(model, tokenizer, validation_data, config.eval_batch_size, names)
        if output_dir is not None:
            trainer.save_model(output_dir)
            if trainer.is_world_process_zero():
                write_run_files(output_dir, config, model, names, len(train_data), metrics, train_metrics, pretrained)
        log_history = list(trainer.state.log_history)
    return TrainResult(model, tokenizer, names, metrics, train_metrics, log_history, output_dir)


def holds_trained_model(directory: str | os.PathLike) -> bool:
    """Whether ``directory`` holds a saved model (``config.json``, ``run_config.json``) or the
    checkpoints of a training run."""
    directory = Path(directory)
    if (directory / CONFIG_NAME).is_file() or (directory / RUN_CONFIG_NAME).is_file():
        return True
    return directory.is_dir() and any(path.is_dir() for path in directory.glob(f"{PREFIX_CHECKPOINT_DIR}-*"))


def last_complete_checkpoint(output_dir: str | os.PathLike) -> str | None:
    """The newest checkpoint in ``output_dir`` that was written to the end.

    The Trainer writes ``trainer_state.json`` last, so a checkpoint cut short by a kill lacks a
    readable one and is passed over.
    """
    directory = Path(output_dir)
    if not directory.is_dir():
        return None
    steps = []
    for path in directory.glob(f"{PREFIX_CHECKPOINT_DIR}-*"):
        suffix = path.name.rsplit("-", 1)[-1]
        if not suffix.isdigit():
            continue
        try:
            json.loads((path / "trainer_state.json").read_text())
        except (OSError, ValueError):
            continue
        steps.append((int(suffix), path))
    return str(max(steps)[1]) if steps else None


def write_run_files(
    output_dir: str,
    config: TrainConfig,
    model: TripleEntropyForSequenceClassification,
    label_names: list[str],
    num_train_examples: int,
    metrics: dict | None,
    train_metrics: dict,
    pretrained: PretrainedEncoder,
) -> None:
    """``run_config.json``: the resolved configuration; ``metrics.json``: the results;
    ``README.md``: the model card (``write_model_card``)."""
    directory = Path(output_dir)
    run_config = {
        "config": config.to_dict(),
        "model_path": pretrained.name_or_path,
        "loss": model.loss_name,
        "loss_settings": model.loss_settings,
        "pooling": model.pooling,
        "normalize": model.normalize,
        "label_names": label_names,
        "num_train_examples": num_train_examples,
        "versions": {
            "tripleentropy": __version__,
            "transformers": transformers.__version__,
            "torch": torch.__version__,
            "python": platform.python_version(),
        },
    }
    (directory / RUN_CONFIG_NAME).write_text(json.dumps(run_config, indent=2) + "\n")
    results = {"validation": metrics, "train": train_metrics}
    (directory / METRICS_NAME).write_text(json.dumps(results, indent=2) + "\n")
    write_model_card(directory, config, model, label_names, num_train_examples, metrics)


def read_run_config(model_dir: str | os.PathLike) -> dict[str, Any]:
    """The ``run_config.json`` of a trained model directory ({} if it has none)."""
    path = Path(model_dir) / RUN_CONFIG_NAME
    return json.loads(path.read_text()) if path.is_file() else {}


def check_data_source(config: TrainConfig) -> None:
    """Raise ``UserError`` unless ``config`` names its data one way: a known ``task``, or a
    ``train`` file with an optional ``validation`` file. Reads nothing."""
    from ..data import get_task

    if (config.task is None) == (config.train is None):
        raise UserError("name the training data with either --task NAME or --train FILE (one of them)")
    if config.task is not None:
        get_task(config.task)
        if config.validation is not None:
            raise UserError("--validation goes with --train FILE; a task brings its own validation split")


def load_training_data(config: TrainConfig) -> tuple[Any, Any]:
    """The training and validation ``LabeledData`` that ``config`` names (``task`` or files),
    with ``train_size`` applied (a stratified sample, or ``N/class`` a balanced one, drawn with
    ``seed``, which must hold at least two classes)."""
    from ..data import LabeledData, check_sample_classes, load_file, load_task, sample_train

    check_data_source(config)
    if config.task is not None:
        splits = load_task(config.task, config.data_dir)
        train, validation = splits["train"], splits.get("validation")
    else:
        columns = {
            "text_column": config.text_column,
            "text_pair_column": config.text_pair_column,
            "label_column": config.label_column,
        }
        train = load_file(config.train, **columns)
        validation = None
        if config.validation is not None:
            validation = load_file(config.validation, label_names=train.label_names, **columns)
    if config.train_size is not None:
        sample = sample_train(train.examples, config.train_size, config.seed, source=train.source,
                              label_names=train.label_names)
        check_sample_classes(sample, train.label_names, source=train.source)
        train = LabeledData(sample, train.label_names, train.is_pair, train.source)
    return train, validation
