"""What ``compare`` pairs: methods, each a way to train on a sample and predict evaluation examples.

A loss is one kind of method (fine-tuning the encoder with that loss); ``logreg`` (a logistic
regression on the frozen encoder's features) and ``setfit`` (the SetFit library) are others. Each
method says which ``TrainConfig`` fields it reads: those, and only those, enter its runs' keys,
and a per-method flag for a field it does not read is refused.

Importing this module is cheap (no torch, transformers or setfit): the command line's checks
run before anything heavy loads.
"""

from __future__ import annotations

import contextlib
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, fields, replace
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from ..errors import UserError
from ..modeling.settings import LOSSES, loss_settings
from ..training.config import TrainConfig

# TrainConfig fields that say where data comes from, how a run is logged and saved, or that a
# comparison sets per run (seed, loss): they do not enter a method's key. The model, seed, method
# and training size enter a key on their own (the model by its content, see model_fingerprint).
# ``recipe`` only fills in the settings left unset: their values enter the key, not its name, so a
# run of ``--recipe classic`` has the key it had before recipes existed.
NOT_RESULT_FIELDS = frozenset({
    "recipe",
    "task", "train", "validation", "data_dir", "text_column", "text_pair_column", "label_column", "train_size",
    "output_dir", "resume", "report_to", "logging_steps", "save_steps", "save_total_limit", "seed", "loss", "model",
})
# Settings that only one loss reads.
LOSS_FIELDS: dict[str, tuple[str, ...]] = {
    "tripleentropy": ("beta", "la", "gamma", "margin", "centers", "tau", "softtriple_input", "center_init", "center_lr"),
    "supcon": ("beta", "temperature"),
    "ce": (),
}
# Settings of a method other than fine-tuning (fields that ``train`` has no flag for).
OTHER_METHOD_FIELDS = frozenset(item.name for item in fields(TrainConfig) if not item.metadata.get("train", True))
# Settings every fine-tuning method reads: the rest of TrainConfig.
FINE_TUNING_FIELDS = tuple(
    item.name for item in fields(TrainConfig)
    if item.name not in NOT_RESULT_FIELDS | OTHER_METHOD_FIELDS
    and not any(item.name in names for names in LOSS_FIELDS.values())
)


@dataclass
class MethodResult:
    """One run's outcome: ``metrics`` on the evaluation examples and ``train_seconds``, the time
    spent training (fitting), without loading the model or evaluating; ``training`` says how much
    it trained where a setting leaves that to the data (fine-tuning: ``optimizer_steps`` and
    ``epochs_trained``, e.g. under ``epochs auto``)."""

    metrics: dict[str, Any]
    train_seconds: float
    training: dict[str, Any] = field(default_factory=dict)


class Method(ABC):
    """A way to train on a sample and predict: what ``compare`` runs, pairs and compares."""

    name: str
    description: str

    @property
    @abstractmethod
    def reads(self) -> tuple[str, ...]:
        """The ``TrainConfig`` fields that can change this method's result."""

    def key_settings(self, config: TrainConfig) -> dict[str, Any]:
        """What enters this method's run keys (and records): the values of the fields it reads."""
        return {name: getattr(config, name) for name in self.reads}

    @abstractmethod
    def run(self, config: TrainConfig, train: Any, evaluation: Any, pretrained: Any,
            label_names: Sequence[str], positive_label: str | None = None) -> MethodResult:
        """Train on ``train`` and evaluate on ``evaluation`` (``TokenizedExamples`` made with
        ``pretrained.tokenizer`` and ``config.max_length``), starting from ``pretrained``, seeded
        by ``config.seed``. ``positive_label`` names the class whose F1 the metrics report as
        ``f1`` (MRPC's paraphrase class)."""


