"""Saved models predict in the standard libraries with the labels ours give: SetFit and
sentence-transformers for every pooling whose head their modules express, transformers' pipeline for
[CLS] models; and no transformers loader attaches an untrained head to a mean-pooled one. (The model
card's tests run the same loaders in a process where this package cannot be imported.)"""

import json
import shutil

import pytest
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer, pipeline

from tests.tiny_models import sentences
import tripleentropy.modeling.model as model_module
from tripleentropy.modeling import (
    TripleEntropyForSequenceClassification,
    load_pretrained,
    load_tokenizer,
    model_fingerprint,
)
from tripleentropy.training import make_collator, predict_logits, tokenize_examples

NAMES = ["negative", "neutral", "positive"]
EXAMPLES = sentences(16, seed=3)
TEXTS = [example.text for example in EXAMPLES]


def _spread_predictions(classifier: TripleEntropyForSequenceClassification, tokenizer) -> None:
    """Set the output layer to random directions on the features it reads, centred on their mean
    over EXAMPLES: a tiny random encoder's features barely differ, and the predictions must."""
    layer = classifier.output_layer()
    features = []
    hook = layer.register_forward_hook(lambda module, inputs, output: features.append(inputs[0]))
    batch = make_collator(tokenizer)([{k: v for k, v in item.items() if k != "labels"}
                                      for item in tokenize_examples(tokenizer, EXAMPLES, 32)])
    with torch.no_grad():
        classifier(**batch)
        hook.remove()
        centre = features[0].mean(dim=0)
        spread = (features[0] - centre).norm(dim=-1).mean()
        weight = torch.randn(layer.weight.shape, generator=torch.Generator().manual_seed(0)) * 10 / spread
        layer.weight.copy_(weight)
        layer.bias.copy_(-weight @ centre)


def _saved(request, tmp_path, encoder: str, pooling: str, num_labels: int):
    """A classifier of ``num_labels`` labels whose predictions on EXAMPLES differ, saved in tmp_path/model;
    with our label names for EXAMPLES and our logits."""
    directory = request.getfixturevalue(encoder)
    classifier = TripleEntropyForSequenceClassification.from_encoder(
        str(directory), num_labels, id2label=dict(enumerate(NAMES[:num_labels])), seed=1, pooling=pooling).eval()
    tokenizer = AutoTokenizer.from_pretrained(directory)
    _spread_predictions(classifier, tokenizer)
    out = tmp_path / "model"
    classifier.save_pretrained(out, tokenizer=tokenizer, max_length=32)
    logits = predict_logits(classifier, tokenizer, EXAMPLES, max_length=32)
    labels = [NAMES[index] for index in logits.argmax(-1).tolist()]
    assert len(set(labels)) > 1, "the test needs predictions that differ"
    return out, labels, logits


CASES = [
    ("tiny_bert", "cls", 2), ("tiny_bert", "cls", 3), ("tiny_roberta", "cls", 3), ("tiny_mpnet", "cls", 2),
    ("tiny_sentence_bert", "mean", 2), ("tiny_sentence_bert", "mean", 3), ("tiny_bert", "mean", 3),
]


@pytest.mark.parametrize("encoder, pooling, num_labels", CASES)
def test_setfit_and_sentence_transformers_predict_our_labels(request, tmp_path, encoder, pooling, num_labels):
    from sentence_transformers import SentenceTransformer
    from setfit import SetFitModel

    out, labels, logits = _saved(request, tmp_path, encoder, pooling, num_labels)
    setfit = SetFitModel.from_pretrained(str(out), device="cpu")
    assert setfit.predict(TEXTS) == labels
    torch.testing.assert_close(setfit.predict_proba(TEXTS).float(), logits.softmax(-1), rtol=1e-4, atol=1e-5)
    embeddings = torch.as_tensor(SentenceTransformer(str(out), device="cpu").encode(TEXTS))
    torch.testing.assert_close(embeddings, logits, rtol=1e-4, atol=1e-5)
    # what `tripleentropy predict` loads
    loaded = TripleEntropyForSequenceClassification.from_pretrained(out)
    torch.testing.assert_close(predict_logits(loaded, load_tokenizer(str(out)), EXAMPLES, max_length=32), logits)


@pytest.mark.parametrize("encoder, pooling, num_labels", CASES)
def test_transformers_predicts_our_labels_or_refuses_the_model(request, tmp_path, encoder, pooling, num_labels):
    out, labels, _ = _saved(request, tmp_path, encoder, pooling, num_labels)
    if pooling == "cls":
        classifier = pipeline("text-classification", model=str(out), device="cpu")
        assert [prediction["label"] for prediction in classifier(TEXTS)] == labels
        return
    # A transformers classifier reads one token: it must not load the mean-pooled encoder under a new head.
    with pytest.raises(ValueError, match="Could not load model"):
        pipeline("text-classification", model=str(out), device="cpu")
    with pytest.raises(OSError, match="no file named model.safetensors"):
        AutoModelForSequenceClassification.from_pretrained(out)


def test_a_cls_head_the_modules_cannot_express_is_left_to_transformers(tiny_bert, tmp_path, monkeypatch):
    monkeypatch.setattr(model_module, "FIRST_TOKEN_HEADS", {})
    classifier = TripleEntropyForSequenceClassification.from_encoder(str(tiny_bert), 2, seed=1).eval()
    tokenizer = AutoTokenizer.from_pretrained(tiny_bert)
    classifier.save_pretrained(tmp_path, tokenizer=tokenizer)
    assert not (tmp_path / "modules.json").exists() and not (tmp_path / "model_head.pkl").exists()
    expected = [f"LABEL_{index}" for index in predict_logits(classifier, tokenizer, EXAMPLES).argmax(-1).tolist()]
    assert [p["label"] for p in pipeline("text-classification", model=str(tmp_path), device="cpu")(TEXTS)] == expected


def test_a_saved_mean_pooled_model_starts_another_run(request, tmp_path):
    out, _, _ = _saved(request, tmp_path, "tiny_sentence_bert", "mean", 2)
    pretrained = load_pretrained(str(out))
    assert (pretrained.sentence_pooling.mode, pretrained.sentence_pooling.normalize) == ("mean", True)
    saved = TripleEntropyForSequenceClassification.from_pretrained(out).model.state_dict()
    for key, value in pretrained.state_dict.items():
        torch.testing.assert_close(value, saved[key], msg=key)
    assert pretrained.tokenizer("good film")["input_ids"] == AutoTokenizer.from_pretrained(
        request.getfixturevalue("tiny_sentence_bert"))("good film")["input_ids"]

    # Its fingerprint reads the encoder's weights in their folder.
    first = model_fingerprint(str(out))
    weights = out / "0_Transformer" / "model.safetensors"
    data = weights.read_bytes()
    weights.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))
    assert model_fingerprint(str(out)) != first


def test_a_mean_pooled_model_saved_with_its_encoder_at_the_top_still_loads(request, tmp_path):
    # The layout of earlier versions: the Transformer module at the top of the directory.
    out, _, logits = _saved(request, tmp_path, "tiny_sentence_bert", "mean", 3)
    for path in (out / "0_Transformer").iterdir():
        if path.name != "config.json":
            shutil.move(path, out / path.name)
    shutil.rmtree(out / "0_Transformer")
    modules = json.loads((out / "modules.json").read_text())
    modules[0]["path"] = ""
    (out / "modules.json").write_text(json.dumps(modules))
    loaded = TripleEntropyForSequenceClassification.from_pretrained(out)
    torch.testing.assert_close(predict_logits(loaded, load_tokenizer(str(out)), EXAMPLES, max_length=32), logits)
