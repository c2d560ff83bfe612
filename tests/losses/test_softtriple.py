import itertools

import pytest
import torch
import torch.nn.functional as F
from torch.utils._python_dispatch import TorchDispatchMode

from tripleentropy.losses import SoftTripleLoss
from tripleentropy.losses import softtriple as softtriple_module

from . import reference

SETTINGS = [  # (la, gamma, margin, tau)
    (20.0, 0.1, 0.01, 0.2),
    (8.0, 0.5, 0.1, 0.0),
    (3.3, 0.05, 0.0, 0.5),
]


def make_loss(num_classes, k, la, gamma, margin, tau, dim=8, seed=0):
    torch.manual_seed(seed)
    loss = SoftTripleLoss(num_classes, dim, centers_per_class=k, la=la, gamma=gamma, margin=margin, tau=tau)
    return loss.double()


@pytest.mark.parametrize("num_classes,k,setting", list(itertools.product([2, 6], [1, 2, 5, 10], SETTINGS)))
def test_matches_reference_values_and_gradients(num_classes, k, setting):
    la, gamma, margin, tau = setting
    loss_fn = make_loss(num_classes, k, la, gamma, margin, tau, seed=num_classes * 100 + k)
    x = torch.randn(5, 8, dtype=torch.float64, requires_grad=True)
    labels = torch.randint(0, num_classes, (5,))

    value = loss_fn(x, labels)
    grad_x, grad_w = torch.autograd.grad(value, [x, loss_fn.centers])

    x_ref = x.detach().clone().requires_grad_(True)
    w_ref = loss_fn.centers.detach().clone().requires_grad_(True)
    expected = reference.softtriple(x_ref, labels, w_ref, num_classes, k, la, gamma, margin, tau)
    expected_grad_x, expected_grad_w = torch.autograd.grad(expected, [x_ref, w_ref])

    torch.testing.assert_close(value, expected, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(grad_x, expected_grad_x, rtol=1e-8, atol=1e-10)
    torch.testing.assert_close(grad_w, expected_grad_w, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("k", [1, 3])
def test_gradcheck(k):
    loss_fn = make_loss(3, k, 5.0, 0.2, 0.1, 0.3, dim=4)
    x = torch.randn(4, 4, dtype=torch.float64, requires_grad=True)
    labels = torch.tensor([0, 2, 1, 2])
    assert torch.autograd.gradcheck(lambda emb, centers: _with_centers(loss_fn, centers)(emb, labels), (x, loss_fn.centers))


def _with_centers(loss_fn, centers):
    def call(embeddings, labels):
        return torch.func.functional_call(loss_fn, {"centers": centers}, (embeddings, labels))

    return call


def test_chunked_computation_equals_single_chunk(monkeypatch):
    loss_fn = make_loss(3, 4, 10.0, 0.1, 0.05, 0.2, dim=6)
    x = torch.randn(23, 6, dtype=torch.float64, requires_grad=True)
    labels = torch.randint(0, 3, (23,))
    value = loss_fn(x, labels)
    grads = torch.autograd.grad(value, [x, loss_fn.centers])
    monkeypatch.setattr(softtriple_module, "_CHUNK_ELEMENTS", 25)  # two rows of 12 centers per chunk
    chunked = loss_fn(x, labels)
    chunked_grads = torch.autograd.grad(chunked, [x, loss_fn.centers])
    torch.testing.assert_close(chunked, value)
    for got, expected in zip(chunked_grads, grads):
        torch.testing.assert_close(got, expected)


def test_one_center_is_the_normalised_softmax_classifier():
    loss_fn = make_loss(4, 1, 16.0, 0.1, 0.2, 0.2, dim=8)
    x = torch.randn(10, 8, dtype=torch.float64)
    labels = torch.randint(0, 4, (10,))
    cosine = F.normalize(x, dim=1) @ F.normalize(loss_fn.centers, dim=1).t()
    expected = F.cross_entropy(16.0 * (cosine - 0.2 * F.one_hot(labels, 4)), labels)
    torch.testing.assert_close(loss_fn(x, labels), expected)
    torch.testing.assert_close(loss_fn.logits(x), cosine)


def test_tiny_gamma_takes_the_best_center():
    loss_fn = make_loss(3, 5, 20.0, 1e-5, 0.01, 0.0, dim=8)
    x = torch.randn(12, 8, dtype=torch.float64)
    sims = F.normalize(x, dim=1) @ F.normalize(loss_fn.centers, dim=1).t()
    expected = sims.view(12, 3, 5).amax(dim=2)
    torch.testing.assert_close(loss_fn.logits(x), expected, rtol=0, atol=1e-6)


@pytest.mark.parametrize("num_classes,k", [(2, 1), (2, 5), (6, 10)])
def test_equals_pytorch_metric_learning_without_regulariser(num_classes, k):
    pml_losses = pytest.importorskip("pytorch_metric_learning.losses")
    ours = make_loss(num_classes, k, 20.0, 0.1, 0.01, 0.0, dim=16).float()
    theirs = pml_losses.SoftTripleLoss(num_classes, 16, centers_per_class=k, la=20.0, gamma=0.1, margin=0.01)
    with torch.no_grad():
        theirs.fc.copy_(ours.centers.t())
    x = torch.randn(32, 16, requires_grad=True)
    labels = torch.randint(0, num_classes, (32,))
    value = ours(x, labels)
    expected = theirs(x, labels)
    torch.testing.assert_close(value, expected, rtol=1e-5, atol=1e-6)
    grad_x, grad_w = torch.autograd.grad(value, [x, ours.centers])
    expected_grad_x, expected_grad_fc = torch.autograd.grad(expected, [x, theirs.fc])
    torch.testing.assert_close(grad_x, expected_grad_x, rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(grad_w, expected_grad_fc.t(), rtol=1e-4, atol=1e-6)


def test_padding_changes_nothing_and_equals_selected_tokens():
    loss_fn = make_loss(3, 4, 8.0, 0.1, 0.1, 0.2, dim=8)
    states = torch.randn(4, 6, 8, dtype=torch.float64)
    mask = torch.tensor([[1, 1, 1, 1, 1, 1], [1, 1, 1, 0, 0, 0], [1, 0, 0, 0, 0, 0], [1, 1, 1, 1, 0, 0]])
    labels = torch.tensor([0, 2, 1, 2])

    states_a = states.clone().requires_grad_(True)
    value_a = loss_fn(states_a, labels, mask=mask)
    (grad_a,) = torch.autograd.grad(value_a, [states_a])

    changed = states.clone()
    changed[mask == 0] = torch.randn(int((mask == 0).sum()), 8, dtype=torch.float64) * 50
    states_b = changed.requires_grad_(True)
    value_b = loss_fn(states_b, labels, mask=mask)
    (grad_b,) = torch.autograd.grad(value_b, [states_b])

    torch.testing.assert_close(value_a, value_b)
    torch.testing.assert_close(grad_a[mask == 1], grad_b[mask == 1])
    assert torch.all(grad_b[mask == 0] == 0)

    selected = states[mask == 1]
    token_labels = torch.cat([labels[i].repeat(int(mask[i].sum())) for i in range(4)])
    torch.testing.assert_close(value_a, loss_fn(selected, token_labels))


def test_tokens_without_mask_count_every_token():
    loss_fn = make_loss(2, 3, 8.0, 0.1, 0.1, 0.2, dim=8)
    states = torch.randn(3, 5, 8, dtype=torch.float64)
    labels = torch.tensor([1, 0, 1])
    torch.testing.assert_close(loss_fn(states, labels), loss_fn(states, labels, mask=torch.ones(3, 5)))
    torch.testing.assert_close(loss_fn(states, labels), loss_fn(states.reshape(15, 8), labels.repeat_interleave(5)))


@pytest.mark.parametrize(
    "embeddings",
    [torch.randn(6, 8), torch.zeros(6, 8), torch.randn(6, 8) * 1e30, torch.randn(6, 8) * 1e-30],
    ids=["normal", "zero", "huge", "tiny"],
)
def test_large_scale_and_extreme_embeddings_stay_finite(embeddings):
    torch.manual_seed(0)
    loss_fn = SoftTripleLoss(3, 8, centers_per_class=5, la=100.0)
    x = embeddings.clone().requires_grad_(True)
    value = loss_fn(x, torch.tensor([0, 1, 2, 0, 1, 2]))
    value.backward()
    assert torch.isfinite(value)
    assert torch.isfinite(x.grad).all()
    assert torch.isfinite(loss_fn.centers.grad).all()


def test_bf16_autocast_keeps_centers_float32_and_finite():
    torch.manual_seed(0)
    loss_fn = SoftTripleLoss(2, 16, centers_per_class=10, la=20.0)
    x = torch.randn(4, 7, 16).to(torch.bfloat16).requires_grad_(True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        value = loss_fn(x, torch.tensor([0, 1, 1, 0]), mask=torch.ones(4, 7))
    value.backward()
    assert value.dtype == torch.float32
    assert loss_fn.centers.dtype == torch.float32 and loss_fn.centers.grad.dtype == torch.float32
    assert torch.isfinite(value) and torch.isfinite(x.grad.float()).all()
    assert torch.isfinite(loss_fn.centers.grad).all()


def test_centers_are_initialised_even_when_torch_init_is_disabled(monkeypatch):
    monkeypatch.setattr(torch.nn.init, "uniform_", lambda tensor, *args, **kwargs: tensor)
    monkeypatch.setattr(torch.nn.init, "kaiming_uniform_", lambda tensor, *args, **kwargs: tensor)
    torch.manual_seed(0)
    loss_fn = SoftTripleLoss(2, 8, centers_per_class=3)
    assert loss_fn.centers.shape == (6, 8) and loss_fn.centers.dtype == torch.float32
    assert torch.isfinite(loss_fn.centers).all()
    assert loss_fn.centers.abs().max() <= 1 / 8**0.5
    assert loss_fn.centers.std() > 0.05


def test_class_major_center_layout():
    loss_fn = make_loss(3, 2, 20.0, 0.1, 0.0, 0.0, dim=4)
    with torch.no_grad():
        loss_fn.centers.copy_(torch.eye(4, dtype=torch.float64).repeat(2, 1)[:6])
    # class 1 owns rows 2 and 3, i.e. the 3rd and 4th unit vectors
    x = torch.tensor([[0.0, 0.0, 1.0, 0.0], [0.0, 0.0, 0.0, 1.0]], dtype=torch.float64)
    assert loss_fn.logits(x).argmax(dim=1).tolist() == [1, 1]


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda f: f(torch.randn(4, 8), torch.tensor([0, 1, 3, 0])), "label 3 is out of range"),
        (lambda f: f(torch.randn(4, 8), torch.tensor([0, -1, 1, 0])), "label -1 is out of range"),
        (lambda f: f(torch.randn(4, 8), torch.tensor([0, 1, 1])), "4 examples but labels has 3"),
        (lambda f: f(torch.randn(4, 5), torch.tensor([0, 1, 1, 0])), "embedding_dim=8"),
        (lambda f: f(torch.randn(4, 8), torch.tensor([0.0, 1.0, 1.0, 0.0])), "integer tensor"),
        (lambda f: f(torch.randn(2, 3, 8), torch.tensor([0, 1]), torch.ones(2, 4)), "mask must have shape"),
        (lambda f: f(torch.randn(2, 3, 8), torch.tensor([0, 1]), torch.zeros(2, 3)), "leaves out every token"),
        (lambda f: f(torch.randn(8), torch.tensor([0])), "must be (N, D) or (B, L, D)"),
    ],
)
def test_bad_input_is_a_clear_value_error(call, message):
    loss_fn = SoftTripleLoss(3, 8, centers_per_class=2)
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        call(loss_fn)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"centers_per_class": 0}, "centers_per_class must be >= 1"),
        ({"num_classes": 0}, "num_classes must be >= 1"),
        ({"la": 0.0}, "la must be > 0"),
        ({"gamma": -0.1}, "gamma must be > 0"),
        ({"tau": -1.0}, "tau must be >= 0"),
    ],
)
def test_bad_settings_are_clear_value_errors(kwargs, message):
    settings = {"num_classes": 3, "embedding_dim": 8, **kwargs}
    with pytest.raises(ValueError, match=message):
        SoftTripleLoss(**settings)


