import pytest
import torch
import torch.nn.functional as F

from tripleentropy.losses import LossOutput, SoftTripleLoss, TripleEntropyLoss

from . import reference


def make(beta, **kwargs):
    torch.manual_seed(0)
    settings = {"num_classes": 3, "embedding_dim": 8, "centers_per_class": 4, "la": 8.0, "margin": 0.1, **kwargs}
    return TripleEntropyLoss(beta=beta, **settings).double()


def inputs(seed=1):
    generator = torch.Generator().manual_seed(seed)
    logits = torch.randn(5, 3, dtype=torch.float64, generator=generator, requires_grad=True)
    states = torch.randn(5, 6, 8, dtype=torch.float64, generator=generator, requires_grad=True)
    mask = (torch.arange(6)[None, :] < torch.tensor([6, 3, 1, 4, 2])[:, None]).long()
    return logits, states, torch.tensor([0, 2, 1, 2, 0]), mask


@pytest.mark.parametrize("beta", [0.0, 0.4, 0.9])
def test_weighted_sum_of_reference_terms(beta):
    loss_fn = make(beta)
    logits, states, labels, mask = inputs()
    out = loss_fn(logits, states, labels, mask)
    assert isinstance(out, LossOutput)

    tokens = states[mask == 1]
    token_labels = labels[:, None].expand_as(mask)[mask == 1]
    st = loss_fn.softtriple
    expected_metric = reference.softtriple(
        tokens, token_labels, st.centers, 3, 4, st.la, st.gamma, st.margin, st.tau
    )
    expected_ce = reference.cross_entropy(logits, labels)
    expected = beta * expected_ce + (1 - beta) * expected_metric
    torch.testing.assert_close(out.ce.double(), expected_ce)
    torch.testing.assert_close(out.metric, expected_metric)
    torch.testing.assert_close(out.loss, expected)

    grads = torch.autograd.grad(out.loss, [logits, states, st.centers])
    expected_grads = torch.autograd.grad(expected, [logits, states, st.centers])
    for got, want in zip(grads, expected_grads):
        torch.testing.assert_close(got, want)


def test_beta_one_is_plain_cross_entropy_with_centers_in_the_graph():
    loss_fn = make(1.0)
    logits, states, labels, mask = inputs()
    out = loss_fn(logits, states, labels, mask)
    assert torch.equal(out.loss, F.cross_entropy(logits, labels))  # float64 logits: float64 cross-entropy
    assert out.metric.requires_grad is False and torch.isfinite(out.metric)
    out.loss.backward()
    assert loss_fn.softtriple.centers.grad is not None
    assert torch.all(loss_fn.softtriple.centers.grad == 0)
    assert states.grad is None


def test_accepts_a_ready_softtriple_module():
    softtriple = SoftTripleLoss(2, 8, centers_per_class=3)
    loss_fn = TripleEntropyLoss(beta=0.5, softtriple=softtriple)
    assert loss_fn.softtriple is softtriple
    out = loss_fn(torch.randn(4, 2), torch.randn(4, 8), torch.tensor([0, 1, 0, 1]))
    assert out.loss.shape == ()


@pytest.mark.parametrize("beta", [-0.1, 1.5])
def test_beta_outside_unit_interval(beta):
    with pytest.raises(ValueError, match=r"beta must lie in \[0, 1\]"):
        TripleEntropyLoss(beta=beta, num_classes=2, embedding_dim=4)


def test_construction_errors():
    with pytest.raises(ValueError, match="missing: embedding_dim"):
        TripleEntropyLoss(num_classes=2)
    with pytest.raises(ValueError, match="not both"):
        TripleEntropyLoss(softtriple=SoftTripleLoss(2, 4), num_classes=2)
    with pytest.raises(ValueError, match="centers_per_class must be >= 1"):
        TripleEntropyLoss(num_classes=2, embedding_dim=4, centers_per_class=0)


def test_shape_and_label_errors():
    loss_fn = TripleEntropyLoss(num_classes=3, embedding_dim=8)
    with pytest.raises(ValueError, match=r"logits must be \(N, 3\)"):
        loss_fn(torch.randn(4, 2), torch.randn(4, 8), torch.tensor([0, 1, 1, 0]))
    with pytest.raises(ValueError, match="logits have 4 examples but embeddings have 3"):
        loss_fn(torch.randn(4, 3), torch.randn(3, 8), torch.tensor([0, 1, 1, 0]))
    with pytest.raises(ValueError, match="label 5 is out of range for 3 classes"):
        loss_fn(torch.randn(4, 3), torch.randn(4, 8), torch.tensor([0, 1, 5, 0]))


@pytest.mark.parametrize("dtype", [torch.uint8, torch.int16, torch.int32])
def test_labels_of_any_integer_dtype_and_float64_cross_entropy(dtype):
    loss_fn = make(0.4)
    logits, states, labels, mask = inputs()
    assert logits.dtype == torch.float64
    out = loss_fn(logits, states, labels.to(dtype), mask)
    expected = loss_fn(logits, states, labels, mask)
    assert torch.equal(out.loss, expected.loss)
    assert out.ce.dtype == torch.float64  # not rounded through float32
    torch.testing.assert_close(out.ce, reference.cross_entropy(logits, labels), rtol=1e-13, atol=0.0)
