"""--head-init probe, --center-init kmeans, and the step budget (--max-steps, --min-steps, --warmup-ratio)."""

import numpy as np
import pytest
import torch
from sklearn.cluster import KMeans
from sklearn.linear_model import LogisticRegression

from tests.tiny_models import sentences
from tripleentropy.errors import UserError
from tripleentropy.modeling import TripleEntropyForSequenceClassification, load_pretrained
from tripleentropy.training import TrainConfig, predict_logits, tokenize_examples, train_model
from tripleentropy.training.api import _training_arguments, optimizer_steps
from tripleentropy.training.initialization import frozen_features, initialize_from_data

NAMES = ["negative", "positive"]


def _model_and_data(directory, count=24, **settings):
    pretrained = load_pretrained(str(directory))
    model = TripleEntropyForSequenceClassification.from_encoder(pretrained, 2, seed=0, **settings)
    return model, pretrained.tokenizer, tokenize_examples(pretrained.tokenizer, sentences(count, seed=2), 32)


def test_the_output_layer_is_the_layer_that_gives_the_logits(tiny_bert, tiny_roberta):
    bert, _, _ = _model_and_data(tiny_bert)
    roberta, _, _ = _model_and_data(tiny_roberta)
    mean, _, _ = _model_and_data(tiny_bert, pooling="mean")
    assert bert.output_layer() is bert.model.classifier
    assert roberta.output_layer() is roberta.model.classifier.out_proj
    assert mean.output_layer() is mean.head


@pytest.mark.parametrize("pooling", ["cls", "mean"])
def test_probe_head_gives_the_logistic_regression_of_the_frozen_features(tiny_bert, pooling):
    model, tokenizer, data = _model_and_data(tiny_bert, pooling=pooling)
    found = frozen_features(model, tokenizer, data)
    assert found["features"].shape == (24, 32)
    initialize_from_data(model, tokenizer, data, head_init="probe", center_init=None, seed=0)
    probe = LogisticRegression(max_iter=1000).fit(found["features"], found["labels"])
    layer = model.output_layer()
    ours = torch.softmax(torch.as_tensor(found["features"]).float() @ layer.weight.T + layer.bias, dim=-1)
    np.testing.assert_allclose(ours.detach().numpy(), probe.predict_proba(found["features"]), atol=1e-5)
    # and the model itself, dropout off, predicts what the probe predicts
    probabilities = torch.softmax(predict_logits(model, tokenizer, data), dim=-1)
    np.testing.assert_allclose(probabilities.numpy(), probe.predict_proba(found["features"]), atol=1e-5)


def test_probe_of_six_classes_with_classes_missing_keeps_their_rows(tiny_bert):
    pretrained = load_pretrained(str(tiny_bert))
    model = TripleEntropyForSequenceClassification.from_encoder(pretrained, 6, seed=0, pooling="mean")
    data = tokenize_examples(pretrained.tokenizer, sentences(12, seed=1), 32)  # labels 0 and 1 only
    before = model.head.weight.detach().clone()
    initialize_from_data(model, pretrained.tokenizer, data, head_init="probe", center_init=None, seed=0)
    assert torch.equal(model.head.weight[2:], before[2:]) and not torch.equal(model.head.weight[:2], before[:2])
    one_class = tokenize_examples(pretrained.tokenizer, [e for e in sentences(12) if e.label == 0], 32)
    with pytest.raises(UserError, match="at least two classes"):
        initialize_from_data(model, pretrained.tokenizer, one_class, head_init="probe", center_init=None, seed=0)


@pytest.mark.parametrize("softtriple_input, points", [("tokens", None), ("mean", 24), ("cls", 24)])
def test_kmeans_centers_are_the_centroids_of_each_class(tiny_bert, softtriple_input, points):
    model, tokenizer, data = _model_and_data(tiny_bert, centers=3, softtriple_input=softtriple_input, pooling="mean")
    found = frozen_features(model, tokenizer, data, head=False, softtriple=True)
    counted_tokens = sum(data.lengths)
    assert len(found["embeddings"]) == (points or counted_tokens)
    initialize_from_data(model, tokenizer, data, head_init="random", center_init="kmeans", seed=5)
    for label in (0, 1):
        units = found["embeddings"][found["embedding_labels"] == label]
        units = units / np.linalg.norm(units, axis=1, keepdims=True)
        expected = KMeans(n_clusters=3, random_state=5, n_init=10).fit(units).cluster_centers_
        np.testing.assert_allclose(model.centers[label * 3:label * 3 + 3].detach().numpy(), expected, atol=1e-5)


