"""Training: a ``TrainConfig``, ``train_model`` on the Hugging Face Trainer, and evaluation.

Names are imported on first use, so that ``tripleentropy --help`` does not load transformers.
"""

from importlib import import_module

_EXPORTS = {
    "METRICS_NAME": "api",
    "RUN_CONFIG_NAME": "api",
    "TrainResult": "api",
    "check_data_source": "api",
    "holds_trained_model": "api",
    "load_training_data": "api",
    "read_run_config": "api",
    "train_model": "api",
    "SCHEDULERS": "config",
    "TrainConfig": "config",
    "read_config_file": "config",
    "classification_metrics": "evaluation",
    "evaluate_model": "evaluation",
    "predict_logits": "evaluation",
    "TokenizedExamples": "features",
    "make_collator": "features",
    "tokenize_examples": "features",
    "NonFiniteLossError": "trainer",
    "TripleEntropyTrainer": "trainer",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f".{_EXPORTS[name]}", __name__), name)
