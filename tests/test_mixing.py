"""The mixing core: formulas (1) and (2), loss equivalences, RNG reproducibility, bad input."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from mixup_repro import Mixup, mix, mix_k, mixup_criterion, sample_dirichlet, sample_lambda, smooth_labels

K = 5


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


def _batch(shape, k=K, seed=0, dtype=torch.float32):
    g = _gen(seed)
    x = torch.randn(shape, generator=g, dtype=dtype)
    y = torch.randint(0, k, (shape[0],), generator=g)
    return x, y


# ---------------------------------------------------------------------------------------------- formula (1)
@pytest.mark.parametrize("shape", [(6, 3), (6, 4, 3), (6, 2, 5, 5), (6, 2, 3, 4, 4)])
def test_convex_combination_scalar_lambda(shape):
    x, y = _batch(shape)
    out = mix(x, y, num_classes=K, alpha=1.0, generator=_gen(1))
    lam = float(out.lam)
    assert 0.0 <= lam <= 1.0 and out.lam.dim() == 0
    expected = lam * x + (1 - lam) * x[out.index]
    torch.testing.assert_close(out.inputs, expected, atol=1e-6, rtol=0)
    assert sorted(out.index.tolist()) == list(range(shape[0]))  # a permutation
    onehot = F.one_hot(y, K).float()
    torch.testing.assert_close(out.targets, lam * onehot + (1 - lam) * onehot[out.index], atol=1e-6, rtol=0)


@pytest.mark.parametrize("shape", [(6, 3), (6, 4, 3), (6, 2, 5, 5), (6, 2, 3, 4, 4)])
def test_convex_combination_per_sample_lambda(shape):
    x, y = _batch(shape)
    lam = torch.linspace(0, 1, shape[0])
    index = torch.arange(shape[0]).roll(2)
    out = mix(x, y, num_classes=K, lam=lam, index=index)
    for i in range(shape[0]):
        torch.testing.assert_close(out.inputs[i], lam[i] * x[i] + (1 - lam[i]) * x[index[i]], atol=1e-6, rtol=0)
    onehot = F.one_hot(y, K).float()
    torch.testing.assert_close(out.targets, lam[:, None] * onehot + (1 - lam[:, None]) * onehot[index],
                               atol=1e-6, rtol=0)


def test_lambda_one_returns_x_and_does_not_modify_inputs():
    x, y = _batch((8, 3, 4, 4))
    x0, y0 = x.clone(), y.clone()
    out = mix(x, y, num_classes=K, lam=1.0)
    assert torch.equal(out.inputs, x)
    assert torch.equal(out.targets, F.one_hot(y, K).float())
    assert torch.equal(x, x0) and torch.equal(y, y0)
    assert out.inputs.data_ptr() != x.data_ptr()
    out0 = mix(x, y, num_classes=K, alpha=0.0)  # alpha = 0 is ERM
    assert float(out0.lam) == 1.0 and torch.equal(out0.inputs, x)


def test_batch_of_one_and_odd_batches():
    for b in (1, 3, 7):
        x, y = _batch((b, 4))
        out = mix(x, y, num_classes=K, generator=_gen(3))
        assert out.inputs.shape == (b, 4) and out.targets.shape == (b, K)
        xm, ym = Mixup(1.0, num_classes=K, mode="elem", generator=_gen(3))(x, y)
        assert xm.shape == (b, 4) and ym.shape == (b, K)


# ---------------------------------------------------------------------------------------------- formula (2)
@pytest.mark.parametrize("eps", [0.0, 0.05, 0.1, 0.4])
def test_targets_sum_to_one_and_equal_formula_2(eps):
    x, y = _batch((9, 4))
    out = mix(x, y, num_classes=K, alpha=0.7, label_smoothing=eps, generator=_gen(2))
    lam = float(out.lam)
    onehot = F.one_hot(y, K).double()
    mixed = lam * onehot + (1 - lam) * onehot[out.index]
    torch.testing.assert_close(out.targets.double(), (1 - eps) * mixed + eps / K, atol=1e-6, rtol=0)
    torch.testing.assert_close(out.targets.sum(1), torch.ones(9), atol=1e-6, rtol=0)
    assert out.targets.dtype == torch.float32


@pytest.mark.parametrize("eps", [0.05, 0.2])
def test_smoothing_before_mixing_equals_smoothing_after(eps):
    x, y = _batch((10, 3), dtype=torch.float64)
    lam = torch.rand(10, generator=_gen(4), dtype=torch.float64)
    index = torch.randperm(10, generator=_gen(5))
    after = mix(x, y, num_classes=K, lam=lam, index=index, label_smoothing=eps).targets
    before = mix(x, smooth_labels(F.one_hot(y, K).double(), K, eps), num_classes=K, lam=lam, index=index).targets
    torch.testing.assert_close(after, before, atol=1e-12, rtol=0)


def test_smooth_labels_formula():
    y = torch.tensor([0, 2, 4])
    s = smooth_labels(y, 5, 0.1)
    assert torch.allclose(s, F.one_hot(y, 5).float() * 0.9 + 0.02)
    probs = torch.tensor([[0.5, 0.5, 0.0]])
    assert torch.allclose(smooth_labels(probs, 3, 0.3), probs * 0.7 + 0.1)


def test_bf16_inputs_keep_float32_targets():
    x, y = _batch((6, 3, 4, 4))
    out = mix(x.bfloat16(), y, num_classes=K, lam=0.3, index=torch.arange(6).roll(1), label_smoothing=0.1)
    assert out.inputs.dtype == torch.bfloat16 and out.targets.dtype == torch.float32
    exact = (1 - 0.1) * (0.3 * F.one_hot(y, K).double() + 0.7 * F.one_hot(y.roll(1), K).double()) + 0.1 / K
    torch.testing.assert_close(out.targets.double(), exact, atol=1e-7, rtol=0)


# ---------------------------------------------------------------------------------------------- loss equivalence
@pytest.mark.parametrize("eps", [0.0, 0.1, 0.3])
def test_loss_interpolation_equals_soft_target_cross_entropy(eps):
    g = _gen(7)
    x, y = _batch((16, 4), dtype=torch.float64)
    logits = torch.randn(16, K, generator=g, dtype=torch.float64)
    lam = 0.37
    index = torch.randperm(16, generator=g)
    out = mix(x, y, num_classes=K, lam=lam, index=index, label_smoothing=eps)
    assert out.targets.dtype == torch.float64
    soft = F.cross_entropy(logits, out.targets)  # cross-entropy on the mixed (smoothed) soft targets
    crit = torch.nn.CrossEntropyLoss(label_smoothing=eps)
    interp = mixup_criterion(crit, logits, y, y[index], lam)  # the official form
    mixed_unsmoothed = mix(x, y, num_classes=K, lam=lam, index=index).targets
    builtin = F.cross_entropy(logits, mixed_unsmoothed, label_smoothing=eps)  # torch's own smoothing
    assert abs(float(soft - interp)) < 1e-10
    assert abs(float(soft - builtin)) < 1e-10


# ---------------------------------------------------------------------------------------------- torchvision
def test_matches_torchvision_mixup():
    from torchvision.transforms import v2

    x, _ = _batch((8, 3, 6, 6))
    y = torch.arange(8) % K  # y[0] != y[-1], so lam can be read off the first target row
    tv = v2.MixUp(alpha=1.0, num_classes=K)
    torch.manual_seed(11)
    tx, ty = tv(x.clone(), y.clone())
    # torchvision pairs sample i with i-1 (roll(1)) and draws λ from its own Beta; recover λ from the labels
    lam = float(ty[0, y[0]])
    assert 0.0 < lam < 1.0
    ours = mix(x, y, num_classes=K, lam=lam, index=torch.arange(8).roll(1))
    torch.testing.assert_close(ours.inputs, tx, atol=1e-6, rtol=1e-6)
    torch.testing.assert_close(ours.targets, ty, atol=1e-6, rtol=1e-6)


# ---------------------------------------------------------------------------------------------- randomness
def test_same_seed_same_stream():
    x, y = _batch((12, 3))
    a = [mix(x, y, num_classes=K, generator=g) for g in [_gen(5)] for _ in range(3)]
    b = [mix(x, y, num_classes=K, generator=g) for g in [_gen(5)] for _ in range(3)]
    for oa, ob in zip(a, b):
        assert torch.equal(oa.lam, ob.lam) and torch.equal(oa.index, ob.index) and torch.equal(oa.inputs, ob.inputs)
    assert len({float(o.lam) for o in a}) == 3  # the stream moves on
    assert torch.equal(sample_lambda(1.0, 50, _gen(9)), sample_lambda(1.0, 50, _gen(9)))


@pytest.mark.parametrize("alpha", [0.1, 0.2, 0.4, 1.0, 2.0, 8.0])
def test_beta_moments(alpha):
    n = 200_000
    lam = sample_lambda(alpha, n, _gen(0))
    assert lam.min() >= 0 and lam.max() <= 1
    var = 1 / (4 * (2 * alpha + 1))
    # standard error of the mean is sqrt(var / n); of the variance about sqrt(2 var^2 / n) or less
    assert abs(float(lam.mean()) - 0.5) < 5 * math.sqrt(var / n)
    assert abs(float(lam.var()) - var) < 6 * var * math.sqrt(2 / n) + 1e-4


def test_alpha_zero_is_erm():
    assert torch.all(sample_lambda(0.0, 10) == 1.0)
    w = sample_dirichlet(0.0, 4, (3,))
    assert torch.equal(w, torch.tensor([[1.0, 0, 0, 0]] * 3, dtype=torch.float64))


@pytest.mark.parametrize("alpha", [0.2, 1.0, 4.0])
def test_dirichlet_k2_matches_beta(alpha):
    n = 100_000
    w = sample_dirichlet(alpha, 2, n, generator=_gen(1))
    assert torch.allclose(w.sum(-1), torch.ones(n, dtype=torch.float64))
    torch.testing.assert_close(w[:, 0], sample_lambda(alpha, n, _gen(1)), atol=0, rtol=0)
    var = 1 / (4 * (2 * alpha + 1))
    assert abs(float(w[:, 0].mean()) - 0.5) < 5 * math.sqrt(var / n)
    assert abs(float(w[:, 0].var()) - var) < 6 * var * math.sqrt(2 / n) + 1e-4


def test_dirichlet_moments_k3():
    a, k, n = 0.5, 3, 200_000
    w = sample_dirichlet(a, k, n, generator=_gen(2))
    a0 = a * k
    var = (a / a0) * (1 - a / a0) / (a0 + 1)
    assert torch.allclose(w.mean(0), torch.full((k,), 1 / k, dtype=torch.float64), atol=0.005)
    assert torch.allclose(w.var(0), torch.full((k,), var, dtype=torch.float64), atol=0.003)


def test_mix_k_two_equals_mix():
    x, y = _batch((10, 3, 4))
    a = mix(x, y, num_classes=K, alpha=0.4, label_smoothing=0.1, generator=_gen(8))
    b = mix_k(x, y, num_classes=K, k=2, alpha=0.4, label_smoothing=0.1, generator=_gen(8))
    assert torch.equal(a.inputs, b.inputs) and torch.equal(a.targets, b.targets)
    assert torch.equal(a.index, b.index[1]) and float(a.lam) == float(b.lam[0])


def test_mix_k_three_samples():
    x, y = _batch((10, 4))
    out = mix_k(x, y, num_classes=K, k=3, alpha=1.0, label_smoothing=0.1, generator=_gen(3))
    w, idx = out.lam, out.index
    assert w.shape == (3,) and idx.shape == (3, 10) and torch.equal(idx[0], torch.arange(10))
    expected = sum(float(w[j]) * x[idx[j]] for j in range(3))
    torch.testing.assert_close(out.inputs, expected, atol=1e-6, rtol=0)
    torch.testing.assert_close(out.targets.sum(1), torch.ones(10), atol=1e-6, rtol=0)
    per = mix_k(x, y, num_classes=K, k=4, per_sample=True, generator=_gen(3))
    assert per.lam.shape == (10, 4)


# ---------------------------------------------------------------------------------------------- module
def test_module_prob_zero_returns_smoothed_onehot():
    x, y = _batch((7, 3))
    m = Mixup(1.0, num_classes=K, label_smoothing=0.1, prob=0.0, generator=_gen(0))
    xm, ym = m(x, y)
    assert torch.equal(xm, x)
    torch.testing.assert_close(ym, smooth_labels(y, K, 0.1))


def test_module_prob_fraction_of_mixed_batches():
    x, y = _batch((4, 2))
    m = Mixup(1.0, num_classes=K, prob=0.3, generator=_gen(0))
    mixed = sum(not torch.equal(m(x, y)[0], x) for _ in range(2000))
    assert abs(mixed / 2000 - 0.3) < 0.04


def test_module_elem_mode_one_lambda_per_sample():
    x = torch.zeros(64, 1)
    x[::2] = 1.0
    y = torch.zeros(64, dtype=torch.long)
    xm, _ = Mixup(1.0, num_classes=2, mode="elem", generator=_gen(0))(x, y)
    assert len(set(xm.squeeze(1).tolist())) > 20  # many distinct λ


def test_module_k3_and_repr():
    x, y = _batch((6, 3))
    m = Mixup(0.5, num_classes=K, k=3, generator=_gen(0))
    xm, ym = m(x, y)
    assert xm.shape == x.shape and ym.shape == (6, K)
    assert "alpha=0.5" in repr(m)


# ---------------------------------------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        (dict(alpha=-1.0), ValueError, r"alpha must be .*got -1"),
        (dict(alpha=float("nan")), ValueError, r"alpha must be a finite number"),
        (dict(alpha=float("inf")), ValueError, r"alpha must be a finite number"),
        (dict(label_smoothing=1.0), ValueError, r"label_smoothing must be in \[0, 1\)"),
        (dict(label_smoothing=-0.1), ValueError, r"label_smoothing must be in"),
        (dict(lam=1.5), ValueError, r"lam must be in \[0, 1\]"),
        (dict(lam=torch.tensor([0.5, -0.1, 0.2, 0.3])), ValueError, r"lam must be in \[0, 1\]"),
        (dict(lam=torch.ones(3)), ValueError, r"lam must be .*\(4,\) tensor"),
        (dict(num_classes=1), ValueError, r"num_classes must be >= 2"),
        (dict(index=torch.arange(3)), ValueError, r"index must have shape \(4,\)"),
        (dict(index=torch.tensor([0, 1, 2, 4])), ValueError, r"index entries must be in \[0, 4\)"),
        (dict(index=torch.zeros(4)), TypeError, r"index must be an integer tensor"),
    ],
)
def test_bad_arguments(kwargs, exc, match):
    x, y = _batch((4, 3))
    kw = dict(num_classes=K) | kwargs
    with pytest.raises(exc, match=match):
        mix(x, y, **kw)


def test_bad_tensors():
    x, y = _batch((4, 3))
    with pytest.raises(ValueError, match=r"class indices outside \[0, num_classes\)"):
        mix(x, torch.tensor([0, 1, 5, 2]), num_classes=K)
    with pytest.raises(ValueError, match=r"class indices outside"):
        mix(x, torch.tensor([0, -1, 2, 2]), num_classes=K)
    with pytest.raises(ValueError, match=r"y must have the batch size of x \(4\)"):
        mix(x, y[:3], num_classes=K)
    with pytest.raises(TypeError, match=r"x must be a floating-point tensor"):
        mix(torch.ones(4, 3, dtype=torch.long), y, num_classes=K)
    with pytest.raises(TypeError, match=r"x must be a floating-point tensor"):
        mix(torch.ones(4, 3, dtype=torch.bool), y, num_classes=K)
    with pytest.raises(ValueError, match=r"rows that sum to 1"):
        mix(x, torch.full((4, K), 0.3), num_classes=K)
    with pytest.raises(ValueError, match=r"width num_classes = 5"):
        mix(x, torch.full((4, 4), 0.25), num_classes=K)
    with pytest.raises(ValueError, match=r"empty batch"):
        mix(torch.ones(0, 3), torch.zeros(0, dtype=torch.long), num_classes=K)
    with pytest.raises(ValueError, match=r"rank >= 2"):
        mix(torch.ones(4), y, num_classes=K)
    with pytest.raises(TypeError, match=r"integer dtype"):
        mix(x, torch.tensor([True, False, True, False]), num_classes=K)


def test_bad_module_and_helpers():
    with pytest.raises(ValueError, match=r"prob must be in \[0, 1\]"):
        Mixup(1.0, num_classes=K, prob=1.2)
    with pytest.raises(ValueError, match=r"mode must be one of batch, elem, pair; got 'pairs'"):
        Mixup(1.0, num_classes=K, mode="pairs")
    with pytest.raises(ValueError, match=r"k must be >= 2"):
        Mixup(1.0, num_classes=K, k=1)
    with pytest.raises(ValueError, match=r"k must be >= 2"):
        mix_k(*_batch((4, 3)), num_classes=K, k=1)
    with pytest.raises(ValueError, match=r"k must be >= 2"):
        sample_dirichlet(1.0, 1)
    with pytest.raises(ValueError, match=r"alpha must be"):
        sample_lambda(-0.5)
    with pytest.raises(ValueError, match=r"eps must be in \[0, 1\)"):
        smooth_labels(torch.tensor([0, 1]), 2, 1.0)
    with pytest.raises(ValueError, match=r"lam must be in \[0, 1\]"):
        mixup_criterion(torch.nn.CrossEntropyLoss(), torch.zeros(2, 2), torch.tensor([0, 1]),
                        torch.tensor([1, 0]), 2.0)
    with pytest.raises(TypeError, match=r"criterion must be callable"):
        mixup_criterion(None, torch.zeros(2, 2), torch.tensor([0, 1]), torch.tensor([1, 0]), 0.5)
    with pytest.raises(TypeError, match=r"num_classes must be an integer"):
        Mixup(1.0, num_classes=2.5)


def test_validate_false_reads_no_tensor_value_and_mixes_the_same(host_reads):
    x, y = torch.randn(16, 3, 8, 8), torch.randint(0, 10, (16,))
    checked = mix(x, y, num_classes=10, generator=torch.Generator().manual_seed(3), label_smoothing=0.1)
    reads = sum(host_reads.values())
    assert reads > 0  # validation reads the labels' range
    host_reads.clear()
    fast = mix(x, y, num_classes=10, generator=torch.Generator().manual_seed(3), label_smoothing=0.1, validate=False)
    module = Mixup(1.0, num_classes=10, label_smoothing=0.1, validate=False, mode="elem", prob=0.5)
    module(x, y)
    Mixup(1.0, num_classes=10, k=3, validate=False)(x, y)
    assert not host_reads, dict(host_reads)
    assert torch.equal(fast.inputs, checked.inputs) and torch.equal(fast.targets, checked.targets)
    # shapes and types are still checked
    with pytest.raises(ValueError, match="must have the batch size of x"):
        mix(x, y[:3], num_classes=10, validate=False)
    with pytest.raises(TypeError, match="validate must be True or False"):
        Mixup(1.0, num_classes=10, validate=1)
