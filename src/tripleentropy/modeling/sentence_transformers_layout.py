"""The sentence-transformers and SetFit layout of a classifier, so it predicts without this package.

Written beside the encoder's own ``config.json``, weights and tokenizer, these files make the
directory a sentence-transformers model whose output is the classifier's logits, and a SetFit model
that predicts its label names::

    modules.json                 Transformer -> Pooling [-> Normalize] -> Dense ... (the head's layers)
    sentence_bert_config.json    in the encoder's folder: the maximum length used in training (when
                                 known) and, for a [CLS] classifier, how to load its encoder
    1_Pooling/config.json        mean of the tokens, or the first token
    2_Normalize/                 only when the pooled vector is L2-normalised
    <n>_Dense/                   one per linear layer of the head: config.json (with its activation)
                                 and model.safetensors (linear.weight, linear.bias)
    config_setfit.json           SetFit's label names
    model_head.pkl               SetFit's head: the argmax of the logits

so that ``SentenceTransformer(directory).encode(texts).argmax(-1)`` predicts the class indices
(names in ``config.json``'s ``id2label``) and ``SetFitModel.from_pretrained(directory).predict(texts)``
their names. The format is the one sentence-transformers has read since version 2, the format of the
bundled all-MiniLM-L6-v2.

Where the encoder lives keeps the transformers loaders honest. A mean-pooled classifier is not a
transformers sequence classifier (those read one token), so its encoder is in the Transformer
module's folder ``0_Transformer``, and no weights lie at the top of the directory:
``AutoModelForSequenceClassification.from_pretrained`` and ``pipeline`` then fail there instead of
attaching an untrained head to the encoder. A [CLS] classifier is a transformers sequence classifier
saved at the top, where ``pipeline`` loads it; its modules reproduce the architecture's head on the
first token where ``FIRST_TOKEN_HEADS`` describes that head.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import nn

from ..errors import UserError

MODULES_NAME = "modules.json"
#: The encoder's folder in a mean-pooled classifier's directory (see the module's docstring).
MEAN_ENCODER_FOLDER = "0_Transformer"
SETFIT_CONFIG_NAME = "config_setfit.json"
SETFIT_HEAD_NAME = "model_head.pkl"
_MODULE = "sentence_transformers.models."

#: The transformers classifiers whose head the modules reproduce exactly: the first token's last
#: hidden state through these linear layers (paths in the classifier), each followed by its
#: activation (a ``torch.nn`` class; dropout is off at inference).
FIRST_TOKEN_HEADS: dict[str, tuple[tuple[str, str | None], ...]] = {
    "BertForSequenceClassification": (("bert.pooler.dense", "Tanh"), ("classifier", None)),
    "RobertaForSequenceClassification": (("classifier.dense", "Tanh"), ("classifier.out_proj", None)),
    "MPNetForSequenceClassification": (("classifier.dense", "Tanh"), ("classifier.out_proj", None)),
}


@dataclass(frozen=True)
class DenseLayer:
    """One linear layer of a classification head and the ``torch.nn`` activation after it (None: none)."""

    weight: torch.Tensor
    bias: torch.Tensor
    activation: str | None = None


def encoder_folder(pooling: str) -> str:
    """The folder of a classifier's directory that holds its encoder: ``MEAN_ENCODER_FOLDER`` with
    ``mean`` pooling, the top ("") with ``cls``."""
    return MEAN_ENCODER_FOLDER if pooling == "mean" else ""


def write_sentence_transformers_layout(
    directory: str | Path,
    pooling: str,
    normalize: bool,
    layers: Sequence[DenseLayer],
    max_length: int | None = None,
) -> None:
    """Write the module files of a classifier whose encoder is already saved in
    ``encoder_folder(pooling)``: ``pooling`` (``mean`` or ``cls``, the first token), an L2
    normalisation when ``normalize``, then ``layers``, whose last one gives the logits."""
    directory = Path(directory)
    folder = encoder_folder(pooling)
    modules = [{"idx": 0, "name": "0", "path": folder, "type": _MODULE + "Transformer"}]
    modules.append({"idx": 1, "name": "1", "path": "1_Pooling", "type": _MODULE + "Pooling"})
    _write_json(directory / "1_Pooling" / "config.json", {
        "word_embedding_dimension": layers[0].weight.shape[1],
        "pooling_mode_cls_token": pooling == "cls",
        "pooling_mode_mean_tokens": pooling == "mean",
        "pooling_mode_max_tokens": False,
        "pooling_mode_mean_sqrt_len_tokens": False,
    })
    if normalize:
        (directory / "2_Normalize").mkdir(exist_ok=True)
        modules.append({"idx": 2, "name": "2", "path": "2_Normalize", "type": _MODULE + "Normalize"})
    for layer in layers:
        index = len(modules)
        modules.append({"idx": index, "name": str(index), "path": f"{index}_Dense", "type": _MODULE + "Dense"})
        activation = getattr(nn, layer.activation or "Identity")
        _write_json(directory / f"{index}_Dense" / "config.json", {
            "in_features": layer.weight.shape[1],
            "out_features": layer.weight.shape[0],
            "bias": True,
            "activation_function": f"{activation.__module__}.{activation.__qualname__}",
        })
        weights = {"linear.weight": layer.weight.detach().float().cpu().contiguous(),
                   "linear.bias": layer.bias.detach().float().cpu().contiguous()}
        save_file(weights, str(directory / f"{index}_Dense" / "model.safetensors"), metadata={"format": "pt"})
    _write_json(directory / MODULES_NAME, modules)
    encoder_settings: dict = {"do_lower_case": False}
    if max_length is not None:
        encoder_settings["max_seq_length"] = int(max_length)
    if pooling == "cls":
        # The encoder is the classifier's checkpoint, read as a bare encoder: the Dense modules hold
        # the pooler's weights (BERT's), so no pooler is made, nor one initialised where the
        # checkpoint has none (RoBERTa's, MPNet's).
        encoder_settings["model_args"] = {"add_pooling_layer": False}
    _write_json(directory / folder / "sentence_bert_config.json", encoder_settings)


def write_setfit_head(directory: str | Path, label_names: Sequence[str]) -> None:
    """Write SetFit's files beside a sentence-transformers layout whose output is the logits.

    The head (``model_head.pkl``, a scikit-learn ``LogisticRegression`` pickled with joblib, which is
    how SetFit stores it) is set, not fitted, to read the logits as they are: its decision values are
    the logits, so ``predict`` gives their argmax and ``predict_proba`` their softmax.
    ``config_setfit.json`` names the labels, which ``predict`` returns in place of the indices.
    """
    import joblib
    from sklearn.linear_model import LogisticRegression

    directory = Path(directory)
    identity = np.eye(len(label_names))
    head = LogisticRegression()
    # scikit-learn's binary form keeps one row: the second class's logit less the first's (zero with
    # one class, whose index it then always predicts).
    head.coef_ = identity if len(label_names) > 2 else identity[-1:] - identity[:1]
    head.intercept_ = np.zeros(len(head.coef_))
    head.classes_ = np.arange(len(label_names))
    head.n_features_in_ = len(label_names)
    joblib.dump(head, directory / SETFIT_HEAD_NAME)
    _write_json(directory / SETFIT_CONFIG_NAME, {"labels": [str(name) for name in label_names],
                                                 "normalize_embeddings": False})


def read_dense_head(directory: str | Path, head: nn.Linear) -> None:
    """Copy the weights of the Dense module that ``modules.json`` lists into ``head``, in place."""
    directory = Path(directory)
    try:
        modules = json.loads((directory / MODULES_NAME).read_text())
        dense = next(module for module in modules if str(module.get("type", "")).endswith(".Dense"))
        weights = load_file(str(directory / dense["path"] / "model.safetensors"))
    except (OSError, ValueError, StopIteration, KeyError) as error:
        raise UserError(f"{directory} holds a mean-pooled model without its head (modules.json, Dense): {error}") from error
    with torch.no_grad():
        head.weight.copy_(weights["linear.weight"])
        head.bias.copy_(weights["linear.bias"])


def _write_json(path: Path, value) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value, indent=2) + "\n")
