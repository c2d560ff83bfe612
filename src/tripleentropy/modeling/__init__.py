"""The model: a Hugging Face sequence classifier and its fine-tuning loss in one module."""

from .model import (
    LOSS_CONFIG_NAME,
    LOSS_DEFAULTS,
    LOSS_WEIGHTS_NAME,
    LOSSES,
    SOFTTRIPLE_INPUTS,
    TripleEntropyForSequenceClassification,
    TripleEntropyOutput,
    loss_settings,
)
from .pretrained import BUNDLED_MODEL, PretrainedEncoder, load_pretrained, load_tokenizer, resolve_model

__all__ = [
    "BUNDLED_MODEL",
    "LOSSES",
    "LOSS_CONFIG_NAME",
    "LOSS_DEFAULTS",
    "LOSS_WEIGHTS_NAME",
    "SOFTTRIPLE_INPUTS",
    "PretrainedEncoder",
    "TripleEntropyForSequenceClassification",
    "TripleEntropyOutput",
    "load_pretrained",
    "load_tokenizer",
    "loss_settings",
    "resolve_model",
]
