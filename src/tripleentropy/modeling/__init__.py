"""The model: a Hugging Face sequence classifier and its fine-tuning loss in one module.

Names are imported on first use, so that ``tripleentropy --help`` does not load transformers.
"""

from importlib import import_module

_EXPORTS = {
    "BUNDLED_MODEL": "pretrained",
    "CENTER_INITS": "settings",
    "LOSSES": "settings",
    "LOSS_CONFIG_NAME": "settings",
    "LOSS_DEFAULTS": "settings",
    "LOSS_WEIGHTS_NAME": "settings",
    "PACKAGED_MODELS": "packaged",
    "POOLINGS": "settings",
    "SOFTTRIPLE_INPUTS": "settings",
    "PretrainedEncoder": "pretrained",
    "SentencePooling": "pretrained",
    "TripleEntropyForSequenceClassification": "model",
    "TripleEntropyOutput": "model",
    "load_pretrained": "pretrained",
    "load_tokenizer": "pretrained",
    "loss_settings": "settings",
    "model_fingerprint": "pretrained",
    "model_status": "packaged",
    "read_sentence_pooling": "pretrained",
    "resolve_model": "pretrained",
    "resolve_pooling": "pretrained",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f".{_EXPORTS[name]}", __name__), name)
