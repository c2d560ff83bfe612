"""--pooling: what the head reads, what auto reads from a checkpoint, and saving mean-pooled models."""

import json

import pytest
import torch
from transformers import AutoTokenizer

from tests.tiny_models import make_tiny_sentence_transformer, sentences
from tripleentropy.errors import UserError
from tripleentropy.losses import SoftTripleLoss
from tripleentropy.modeling import (
    TripleEntropyForSequenceClassification,
    load_pretrained,
    read_sentence_pooling,
    resolve_model,
    resolve_pooling,
)
from tripleentropy.training import make_collator, predict_logits, tokenize_examples


def _batch(directory, examples):
    tokenizer = AutoTokenizer.from_pretrained(directory)
    return make_collator(tokenizer)(list(tokenize_examples(tokenizer, examples, 32)))


def test_the_bundled_minilm_is_read_through_normalised_mean_pooling():
    pooling = read_sentence_pooling(resolve_model("minilm"))
    assert (pooling.mode, pooling.normalize) == ("mean", True)


def test_sentence_pooling_of_checkpoints(tiny_bert, tiny_sentence_bert, tmp_path):
    assert read_sentence_pooling(str(tiny_bert)) is None
    assert read_sentence_pooling(str(tiny_sentence_bert)).normalize is True
    no_normalize = make_tiny_sentence_transformer(tmp_path / "plain", normalize=False)
    assert (read_sentence_pooling(str(no_normalize)).mode, read_sentence_pooling(str(no_normalize)).normalize) == ("mean", False)
    # sentence-transformers >= 5 writes the mode as one key
    (no_normalize / "1_Pooling" / "config.json").write_text(json.dumps({"embedding_dimension": 32, "pooling_mode": "cls"}))
    assert read_sentence_pooling(str(no_normalize)).mode == "cls"

    plain, sentence = load_pretrained(str(tiny_bert)), load_pretrained(str(tiny_sentence_bert))
    assert resolve_pooling("auto", plain) == ("cls", False)
    assert resolve_pooling("auto", sentence) == ("mean", True)
    assert resolve_pooling("mean", plain) == ("mean", False)
    assert resolve_pooling("cls", sentence) == ("cls", False)
    assert resolve_pooling("auto", load_pretrained(str(no_normalize))) == ("cls", False)  # its pooling is cls
    with pytest.raises(UserError, match="unknown pooling 'max'"):
        resolve_pooling("max", plain)


def test_mean_pooling_head_reads_the_masked_normalised_mean(tiny_sentence_bert):
    model = TripleEntropyForSequenceClassification.from_encoder(
        str(tiny_sentence_bert), 2, seed=0, pooling="auto", softtriple_input="mean", tau=0.0).eval()
    assert model.pooling == "mean" and model.normalize and model.head is not None
    batch = _batch(tiny_sentence_bert, sentences(5))
    assert (batch["attention_mask"] == 0).any(), "the batch needs padding for this test"
    out = model(**batch)
    states = model.model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                         token_type_ids=batch["token_type_ids"]).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1).float()
    mean = (states * mask).sum(1) / mask.sum(1)
    sentence = mean / mean.norm(dim=-1, keepdim=True)
    torch.testing.assert_close(out.logits, sentence @ model.head.weight.T + model.head.bias)
    # Padding does not change a sentence's logits.
    alone = model(**{k: v[:1, : int(batch["attention_mask"][0].sum())] for k, v in batch.items() if k != "labels"})
    torch.testing.assert_close(alone.logits, out.logits[:1], rtol=1e-4, atol=1e-5)
    # A pooled SoftTriple input reads that same vector.
    reference = SoftTripleLoss(2, 32, centers_per_class=5, la=8.0, gamma=0.1, margin=0.1, tau=0.0)
    reference.centers.data.copy_(model.centers.data)
    torch.testing.assert_close(out.metric, reference(sentence, batch["labels"]).detach())


@pytest.mark.parametrize("loss, settings", [("ce", {}), ("supcon", {}), ("tripleentropy", {"softtriple_input": "tokens"})])
def test_mean_pooling_trains_every_loss_and_freezes_the_unread_pooler(tiny_bert, loss, settings):
    model = TripleEntropyForSequenceClassification.from_encoder(str(tiny_bert), 2, loss=loss, seed=0, pooling="mean", **settings)
    assert model.normalize is False  # a plain checkpoint says nothing about normalising
    out = model(**_batch(tiny_bert, sentences(6)))
    out.loss.backward()
    assert model.head.weight.grad.abs().sum() > 0
    assert model.model.embeddings.word_embeddings.weight.grad.abs().sum() > 0
    assert all(not p.requires_grad and p.grad is None for p in model.model.pooler.parameters())


