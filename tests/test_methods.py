"""The methods registry: METHODS, the families, the CLI choices and TrainConfig's checks derive from it."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from mixup_repro import METHODS, TrainConfig, fit
from mixup_repro import methods as M
from mixup_repro.cli import build_parser
from mixup_repro.train import CUTMIX_METHODS, MIXING_METHODS, SMOOTHING_METHODS


def test_registry_and_methods_agree():
    assert METHODS == tuple(M.REGISTRY) == M.METHODS
    assert METHODS == ("erm", "mixup", "label_smoothing", "mixup_ls", "mix_inputs_only", "mix_inputs_ls", "manifold",
                       "gaussian_noise", "cutmix", "cutmix_ls", "mixup_cutmix")
    assert MIXING_METHODS == tuple(m for m in METHODS if M.REGISTRY[m].mixes)
    assert SMOOTHING_METHODS == ("label_smoothing", "mixup_ls", "mix_inputs_ls", "cutmix_ls")
    assert CUTMIX_METHODS == ("cutmix", "cutmix_ls", "mixup_cutmix")
    train = next(a for a in build_parser()._subparsers._group_actions[0].choices.items() if a[0] == "train")[1]
    method = next(a for a in train._actions if a.dest == "method")
    assert tuple(method.choices) == METHODS


def test_methods_table_lists_every_method():
    table = M.methods_table()
    lines = table.strip().splitlines()
    assert lines[0] == "| method | needs | description |" and len(lines) == 2 + len(METHODS)
    for name, line in zip(METHODS, lines[2:]):
        assert line.startswith(f"| `{name}` |") and M.REGISTRY[name].description in line
    assert "image data" in lines[2 + METHODS.index("cutmix")] and "a hidden layer" in lines[2 + METHODS.index("manifold")]


def test_a_registered_method_trains_and_its_needs_are_checked():
    @M.register("toy_flip", "mixup whose partner is the reversed batch", mixes=True, smoothing=True)
    def toy_flip(step):
        lam = step.lam()
        index = torch.arange(step.x.shape[0] - 1, -1, -1, device=step.x.device)
        xm, targets = M.mix_with(step.x, step.x[index], step.onehot(step.y), step.onehot(step.y[index]), lam,
                                 step.cfg.label_smoothing)
        return F.cross_entropy(step.model(xm), targets)

    try:
        cfg = TrainConfig(dataset="two-moons", model="mlp", method="toy_flip", label_smoothing=0.1, epochs=1,
                          batch_size=250, device="cpu")
        res = fit(cfg, quiet=True)
        assert len(res.curves["train_loss"]) == 1 and res.curves["train_loss"][0] > 0
        with pytest.raises(ValueError, match="method must be one of .*, toy_flip; got 'toy'"):
            TrainConfig(method="toy")
        with pytest.raises(ValueError, match="already registered"):
            M.register("toy_flip", "again")(toy_flip)
    finally:
        M.REGISTRY.pop("toy_flip")
    with pytest.raises(ValueError, match="method must be one of .*mixup_cutmix; got 'toy_flip'"):
        TrainConfig(method="toy_flip")


def test_what_a_method_needs_is_refused_up_front():
    with pytest.raises(ValueError, match="label_smoothing = 0.1 is only used by methods label_smoothing, mixup_ls"):
        TrainConfig(method="mixup", label_smoothing=0.1)
    with pytest.raises(ValueError, match="needs an image dataset"):
        TrainConfig(dataset="two-moons", model="mlp", method="cutmix")
    with pytest.raises(ValueError, match="pairing must be 'random'"):
        TrainConfig(method="manifold", pairing="knn")


def test_architecture_methods_table_is_generated_from_the_registry():
    from pathlib import Path

    from mixup_repro.methods import methods_table

    text = (Path(__file__).resolve().parents[1] / "ARCHITECTURE.md").read_text(encoding="utf-8")
    block = text.split("<!-- methods:start -->\n", 1)[1].split("\n<!-- methods:end -->", 1)[0]
    assert block.strip() == methods_table().strip(), "ARCHITECTURE.md's methods table is out of date: " \
        "replace it with mixup_repro.methods.methods_table()"
