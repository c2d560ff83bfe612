"""The model card (``README.md``) that ``train`` writes beside every model it saves.

A Hugging Face model card: YAML front matter (library, pipeline tag, base model, tags, and the
language where the data says it) over what the model is and how it was made: the base encoder, the
pooling, the loss and its settings, the training data and its size, the metrics measured on the
validation data, the labels, the code that predicts with it without this package (the loader that
fits its layout: transformers' ``pipeline`` for [CLS] models, SetFit and sentence-transformers for
mean-pooled ones) and the paper to cite.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from .. import __version__
from ..data import get_task
from ..modeling import PACKAGED_MODELS, TripleEntropyForSequenceClassification
from ..modeling.sentence_transformers_layout import MEAN_ENCODER_FOLDER, SETFIT_CONFIG_NAME
from .config import TrainConfig

MODEL_CARD_NAME = "README.md"
#: What the card's code predicts: two texts, or two text pairs for a model trained on pairs.
EXAMPLE_TEXTS = ("A moving, beautifully acted film.", "The plot made no sense at all.")
EXAMPLE_PAIRS = (
    ("The company posted record profits this year.", "This year the company's profits hit a record."),
    ("The meeting ended early.", "Rain is expected tomorrow."),
)
CITATION = r"""@inproceedings{sosnowski2022softtriple,
  title         = {Applying {SoftTriple} Loss for Supervised Language Model Fine Tuning},
  author        = {Sosnowski, Witold and Wr{\'o}blewska, Anna and Gawrysiak, Piotr},
  booktitle     = {Proceedings of the 17th Conference on Computer Science and Intelligence Systems (FedCSIS)},
  series        = {Annals of Computer Science and Information Systems},
  volume        = {30},
  pages         = {141--147},
  year          = {2022},
  doi           = {10.15439/2022F185},
  eprint        = {2112.08462},
  archiveprefix = {arXiv},
}"""
_LOSSES = {
    "tripleentropy": "TripleEntropy: beta × cross-entropy + (1 − beta) × SoftTriple (Sosnowski et al., "
                     "FedCSIS 2022)",
    "supcon": "beta × cross-entropy + (1 − beta) × supervised contrastive loss (Gunel et al., ICLR 2021)",
    "ce": "cross-entropy",
}
_REFUSED = (
    "transformers' `pipeline` refuses this model rather than attach an untrained head: its head reads the mean "
    "of the token states, which no transformers sequence classifier does, so its encoder lies in "
    f"`{MEAN_ENCODER_FOLDER}/` and the top of the directory holds no weights."
)


def write_model_card(
    directory: str | Path,
    config: TrainConfig,
    model: TripleEntropyForSequenceClassification,
    label_names: Sequence[str],
    num_train_examples: int,
    metrics: dict | None,
) -> None:
    """Write ``README.md`` into ``directory``, where ``model`` (trained by ``config`` on
    ``num_train_examples`` examples, with ``metrics`` on the validation data or None) is saved.
    Its code loads the model from ``directory`` as written here."""
    directory = Path(directory)
    setfit = (directory / SETFIT_CONFIG_NAME).is_file()
    base = _base_model_id(config.model)
    parts = [
        "---\n" + yaml.safe_dump(_front_matter(config, model, base, setfit, metrics), sort_keys=False,
                                 allow_unicode=True) + "---",
        f"# {base or Path(config.model).name} fine-tuned{_data_name(config)} with {model.loss_name}",
        f"A text classifier with {len(label_names)} labels, fine-tuned by tripleentropy {__version__}, an "
        "implementation of TripleEntropy ([arXiv 2112.08462](https://arxiv.org/abs/2112.08462)). It "
        "predicts with its classification head; the loss only shaped the training.",
        "## Model\n\n" + _table([
            ("Base encoder", f"`{base}`" if base else f"the local model directory `{Path(config.model).name}`"),
            ("Pooling", _pooling(model)),
            ("Labels", ", ".join(f"`{name}`" for name in label_names)),
            ("Maximum length", f"{config.max_length} tokens"),
        ]),
        "## Training\n\n" + _table([
            ("Loss", _LOSSES[model.loss_name]),
            ("Loss settings", ", ".join(f"`{key}` {value}" for key, value in model.loss_settings.items()) or "none"),
            ("Training data", _training_data(config)),
            ("Training examples", _training_examples(config, num_train_examples)),
            ("Optimisation", _optimisation(config)),
        ]),
        "## Evaluation\n\n" + _evaluation(config, metrics),
        "## Usage\n\n" + _usage(str(directory), config, model, label_names, setfit),
        "## Citation\n\n```bibtex\n" + CITATION + "\n```",
    ]
    (directory / MODEL_CARD_NAME).write_text("\n\n".join(parts) + "\n", encoding="utf-8")


def _base_model_id(model: str) -> str | None:
    """The hub id of the encoder a run started from: a packaged shortcut's, or the ``--model``
    itself when it is a hub id; None for a local directory."""
    if model in PACKAGED_MODELS:
        return PACKAGED_MODELS[model].model_id
    return None if Path(model).expanduser().exists() else model


def _data_name(config: TrainConfig) -> str:
    """The task or training file that ``config`` names, as the title puts it; "" for data given to
    ``train_model`` in Python."""
    if config.task is not None:
        return f" on SentEval {config.task}"
    return f" on `{Path(config.train).name}`" if config.train is not None else ""


def _is_pair(config: TrainConfig) -> bool:
    """Whether the model reads text pairs, as far as ``config`` says (data given in Python is taken
    for single texts unless ``text_pair_column`` is set)."""
    return get_task(config.task).is_pair if config.task is not None else config.text_pair_column is not None


def _front_matter(
    config: TrainConfig, model: TripleEntropyForSequenceClassification, base: str | None, setfit: bool,
    metrics: dict | None,
) -> dict[str, Any]:
    matter: dict[str, Any] = {
        "library_name": "setfit" if model.pooling == "mean" else "transformers",
        "pipeline_tag": "text-classification",
    }
    if base is not None:
        matter["base_model"] = base
    matter["tags"] = ["tripleentropy", "text-classification"] + (["sentence-transformers", "setfit"] if setfit else [])
    if config.task is not None:  # the SentEval tasks are English
        matter["language"] = ["en"]
    if metrics is not None:
        matter["metrics"] = ["accuracy", "f1"]
    return matter


def _table(rows: Sequence[tuple[str, str]]) -> str:
    return "\n".join(["| | |", "|---|---|", *(f"| {name} | {value} |" for name, value in rows)])


def _pooling(model: TripleEntropyForSequenceClassification) -> str:
    if model.pooling == "mean":
        normalised = ", L2-normalised," if model.normalize else ""
        return f"`mean`: the mean of the last hidden states over the tokens{normalised} read by a linear layer"
    return f"`cls`: the first token read by `{type(model.model).__name__}`'s own classification head"


def _training_data(config: TrainConfig) -> str:
    if config.task is not None:
        task = get_task(config.task)
        return f"the training split of the SentEval task {task.name}: {task.description}"
    pairs = ""
    if _is_pair(config):
        pairs = f" (text pairs: columns `{config.text_column}` and `{config.text_pair_column}`)"
    if config.train is None:
        return f"examples given to `train_model` in Python{pairs}"
    return f"the file `{Path(config.train).name}`{pairs}"


def _training_examples(config: TrainConfig, num_train_examples: int) -> str:
    if config.train_size is None:
        return str(num_train_examples)
    return f"{num_train_examples}: a sample of {config.train_size} drawn with seed {config.seed}"


def _optimisation(config: TrainConfig) -> str:
    if config.max_steps is not None:
        length = f"{config.max_steps} optimizer steps"
    elif config.min_steps:
        length = f"epochs {config.epochs}, at least {config.min_steps} optimizer steps"
    else:
        length = f"epochs {config.epochs}"
    return (f"learning rate {config.lr}, batch size {config.batch_size}, {length}, seed {config.seed} "
            f"(recipe `{config.recipe}`)")


def _evaluation(config: TrainConfig, metrics: dict | None) -> str:
    if metrics is None:
        return "No validation data was given, so no metrics were measured."
    if config.task is not None:
        source = f"the validation split of {config.task}"
    else:
        source = f"`{Path(config.validation).name}`" if config.validation is not None else "the validation data"
    rows = [("Accuracy", f"{100 * metrics['accuracy']:.2f}%")]
    if "majority_rate" in metrics:
        rows.append(("Majority-class rate",
                     f"{100 * metrics['majority_rate']:.2f}% (always predicting the most frequent class)"))
    if "f1" in metrics:
        rows.append((f"F1 of `{metrics['positive_label']}`", f"{100 * metrics['f1']:.2f}"))
    rows.append(("Macro F1", f"{100 * metrics['macro_f1']:.2f}"))
    rows += [(f"F1 of `{name}`", f"{100 * value:.2f}") for name, value in metrics["per_class_f1"].items()]
    return f"Measured on {source} ({metrics['num_examples']} examples) after training:\n\n" + _table(rows)


def _python(code: str) -> str:
    return f"```python\n{code}\n```"


def _usage(
    directory: str, config: TrainConfig, model: TripleEntropyForSequenceClassification, label_names: Sequence[str],
    setfit: bool,
) -> str:
    """The code that loads ``directory`` and prints the labels it predicts for the example inputs."""
    path = json.dumps(directory)
    pair = _is_pair(config)
    texts = json.dumps(list(EXAMPLE_TEXTS), ensure_ascii=False)
    sections = []
    if model.pooling == "cls":
        inputs = json.dumps([{"text": first, "text_pair": second} for first, second in EXAMPLE_PAIRS],
                            ensure_ascii=False) if pair else texts
        sections.append("With transformers' `pipeline`:\n\n" + _python(
            "from transformers import pipeline\n\n"
            f'classifier = pipeline("text-classification", model={path})\n'
            f"predictions = classifier({inputs}, truncation=True, max_length={config.max_length})\n"
            'print([prediction["label"] for prediction in predictions])'
        ))
    elif pair:
        sections.append("SetFit and sentence-transformers read one text at a time, so they cannot give this "
                        "text-pair model its input. " + _REFUSED)
    else:
        sections.append(_REFUSED)
    if setfit and not pair:
        sections.append("With SetFit, which predicts the label names:\n\n" + _python(
            "from setfit import SetFitModel\n\n"
            f"model = SetFitModel.from_pretrained({path})\n"
            f"print(model.predict({texts}))"
        ))
        sections.append("With sentence-transformers, whose embeddings are the logits:\n\n" + _python(
            "from sentence_transformers import SentenceTransformer\n\n"
            f"model = SentenceTransformer({path})\n"
            f"logits = model.encode({texts})\n"
            f"labels = {json.dumps(list(label_names), ensure_ascii=False)}\n"
            "print([labels[index] for index in logits.argmax(-1)])"
        ))
    input_file = "--input texts.txt"
    if pair:
        input_file = f"--input pairs.csv --text-pair-column {config.text_pair_column or 'text_pair'}"
    sections.append(
        "With tripleentropy, which also restores the loss and its centers:\n\n"
        f"```bash\ntripleentropy predict --model-dir {shlex.quote(directory)} {input_file}\n```"
    )
    return "\n\n".join(sections)
