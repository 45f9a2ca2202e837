"""The README's example runs as written."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_training_step_runs():
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert blocks, "README has no python example"
    ns: dict = {}
    exec(compile(blocks[0], "README.md", "exec"), ns)  # noqa: S102 - our own documentation
    assert ns["y_soft"].shape == (128, 10)
    assert abs(float(ns["y_soft"].sum(1).mean()) - 1) < 1e-6
    assert ns["loss"].item() > 0


def test_readme_results_section_matches_the_committed_results(monkeypatch):
    """Every number in the README's results section comes from results/ (regenerate: python -m mixup_repro report)."""
    from mixup_repro.report import update_readme

    monkeypatch.chdir(README.parent)  # the section names the folder as given: results/<scale>
    assert not update_readme("README.md", "results", check=True), \
        "README results section is stale: run `python -m mixup_repro report`"


# ---------------------------------------------------------------------------------------------- the peers table
def _peer_table():
    text = README.read_text()
    block = text.split("<!-- peers:start -->")[1].split("<!-- peers:end -->")[0]
    lines = [ln for ln in block.strip().splitlines() if ln.startswith("|")]
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    rows = {}
    for ln in lines[2:]:
        cells = [c.strip() for c in ln.strip("|").split("|")]
        rows[cells[0]] = dict(zip(header, cells))
    return header, rows


