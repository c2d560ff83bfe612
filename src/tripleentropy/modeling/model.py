"""One module that owns a Hugging Face sequence classifier and the fine-tuning loss."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import nn
from transformers import AutoModel, AutoModelForSequenceClassification, set_seed
from transformers.utils import ModelOutput

from ..errors import UserError
from ..losses import SoftTripleLoss, SupConCrossEntropyLoss, TripleEntropyLoss
from .pretrained import PretrainedEncoder, load_pretrained, quiet_transformers, read_encoder_folder, resolve_pooling
from .settings import LOSS_CONFIG_NAME, LOSS_WEIGHTS_NAME, loss_settings
from .sentence_transformers_layout import (
    FIRST_TOKEN_HEADS,
    DenseLayer,
    encoder_folder,
    read_dense_head,
    write_sentence_transformers_layout,
    write_setfit_head,
)

@dataclass
class TripleEntropyOutput(ModelOutput):
    """``logits`` (B, C) of the classification head; with labels, ``loss`` (the total) and its
    parts ``ce`` and ``metric`` (None for plain cross-entropy)."""

    loss: torch.Tensor | None = None
    logits: torch.Tensor | None = None
    ce: torch.Tensor | None = None
    metric: torch.Tensor | None = None


def _build_criterion(loss: str, settings: dict[str, Any], num_labels: int, hidden_size: int) -> nn.Module | None:
    try:
        if loss == "tripleentropy":
            # center_init "kmeans" needs training data: the centers start uniform here and
            # train_model sets them from the data before training (initialize_from_data).
            center_init = settings["center_init"]
            softtriple = SoftTripleLoss(
                num_classes=num_labels,
                embedding_dim=hidden_size,
                centers_per_class=int(settings["centers"]),
                la=settings["la"],
                gamma=settings["gamma"],
                margin=settings["margin"],
                tau=settings["tau"],
                center_init="uniform" if center_init == "kmeans" else center_init,
            )
            return TripleEntropyLoss(beta=settings["beta"], softtriple=softtriple)
        if loss == "supcon":
            return SupConCrossEntropyLoss(beta=settings["beta"], temperature=settings["temperature"])
    except ValueError as error:
        raise UserError(f"bad {loss} loss setting: {error}") from error
    return None


class TripleEntropyForSequenceClassification(nn.Module):
    """A Hugging Face encoder with a classification head, fine-tuned with TripleEntropy.

    The module owns the classifier and the loss (``self.criterion``, which holds the SoftTriple
    centers), so the centers train, save, load and synchronise across processes with the model.
    Prediction always uses the classification head's logits; the loss only shapes the training.

    What the head reads (``pooling``):
        - ``cls``: ``self.model`` is an ``AutoModelForSequenceClassification`` (any encoder:
          BERT/MiniLM, RoBERTa, MPNet, DeBERTa, ...) and its own head reads the first token
          (BERT through its pooler).
        - ``mean``: ``self.model`` is the bare encoder (``AutoModel``) and ``self.head`` a linear
          layer on the masked mean of the last hidden states, L2-normalised when ``normalize``
          (as sentence-transformers checkpoints such as all-MiniLM-L6-v2 were trained).

    Losses (``loss``):
        - ``tripleentropy``: ``beta * CE + (1 - beta) * SoftTriple`` (Sosnowski et al. 2022) on
          the input chosen by ``softtriple_input``: ``tokens`` (every non-padding token's
          last-layer state, carrying its sentence's label), ``tokens-with-padding`` (the
          authors' exact behaviour), ``cls`` (first token) or ``mean`` (mean of the tokens; with
          ``mean`` pooling, the very vector the head reads).
        - ``supcon``: ``beta * CE + (1 - beta) * SupCon`` on the normalised sentence vector:
          the first token's state, or with ``mean`` pooling the vector the head reads
          (Gunel et al. 2021, whose lambda is ``1 - beta``; default beta 0.1, temperature 0.3).
        - ``ce``: cross-entropy only.

    Build it with ``from_encoder`` (a pretrained encoder and a fresh head) or ``from_pretrained``
    (a directory written by ``save_pretrained``).

    Example::

        model = TripleEntropyForSequenceClassification.from_encoder("minilm", num_labels=2, beta=0.4)
        out = model(**tokenizer(["good", "bad"], return_tensors="pt", padding=True), labels=torch.tensor([1, 0]))
        out.loss.backward()   # out.ce and out.metric hold the two parts
    """

    # The loss is a mean over the batch (and SoftTriple's over its tokens): Trainer must divide it
    # by the number of accumulated micro-batches, not expect it normalised by their item count.
    accepts_loss_kwargs = False

    def __init__(
        self, model: nn.Module, loss: str = "tripleentropy", pooling: str = "cls", normalize: bool = False,
        **settings: Any,
    ) -> None:
        super().__init__()
        if pooling not in ("cls", "mean"):
            raise UserError(f"pooling must be cls or mean here (resolve auto with from_encoder), got {pooling!r}")
        self.model = model
        self.pooling = pooling
        self.normalize = bool(normalize) and pooling == "mean"
        self.loss_name = loss
        self.loss_settings = loss_settings(loss, **settings)
        config = model.config
        self.head = None
        if pooling == "mean":
            self.head = nn.Linear(config.hidden_size, config.num_labels)
            with torch.no_grad():
                self.head.weight.normal_(0.0, getattr(config, "initializer_range", 0.02))
                self.head.bias.zero_()
            # The encoder's own pooler (BERT's) is not read: frozen, so that every trained
            # parameter is in each step's graph (distributed data parallel requires it).
            if getattr(model, "pooler", None) is not None:
                model.pooler.requires_grad_(False)
        self.criterion = _build_criterion(loss, self.loss_settings, config.num_labels, config.hidden_size)

    @property
    def config(self):
        """The Hugging Face configuration of the classifier (labels, encoder sizes)."""
        return self.model.config

    @classmethod
    def from_encoder(
        cls,
        name_or_path: str | PretrainedEncoder,
        num_labels: int,
        loss: str = "tripleentropy",
        id2label: dict[int, str] | None = None,
        seed: int | None = None,
        pooling: str = "cls",
        **loss_settings: Any,
    ) -> TripleEntropyForSequenceClassification:
        """A pretrained encoder with a new classification head of ``num_labels`` classes.

        ``name_or_path`` is ``minilm`` (the bundled all-MiniLM-L6-v2), a local directory, a hub
        id, or a ``PretrainedEncoder`` already loaded (then nothing is read from disk). With a
        ``seed`` the new head, the centers and any encoder weight the checkpoint lacks (e.g. a
        BERT pooler) start from the same values every time, in any process. ``pooling`` is
        ``cls``, ``mean`` or ``auto`` (``mean`` for a sentence-transformers checkpoint read
        through mean pooling, else ``cls``; see ``resolve_pooling``).
        """
        pretrained = name_or_path if isinstance(name_or_path, PretrainedEncoder) else load_pretrained(name_or_path)
        if int(num_labels) < 1:
            raise UserError(f"num_labels must be >= 1, got {num_labels}")
        id2label = {int(i): str(name) for i, name in (id2label or {i: f"LABEL_{i}" for i in range(num_labels)}).items()}
        if len(id2label) != num_labels:
            raise UserError(f"id2label has {len(id2label)} labels but num_labels is {num_labels}")
        config = pretrained.config.__class__.from_dict(pretrained.config.to_dict())
        config.num_labels = int(num_labels)
        config.id2label = id2label
        config.label2id = {name: i for i, name in id2label.items()}
        pooling, normalize = resolve_pooling(pooling, pretrained)
        if seed is not None:
            set_seed(seed)
        auto_class = AutoModelForSequenceClassification if pooling == "cls" else AutoModel
        model = auto_class.from_config(config, trust_remote_code=False, dtype=torch.float32)
        missing, unexpected = model.base_model.load_state_dict(pretrained.state_dict, strict=False)
        lacking = set(pretrained.missing_keys)  # initialised above, under the seed
        extra = [key for key in missing if "position_ids" not in key and key not in lacking]
        # The bare encoder of mean pooling may hold a module the classifier's body has not (the
        # pooler of MPNet and RoBERTa): unread, it keeps its initialisation under the seed too.
        if unexpected or (extra and pooling == "cls"):
            raise UserError(f"the weights of {pretrained.name_or_path} do not fit its configuration")
        return cls(model, loss=loss, pooling=pooling, normalize=normalize, **loss_settings)

    # ---- forward -------------------------------------------------------------------------

    @staticmethod
    def _mean(states: torch.Tensor, attention_mask: torch.Tensor | None) -> torch.Tensor:
        if attention_mask is None:
            return states.mean(dim=1)
        weights = attention_mask.to(states.dtype).unsqueeze(-1)
        return (states * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1e-9)

    def _sentence_vector(self, states: torch.Tensor, attention_mask: torch.Tensor | None) -> torch.Tensor:
        """What the head reads with ``mean`` pooling (before the linear layer)."""
        pooled = self._mean(states, attention_mask)
        return nn.functional.normalize(pooled, p=2, dim=-1) if self.normalize else pooled

    def softtriple_input(
        self, states: torch.Tensor, attention_mask: torch.Tensor | None, sentence: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """What SoftTriple reads (``softtriple_input``) and its token mask, from ``encode``'s states
        and sentence vector."""
        kind = self.loss_settings["softtriple_input"]
        if kind == "tokens":
            return states, attention_mask
        if kind == "tokens-with-padding":
            return states, None
        if kind == "cls":
            return states[:, 0], None
        # SoftTriple normalises its input: the head's (normalised) mean is the same direction.
        return (sentence if sentence is not None else self._mean(states, attention_mask)), None

    def encode(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        need_states: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
        """``(logits, last hidden states or None, sentence vector or None)``: the states when
        ``need_states`` or with ``mean`` pooling, the sentence vector with ``mean`` pooling."""
        inputs: dict[str, torch.Tensor] = {"input_ids": input_ids}
        if attention_mask is not None:
            inputs["attention_mask"] = attention_mask
        if token_type_ids is not None:
            inputs["token_type_ids"] = token_type_ids
        if self.pooling == "cls":
            outputs = self.model(**inputs, output_hidden_states=need_states, return_dict=True)
            return outputs.logits, outputs.hidden_states[-1] if need_states else None, None
        states = self.model(**inputs, return_dict=True).last_hidden_state
        sentence = self._sentence_vector(states, attention_mask)
        return self.head(sentence), states, sentence

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
    ) -> TripleEntropyOutput:
        need_states = labels is not None and self.criterion is not None
        logits, states, sentence = self.encode(input_ids, attention_mask, token_type_ids, need_states)
        if labels is None:
            return TripleEntropyOutput(logits=logits)
        if self.criterion is None:
            ce = nn.functional.cross_entropy(logits.float(), labels)
            return TripleEntropyOutput(loss=ce, logits=logits, ce=ce.detach())
        if self.loss_name == "tripleentropy":
            embeddings, mask = self.softtriple_input(states, attention_mask, sentence)
            parts = self.criterion(logits, embeddings, labels, mask)
        else:
            parts = self.criterion(logits, sentence if sentence is not None else states[:, 0], labels)
        return TripleEntropyOutput(loss=parts.loss, logits=logits, ce=parts.ce.detach(), metric=parts.metric.detach())

    # ---- parameters ----------------------------------------------------------------------

    def output_layer(self) -> nn.Linear:
        """The linear layer that gives the logits: ``head`` with mean pooling, else the last
        linear layer of the architecture's classification head (BERT's ``classifier``, RoBERTa's
        ``classifier.out_proj``, ...)."""
        if self.head is not None:
            return self.head
        body = {id(module) for module in self.model.base_model.modules()}
        layers = [module for module in self.model.modules() if isinstance(module, nn.Linear)
                  and module.out_features == self.config.num_labels and id(module) not in body]
        if not layers:
            raise UserError(f"cannot find the output layer of {type(self.model).__name__}'s classification head")
        return layers[-1]

    def center_parameters(self) -> list[nn.Parameter]:
        """The SoftTriple centers (empty for the other losses): they get their own optimizer group."""
        if self.loss_name == "tripleentropy":
            return [self.criterion.softtriple.centers]
        return []

    @property
    def centers(self) -> torch.Tensor | None:
        """The SoftTriple centers (C * K, D), class major, or None for the other losses."""
        return self.criterion.softtriple.centers if self.loss_name == "tripleentropy" else None

    # ---- saving and loading -------------------------------------------------------------------

    def save_pretrained(
        self, save_directory: str | Path, tokenizer=None, max_length: int | None = None, state_dict: dict | None = None
    ) -> None:
        """Write a model directory that standard libraries load, plus the loss beside it.

        With ``cls`` pooling it is a plain Hugging Face classifier:
        ``AutoModelForSequenceClassification.from_pretrained(dir)`` and ``pipeline(...)`` load it
        without this package. With ``mean`` pooling the encoder and its tokenizer go to the folder
        ``0_Transformer`` and the top holds only its ``config.json``, so that transformers'
        sequence classifiers refuse the directory instead of reading the first token with an
        untrained head. Either way, where ``sentence_transformers_layout`` can express the head
        (always with ``mean`` pooling), the directory is also a sentence-transformers model whose
        output is the logits, ``SentenceTransformer(dir).encode(texts).argmax(-1)`` (``max_length``
        becomes its maximum length), and a SetFit model that predicts the label names,
        ``SetFitModel.from_pretrained(dir).predict(texts)``. ``tripleentropy_loss.json`` (loss,
        settings and pooling) and ``tripleentropy_loss.safetensors`` (the centers) let
        ``from_pretrained`` restore all. ``state_dict`` (with this module's keys: ``model.*``,
        ``head.*`` and ``criterion.softtriple.centers``) is saved in place of the module's own
        weights when given.
        """
        directory = Path(save_directory)
        directory.mkdir(parents=True, exist_ok=True)
        centers = self.centers
        model_state = None
        if state_dict is not None:
            model_state = {key[len("model."):]: value for key, value in state_dict.items() if key.startswith("model.")}
            if centers is not None:
                centers = state_dict.get("criterion.softtriple.centers", centers)
        encoder_directory = directory / encoder_folder(self.pooling)
        with quiet_transformers():
            self.model.save_pretrained(encoder_directory, state_dict=model_state)
        if encoder_directory != directory:
            # Labels and sizes at the top, where this package's commands look for a model.
            self.config.save_pretrained(directory)
        if tokenizer is not None:
            tokenizer.save_pretrained(encoder_directory)
        layers = self._head_layers(state_dict)
        if layers is not None:
            write_sentence_transformers_layout(directory, self.pooling, self.normalize, layers, max_length)
            write_setfit_head(directory, [self.config.id2label[index] for index in range(self.config.num_labels)])
        settings = {"loss": self.loss_name, "settings": self.loss_settings,
                    "pooling": self.pooling, "normalize": self.normalize}
        (directory / LOSS_CONFIG_NAME).write_text(json.dumps(settings, indent=2) + "\n")
        tensors = {"centers": centers.detach().float().cpu().contiguous()} if centers is not None else {}
        save_file(tensors, str(directory / LOSS_WEIGHTS_NAME), metadata={"format": "pt"})

    def _head_layers(self, state_dict: dict | None) -> list[DenseLayer] | None:
        """The layers that map the pooled vector to the logits, with the weights of ``state_dict``
        where it holds them: ``head`` with ``mean`` pooling, the layers ``FIRST_TOKEN_HEADS`` names
        with ``cls``; None for a [CLS] classifier it does not describe."""
        if self.head is not None:
            paths: tuple[tuple[str, str | None], ...] = (("head", None),)
        elif type(self.model).__name__ in FIRST_TOKEN_HEADS:
            head = FIRST_TOKEN_HEADS[type(self.model).__name__]
            paths = tuple((f"model.{path}", activation) for path, activation in head)
        else:
            return None
        weights = {**self.state_dict(), **(state_dict or {})}
        return [DenseLayer(weights[f"{path}.weight"], weights[f"{path}.bias"], activation)
                for path, activation in paths]

    @classmethod
    def from_pretrained(cls, directory: str | Path) -> TripleEntropyForSequenceClassification:
        """Reload a directory written by ``save_pretrained`` (classifier, loss and centers).

        A plain Hugging Face classifier directory without the loss files loads with loss ``ce``.
        """
        directory = Path(directory)
        if not (directory / "config.json").is_file():
            raise UserError(f"{directory} is not a saved model directory (no config.json)")
        config_file = directory / LOSS_CONFIG_NAME
        saved = json.loads(config_file.read_text()) if config_file.is_file() else {"loss": "ce", "settings": {}}
        pooling = saved.get("pooling", "cls")
        auto_class = AutoModelForSequenceClassification if pooling == "cls" else AutoModel
        with quiet_transformers():
            model = auto_class.from_pretrained(directory, subfolder=read_encoder_folder(str(directory)),
                                               trust_remote_code=False, dtype=torch.float32)
        module = cls(model, loss=saved["loss"], pooling=pooling, normalize=saved.get("normalize", False), **saved["settings"])
        if module.head is not None:
            read_dense_head(directory, module.head)
        module._load_centers(directory)
        return module

    def _load_centers(self, directory: Path) -> None:
        weights = directory / LOSS_WEIGHTS_NAME
        if self.centers is not None and weights.is_file():
            with torch.no_grad():
                self.centers.copy_(load_file(str(weights))["centers"])

    def load_weights(self, directory: str | Path) -> None:
        """Copy the classifier and the centers saved in ``directory`` into this module, in place."""
        self.load_state_dict(type(self).from_pretrained(directory).state_dict())
