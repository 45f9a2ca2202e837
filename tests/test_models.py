"""Tests for mixup_repro.models: parameter counts, shapes, manifold mixing and argument checks."""

from __future__ import annotations

import pytest
import torch

from mixup_repro.models import MODEL_NAMES, build_model, count_parameters

B = 4

# Small configurations (fast on CPU), with the input shapes each must accept.
SMALL = {
    "preact_resnet18": ({"width": 8}, [(3, 32, 32), (1, 28, 28)]),
    "wrn28_10": ({"depth": 10, "widen_factor": 1}, [(3, 32, 32), (1, 28, 28)]),
    "densenet_bc_190": ({"depth": 40, "growth_rate": 12}, [(3, 32, 32), (1, 28, 28)]),
    "mlp": ({}, [(20,), (1, 28, 28)]),
    "gru": ({"hidden": 16}, [(7, 20), (1, 28, 28)]),
}

# Expected hidden shape (without the batch dim) at every mix layer, for each small config and input.
MIX_SHAPES = {
    ("preact_resnet18", (3, 32, 32)): [(3, 32, 32), (8, 32, 32), (8, 32, 32), (16, 16, 16), (32, 8, 8),
                                       (64, 4, 4)],
    ("preact_resnet18", (1, 28, 28)): [(1, 28, 28), (8, 28, 28), (8, 28, 28), (16, 14, 14), (32, 7, 7),
                                       (64, 4, 4)],
    ("wrn28_10", (3, 32, 32)): [(3, 32, 32), (16, 32, 32), (16, 32, 32), (32, 16, 16), (64, 8, 8)],
    ("wrn28_10", (1, 28, 28)): [(1, 28, 28), (16, 28, 28), (16, 28, 28), (32, 14, 14), (64, 7, 7)],
    ("densenet_bc_190", (3, 32, 32)): [(3, 32, 32), (24, 32, 32), (48, 16, 16), (60, 8, 8), (132, 8, 8)],
    ("densenet_bc_190", (1, 28, 28)): [(1, 28, 28), (24, 28, 28), (48, 14, 14), (60, 7, 7), (132, 7, 7)],
    ("mlp", (20,)): [(20,)],
    ("mlp", (1, 28, 28)): [(1, 28, 28)],
    ("gru", (7, 20)): [(7, 20)],
    ("gru", (1, 28, 28)): [(1, 28, 28)],
}

CASES = [(name, shape) for name, (_, shapes) in SMALL.items() for shape in shapes]


def _small_model(name: str, shape: tuple[int, ...], num_classes: int = 5):
    kw, _ = SMALL[name]
    if name == "mlp":
        in_ch = int(torch.tensor(shape).prod())
    elif name == "gru":
        in_ch = shape[-1]
    else:
        in_ch = shape[0]
    torch.manual_seed(0)
    return build_model(name, num_classes, in_ch, **kw).eval()


def _mix(h: torch.Tensor) -> torch.Tensor:
    return 0.5 * h + 0.5 * h.flip(0)


def test_model_names():
    assert MODEL_NAMES == ("preact_resnet18", "wrn28_10", "densenet_bc_190", "mlp", "gru", "lenet", "vgg11")


@pytest.mark.parametrize("name,in_ch,kw,expected", [
    ("preact_resnet18", 3, {}, 11_171_146),               # official mixup-cifar10 PreActResNet18
    ("wrn28_10", 3, {}, 36_479_194),                      # standard WRN-28-10
    ("densenet_bc_190", 3, {}, 25_624_430),               # DenseNet-BC-190 (k=40), e.g. imgclsmob
    ("densenet_bc_190", 3, {"depth": 100, "growth_rate": 12}, 769_162),  # DenseNet-BC-100 (k=12)
    ("mlp", 10, {}, 10 * 128 + 128 + 128 * 128 + 128 + 128 * 10 + 10),
    ("gru", 28, {}, 3 * (28 * 128 + 128 * 128 + 2 * 128) + 128 * 10 + 10),
])
def test_parameter_counts(name, in_ch, kw, expected):
    assert count_parameters(build_model(name, 10, in_ch, **kw)) == expected


def test_count_parameters_trainable_only_and_type():
    model = build_model("mlp", 3, 4, hidden=8)
    total = count_parameters(model)
    model.head[1].weight.requires_grad_(False)
    assert count_parameters(model, trainable_only=True) == total - 4 * 8
    with pytest.raises(TypeError, match="model"):
        count_parameters("mlp")


@pytest.mark.parametrize("name", ["preact_resnet18", "wrn28_10"])
def test_full_size_forward_batch_of_one(name):
    model = build_model(name, 10, 3).eval()
    with torch.no_grad():
        assert model(torch.randn(1, 3, 32, 32)).shape == (1, 10)


@pytest.mark.parametrize("name,shape", CASES)
def test_forward_shapes(name, shape):
    model = _small_model(name, shape)
    out = model(torch.randn(B, *shape))
    assert out.shape == (B, 5)
    assert torch.isfinite(out).all()


def test_num_mix_layers():
    expected = {"preact_resnet18": 6, "wrn28_10": 5, "densenet_bc_190": 5, "mlp": 1, "gru": 1}
    for name, (_, shapes) in SMALL.items():
        assert _small_model(name, shapes[0]).num_mix_layers == expected[name]