def _ours_checks():
    """One check per row of the mixup_repro column: each calls the code and asserts the claim."""
    import numpy as np
    import torch
    import torch.nn.functional as F

    from mixup_repro import METHODS, CutMix, Mixup, cutmix, mix, mix_k
    from mixup_repro.mixing import PAIRINGS

    K = 5

    def g(seed=0):
        return torch.Generator().manual_seed(seed)

    def batch(shape, seed=0):
        return torch.randn(shape, generator=g(seed)), torch.randint(0, K, (shape[0],), generator=g(seed + 1))

    def is_cut(out, x, x2):
        return bool(torch.all((out == x) | (out == x2)))

    x, y = batch((8, 3, 6, 6))
    onehot = F.one_hot(y, K).float()

    def c_cutmix():
        out = cutmix(x, y, num_classes=K, lam=0.5, generator=g())
        assert is_cut(out.inputs, x, x[out.index]) and not torch.equal(out.inputs, x)
        assert is_cut(CutMix(1.0, num_classes=K, pairing="roll", generator=g())(x, y)[0], x, x.roll(1, 0))
        assert is_cut(Mixup(1.0, num_classes=K, switch_prob=1.0, pairing="roll", generator=g())(x, y)[0], x,
                      x.roll(1, 0))
        assert "cutmix" in METHODS

    def c_correct():
        out = cutmix(x, y, num_classes=K, lam=0.3, index=torch.arange(8).roll(1), generator=g(1))
        kept = (out.inputs == x).double().flatten(1).mean(1)
        assert torch.allclose(kept, out.lam.expand(8))
        assert float(cutmix(x, y, num_classes=K, lam=0.3, correct_lam=False, generator=g(1)).lam) == 0.3

    def c_switch():
        xe, ye = batch((64, 1, 6, 6))
        xm, _ = Mixup(1.0, num_classes=K, mode="elem", switch_prob=0.5, pairing="roll", generator=g())(xe, ye)
        kinds = {is_cut(xm[i], xe[i], xe[i - 1]) for i in range(64)}
        assert kinds == {True, False} and "mixup_cutmix" in METHODS

    def c_smoothing():
        out = mix(x, y, num_classes=K, lam=0.3, index=torch.arange(8).roll(1), label_smoothing=0.1)
        assert torch.allclose(out.targets, 0.9 * (0.3 * onehot + 0.7 * onehot.roll(1, 0)) + 0.1 / K)

    def c_k():
        out = mix_k(x, y, num_classes=K, k=3, generator=g())
        exp = sum(float(out.lam[j]) * x[out.index[j]] for j in range(3))
        assert torch.allclose(out.inputs, exp, atol=1e-6) and Mixup(1.0, num_classes=K, k=3)(x, y)[1].shape == (8, K)

    def c_elem():
        z = torch.zeros(64, 1)
        z[::2] = 1.0
        xm, _ = Mixup(1.0, num_classes=2, mode="elem", generator=g())(z, torch.zeros(64, dtype=torch.long))
        assert len(set(xm.squeeze(1).tolist())) > 20
        lam = torch.linspace(0, 1, 8)
        out = mix(x, y, num_classes=K, lam=lam, index=torch.arange(8).roll(1))
        assert torch.allclose(out.inputs, lam[:, None, None, None] * x + (1 - lam[:, None, None, None]) * x.roll(1, 0))

    def c_pair():
        xo, yo = batch((5, 2, 3, 3))
        xm, _ = Mixup(1.0, num_classes=K, mode="pair", generator=g())(xo, yo)
        assert torch.equal(xm[2], xo[2]) and xm.shape == xo.shape
        d = (xm - xo.flip(0)) / (xo - xo.flip(0))  # λ of every sample, from its own pixels
        assert torch.allclose(d[0], d[0].flatten()[0].expand_as(d[0]), atol=1e-4)
        assert torch.allclose(d[0].flatten()[0], d[4].flatten()[0], atol=1e-4)

    def c_pairing():
        assert PAIRINGS == ("permutation", "roll", "flip", "cycle")
        assert torch.equal(mix(x, y, num_classes=K, pairing="roll").index, torch.arange(8).roll(1))
        assert torch.equal(mix(x, y, num_classes=K, pairing="flip").index, torch.arange(8).flip(0))

    def c_self():
        gen = g()
        for _ in range(50):
            idx = mix(x, y, num_classes=K, pairing="cycle", generator=gen).index
            assert not bool((idx == torch.arange(8)).any())

    def c_odd():
        for b in (1, 3, 7):
            xo, yo = batch((b, 2, 4, 4))
            for m in (Mixup(1.0, num_classes=K, mode="pair"), Mixup(1.0, num_classes=K, mode="elem"),
                      CutMix(1.0, num_classes=K)):
                assert m(xo, yo)[0].shape == xo.shape
            assert cutmix(xo, yo, num_classes=K).inputs.shape == xo.shape

    def c_inplace():
        x0, y0 = x.clone(), y.clone()
        mix(x, y, num_classes=K)
        cutmix(x, y, num_classes=K)
        Mixup(1.0, num_classes=K, switch_prob=0.5, mode="elem")(x, y)
        CutMix(1.0, num_classes=K, mode="pair")(x, y)
        assert torch.equal(x, x0) and torch.equal(y, y0)

    def c_bf16():
        lam = torch.rand(8, generator=g(3), dtype=torch.float64)
        out = mix(x.bfloat16(), y, num_classes=K, lam=lam, index=torch.arange(8).roll(1))
        exact = lam[:, None] * onehot.double() + (1 - lam[:, None]) * onehot.roll(1, 0).double()
        assert out.targets.dtype == torch.float32 and torch.allclose(out.targets.double(), exact, atol=1e-7)
        assert cutmix(x.bfloat16(), y, num_classes=K).targets.dtype == torch.float32
        assert mix(x.double(), y, num_classes=K).targets.dtype == torch.float64

    def c_rank():
        for shape in ((6, 4), (6, 3, 4), (6, 2, 4, 4), (6, 2, 3, 4, 4)):
            xr, yr = batch(shape)
            assert mix(xr, yr, num_classes=K).inputs.shape == shape
        v = torch.randn(6, 2, 3, 4, 4)
        assert cutmix(v, yr, num_classes=K, box_dims=3).inputs.shape == v.shape
        assert cutmix(v, yr, num_classes=K, box_dims=2).inputs.shape == v.shape

    def c_eval():
        m = Mixup(1.0, num_classes=K).eval()
        assert m(x, y)[0] is x
        assert not torch.equal(Mixup(1.0, num_classes=K, mix_in_eval=True, generator=g()).eval()(x, y)[0], x)

    def c_onehot():
        for lab in (onehot.long(), onehot.bool(), onehot):
            out = mix(x, lab, lam=0.3, index=torch.arange(8).roll(1))
            assert torch.allclose(out.targets, 0.3 * onehot + 0.7 * onehot.roll(1, 0))

    def c_multi():
        multi = (torch.rand(8, K, generator=g(4)) < 0.5).float()
        out = mix(x, multi, lam=0.4, index=torch.arange(8).roll(1), label_smoothing=0.1, multi_label=True)
        assert torch.allclose(out.targets, 0.9 * (0.4 * multi + 0.6 * multi.roll(1, 0)) + 0.1 / K)

    def c_numpy():
        idx = torch.arange(8).roll(1)
        ref = mix(x, y, num_classes=K, lam=0.25, index=idx).inputs
        assert torch.equal(mix(x, y, num_classes=K, lam=np.float32(0.25), index=idx).inputs, ref)
        per = np.linspace(0, 1, 8, dtype=np.float32)
        assert torch.equal(mix(x, y, num_classes=K, lam=per, index=idx).lam, torch.tensor(per, dtype=torch.float64))

    def c_tv():
        from torchvision import tv_tensors

        assert type(mix(tv_tensors.Image(x), y, num_classes=K).inputs) is tv_tensors.Image
        assert type(CutMix(1.0, num_classes=K)(tv_tensors.Video(x[:, None]), y)[0]) is tv_tensors.Video
        try:
            mix(tv_tensors.Mask(x[:, 0]), y, num_classes=K)
        except TypeError as e:
            assert "Mask" in str(e)
        else:
            raise AssertionError("a Mask was mixed")

    def c_gen():
        m = [Mixup(1.0, num_classes=K, mode="elem", switch_prob=0.5, prob=0.8, generator=g(9)) for _ in range(2)]
        assert all(torch.equal(a, b) for _ in range(3) for a, b in zip(m[0](x, y), m[1](x, y)))

    return {
        "CutMix": c_cutmix, "CutMix λ corrected to the clipped box": c_correct,
        "switch between mixup and CutMix": c_switch, "label smoothing of the mixed labels": c_smoothing,
        "mixing k > 2 samples": c_k, "one λ per sample, vectorised": c_elem, "timm's pair mode": c_pair,
        "choice of pairing": c_pairing, "a way never to pair a sample with itself": c_self,
        "odd batch sizes": c_odd, "inputs never modified in place": c_inplace,
        "float32 targets for bf16 inputs": c_bf16, "any input rank": c_rank, "no mixing in evaluation": c_eval,
        "integer / bool one-hot labels, `num_classes` optional": c_onehot, "multi-label targets": c_multi,
        "NumPy λ (scalars, per-sample arrays)": c_numpy, "torchvision tv_tensors": c_tv,
        "seeded `torch.Generator` for every draw": c_gen,
    }


