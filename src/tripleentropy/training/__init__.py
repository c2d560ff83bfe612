"""Training: a ``TrainConfig``, ``train_model`` on the Hugging Face Trainer, and evaluation."""

from .api import METRICS_NAME, RUN_CONFIG_NAME, TrainResult, read_run_config, train_model
from .config import SCHEDULERS, TrainConfig, read_config_file
from .evaluation import classification_metrics, evaluate_model, predict_logits
from .features import TokenizedExamples, make_collator, tokenize_examples
from .trainer import NonFiniteLossError, TripleEntropyTrainer

__all__ = [
    "METRICS_NAME",
    "RUN_CONFIG_NAME",
    "SCHEDULERS",
    "NonFiniteLossError",
    "TokenizedExamples",
    "TrainConfig",
    "TrainResult",
    "TripleEntropyTrainer",
    "classification_metrics",
    "evaluate_model",
    "make_collator",
    "predict_logits",
    "read_config_file",
    "read_run_config",
    "tokenize_examples",
    "train_model",
]