def _penalised(loss_fn, x, labels):
    """A gradient penalty: the squared norm of the loss's gradient, then its own gradient."""
    grads = torch.autograd.grad(loss_fn(x, labels), [x, loss_fn.centers], create_graph=True)
    penalty = sum(grad.pow(2).sum() for grad in grads)
    return penalty, torch.autograd.grad(penalty, [x, loss_fn.centers])


@pytest.mark.parametrize("tau", [0.0, 0.2])
def test_second_order_gradients_are_exact(tau):
    torch.manual_seed(0)
    x = torch.randn(7, 6, dtype=torch.float64, requires_grad=True)
    labels = torch.tensor([0, 1, 2, 0, 1, 2, 1])
    loss_fn = SoftTripleLoss(3, 6, centers_per_class=2, la=5.0, gamma=0.5, margin=0.1, tau=tau).double()
    penalty, second = _penalised(loss_fn, x, labels)

    centers = loss_fn.centers.detach().clone().requires_grad_(True)
    grads = torch.autograd.grad(reference.softtriple(x, labels, centers, 3, 2, 5.0, 0.5, 0.1, tau), [x, centers],
                                create_graph=True)
    expected_penalty = sum(grad.pow(2).sum() for grad in grads)
    expected = torch.autograd.grad(expected_penalty, [x, centers])
    assert torch.allclose(penalty, expected_penalty, rtol=1e-10)
    for ours, theirs in zip(second, expected):
        assert torch.allclose(ours, theirs, rtol=1e-8, atol=1e-10)
    call = lambda e, c: torch.func.functional_call(loss_fn, {"centers": c}, (e, labels))  # noqa: E731
    assert torch.autograd.gradgradcheck(call, (x, centers))


