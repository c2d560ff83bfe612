import time

import pytest
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer, pipeline

from tests.tiny_models import pairs, sentences
from tripleentropy.errors import UserError
from tripleentropy.losses import SoftTripleLoss
from tripleentropy.modeling import (
    LOSS_CONFIG_NAME,
    LOSS_WEIGHTS_NAME,
    SOFTTRIPLE_INPUTS,
    TripleEntropyForSequenceClassification,
    load_pretrained,
    resolve_model,
)
from tripleentropy.training import make_collator, predict_logits, tokenize_examples


def _batch(directory, examples):
    tokenizer = AutoTokenizer.from_pretrained(directory)
    return make_collator(tokenizer)(list(tokenize_examples(tokenizer, examples, 32)))


@pytest.fixture(params=["bert", "roberta", "mpnet"])
def encoder_dir(request):
    return request.getfixturevalue(f"tiny_{request.param}")


@pytest.mark.parametrize(
    "loss, settings",
    [("ce", {}), ("supcon", {"beta": 0.5})]
    + [("tripleentropy", {"softtriple_input": kind}) for kind in SOFTTRIPLE_INPUTS],
)
def test_every_loss_and_input_trains(encoder_dir, loss, settings):
    model = TripleEntropyForSequenceClassification.from_encoder(str(encoder_dir), 2, loss=loss, seed=0, **settings)
    batch = _batch(encoder_dir, sentences(6))
    out = model(**batch)
    assert out.logits.shape == (6, 2) and out.loss is not None and torch.isfinite(out.loss)
    assert torch.isfinite(out.ce)
    assert (out.metric is None) == (loss == "ce")
    out.loss.backward()
    encoder_grad = model.model.base_model.embeddings.word_embeddings.weight.grad
    assert encoder_grad is not None and encoder_grad.abs().sum() > 0
    if loss == "tripleentropy":
        assert model.centers.grad.abs().sum() > 0 and model.centers.dtype == torch.float32
    without_labels = model(**{k: v for k, v in batch.items() if k != "labels"})
    assert without_labels.loss is None and without_labels.logits.shape == (6, 2)


def test_tokens_input_is_every_non_padding_token(tiny_bert):
    model = TripleEntropyForSequenceClassification.from_encoder(str(tiny_bert), 2, seed=0, beta=0.0, tau=0.0).eval()
    batch = _batch(tiny_bert, sentences(5))
    assert (batch["attention_mask"] == 0).any(), "the batch needs padding for this test"
    out = model(**batch)
    states = model.model(**{k: v for k, v in batch.items() if k != "labels"}, output_hidden_states=True).hidden_states[-1]
    reference = SoftTripleLoss(2, 32, centers_per_class=5, la=8.0, gamma=0.1, margin=0.1, tau=0.0)
    reference.centers.data.copy_(model.centers.data)
    expected = reference(states[batch["attention_mask"].bool()], batch["labels"].repeat_interleave(batch["attention_mask"].sum(1)))
    torch.testing.assert_close(out.metric, expected.detach())
    with_padding = TripleEntropyForSequenceClassification(model.model, beta=0.0, tau=0.0, softtriple_input="tokens-with-padding")
    with_padding.centers.data.copy_(model.centers.data)
    assert not torch.allclose(with_padding(**batch).metric, out.metric)


def test_sentence_pairs(encoder_dir):
    model = TripleEntropyForSequenceClassification.from_encoder(str(encoder_dir), 2, seed=0)
    batch = _batch(encoder_dir, pairs(4))
    if "token_type_ids" in batch:
        assert (batch["token_type_ids"] == 1).any()
    out = model(**batch)
    assert torch.isfinite(out.loss)


def test_same_seed_same_head_and_centers(tiny_bert):
    first = TripleEntropyForSequenceClassification.from_encoder(str(tiny_bert), 3, seed=7)
    second = TripleEntropyForSequenceClassification.from_encoder(load_pretrained(str(tiny_bert)), 3, seed=7)
    for (name, a), (_, b) in zip(first.state_dict().items(), second.state_dict().items()):
        torch.testing.assert_close(a, b, msg=name)