def _step_report() -> Any:
    """A ``TrainerCallback`` that reports each optimiser step to the progress bar of the grid
    (:func:`~.grid.report_steps`)."""
    from transformers import TrainerCallback

    from .grid import report_steps

    class StepReport(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            report_steps(state.global_step, state.max_steps)

    return StepReport()


class FineTuning(Method):
    """Fine-tune the encoder and its head with one loss (``ce``, ``tripleentropy``, ``supcon``)."""

    def __init__(self, loss: str) -> None:
        self.name = loss
        self.description = f"fine-tuning with the {loss} loss"

    @property
    def reads(self) -> tuple[str, ...]:
        return FINE_TUNING_FIELDS + LOSS_FIELDS[self.name]

    def key_settings(self, config: TrainConfig) -> dict[str, Any]:
        settings = super().key_settings(config)
        if "beta" in settings and settings["beta"] is None:  # the loss's default, written out
            settings["beta"] = loss_settings(self.name, **replace(config, loss=self.name).loss_kwargs())["beta"]
        return settings

    def run(self, config, train, evaluation, pretrained, label_names, positive_label=None) -> MethodResult:
        from ..training import evaluate_model, train_model

        result = train_model(replace(config, loss=self.name), train, label_names=label_names, output_dir=None,
                             pretrained=pretrained, progress=False, callbacks=[_step_report()])
        metrics = evaluate_model(result.model, pretrained.tokenizer, evaluation, config.eval_batch_size, label_names,
                                 positive_label=positive_label)
        training = {name: result.train_metrics[name] for name in ("optimizer_steps", "epochs_trained")
                    if name in result.train_metrics}
        return MethodResult(metrics, float(result.train_metrics.get("wall_seconds", 0.0)), training)


class LogisticRegressionProbe(Method):
    """``logreg``: logistic regression (scikit-learn's defaults) on the frozen encoder's features,
    read as the classification head reads them (``pooling``), nothing fine-tuned. The same probe
    that ``--head-init probe`` starts fine-tuning from."""

    name = "logreg"
    description = "logistic regression on the frozen encoder's pooled features"

    @property
    def reads(self) -> tuple[str, ...]:
        return ("pooling", "max_length")

    def run(self, config, train, evaluation, pretrained, label_names, positive_label=None) -> MethodResult:
        from ..modeling import TripleEntropyForSequenceClassification
        from ..training import evaluate_model
        from ..training.initialization import initialize_from_data

        model = TripleEntropyForSequenceClassification.from_encoder(
            pretrained, num_labels=len(label_names), loss="ce", id2label=dict(enumerate(label_names)),
            seed=config.seed, pooling=config.pooling,
        )
        started = time.perf_counter()
        initialize_from_data(model, pretrained.tokenizer, train, head_init="probe", center_init=None,
                             seed=config.seed, batch_size=config.eval_batch_size)
        seconds = time.perf_counter() - started
        metrics = evaluate_model(model, pretrained.tokenizer, evaluation, config.eval_batch_size, label_names,
                                 positive_label=positive_label)
        return MethodResult(metrics, seconds)


@contextlib.contextmanager
def _quiet_setfit() -> Iterator[None]:
    """Keep SetFit's chatter out of the progress bar of ``compare``: its INFO log (set on import),
    the ``datasets`` map bars and the CPU-only ``pin_memory`` warning of its data loader."""
    import warnings

    import datasets
    from setfit import logging as setfit_logging

    verbosity = setfit_logging.get_verbosity()
    bars_were_disabled = datasets.are_progress_bars_disabled()
    setfit_logging.set_verbosity_error()
    datasets.disable_progress_bars()
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*'pin_memory' argument is set as true", category=UserWarning)
            yield
    finally:
        setfit_logging.set_verbosity(verbosity)
        if not bars_were_disabled:
            datasets.enable_progress_bars()


class SetFit(Method):
    """``setfit``: the SetFit library (Tunstall et al. 2022) at its defaults on the same encoder
    directory, but for ``setfit_iterations`` (its ``num_iterations``) when set: contrastive
    fine-tuning of the sentence encoder on pairs drawn from the sample, then a logistic-regression
    head on its embeddings. Sentence pairs are joined with the tokenizer's separator token (SetFit
    reads one text)."""

    name = "setfit"
    description = "SetFit (its defaults, or --setfit-iterations) on the same encoder"

    @property
    def reads(self) -> tuple[str, ...]:
        return ("setfit_iterations",)

    def key_settings(self, config: TrainConfig) -> dict[str, Any]:
        try:
            settings: dict[str, Any] = {"setfit": version("setfit")}  # its defaults are its version's
        except PackageNotFoundError:
            raise UserError("the setfit method needs the setfit package: pip install setfit") from None
        if config.setfit_iterations is not None:  # unset, the key of a run at setfit's defaults
            settings["setfit_iterations"] = config.setfit_iterations
        return settings

    def run(self, config, train, evaluation, pretrained, label_names, positive_label=None) -> MethodResult:
        from ..modeling.pretrained import quiet_transformers
        from ..training import classification_metrics

        separator = pretrained.tokenizer.sep_token or " "

        def texts(examples) -> list[str]:
            return [e.text if e.text_pair is None else f"{e.text} {separator} {e.text_pair}" for e in examples]

        with quiet_transformers(), _quiet_setfit():
            iterations = {} if config.setfit_iterations is None else {"num_iterations": config.setfit_iterations}
            model, seconds = train_setfit(pretrained.name_or_path, texts(train.examples),
                                          [e.label for e in train.examples], config.seed,
                                          callbacks=[_step_report()], **iterations)
            predictions = model.predict(texts(evaluation.examples), batch_size=config.eval_batch_size, as_numpy=True)
        labels = [e.label for e in evaluation.examples]
        return MethodResult(classification_metrics(labels, [int(p) for p in predictions], label_names, positive_label),
                            seconds)


def train_setfit(model_path: str, texts: Sequence[str], labels: Sequence[int], seed: int, *,
                 callbacks: Sequence[Any] = (), **arguments: Any) -> tuple[Any, float]:
    """A SetFit model of ``model_path`` trained on ``texts`` and ``labels`` with setfit's
    ``TrainingArguments`` at their defaults but for ``seed`` and ``arguments`` (e.g.
    ``num_iterations``), and the seconds its training took. ``callbacks`` (``TrainerCallback``s)
    see the contrastive fine-tuning's steps."""
    import tempfile

    from datasets import Dataset
    from setfit import SetFitModel, Trainer, TrainingArguments
    from transformers import PrinterCallback

    with tempfile.TemporaryDirectory(prefix="tripleentropy-setfit-") as scratch:
        model = SetFitModel.from_pretrained(model_path)
        training = TrainingArguments(output_dir=scratch, seed=seed, save_strategy="no", report_to="none",
                                     show_progress_bar=False, **arguments)
        data = Dataset.from_dict({"text": list(texts), "label": list(labels)})
        trainer = Trainer(model=model, args=training, train_dataset=data, callbacks=list(callbacks))
        trainer.remove_callback(PrinterCallback)  # it prints every log line when there is no progress bar
        started = time.perf_counter()
        trainer.train()
        return model, time.perf_counter() - started


METHODS: dict[str, Method] = {
    **{loss: FineTuning(loss) for loss in LOSSES},
    LogisticRegressionProbe.name: LogisticRegressionProbe(),
    SetFit.name: SetFit(),
}
"""Every method ``compare`` knows, by name."""


def get_method(name: str) -> Method:
    """The method called ``name``; ``UserError`` naming the choices for an unknown one."""
    if name not in METHODS:
        raise UserError(f"unknown method {name!r}; choose from {', '.join(METHODS)}")
    return METHODS[name]