def test_kmeans_with_fewer_points_than_centers_takes_the_class_mean_plus_small_noise(tiny_bert):
    model, tokenizer, data = _model_and_data(tiny_bert, count=6, centers=5, softtriple_input="mean", pooling="mean")
    found = frozen_features(model, tokenizer, data, head=False, softtriple=True)
    initialize_from_data(model, tokenizer, data, head_init="random", center_init="kmeans", seed=1)
    for label in (0, 1):
        units = found["embeddings"][found["embedding_labels"] == label]
        mean = (units / np.linalg.norm(units, axis=1, keepdims=True)).mean(axis=0)
        centers = model.centers[label * 5:label * 5 + 5].detach().double().numpy()
        distances = np.linalg.norm(centers - mean, axis=1)
        np.testing.assert_allclose(distances, 1e-2, rtol=1e-4)
        assert len(np.unique(centers.round(8), axis=0)) == 5
    again, tokenizer, data = _model_and_data(tiny_bert, count=6, centers=5, softtriple_input="mean", pooling="mean")
    initialize_from_data(again, tokenizer, data, head_init="random", center_init="kmeans", seed=1)
    assert torch.equal(again.centers, model.centers)


def _config(model_dir, **changes):
    # The mechanics under test, not the default recipe's budget and head: the classic recipe.
    values = dict(recipe="classic", model=str(model_dir), epochs=1, batch_size=8, lr=5e-3, warmup_steps=0, logging_steps=1)
    values.update(changes)
    return TrainConfig(**values)


def test_probe_and_kmeans_runs_are_repeatable(tiny_bert):
    config = _config(tiny_bert, head_init="probe", center_init="kmeans", pooling="mean", epochs=2)
    first = train_model(config, sentences(24), sentences(16, seed=1), NAMES, progress=False)
    second = train_model(config, sentences(24), sentences(16, seed=1), NAMES, progress=False)
    assert first.metrics == second.metrics
    torch.testing.assert_close(first.model.centers, second.model.centers)


@pytest.mark.parametrize("changes, steps", [({}, 2), ({"min_steps": 7}, 7), ({"min_steps": 1}, 2),
                                            ({"max_steps": 5}, 5), ({"max_steps": 3, "epochs": 9}, 3)])
def test_step_budget(tiny_bert, changes, steps):
    config = _config(tiny_bert, **changes)
    assert optimizer_steps(config, 16) == steps
    result = train_model(config, sentences(16), None, NAMES, progress=False)
    assert max(record.get("step", 0) for record in result.log_history) == steps


def test_warmup_ratio_is_a_fraction_of_the_steps(tiny_bert):
    config = _config(tiny_bert, max_steps=8, warmup_ratio=0.5, scheduler="constant")
    args = _training_arguments(config, "unused", save=False, has_validation=False, num_examples=16)
    assert args.max_steps == 8 and args.get_warmup_steps(args.max_steps) == 4
    result = train_model(config, sentences(16), None, NAMES, progress=False)
    rates = [record["learning_rate"] for record in result.log_history if "learning_rate" in record]
    assert rates[:3] == sorted(rates[:3]) and rates[0] < config.lr and rates[-1] == pytest.approx(config.lr)


@pytest.mark.parametrize("values, message", [
    ({"max_steps": 0}, "max_steps must be an integer >= 1"),
    ({"min_steps": -1}, "min_steps must be an integer >= 0"),
    ({"warmup_ratio": 1.0}, r"warmup_ratio must lie in \[0, 1\)"),
    ({"head_init": "zeros"}, "unknown head init 'zeros'"),
    ({"center_init": "pca"}, "unknown center init 'pca'"),
])
def test_bad_values(values, message):
    with pytest.raises(UserError, match=message):
        TrainConfig.from_dict(values).validate()