def test_same_seed_same_mean_pooled_model(tiny_sentence_bert):
    first = TripleEntropyForSequenceClassification.from_encoder(str(tiny_sentence_bert), 3, seed=4, pooling="mean")
    second = TripleEntropyForSequenceClassification.from_encoder(load_pretrained(str(tiny_sentence_bert)), 3, seed=4, pooling="mean")
    for (name, a), b in zip(first.state_dict().items(), second.state_dict().values()):
        torch.testing.assert_close(a, b, msg=name)


def test_mean_pooled_model_loads_in_sentence_transformers_without_this_package(tiny_sentence_bert, tmp_path):
    from sentence_transformers import SentenceTransformer

    names = {0: "negative", 1: "positive"}
    model = TripleEntropyForSequenceClassification.from_encoder(
        str(tiny_sentence_bert), 2, id2label=names, seed=2, pooling="auto").eval()
    examples = sentences(12, seed=3)
    with torch.no_grad():  # a head that separates two of the examples, so predictions differ
        _, _, vectors = model.encode(**{k: v for k, v in _batch(tiny_sentence_bert, examples[:2]).items() if k != "labels"})
        direction = 100.0 * (vectors[1] - vectors[0])
        model.head.weight.copy_(torch.stack([-direction, direction]))
        model.head.bias.copy_(torch.tensor([1.0, -1.0]) * (direction @ (vectors[0] + vectors[1]) / 2))
    tokenizer = AutoTokenizer.from_pretrained(tiny_sentence_bert)
    model.save_pretrained(tmp_path, tokenizer=tokenizer, max_length=32)
    ours = predict_logits(model, tokenizer, examples, max_length=32)
    assert len(set(ours.argmax(-1).tolist())) == 2

    plain = SentenceTransformer(str(tmp_path), device="cpu")
    assert plain.max_seq_length == 32
    logits = torch.as_tensor(plain.encode([example.text for example in examples]))
    torch.testing.assert_close(logits, ours, rtol=1e-4, atol=1e-5)
    assert json.loads((tmp_path / "config.json").read_text())["id2label"] == {"0": "negative", "1": "positive"}

    loaded = TripleEntropyForSequenceClassification.from_pretrained(tmp_path).eval()
    assert (loaded.pooling, loaded.normalize) == ("mean", True)
    torch.testing.assert_close(predict_logits(loaded, tokenizer, examples, max_length=32), ours)
    batch = _batch(tiny_sentence_bert, examples)
    torch.testing.assert_close(loaded(**batch).loss, model(**batch).loss)


def test_a_models_fingerprint_sees_the_pooling_its_modules_name(tmp_path):
    # --pooling auto and mean read modules.json and the Pooling module's config.json: runs keyed by
    # the model's fingerprint must not be reused when those change under the same weights.
    from tripleentropy.modeling.pretrained import model_fingerprint

    model = make_tiny_sentence_transformer(tmp_path / "model")
    first = model_fingerprint(str(model))
    (model / "README.md").write_text("a model card: not read\n")
    assert model_fingerprint(str(model)) == first
    pooling_file = model / "1_Pooling" / "config.json"
    settings = json.loads(pooling_file.read_text())
    pooling_file.write_text(json.dumps({**settings, "pooling_mode_cls_token": True, "pooling_mode_mean_tokens": False}))
    as_cls = model_fingerprint(str(model))
    pooling_file.write_text(json.dumps(settings))
    assert model_fingerprint(str(model)) == first
    modules = json.loads((model / "modules.json").read_text())
    (model / "modules.json").write_text(json.dumps([module for module in modules if "Normalize" not in module["type"]]))
    unnormalized = model_fingerprint(str(model))
    assert len({first, as_cls, unnormalized}) == 3


@pytest.mark.parametrize("checkpoint", ["tiny_mpnet", "tiny_roberta"])
def test_mean_pooling_builds_encoders_whose_classifier_drops_the_pooler(checkpoint, request, tmp_path):
    # MPNet's and RoBERTa's classifiers hold no pooler, their bare encoders one: mean pooling
    # (all-mpnet-base-v2 under --pooling auto) starts it afresh under the seed, unread.
    directory = request.getfixturevalue(checkpoint)
    first = TripleEntropyForSequenceClassification.from_encoder(str(directory), 2, seed=5, pooling="mean")
    second = TripleEntropyForSequenceClassification.from_encoder(load_pretrained(str(directory)), 2, seed=5, pooling="mean")
    for (name, a), b in zip(first.state_dict().items(), second.state_dict().values()):
        torch.testing.assert_close(a, b, msg=name)
    batch = _batch(directory, sentences(6))
    first(**batch).loss.backward()
    assert first.model.embeddings.word_embeddings.weight.grad.abs().sum() > 0
    assert all(not p.requires_grad and p.grad is None for p in first.model.pooler.parameters())

    first.eval().save_pretrained(tmp_path, tokenizer=AutoTokenizer.from_pretrained(directory), max_length=32)
    loaded = TripleEntropyForSequenceClassification.from_pretrained(tmp_path).eval()
    with torch.no_grad():
        torch.testing.assert_close(loaded(**batch).logits, first(**batch).logits)
