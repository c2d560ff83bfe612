"""The configuration of one training run: a dataclass whose fields are the ``train`` flags."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from ..data.sampling import parse_sample_size
from ..errors import UserError
from ..modeling.settings import CENTER_INITS, HEAD_INITS, LOSSES, POOLINGS, SOFTTRIPLE_INPUTS, loss_settings

SCHEDULERS = ("cosine", "linear", "constant")

#: The settings that decide how well fine-tuning does, chosen together (docs/results/defaults-study).
#: ``default`` is the recipe a run gets unless it says otherwise: read the encoder the way it was
#: trained to be read (``pooling auto``), start the head from a linear probe of the frozen features
#: (LP-FT), train long enough on small samples (``epochs auto``, at least 50 optimizer steps) at
#: lr 5e-5, read up to 256 tokens, and for TripleEntropy put SoftTriple on the pooled vector with
#: centers from k-means of each class's embeddings. ``classic`` is the behaviour of versions before
#: 0.2: [CLS] through the architecture's pooler, a random head, 3 epochs at lr 1e-4, 64 tokens,
#: uniform centers on every token's state. A setting given as a flag or in a file wins over both.
RECIPES: dict[str, dict[str, Any]] = {
    "default": {"pooling": "auto", "head_init": "probe", "lr": 5e-5, "epochs": "auto", "min_steps": 50,
                "max_length": 256, "center_init": "kmeans", "softtriple_input": "mean"},
    "classic": {"pooling": "cls", "head_init": "random", "lr": 1e-4, "epochs": 3.0, "min_steps": 0,
                "max_length": 64, "center_init": "uniform", "softtriple_input": "tokens"},
}
RECIPE_FIELDS = tuple(RECIPES["default"])

#: ``epochs auto``: every epoch of the sample, as many as fit in about AUTO_EPOCH_STEPS optimizer
#: steps, but never fewer than AUTO_EPOCHS[0] nor more than AUTO_EPOCHS[1] epochs. Small samples
#: get 8 epochs (few-shot studies: 8 beat 3 by 2 to 18 points), large ones the 3 epochs that
#: suit a few thousand examples; ``min_steps`` then lifts the smallest to enough steps.
AUTO_EPOCHS = (3, 8)
AUTO_EPOCH_STEPS = 500


def auto_epochs(steps_per_epoch: int) -> int:
    """The epochs ``epochs auto`` trains for when one epoch takes ``steps_per_epoch`` optimizer
    steps: 8 up to 62 steps per epoch (1,000 examples at batch 16), then fewer, down to 3 from
    167 steps per epoch on (2,672 examples)."""
    low, high = AUTO_EPOCHS
    return min(high, max(low, math.ceil(AUTO_EPOCH_STEPS / max(steps_per_epoch, 1))))


def parse_epochs(value: Any) -> float | str:
    """``auto``, or a number of epochs > 0 (``"2.5"`` reads as 2.5); ``ValueError`` otherwise."""
    if isinstance(value, str) and value.strip().lower() == "auto":
        return "auto"
    try:
        epochs = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"epochs is 'auto' or a number > 0, got {value!r}") from None
    if isinstance(value, bool) or not math.isfinite(epochs) or epochs <= 0:
        raise ValueError(f"epochs is 'auto' or a number > 0, got {value!r}")
    return epochs


def _recipe_help(name: str) -> str:
    return f" (default: {RECIPES['default'][name]}; --recipe classic: {RECIPES['classic'][name]})"


#: The groups of the ``train`` flags, in the order ``--help`` shows them; each field's metadata
#: names its own (``group``), so that a new field lands in one.
FLAG_GROUPS = ("data", "model and loss", "optimisation", "output")
_DATA, _MODEL_AND_LOSS, _OPTIMISATION, _OUTPUT = FLAG_GROUPS


def _flag(help_text: str, *, group: str, **extra: Any) -> dict[str, Any]:
    return {"help": help_text, "group": group, **extra}


@dataclass
class TrainConfig:
    """Everything a training run depends on. Each field is a ``tripleentropy train`` flag
    (``center_lr`` is ``--center-lr``); ``--config FILE`` sets any of them from YAML or JSON.

    The fields of ``RECIPE_FIELDS`` left unset (None) take the value of ``recipe`` when the
    config is made: ``TrainConfig()`` holds the default recipe, ``TrainConfig(recipe="classic")``
    the settings of earlier versions, and ``TrainConfig(recipe="classic", lr=5e-5)`` the classic
    recipe at another learning rate. The defaults were chosen on validation data (docs/defaults.md).
    """

    # data
    task: str | None = field(default=None, metadata=_flag("a SentEval task by name (CR, MR, SST2, ...)", group=_DATA))
    train: str | None = field(default=None, metadata=_flag("a training file (CSV, TSV, JSON Lines)", group=_DATA))
    validation: str | None = field(
        default=None, metadata=_flag("a validation file, evaluated after each epoch", group=_DATA)
    )
    data_dir: str | None = field(default=None, metadata=_flag("directory of the SentEval data", group=_DATA, cli=False))
    text_column: str = field(default="text", metadata=_flag("text column of the files", group=_DATA, cli=False))
    text_pair_column: str | None = field(default=None, metadata=_flag("second-text column", group=_DATA, cli=False))
    label_column: str = field(default="label", metadata=_flag("label column of the files", group=_DATA, cli=False))
    train_size: int | str | None = field(
        default=None,
        metadata=_flag("train on a stratified sample of this many examples, or with N/class on N examples of every "
                       "class", group=_DATA, parse=parse_sample_size, metavar="N|N/class"),
    )
    # model and loss
    recipe: str = field(
        default="default",
        metadata=_flag(
            "where the settings below that you leave out come from: default (mean pooling where the encoder "
            "was trained for it, a head from a linear probe, epochs auto at lr 5e-5 and at least 50 steps, 256 "
            "tokens, k-means centers on the pooled vector) or classic (the settings of versions before 0.2: "
            "[CLS] through the pooler, a random head, 3 epochs at lr 1e-4, 64 tokens, uniform centers on the "
            "tokens)",
            group=_MODEL_AND_LOSS, choices=tuple(RECIPES),
        ),
    )
    model: str = field(
        default="minilm",
        metadata=_flag(
            "a shortcut: 'minilm' (the bundled all-MiniLM-L6-v2) or 'mpnet' (all-mpnet-base-v2, after `make "
            "mpnet`); `tripleentropy models` lists them. Or a local model directory, or a hub id",
            group=_MODEL_AND_LOSS,
        ),
    )
    pooling: str | None = field(
        default=None,
        metadata=_flag(
            "what the classification head reads: cls (the architecture's own head on the first token), "
            "mean (the masked mean of the last hidden states, L2-normalised when the checkpoint's "
            "sentence-transformers modules say so) or auto (mean for a sentence-transformers checkpoint "
            "read through mean pooling, such as minilm; cls otherwise)" + _recipe_help("pooling"),
            group=_MODEL_AND_LOSS, choices=POOLINGS,
        ),
    )
    head_init: str | None = field(
        default=None,
        metadata=_flag(
            "how the classification head starts: random, or probe (a logistic regression fitted on the "
            "frozen features it reads from the training sample, then everything is fine-tuned: LP-FT)"
            + _recipe_help("head_init"),
            group=_MODEL_AND_LOSS, choices=HEAD_INITS,
        ),
    )
    loss: str = field(
        default="tripleentropy",
        metadata=_flag("tripleentropy (CE + SoftTriple), ce (cross-entropy only) or supcon (CE + SupCon)",
                       group=_MODEL_AND_LOSS, choices=LOSSES),
    )
    beta: float | None = field(
        default=None,
        metadata=_flag(
            "weight of the cross-entropy term; the other term (SoftTriple or SupCon) gets 1 - beta. Default 0.4 "
            "for tripleentropy (the authors'), 0.1 for supcon (Gunel et al. 2021's few-shot lambda = 1 - beta = 0.9)",
            group=_MODEL_AND_LOSS,
        ),
    )
    la: float = field(
        default=8.0, metadata=_flag("SoftTriple lambda: scale of the class similarities", group=_MODEL_AND_LOSS)
    )
    gamma: float = field(
        default=0.1,
        metadata=_flag("SoftTriple gamma: temperature of the softmax over a class's centers", group=_MODEL_AND_LOSS),
    )
    margin: float = field(default=0.1, metadata=_flag("SoftTriple margin delta", group=_MODEL_AND_LOSS))
    centers: int = field(default=5, metadata=_flag("SoftTriple centers per class (K)", group=_MODEL_AND_LOSS))
    tau: float = field(
        default=0.2, metadata=_flag("SoftTriple weight of the regulariser that merges centers", group=_MODEL_AND_LOSS)
    )
    temperature: float = field(
        default=0.3,
        metadata=_flag("SupCon temperature (0.3: Gunel et al. 2021's few-shot value)", group=_MODEL_AND_LOSS),
    )
    softtriple_input: str | None = field(
        default=None,
        metadata=_flag(
            "what SoftTriple sees: tokens (every non-padding token), tokens-with-padding (the authors' "
            "code: every batch padded to the longest example of the training sample, at most --max-length, "
            "and the padding included), cls (first token) or mean (what the head reads: the pooled vector "
            "with mean pooling, else the mean of the tokens)" + _recipe_help("softtriple_input"),
            group=_MODEL_AND_LOSS, choices=SOFTTRIPLE_INPUTS,
        ),
    )
    center_init: str | None = field(
        default=None,
        metadata=_flag(
            "how the SoftTriple centers start: uniform (entries from U(+-1/sqrt(D)), centers of norm about "
            "0.58), kaiming (pytorch-metric-learning's and the official SoftTriple code's kaiming_uniform_"
            "(a=sqrt(5)) on the (D, C*K) matrix: entries from U(+-1/sqrt(C*K)), norm about 5.1 at D=768, "
            "C=2, K=5, so they turn more slowly at the same learning rate), or kmeans (K per class by k-means "
            "of that class's training embeddings as SoftTriple reads them; the class mean plus small noise "
            "when it has fewer points than K)" + _recipe_help("center_init"),
            group=_MODEL_AND_LOSS, choices=CENTER_INITS,
        ),
    )
    center_lr: float = field(
        default=1e-2,
        metadata=_flag("learning rate of the SoftTriple centers (own group, no weight decay)", group=_MODEL_AND_LOSS),
    )
    # optimisation
    lr: float | None = field(
        default=None,
        metadata=_flag("learning rate of the encoder and the head" + _recipe_help("lr"), group=_OPTIMISATION),
    )
    epochs: float | str | None = field(
        default=None,
        metadata=_flag(
            "training epochs, or auto: 8 epochs on small samples, fewer on large ones so that training takes "
            f"about {AUTO_EPOCH_STEPS} optimizer steps, never fewer than 3 (with --min-steps on top)"
            + _recipe_help("epochs"),
            group=_OPTIMISATION, parse=parse_epochs, metavar="N|auto",
        ),
    )
    max_steps: int | None = field(
        default=None,
        metadata=_flag("train exactly this many optimizer steps, repeating epochs (overrides --epochs and "
                       "--min-steps)", group=_OPTIMISATION),
    )
    min_steps: int | None = field(
        default=None,
        metadata=_flag(
            "train at least this many optimizer steps: more epochs when --epochs gives fewer (0: off)"
            + _recipe_help("min_steps"),
            group=_OPTIMISATION,
        ),
    )
    batch_size: int = field(default=16, metadata=_flag("training batch size per process", group=_OPTIMISATION))
    gradient_accumulation_steps: int = field(
        default=1,
        metadata=_flag(
            "add up the gradients of this many batches of --batch-size before each optimizer step: "
            "one step's batch is then made of micro-batches grouped by length and each padded to its "
            "own longest example, so less padding (SupCon contrasts within each micro-batch)",
            group=_OPTIMISATION,
        ),
    )
    max_length: int | None = field(
        default=None,
        metadata=_flag(
            "longest input in tokens; longer input is truncated (each batch is padded to its own longest "
            "example, so short texts cost no more)" + _recipe_help("max_length"),
            group=_OPTIMISATION,
        ),
    )
    warmup_steps: int = field(
        default=10, metadata=_flag("linear warm-up steps of the learning rate", group=_OPTIMISATION)
    )
    warmup_ratio: float | None = field(
        default=None,
        metadata=_flag("linear warm-up over this fraction of the optimizer steps, in [0, 1) (replaces "
                       "--warmup-steps)", group=_OPTIMISATION),
    )
    scheduler: str = field(
        default="cosine",
        metadata=_flag("learning-rate decay after the warm-up", group=_OPTIMISATION, choices=SCHEDULERS),
    )
    weight_decay: float = field(
        default=0.01, metadata=_flag("AdamW weight decay (not on biases, LayerNorm, centers)", group=_OPTIMISATION)
    )
    seed: int = field(
        default=42,
        metadata=_flag("random seed, of the --train-size sample too: the same seed gives the same result",
                       group=_OPTIMISATION),
    )
    bf16: bool = field(
        default=False, metadata=_flag("train with bfloat16 autocast (the loss stays float32)", group=_OPTIMISATION)
    )
    group_by_length: bool = field(
        default=True, metadata=_flag("batch examples of similar length together (less padding)", group=_OPTIMISATION)
    )
    eval_batch_size: int = field(default=128, metadata=_flag("batch size of evaluation", group=_OPTIMISATION))
    setfit_iterations: int | None = field(
        default=20,
        metadata=_flag(
            "compare's setfit method only: text pairs drawn per training example, half similar and half "
            "dissimilar (setfit's num_iterations); 20 is the SetFit paper's number; null in a --config file "
            "gives setfit's own choice, which draws every pair once and oversamples the rarer kind",
            group=_OPTIMISATION, train=False,
        ),
    )
    early_stopping_patience: int = field(
        default=0,
        metadata=_flag(
            "stop after this many epochs without a better validation accuracy and keep the best (0: off); "
            "needs validation data (--validation FILE, or a task with a validation split)",
            group=_OPTIMISATION,
        ),
    )
    # output
    output_dir: str | None = field(
        default=None, metadata=_flag("where the model, checkpoints and logs go", group=_OUTPUT, metavar="DIR")
    )
    resume: bool = field(
        default=False, metadata=_flag("continue from the last checkpoint in --output-dir", group=_OUTPUT)
    )
    save_steps: int = field(
        default=0, metadata=_flag("save a checkpoint every N steps (0: at the end of each epoch)", group=_OUTPUT)
    )
    save_total_limit: int = field(default=2, metadata=_flag("checkpoints to keep", group=_OUTPUT))
    logging_steps: int = field(default=10, metadata=_flag("log the loss and its parts every N steps", group=_OUTPUT))
    report_to: str = field(
        default="none",
        metadata=_flag(
            "where logs go besides the console: none, all, or comma-separated integrations such as tensorboard "
            "or wandb (each needs its package, e.g. pip install tensorboard)",
            group=_OUTPUT,
        ),
    )

    def __post_init__(self) -> None:
        if self.recipe not in RECIPES:
            raise UserError(f"unknown recipe {self.recipe!r}; choose one of {', '.join(RECIPES)}")
        self._from_recipe = frozenset(name for name in RECIPE_FIELDS if getattr(self, name) is None)
        for name in self._from_recipe:
            setattr(self, name, RECIPES[self.recipe][name])

    def explicit_dict(self) -> dict[str, Any]:
        """``to_dict()`` less the values this config took from its recipe: what was set."""
        return {key: value for key, value in asdict(self).items() if key not in self._from_recipe}

    def loss_kwargs(self) -> dict[str, Any]:
        """The settings of the chosen loss, as ``TripleEntropyForSequenceClassification`` takes them."""
        if self.loss == "tripleentropy":
            keys = ("beta", "la", "gamma", "margin", "centers", "tau", "softtriple_input", "center_init")
        elif self.loss == "supcon":
            keys = ("beta", "temperature")
        else:
            keys = ()
        return {key: getattr(self, key) for key in keys if getattr(self, key) is not None}

    def validate(self) -> TrainConfig:
        """Check every value; raise ``UserError`` naming the first bad one. Returns self."""
        def positive(name: str) -> None:
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise UserError(f"{name} must be a number > 0, got {value!r}")

        def at_least(name: str, low: int) -> None:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise UserError(f"{name} must be an integer >= {low}, got {value!r}")

        for name in ("lr", "center_lr", "la", "gamma", "temperature"):
            positive(name)
        try:
            self.epochs = parse_epochs(self.epochs)
        except ValueError as error:
            raise UserError(str(error)) from None
        for name, low in (("batch_size", 1), ("gradient_accumulation_steps", 1), ("max_length", 2), ("warmup_steps", 0), ("eval_batch_size", 1),
                          ("early_stopping_patience", 0), ("save_steps", 0), ("save_total_limit", 1),
                          ("logging_steps", 1), ("centers", 1), ("seed", 0), ("min_steps", 0)):
            at_least(name, low)
        if self.max_steps is not None:
            at_least("max_steps", 1)
        if self.warmup_ratio is not None and not (
            isinstance(self.warmup_ratio, (int, float)) and 0.0 <= self.warmup_ratio < 1.0
        ):
            raise UserError(f"warmup_ratio must lie in [0, 1), got {self.warmup_ratio!r}")
        if self.setfit_iterations is not None:
            at_least("setfit_iterations", 1)
        if self.train_size is not None:
            try:
                self.train_size = parse_sample_size(self.train_size)  # one spelling: "8/class", 16
            except ValueError as error:
                raise UserError(f"train_size: {error}") from None
        if self.weight_decay < 0 or self.tau < 0:
            raise UserError("weight_decay and tau must be >= 0")
        if self.scheduler not in SCHEDULERS:
            raise UserError(f"unknown scheduler {self.scheduler!r}; choose one of {', '.join(SCHEDULERS)}")
        if self.loss not in LOSSES:
            raise UserError(f"unknown loss {self.loss!r}; choose one of {', '.join(LOSSES)}")
        if self.pooling not in POOLINGS:
            raise UserError(f"unknown pooling {self.pooling!r}; choose one of {', '.join(POOLINGS)}")
        if self.head_init not in HEAD_INITS:
            raise UserError(f"unknown head init {self.head_init!r}; choose one of {', '.join(HEAD_INITS)}")
        if self.softtriple_input not in SOFTTRIPLE_INPUTS:
            raise UserError(
                f"unknown softtriple input {self.softtriple_input!r}; choose one of {', '.join(SOFTTRIPLE_INPUTS)}"
            )
        if self.center_init not in CENTER_INITS:
            raise UserError(f"unknown center init {self.center_init!r}; choose one of {', '.join(CENTER_INITS)}")
        if self.beta is not None and not 0.0 <= self.beta <= 1.0:
            raise UserError(f"beta must lie in [0, 1], got {self.beta}")
        loss_settings(self.loss, **self.loss_kwargs())
        _check_report_to(self.report_to)
        return self

    def report_to_list(self) -> list[str]:
        """``report_to`` as the list of integration names that ``TrainingArguments`` takes."""
        return [name.strip() for name in self.report_to.split(",") if name.strip()] or ["none"]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def field_names(cls) -> list[str]:
        return [item.name for item in fields(cls)]

    @classmethod
    def from_dict(cls, values: dict[str, Any], base: TrainConfig | None = None) -> TrainConfig:
        """``base`` (or the defaults) updated with ``values``; keys may use - or _.

        Unknown keys, and two spellings of one key (``center_lr`` and ``center-lr``), raise
        ``UserError`` naming them.
        """
        normalised: dict[str, Any] = {}
        spelling: dict[str, str] = {}
        for key, value in values.items():
            name = str(key).replace("-", "_")
            if name in normalised:
                raise UserError(f"{spelling[name]} and {key} both set {name}; keep one of them")
            normalised[name], spelling[name] = value, str(key)
        unknown = sorted(set(normalised) - set(cls.field_names()))
        if unknown:
            raise UserError(f"unknown configuration key(s): {', '.join(unknown)}")
        types = {item.name: str(item.type) for item in fields(cls)}
        parsers = {item.name: item.metadata["parse"] for item in fields(cls) if "parse" in item.metadata}
        current = base.explicit_dict() if base is not None else {}
        current.update({key: _parse(key, value, parsers[key]) if key in parsers else _coerce(key, value, types[key])
                        for key, value in normalised.items()})
        return cls(**current)

    @classmethod
    def from_file(cls, path: str | Path) -> TrainConfig:
        """Read a YAML or JSON file of settings (a mapping of field names to values)."""
        values = read_config_file(path)
        try:
            return cls.from_dict(values)
        except UserError as error:
            raise UserError(f"configuration file {path}: {error}") from None


# pip packages of the logging integrations whose package is named otherwise.
_INTEGRATION_PACKAGES = {"azure_ml": "azureml-core", "comet_ml": "comet-ml", "flyte": "flytekit"}


def _check_report_to(report_to: str) -> None:
    """Refuse, before the model loads, a ``report_to`` integration that transformers lacks or
    cannot use here (its package is missing): its callback would stop the run at the start."""
    names = [name.strip() for name in report_to.split(",") if name.strip()]
    if names in ([], ["none"], ["all"]):
        return
    from transformers.integrations import integration_utils as integrations

    known = integrations.INTEGRATION_TO_CALLBACK
    unknown = [name for name in names if name not in known]
    if unknown:
        raise UserError(
            f"--report-to: unknown integration {unknown[0]!r}; choose none, all, or any of {', '.join(sorted(known))}"
        )
    available = set(integrations.get_available_reporting_integrations())
    available |= {"azure_ml"} if integrations.is_azureml_available() else set()
    available |= {"flyte"} if integrations.is_flytekit_available() else set()
    for name in names:
        if name not in available:
            package = _INTEGRATION_PACKAGES.get(name, name)
            raise UserError(
                f"--report-to {name}: transformers cannot use {name} here (its package is not installed, or a "
                f"hosted service is not configured); install it with: pip install {package}, or pass --report-to none"
            )


def _parse(name: str, value: Any, parse: Any) -> Any:
    """A value from a file read by its field's own parser (``train_size``: 16 or ``"8/class"``)."""
    if value is None:
        return None
    try:
        return parse(value)
    except ValueError as error:
        raise UserError(f"{name}: {error}") from None