def test_readme_peer_table_our_column_is_checked_by_calling_the_code():
    header, rows = _peer_table()
    assert header[:2] == ["behaviour", "mixup_repro"]
    checks = _ours_checks()
    assert set(rows) == set(checks), "every row of the table needs a check here, and every check a row"
    for name, check in checks.items():
        assert rows[name]["mixup_repro"].split(":")[0].split(" (")[0] not in ("no", ""), name
        check()


def test_readme_peer_table_torchvision_column_matches_the_installed_torchvision():
    import inspect

    import torch
    import torch.nn.functional as F
    from torchvision import tv_tensors
    from torchvision.transforms import v2

    _, rows = _peer_table()
    tv = {name: r["torchvision `v2.MixUp` / `v2.CutMix`"] for name, r in rows.items()}
    x, y = torch.randn(6, 3, 5, 5), torch.arange(6) % 5
    assert tv["CutMix"] == "yes" and v2.CutMix(num_classes=5)(x, y)[1].shape == (6, 5)
    assert tv["label smoothing of the mixed labels"] == "no"
    for cls in (v2.MixUp, v2.CutMix):
        assert "label_smoothing" not in inspect.signature(cls).parameters
    assert tv["odd batch sizes"] == "yes" and v2.MixUp(num_classes=5)(x[:3], y[:3])[0].shape == (3, 3, 5, 5)
    assert tv["inputs never modified in place"] == "yes"
    x0 = x.clone()
    v2.MixUp(num_classes=5)(x, y), v2.CutMix(num_classes=5)(x, y)
    assert torch.equal(x, x0)
    assert tv["choice of pairing"].startswith("roll")
    tx, ty = v2.MixUp(num_classes=5)(x[:5], torch.arange(5))
    lam = float(ty[0, 0])
    assert torch.allclose(tx, lam * x[:5] + (1 - lam) * x[:5].roll(1, 0), atol=1e-6)
    assert tv["any input rank"] == "4-D images, 5-D videos"
    try:
        v2.MixUp(num_classes=5)(torch.randn(6, 4), y)
    except ValueError:
        pass
    else:
        raise AssertionError("torchvision mixed a (B, F) batch")
    assert tv["no mixing in evaluation"].startswith("no")
    assert not torch.equal(v2.MixUp(num_classes=5).eval()(x, y)[0], x)
    assert tv["integer / bool one-hot labels, `num_classes` optional"] == "yes"
    for lab in (F.one_hot(y, 5), F.one_hot(y, 5).bool()):
        assert v2.MixUp()(x, lab)[1].dtype == torch.float32
    assert tv["float32 targets for bf16 inputs"] == "yes" and v2.MixUp(num_classes=5)(x.bfloat16(), y)[1].dtype == \
        torch.float32
    assert tv["multi-label targets"] == "mixed unchecked"
    v2.MixUp()(x, torch.ones(6, 5))  # rows summing to 5: no error
    assert tv["torchvision tv_tensors"].startswith("yes")
    try:
        v2.MixUp(num_classes=5)(tv_tensors.Mask(torch.zeros(6, 5, 5)), y)
    except ValueError as e:
        assert "masks" in str(e)
    else:
        raise AssertionError("torchvision mixed a Mask")


