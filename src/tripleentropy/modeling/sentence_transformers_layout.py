"""The sentence-transformers layout of a mean-pooled classifier, so it predicts without this package.

A model whose head reads the mean of the token states is not a transformers sequence classifier
(those read one token). Written beside the encoder's own ``config.json`` and weights, these files
make the directory a sentence-transformers model whose output is the logits::

    modules.json                 Transformer -> Pooling (mean) [-> Normalize] -> Dense (identity)
    sentence_bert_config.json    the maximum length used in training (when known)
    1_Pooling/config.json
    2_Normalize/                 only when the pooled vector is L2-normalised
    2_Dense or 3_Dense/          config.json and model.safetensors (linear.weight, linear.bias)

so that ``SentenceTransformer(directory).encode(texts).argmax(-1)`` predicts the class indices
(names in ``config.json``'s ``id2label``). The format is the one sentence-transformers has read
since version 2, the format of the bundled all-MiniLM-L6-v2.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from ..errors import UserError

MODULES_NAME = "modules.json"
_MODULE = "sentence_transformers.models."


def write_sentence_transformers_layout(
    directory: str | Path, head: nn.Linear, normalize: bool, max_length: int | None = None
) -> None:
    """Write the module files of a mean-pooled classifier whose linear head is ``head``."""
    directory = Path(directory)
    modules = [{"idx": 0, "name": "0", "path": "", "type": _MODULE + "Transformer"}]
    modules.append({"idx": 1, "name": "1", "path": "1_Pooling", "type": _MODULE + "Pooling"})
    pooling = {
        "word_embedding_dimension": head.in_features,
        "pooling_mode_cls_token": False,
        "pooling_mode_mean_tokens": True,
        "pooling_mode_max_tokens": False,
        "pooling_mode_mean_sqrt_len_tokens": False,
    }
    _write_json(directory / "1_Pooling" / "config.json", pooling)
    if normalize:
        (directory / "2_Normalize").mkdir(exist_ok=True)
        modules.append({"idx": 2, "name": "2", "path": "2_Normalize", "type": _MODULE + "Normalize"})
    dense_dir = f"{len(modules)}_Dense"
    modules.append({"idx": len(modules), "name": str(len(modules)), "path": dense_dir, "type": _MODULE + "Dense"})
    dense = {
        "in_features": head.in_features,
        "out_features": head.out_features,
        "bias": True,
        "activation_function": "torch.nn.modules.linear.Identity",
    }
    _write_json(directory / dense_dir / "config.json", dense)
    weights = {"linear.weight": head.weight.detach().float().cpu().contiguous(),
               "linear.bias": head.bias.detach().float().cpu().contiguous()}
    save_file(weights, str(directory / dense_dir / "model.safetensors"), metadata={"format": "pt"})
    _write_json(directory / MODULES_NAME, modules)
    if max_length is not None:
        _write_json(directory / "sentence_bert_config.json", {"max_seq_length": int(max_length), "do_lower_case": False})


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
