import pytest
import torch

from tripleentropy.losses import SupConCrossEntropyLoss, SupConLoss

from . import reference


@pytest.mark.parametrize("temperature", [0.05, 0.1, 0.5])
@pytest.mark.parametrize("labels", [[0, 1, 0, 1, 2, 2, 0], [0, 0, 0, 0, 0, 0, 0], [0, 1, 2, 3, 4, 5, 0]])
def test_matches_reference_values_and_gradients(temperature, labels):
    torch.manual_seed(len(set(labels)))
    x = torch.randn(7, 5, dtype=torch.float64, requires_grad=True)
    labels = torch.tensor(labels)
    value = SupConLoss(temperature)(x, labels)
    (grad,) = torch.autograd.grad(value, [x])

    x_ref = x.detach().clone().requires_grad_(True)
    expected = reference.supcon(x_ref, labels, temperature)
    (expected_grad,) = torch.autograd.grad(expected, [x_ref])
    torch.testing.assert_close(value, expected)
    torch.testing.assert_close(grad, expected_grad)


def test_gradcheck():
    x = torch.randn(6, 4, dtype=torch.float64, requires_grad=True)
    labels = torch.tensor([0, 1, 0, 1, 2, 2])
    assert torch.autograd.gradcheck(lambda emb: SupConLoss(0.3)(emb, labels), (x,))


def test_anchor_without_positive_is_left_out():
    torch.manual_seed(0)
    x = torch.randn(5, 4, dtype=torch.float64)
    loss_fn = SupConLoss(0.1)
    full = loss_fn(x, torch.tensor([0, 0, 1, 1, 2]))
    # the singleton of class 2 still counts in the denominators of the others
    expected = reference.supcon(x, torch.tensor([0, 0, 1, 1, 2]), 0.1)
    torch.testing.assert_close(full, expected)


def test_batch_without_any_positive_gives_zero_with_gradient():
    x = torch.randn(3, 4, requires_grad=True)
    value = SupConLoss()(x, torch.tensor([0, 1, 2]))
    value.backward()
    assert value.item() == 0.0 and torch.all(x.grad == 0)


def test_extreme_inputs_stay_finite():
    x = torch.cat([torch.zeros(2, 8), torch.randn(2, 8) * 1e30, torch.randn(2, 8)]).requires_grad_(True)
    value = SupConLoss(0.05)(x, torch.tensor([0, 0, 1, 1, 0, 1]))
    value.backward()
    assert torch.isfinite(value) and torch.isfinite(x.grad).all()


def test_bad_input():
    with pytest.raises(ValueError, match="temperature must be > 0"):
        SupConLoss(0.0)
    with pytest.raises(ValueError, match=r"embeddings must be \(N, D\)"):
        SupConLoss()(torch.randn(2, 3, 4), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="4 examples but labels has 3"):
        SupConLoss()(torch.randn(4, 4), torch.tensor([0, 1, 1]))


@pytest.mark.parametrize("beta", [0.0, 0.9, 1.0])
def test_cross_entropy_combination(beta):
    torch.manual_seed(0)
    logits = torch.randn(6, 3, dtype=torch.float64, requires_grad=True)
    embeddings = torch.randn(6, 8, dtype=torch.float64, requires_grad=True)
    labels = torch.tensor([0, 1, 2, 0, 1, 2])
    out = SupConCrossEntropyLoss(beta=beta, temperature=0.2)(logits, embeddings, labels)
    expected_ce = reference.cross_entropy(logits, labels)
    expected_metric = reference.supcon(embeddings, labels, 0.2)
    torch.testing.assert_close(out.ce.double(), expected_ce)
    torch.testing.assert_close(out.metric, expected_metric)
    torch.testing.assert_close(out.loss, beta * expected_ce + (1 - beta) * expected_metric)


def test_cross_entropy_combination_errors():
    with pytest.raises(ValueError, match=r"beta must lie in \[0, 1\]"):
        SupConCrossEntropyLoss(beta=2.0)
    loss_fn = SupConCrossEntropyLoss()
    with pytest.raises(ValueError, match="one embedding per sentence"):
        loss_fn(torch.randn(2, 2), torch.randn(2, 3, 4), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="label 2 is out of range for 2 classes"):
        loss_fn(torch.randn(2, 2), torch.randn(2, 4), torch.tensor([0, 2]))


@pytest.mark.parametrize("dtype", [torch.uint8, torch.int16])
def test_small_integer_labels_and_float64_cross_entropy(dtype):
    torch.manual_seed(0)
    logits, embeddings = torch.randn(6, 3, dtype=torch.float64), torch.randn(6, 8, dtype=torch.float64)
    labels = torch.tensor([0, 1, 2, 0, 1, 2])
    out = SupConCrossEntropyLoss(beta=0.5, temperature=0.3)(logits, embeddings, labels.to(dtype))
    torch.testing.assert_close(out.ce, reference.cross_entropy(logits, labels), rtol=1e-13, atol=0.0)
    torch.testing.assert_close(out.metric, SupConLoss(0.3)(embeddings, labels))


def test_defaults_are_gunel_et_al_s_few_shot_values():
    from tripleentropy.modeling import loss_settings
    from tripleentropy.training import TrainConfig

    # (1 - lambda) CE + lambda SCL with lambda 0.9 and temperature 0.3: beta, the CE weight, is 0.1.
    loss_fn = SupConCrossEntropyLoss()
    assert (loss_fn.beta, loss_fn.supcon.temperature) == (0.1, 0.3)
    assert loss_settings("supcon") == {"beta": 0.1, "temperature": 0.3}
    config = TrainConfig(loss="supcon").validate()
    assert loss_settings("supcon", **config.loss_kwargs()) == {"beta": 0.1, "temperature": 0.3}
    logits, embeddings, labels = torch.randn(4, 2), torch.randn(4, 8), torch.tensor([0, 1, 1, 0])
    out = loss_fn(logits, embeddings, labels)
    torch.testing.assert_close(out.loss, 0.1 * out.ce + 0.9 * out.metric)