def _train_commands(text):
    """The `python -m mixup_repro train ...` commands of the README's bash blocks, as argument lists."""
    import shlex

    cmds = []
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.split("#", 1)[0].strip()
            if line.startswith("python -m mixup_repro train ") and "..." not in line:
                cmds.append(shlex.split(line)[3:])
    return cmds


def test_readme_newcomer_path():
    """Activation before the first command, where the data are looked for, and a CPU example that trains."""
    from mixup_repro.cli import build_parser, config_from_args
    from mixup_repro.data import SYSTEM_FASHION_MNIST_DIR
    from mixup_repro.train import result_path

    text = README.read_text()
    first_cli = text.index("python -m mixup_repro ")
    assert -1 < text.find("source .venv/bin/activate") < first_cli, "activate .venv before the first command"
    assert "No module named 'torch'" in text
    for where in ("--data-dir", "$MIXUP_REPRO_DATA", "~/.cache/mixup_repro/data", str(SYSTEM_FASHION_MNIST_DIR)):
        assert where in text, where
    cpu = [c for c in _train_commands(text) if "cpu" in c]
    assert cpu, "the README has a CPU training example"
    for argv in cpu:  # a fresh clone must not already hold the example's result (the command would do nothing)
        args = build_parser().parse_args(argv)
        out = Path(args.out)
        assert not (README.parent / out).exists() and not out.is_relative_to(README.parent / "results"), args.out
        assert not result_path(config_from_args(args), README.parent / "results" / "examples").exists() or \
            "results/examples" in text  # the committed copy is mentioned
    assert "otherwise idle" in text and "per run" in text  # timings say on what machine, and give a per-run time