def test_save_and_load_round_trip(encoder_dir, tmp_path):
    names = {0: "negative", 1: "positive"}
    model = TripleEntropyForSequenceClassification.from_encoder(
        str(encoder_dir), 2, id2label=names, seed=1, la=5.0, centers=3, softtriple_input="mean"
    ).eval()
    with torch.no_grad():
        model.centers.add_(1.0)  # not the initial values
    tokenizer = AutoTokenizer.from_pretrained(encoder_dir)
    model.save_pretrained(tmp_path, tokenizer=tokenizer)
    assert (tmp_path / LOSS_WEIGHTS_NAME).is_file() and (tmp_path / LOSS_CONFIG_NAME).is_file()
    loaded = TripleEntropyForSequenceClassification.from_pretrained(tmp_path).eval()
    assert loaded.loss_settings == model.loss_settings and loaded.loss_settings["la"] == 5.0
    torch.testing.assert_close(loaded.centers, model.centers)
    batch = _batch(encoder_dir, sentences(4))
    torch.testing.assert_close(loaded(**batch).logits, model(**batch).logits)
    torch.testing.assert_close(loaded(**batch).loss, model(**batch).loss)

    # Plain transformers, without this package, predicts the same with the label names.
    plain = AutoModelForSequenceClassification.from_pretrained(tmp_path).eval()
    texts = [example.text for example in sentences(4)]
    ours = predict_logits(model, tokenizer, sentences(4)).softmax(-1)
    classifier = pipeline("text-classification", model=str(tmp_path), device="cpu")
    for text, prediction, probabilities in zip(texts, classifier(texts), ours):
        assert prediction["label"] == names[int(probabilities.argmax())]
        assert prediction["score"] == pytest.approx(float(probabilities.max()), abs=1e-5)
    assert plain.config.id2label == names


def test_model_names(tmp_path, monkeypatch):
    assert (tmp_path / "x").exists() is False
    with pytest.raises(UserError, match="does not exist"):
        resolve_model(str(tmp_path / "missing"))
    with pytest.raises(UserError, match="no config.json"):
        resolve_model(str(tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    started = time.perf_counter()
    with pytest.raises(UserError, match="local model directory"):
        TripleEntropyForSequenceClassification.from_encoder("someone/no-such-model-here", 2)
    assert time.perf_counter() - started < 5
    assert (resolve_model("minilm") + "/config.json")


def test_weights_missing_from_the_checkpoint_are_initialised_under_the_seed(tiny_bert_no_pooler):
    def build(seed, noise):
        torch.manual_seed(noise)  # whatever the random state when the checkpoint is read ...
        pretrained = load_pretrained(str(tiny_bert_no_pooler))
        torch.manual_seed(noise + 1)
        model = TripleEntropyForSequenceClassification.from_encoder(pretrained, 2, seed=seed)
        return pretrained, model.state_dict()

    pretrained, first = build(3, noise=0)
    _, second = build(3, noise=100)
    assert first.keys() == second.keys()
    for key in first:  # ... the same seed gives the same model, pooler included
        assert torch.equal(first[key], second[key]), key
    _, other = build(4, noise=0)
    assert not torch.equal(first["model.bert.pooler.dense.weight"], other["model.bert.pooler.dense.weight"])
    assert torch.equal(first["model.bert.embeddings.word_embeddings.weight"], other["model.bert.embeddings.word_embeddings.weight"])
    assert pretrained.missing_keys == ("pooler.dense.bias", "pooler.dense.weight")
    assert not any(key.startswith("pooler.") for key in pretrained.state_dict)


def test_weights_missing_from_the_checkpoint_are_seeded_with_mean_pooling_too(tiny_bert_no_pooler):
    pretrained = load_pretrained(str(tiny_bert_no_pooler))
    first, second, other = (
        TripleEntropyForSequenceClassification.from_encoder(pretrained, 2, seed=seed, pooling="mean").state_dict()
        for seed in (3, 3, 4)
    )
    assert first.keys() == second.keys()
    for key in first:  # the bare encoder (AutoModel) of mean pooling: the same seed, the same model
        assert torch.equal(first[key], second[key]), key
    assert not torch.equal(first["model.pooler.dense.weight"], other["model.pooler.dense.weight"])