class _MatrixProducts(TorchDispatchMode):
    def __init__(self):
        super().__init__()
        self.count = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func.overloadpacket in (torch.ops.aten.mm, torch.ops.aten.addmm, torch.ops.aten.addmm_):
            self.count += 1
        return func(*args, **(kwargs or {}))


def test_no_gradient_work_when_no_gradient_is_wanted():
    loss_fn = SoftTripleLoss(3, 16, centers_per_class=4, tau=0.0)
    x, labels = torch.randn(10, 16, requires_grad=True), torch.randint(0, 3, (10,))
    with _MatrixProducts() as counted:
        with_grad = loss_fn(x, labels)
    with torch.no_grad(), _MatrixProducts() as skipped:
        without = loss_fn(x, labels)
    assert counted.count == 3  # the similarities, and the two gradients formed in the forward pass
    assert skipped.count == 1  # the similarities only
    assert torch.equal(with_grad.detach(), without)


@pytest.mark.parametrize("dtype", [torch.uint8, torch.int16, torch.int32, torch.int64])
def test_labels_of_any_integer_dtype(dtype):
    torch.manual_seed(0)
    loss_fn = SoftTripleLoss(3, 8, centers_per_class=2)
    x, labels = torch.randn(6, 8), torch.tensor([0, 1, 2, 2, 1, 0])
    assert torch.equal(loss_fn(x, labels.to(dtype)), loss_fn(x, labels))
    assert torch.equal(loss_fn(x.view(2, 3, 8), labels[:2].to(dtype)), loss_fn(x.view(2, 3, 8), labels[:2]))


def test_kaiming_centers_are_pytorch_metric_learning_s():
    pml_losses = pytest.importorskip("pytorch_metric_learning.losses")
    torch.manual_seed(7)
    ours = SoftTripleLoss(2, 768, centers_per_class=5, center_init="kaiming")
    torch.manual_seed(7)
    theirs = pml_losses.SoftTripleLoss(2, 768, centers_per_class=5)
    assert torch.equal(ours.centers, theirs.fc.detach().t())  # the same values from the same random state
    norms = ours.centers.detach().norm(dim=1)
    assert 4.9 < float(norms.mean()) < 5.3  # sqrt(768 / (3 * 10)) = 5.06
    uniform = SoftTripleLoss(2, 768, centers_per_class=5).centers.detach().norm(dim=1)
    assert 0.55 < float(uniform.mean()) < 0.61  # sqrt(1 / 3) = 0.58
    with pytest.raises(ValueError, match="center_init must be one of uniform, kaiming"):
        SoftTripleLoss(2, 8, center_init="normal")