@pytest.mark.parametrize("name,shape", CASES)
def test_manifold_mixing_each_layer(name, shape):
    model = _small_model(name, shape)
    x = torch.randn(B, *shape)
    with torch.no_grad():
        plain = model(x)
        assert model.num_mix_layers == len(MIX_SHAPES[(name, shape)])
        for k in range(model.num_mix_layers):
            seen = []

            def identity(h, seen=seen):
                seen.append(tuple(h.shape))
                return h

            torch.testing.assert_close(model(x, mix_layer=k, mix_fn=identity), plain, rtol=0, atol=0)
            mixed = model(x, mix_layer=k, mix_fn=_mix)
            assert seen == [(B, *MIX_SHAPES[(name, shape)][k])], (k, seen)
            assert mixed.shape == plain.shape
            assert not torch.allclose(mixed, plain, atol=1e-6), f"mixing at layer {k} had no effect"


def test_mixing_is_differentiable():
    model = _small_model("preact_resnet18", (3, 32, 32)).train()
    out = model(torch.randn(B, 3, 32, 32), mix_layer=3, mix_fn=_mix)
    out.sum().backward()
    assert model.stages[0].weight.grad is not None


def test_gru_reads_images_row_by_row():
    model = _small_model("gru", (1, 28, 28))
    x = torch.randn(B, 1, 28, 28)
    with torch.no_grad():
        torch.testing.assert_close(model(x), model(x[:, 0]))


def test_gru_runs_in_fp32_under_bf16_autocast():
    # cuDNN's autocast casts RNNs to fp16 whatever dtype was asked; the GRU opts out and stays fp32
    model = _small_model("gru", (7, 20))
    seen = []
    model.head.gru.register_forward_hook(lambda mod, inp, out: seen.append((inp[0].dtype, out[0].dtype)))
    x = torch.randn(B, 7, 20)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        logits = model(x.bfloat16())
    assert seen == [(torch.float32, torch.float32)] and logits.shape == (B, 5)


def test_mlp_flattens_images():
    model = _small_model("mlp", (1, 28, 28))
    x = torch.randn(B, 1, 28, 28)
    with torch.no_grad():
        torch.testing.assert_close(model(x), model(x.flatten(1)))


def test_dropout_is_active_in_training_only():
    torch.manual_seed(0)
    model = build_model("preact_resnet18", 5, 3, width=4, dropout=0.5)
    x = torch.randn(B, 3, 16, 16)
    model.eval()
    with torch.no_grad():
        torch.testing.assert_close(model(x), model(x))
        model.train()
        assert not torch.allclose(model(x), model(x))


@pytest.mark.parametrize("name,shape", [("preact_resnet18", (3, 32, 32)), ("mlp", (20,)), ("gru", (7, 20))])
def test_invalid_mix_layer(name, shape):
    model = _small_model(name, shape)
    x = torch.randn(B, *shape)
    n = model.num_mix_layers
    for k in (-1, n, n + 3):
        with pytest.raises(ValueError, match="mix_layer"):
            model(x, mix_layer=k, mix_fn=_mix)
    with pytest.raises(TypeError, match="mix_layer"):
        model(x, mix_layer=1.5, mix_fn=_mix)
    with pytest.raises(ValueError, match="mix_fn"):
        model(x, mix_layer=0)
    with pytest.raises(TypeError, match="mix_fn"):
        model(x, mix_layer=0, mix_fn="mix")
    with pytest.raises(ValueError, match="mix_fn must return a tensor of shape"):
        model(x, mix_layer=0, mix_fn=lambda h: h[:1])


def test_bad_input_shapes():
    with pytest.raises(ValueError, match=r"x must have shape \(B, 3, H, W\)"):
        _small_model("preact_resnet18", (3, 32, 32))(torch.randn(B, 1, 32, 32))
    with pytest.raises(ValueError, match="20 features"):
        _small_model("mlp", (20,))(torch.randn(B, 21))
    with pytest.raises(ValueError, match=r"x must have shape \(B, T, 20\)"):
        _small_model("gru", (7, 20))(torch.randn(B, 7, 3))
    with pytest.raises(TypeError, match="x must be a torch.Tensor"):
        _small_model("mlp", (20,))([1.0] * 20)


@pytest.mark.parametrize("args,kw,exc,match", [
    (("resnet50", 10, 3), {}, ValueError, r"model must be one of preact_resnet18, wrn28_10.*resnet50"),
    (("preact_resnet18", 1, 3), {}, ValueError, r"num_classes must be >= 2, got 1"),
    (("mlp", 1, 3), {}, ValueError, r"num_classes must be >= 2"),
    (("preact_resnet18", 10, 3), {"width": 0}, ValueError, r"width must be >= 1, got 0"),
    (("preact_resnet18", 10, 3), {"width": 8.0}, TypeError, r"width must be an integer"),
    (("preact_resnet18", 10, 0), {}, ValueError, r"in_channels must be >= 1"),
    (("mlp", 10, 0), {}, ValueError, r"in_channels must be >= 1"),
    (("preact_resnet18", 10, 3), {"dropout": 1.0}, ValueError, r"dropout must be in \[0, 1\)"),
    (("wrn28_10", 10, 3), {"depth": 27}, ValueError, r"depth must be 6n \+ 4"),
    (("wrn28_10", 10, 3), {"widen_factor": 0}, ValueError, r"widen_factor must be >= 1"),
    (("densenet_bc_190", 10, 3), {"growth_rate": 0}, ValueError, r"growth_rate must be >= 1"),
    (("densenet_bc_190", 10, 3), {"compression": 0.0}, ValueError, r"compression must be in \(0, 1\]"),
    (("gru", 10, 28), {"num_layers": 0}, ValueError, r"num_layers must be >= 1"),
    (("mlp", 10, 28), {"hidden": -1}, ValueError, r"hidden must be >= 1"),
    (("mlp", 10, 28), {"width": 8}, TypeError, r"unknown option\(s\) width for model 'mlp'; allowed: hidden"),
])
def test_bad_arguments(args, kw, exc, match):
    with pytest.raises(exc, match=match):
        build_model(*args, **kw)
