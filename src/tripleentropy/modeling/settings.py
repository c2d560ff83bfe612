"""The losses and their settings: plain Python, cheap to import (the command line's --help)."""

from __future__ import annotations

from typing import Any

from ..errors import UserError

LOSSES = ("tripleentropy", "ce", "supcon")
SOFTTRIPLE_INPUTS = ("tokens", "tokens-with-padding", "cls", "mean")
#: What the classification head reads: ``cls`` the architecture's own head on the first token,
#: ``mean`` the masked mean of the last hidden states, ``auto`` what the checkpoint was trained for.
POOLINGS = ("auto", "cls", "mean")
#: How the classification head starts: ``random`` (the architecture's initialisation) or ``probe``
#: (a logistic regression fitted on the frozen features it reads; LP-FT, Kumar et al. 2022).
HEAD_INITS = ("random", "probe")
#: How the SoftTriple centers start: ``uniform`` (+-1/sqrt(D)) or ``kaiming`` (SoftTripleLoss's own
#: initialisations), or ``kmeans`` (K per class from k-means of that class's training embeddings,
#: as SoftTriple reads them; set from the data when training starts).
CENTER_INITS = ("uniform", "kaiming", "kmeans")
LOSS_WEIGHTS_NAME = "tripleentropy_loss.safetensors"
LOSS_CONFIG_NAME = "tripleentropy_loss.json"

#: Settings each loss accepts, with their defaults (the authors' TripleEntropy values; Gunel et
#: al.'s few-shot SupCon values).
LOSS_DEFAULTS: dict[str, dict[str, Any]] = {
    "tripleentropy": {
        "beta": 0.4,
        "la": 8.0,
        "gamma": 0.1,
        "margin": 0.1,
        "centers": 5,
        "tau": 0.2,
        "softtriple_input": "tokens",
        "center_init": "uniform",
    },
    # Gunel et al. (ICLR 2021, arXiv:2011.01403) weight SupCon by lambda and CE by 1 - lambda; their
    # few-shot runs do best with lambda 0.9 and temperature 0.3. beta is the CE weight, 1 - lambda.
    "supcon": {"beta": 0.1, "temperature": 0.3},
    "ce": {},
}


def loss_settings(loss: str, **settings: Any) -> dict[str, Any]:
    """The full settings of ``loss``: its defaults updated with ``settings`` (None = default).

    Raises ``UserError`` for an unknown loss, an unknown setting or a bad value.
    """
    if loss not in LOSS_DEFAULTS:
        raise UserError(f"unknown loss {loss!r}; choose one of {', '.join(LOSSES)}")
    given = {key: value for key, value in settings.items() if value is not None}
    unknown = sorted(set(given) - set(LOSS_DEFAULTS[loss]))
    if unknown:
        raise UserError(f"loss {loss!r} takes no setting {', '.join(unknown)}")
    resolved = {**LOSS_DEFAULTS[loss], **given}
    if loss == "tripleentropy" and resolved["softtriple_input"] not in SOFTTRIPLE_INPUTS:
        raise UserError(
            f"unknown softtriple input {resolved['softtriple_input']!r}; choose one of {', '.join(SOFTTRIPLE_INPUTS)}"
        )
    if loss == "tripleentropy" and resolved["center_init"] not in CENTER_INITS:
        raise UserError(f"unknown center init {resolved['center_init']!r}; choose one of {', '.join(CENTER_INITS)}")
    return resolved