def _coerce(name: str, value: Any, annotation: str) -> Any:
    """Values from files as the field's type: YAML reads ``1e-4`` as a string, JSON ``3`` as an int."""
    if value is None:
        if "None" not in annotation:
            raise UserError(f"{name} cannot be null")
        return None
    kind = annotation.split("|")[0].strip()
    try:
        if kind == "bool":
            if isinstance(value, str) and value.lower() in {"true", "false", "yes", "no"}:
                return value.lower() in {"true", "yes"}
            if not isinstance(value, bool):
                raise ValueError
            return value
        if kind == "float" and not isinstance(value, bool):
            return float(value)
        if kind == "int" and not isinstance(value, bool):
            number = float(value)
            if not number.is_integer():
                raise ValueError
            return int(number)
        if kind == "str":
            return str(value)
    except (TypeError, ValueError):
        pass
    else:
        return value
    raise UserError(f"{name} must be {'an' if kind == 'int' else 'a'} {kind}, got {value!r}")


def read_config_file(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise UserError(f"configuration file {path} does not exist")
    text = path.read_text()
    try:
        if path.suffix.lower() == ".json":
            values = json.loads(text)
        else:
            import yaml

            values = yaml.safe_load(text)
    except Exception as error:  # json.JSONDecodeError or yaml.YAMLError
        raise UserError(f"cannot read configuration file {path}: {error}") from error
    if values is None:
        return {}
    if not isinstance(values, dict):
        raise UserError(f"configuration file {path} must hold a mapping of settings, not {type(values).__name__}")
    return values
