"""CutMix, and the behaviours torchvision / timm / fastai users rely on (issue 17).

The torchvision cross-checks draw torchvision's own random numbers (its CutMix draws λ from a
``torch.distributions.Beta`` and the box centre with two ``torch.randint`` calls on torch's global RNG):
the test seeds torch, runs torchvision, re-seeds and re-draws the same three numbers, and gives our
functions that λ and centre.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from mixup_repro import CutMix, Mixup, cutmix, cutmix_box, mix, mix_k, mixup_criterion, smooth_labels
from mixup_repro.mixing import PAIRINGS

K = 5


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


def _batch(shape, k=K, seed=0, dtype=torch.float32):
    g = _gen(seed)
    return torch.randn(shape, generator=g, dtype=dtype), torch.randint(0, k, (shape[0],), generator=g)


def _torchvision_draws(seed, alpha, h, w):
    """The λ and box centre torchvision's CutMix draws after ``torch.manual_seed(seed)``, in its order."""
    torch.manual_seed(seed)
    lam = float(torch.distributions.Beta(torch.tensor([alpha]), torch.tensor([alpha])).sample(()))
    r_x = int(torch.randint(w, size=(1,)))
    r_y = int(torch.randint(h, size=(1,)))
    return lam, r_y, r_x


# ---------------------------------------------------------------------------------------------- torchvision
@pytest.mark.parametrize("batch, h, w, alpha, seed", [(8, 6, 6, 1.0, 0), (7, 7, 11, 0.5, 1), (4, 32, 32, 1.0, 2),
                                                      (3, 5, 9, 2.0, 3), (2, 28, 28, 0.2, 4), (16, 13, 3, 1.0, 5)])
def test_cutmix_matches_torchvision_for_the_same_box_and_lambda(batch, h, w, alpha, seed):
    from torchvision.transforms import v2

    x, _ = _batch((batch, 3, h, w), seed=seed)
    y = torch.arange(batch) % K
    torch.manual_seed(1000 + seed)
    tx, ty = v2.CutMix(alpha=alpha, num_classes=K)(x.clone(), y.clone())
    lam, r_y, r_x = _torchvision_draws(1000 + seed, alpha, h, w)
    box, lam_adj = cutmix_box(lam, (h, w), center=torch.tensor([r_y, r_x]))
    ours = cutmix(x, y, num_classes=K, box=box, index=torch.arange(batch).roll(1))
    assert torch.equal(ours.inputs, tx)  # the same pixels: CutMix only copies
    torch.testing.assert_close(ours.targets, ty, atol=1e-6, rtol=0)  # torchvision mixes labels in float32
    assert float(ours.lam) == float(lam_adj)
    # torchvision's formula, written out: half-sides int(0.5 * sqrt(1 - λ) * side), clipped, λ from the area
    r = 0.5 * np.sqrt(1.0 - lam)
    x1, x2 = max(r_x - int(r * w), 0), min(r_x + int(r * w), w)
    y1, y2 = max(r_y - int(r * h), 0), min(r_y + int(r * h), h)
    assert box.tolist() == [[y1, y2], [x1, x2]]
    assert float(lam_adj) == 1.0 - (x2 - x1) * (y2 - y1) / (w * h)
    # the same through the module and the λ + centre form of the function
    again = cutmix(x, y, num_classes=K, lam=lam, box=box, index=torch.arange(batch).roll(1))
    assert torch.equal(again.inputs, tx)


def test_cutmix_matches_torchvision_on_videos_and_keeps_their_type():
    from torchvision import tv_tensors
    from torchvision.transforms import v2

    x, _ = _batch((4, 2, 3, 8, 10))
    y = torch.arange(4)
    video = tv_tensors.Video(x)
    torch.manual_seed(7)
    tx, ty = v2.CutMix(alpha=1.0, num_classes=K)(video, y)
    lam, r_y, r_x = _torchvision_draws(7, 1.0, 8, 10)
    box, _ = cutmix_box(lam, (8, 10), center=torch.tensor([r_y, r_x]))
    ours = cutmix(video, y, num_classes=K, box=box, index=torch.arange(4).roll(1))
    assert type(ours.inputs) is type(tx) is tv_tensors.Video
    assert torch.equal(ours.inputs.as_subclass(torch.Tensor), tx.as_subclass(torch.Tensor))
    torch.testing.assert_close(ours.targets, ty, atol=1e-6, rtol=0)


def test_mixup_module_roll_pairing_matches_torchvision_mixup():
    from torchvision.transforms import v2

    x, _ = _batch((5, 3, 5, 5))
    y = torch.arange(5)  # y[0] != y[-1], so λ can be read off the first target row
    torch.manual_seed(3)
    tx, ty = v2.MixUp(alpha=1.0, num_classes=K)(x, y)
    lam = float(ty[0, y[0]])  # torchvision draws its own λ; read it off the labels
    ours = mix(x, y, num_classes=K, lam=lam, pairing="roll")
    torch.testing.assert_close(ours.inputs, tx, atol=1e-6, rtol=1e-6)
    torch.testing.assert_close(ours.targets, ty, atol=1e-6, rtol=0)
    xm, ym = Mixup(1.0, num_classes=K, pairing="roll", generator=_gen(0))(x, y)
    lam_m = float(ym[0, y[0]])
    torch.testing.assert_close(xm, lam_m * x + (1 - lam_m) * x.roll(1, 0), atol=1e-6, rtol=0)


def test_drop_in_call_forms_and_labels_like_torchvision():
    from torchvision.transforms import v2

    x, y = _batch((6, 3, 4, 4))
    onehot = F.one_hot(y, K)
    m = Mixup(1.0, pairing="roll", generator=_gen(1))  # num_classes omitted: (B, K) labels give it
    tup = m((x, onehot))
    lst = m([x, onehot.bool()])
    assert isinstance(tup, tuple) and isinstance(lst, list) and len(tup) == len(lst) == 2
    for lab in (onehot, onehot.bool(), onehot.float()):  # torchvision accepts all three (and so do we)
        v2.MixUp(alpha=1.0)(x, lab)
        out = mix(x, lab, lam=0.3, pairing="roll")
        torch.testing.assert_close(out.targets, 0.3 * onehot.float() + 0.7 * onehot.float().roll(1, 0))
    kw = Mixup(1.0, num_classes=K, generator=_gen(2))(x=x, y=y)  # the keyword form of the previous signature
    pos = Mixup(1.0, num_classes=K, generator=_gen(2))(x, y)
    assert torch.equal(kw[0], pos[0]) and torch.equal(Mixup(1.0, num_classes=K, generator=_gen(2))(x, y=y)[1], pos[1])
    with pytest.raises(TypeError, match=r"got keyword argument\(s\) labels"):
        m(x, labels=y)
    with pytest.raises(TypeError, match=r"expected a batch as \(x, y\) or as one \(x, y\) tuple or list"):
        m(x)
    with pytest.raises(TypeError, match=r"expected a batch"):
        m(x, y, y)
    with pytest.raises(ValueError, match=r"num_classes must be given when y holds class indices"):
        m(x, y)


# ---------------------------------------------------------------------------------------------- CutMix core
@pytest.mark.parametrize("shape, box_dims", [((5, 3, 8, 8), 2), ((1, 1, 7, 9), 2), ((3, 2, 4, 6, 6), 2),
                                              ((4, 2, 4, 6, 6), 3), ((6, 10, 12), 2)])
def test_cutmix_label_weight_is_the_kept_share_of_pixels(shape, box_dims):
    x = torch.arange(shape[0], dtype=torch.float64).reshape(-1, *[1] * (len(shape) - 1)).expand(shape).clone()
    y = torch.arange(shape[0]) % K
    index = torch.arange(shape[0]).roll(1)
    for seed in range(20):
        out = cutmix(x, y, num_classes=K, alpha=1.0, index=index, box_dims=box_dims, generator=_gen(seed))
        kept = (out.inputs == x).double().flatten(1).mean(1)
        if shape[0] > 1:  # every pixel is the sample's own or its partner's
            assert torch.all((out.inputs == x) | (out.inputs == x[index]))
            torch.testing.assert_close(kept, out.lam.expand(shape[0]), atol=1e-12, rtol=0)
        onehot = F.one_hot(y, K).double()
        torch.testing.assert_close(out.targets, out.lam * onehot + (1 - out.lam) * onehot[index], atol=1e-12,
                                   rtol=0)
        # the box spans the last box_dims dimensions only: it is the same for every channel / slice
        inside = out.inputs != x
        lead = inside.flatten(-box_dims).flatten(1, -2) if len(shape) - 1 > box_dims else None
        if lead is not None and shape[0] > 1:
            assert torch.all(lead == lead[:, :1])


def test_cutmix_box_formula_side_area_and_clipping():
    # unclipped (centred) boxes: half-sides floor(0.5 (1 - λ)^(1/d) S); the corrected λ is exact
    for lam in (0.0, 0.1, 0.25, 0.5, 0.9, 1.0):
        box, la = cutmix_box(lam, (32, 32), center=torch.tensor([16, 16]))
        half = int(0.5 * np.sqrt(1 - lam) * 32)
        assert box.tolist() == [[16 - half, 16 + half]] * 2
        assert float(la) == 1 - (2 * half) ** 2 / 1024
        box3, la3 = cutmix_box(lam, (8, 16, 16), center=torch.tensor([4, 8, 8]))
        halves = [int(0.5 * (1 - lam) ** (1 / 3) * s) for s in (8, 16, 16)]
        assert box3.tolist() == [[c - h, c + h] for c, h in zip((4, 8, 8), halves)]
    assert cutmix_box(1.0, (10, 10))[1] == 1.0  # λ = 1: an empty box, no mixing
    box, la = cutmix_box(0.0, (10, 10), center=torch.tensor([0, 9]))  # a corner: clipped to the image
    assert box.tolist() == [[0, 5], [4, 10]] and float(la) == 1 - 30 / 100
    # per-sample boxes, and the clipped area's λ on average near λ for central-ish boxes
    lam = torch.full((20000,), 0.7, dtype=torch.float64)
    boxes, la = cutmix_box(lam, (64, 64), generator=_gen(0))
    assert boxes.shape == (20000, 2, 2) and la.shape == (20000,)
    assert torch.all(la >= 0.7 - 0.02) and 0.7 < float(la.mean()) < 0.85  # clipping only shrinks a box


def test_cutmix_box_agrees_with_timms_written_out_formula():
    # timm's rand_bbox (margin 0) and cutmix_bbox_and_lam(correct_lam=True), written out with NumPy: side
    # int(S * sqrt(1 - λ)), half-side side // 2, centre uniform in [0, S), clipped; λ from the clipped area
    rng = np.random.default_rng(0)
    for _ in range(500):
        h, w = (int(v) for v in rng.integers(1, 40, size=2))
        lam = float(rng.random())
        cy, cx = int(rng.integers(0, h)), int(rng.integers(0, w))
        ratio = np.sqrt(1 - lam)
        cut_h, cut_w = int(h * ratio), int(w * ratio)
        yl, yh = np.clip(cy - cut_h // 2, 0, h), np.clip(cy + cut_h // 2, 0, h)
        xl, xh = np.clip(cx - cut_w // 2, 0, w), np.clip(cx + cut_w // 2, 0, w)
        box, la = cutmix_box(lam, (h, w), center=torch.tensor([cy, cx]))
        assert box.tolist() == [[yl, yh], [xl, xh]], (h, w, lam, cy, cx)
        assert float(la) == 1.0 - (yh - yl) * (xh - xl) / float(h * w)


def test_cutmix_per_sample_boxes_any_batch_and_dtype():
    for b in (1, 2, 3, 7):
        x, y = _batch((b, 3, 9, 9))
        lam = torch.rand(b, generator=_gen(b), dtype=torch.float64)
        out = cutmix(x, y, num_classes=K, lam=lam, generator=_gen(b), label_smoothing=0.1)
        assert out.inputs.shape == x.shape and out.lam.shape == (b,) and out.targets.shape == (b, K)
        torch.testing.assert_close(out.targets.sum(1), torch.ones(b), atol=1e-6, rtol=0)
        probs = F.one_hot(y, K).float()
        mixed = out.lam.float()[:, None] * probs + (1 - out.lam.float()[:, None]) * probs[out.index]
        torch.testing.assert_close(out.targets, 0.9 * mixed + 0.1 / K, atol=1e-6, rtol=0)
    x, y = _batch((6, 3, 8, 8))
    x0 = x.clone()
    out = cutmix(x.bfloat16(), y, num_classes=K, generator=_gen(2), label_smoothing=0.1)
    assert out.inputs.dtype == torch.bfloat16 and out.targets.dtype == torch.float32
    assert torch.equal(x, x0)  # not modified in place
    assert torch.equal(cutmix(x, y, num_classes=K, lam=1.0).inputs, x)  # λ = 1: nothing pasted
    # correct_lam=False: the drawn λ labels the mix (timm's default in its helper)
    raw = cutmix(x, y, num_classes=K, lam=0.4, correct_lam=False, generator=_gen(3))
    assert float(raw.lam) == 0.4


def test_cutmix_same_seed_same_stream():
    x, y = _batch((8, 3, 10, 10))
    a = [cutmix(x, y, num_classes=K, generator=g) for g in [_gen(4)] for _ in range(3)]
    b = [cutmix(x, y, num_classes=K, generator=g) for g in [_gen(4)] for _ in range(3)]
    for oa, ob in zip(a, b):
        assert torch.equal(oa.inputs, ob.inputs) and torch.equal(oa.lam, ob.lam) and torch.equal(oa.index, ob.index)
    assert len({(float(o.lam), tuple(o.index.tolist())) for o in a}) == 3  # the stream moves on


# ---------------------------------------------------------------------------------------------- switching
def _is_cut(out, x, x2):
    return bool(torch.all((out == x) | (out == x2)))


def test_switch_prob_fraction_of_cutmix_batches_and_samples():
    x, y = _batch((4, 1, 6, 6))
    m = Mixup(1.0, num_classes=K, switch_prob=0.3, pairing="roll", generator=_gen(0))
    n = 1500
    cut = sum(_is_cut(m(x, y)[0], x, x.roll(1, 0)) for _ in range(n))
    assert abs(cut / n - 0.3) < 0.04
    assert all(_is_cut(CutMix(1.0, num_classes=K, pairing="roll", generator=_gen(1))(x, y)[0], x, x.roll(1, 0))
               for _ in range(20))
    assert not any(_is_cut(Mixup(1.0, num_classes=K, pairing="roll", generator=_gen(1))(x, y)[0], x, x.roll(1, 0))
                   for _ in range(20))
    # per sample in mode "elem": some samples CutMix, the others mixup, each with its label weight
    xe, ye = _batch((400, 1, 6, 6))
    xm, ym = Mixup(1.0, num_classes=K, mode="elem", switch_prob=0.5, pairing="roll", cutmix_alpha=2.0,
                   generator=_gen(2))(xe, ye)
    per = torch.tensor([_is_cut(xm[i], xe[i], xe[i - 1]) for i in range(400)])
    assert 0.4 < float(per.double().mean()) < 0.6
    torch.testing.assert_close(ym.sum(1), torch.ones(400), atol=1e-6, rtol=0)


def test_cutmix_module_modes_and_pair_symmetry():
    x, _ = _batch((7, 2, 8, 8))
    y = torch.arange(7) % K
    xm, ym = CutMix(1.0, num_classes=K, mode="pair", generator=_gen(5))(x, y)
    flip = torch.arange(6, -1, -1)
    for i in range(7):
        assert _is_cut(xm[i], x[i], x[flip[i]])
    assert torch.equal(xm[3], x[3]) and torch.equal(ym[3], F.one_hot(y[3], K).float())  # the middle sample
    pasted = (xm != x).any(1)  # (B, H, W): where each sample took its partner's pixels
    assert torch.equal(pasted, pasted.flip(0)) and pasted.any()  # a pair swaps one and the same region
    torch.testing.assert_close(ym[torch.arange(7), y], ym.flip(0)[torch.arange(7), y.flip(0)])  # one λ per pair
    xe, ye = CutMix(1.0, num_classes=K, mode="elem", generator=_gen(6))(x, y)
    assert xe.shape == x.shape and ye.shape == (7, K)
    with pytest.raises(ValueError, match=r"switch_prob > 0 \(CutMix\) needs x with 2 trailing spatial"):
        CutMix(1.0, num_classes=K)(torch.randn(4, 3), torch.arange(4))


# ---------------------------------------------------------------------------------------------- pairing
def test_pairings():
    b = 9
    assert PAIRINGS == ("permutation", "roll", "flip", "cycle")
    x, y = _batch((b, 3))
    roll = mix(x, y, num_classes=K, lam=0.5, pairing="roll")
    assert torch.equal(roll.index, torch.arange(b).roll(1))  # torchvision: i with i - 1
    flip = mix(x, y, num_classes=K, lam=0.5, pairing="flip")
    assert torch.equal(flip.index, torch.arange(b).flip(0))  # timm: i with B - 1 - i
    fixed_perm, fixed_cycle = 0, 0
    g = _gen(0)
    for _ in range(300):
        p = mix(x, y, num_classes=K, pairing="permutation", generator=g).index
        c = mix(x, y, num_classes=K, pairing="cycle", generator=g).index
        assert sorted(c.tolist()) == list(range(b)) and sorted(p.tolist()) == list(range(b))
        fixed_perm += int((p == torch.arange(b)).sum())
        fixed_cycle += int((c == torch.arange(b)).sum())
        # one cycle through the batch: following the partners visits every sample
        seen, j = set(), 0
        for _ in range(b):
            seen.add(j)
            j = int(c[j])
        assert seen == set(range(b))
    assert fixed_cycle == 0 and abs(fixed_perm / 300 - 1.0) < 0.3  # about one fixed point per permutation
    assert torch.equal(mix(x[:1], y[:1], num_classes=K, pairing="cycle").index, torch.zeros(1, dtype=torch.long))
    assert Mixup(1.0, num_classes=K, mode="pair").pairing == "flip"
    with pytest.raises(ValueError, match=r"pairing must be 'flip' \(or None\) for mode='pair'"):
        Mixup(1.0, num_classes=K, mode="pair", pairing="roll")
    with pytest.raises(ValueError, match=r"pairing must be one of permutation, roll, flip, cycle; got 'random'"):
        mix(x, y, num_classes=K, pairing="random")


def test_pair_mode_is_timms_pair_mode():
    # timm's 'pair': samples i and B-1-i share one λ and each takes (1 - λ) of the other
    k = 8
    x, _ = _batch((8, 3, 2, 2), k=k)
    y = torch.arange(8)
    xm, ym = Mixup(1.0, num_classes=k, mode="pair", label_smoothing=0.1, generator=_gen(3))(x, y)
    onehot = F.one_hot(y, k).float()
    lam = (ym[torch.arange(8), y] - 0.1 / k) / 0.9  # the own-class weight (every sample has its own class)
    assert torch.allclose(lam, lam.flip(0), atol=1e-6) and len(set(lam.tolist())) >= 3
    expected = lam[:, None, None, None] * x + (1 - lam[:, None, None, None]) * x.flip(0)
    torch.testing.assert_close(xm, expected, atol=1e-6, rtol=0)
    torch.testing.assert_close(ym, 0.9 * (lam[:, None] * onehot + (1 - lam[:, None]) * onehot.flip(0)) + 0.1 / k,
                               atol=1e-6, rtol=0)


# ---------------------------------------------------------------------------------------------- eval mode
def test_no_mixing_in_eval_mode_unless_asked():
    x, y = _batch((6, 3, 4, 4))
    for m in (Mixup(1.0, num_classes=K, label_smoothing=0.1, generator=_gen(0)),
              CutMix(1.0, num_classes=K, label_smoothing=0.1, generator=_gen(0)),
              Mixup(1.0, num_classes=K, k=3, generator=_gen(0))):
        assert m.training  # a new module mixes
        assert not torch.equal(m(x, y)[0], x)
        m.eval()
        xe, ye = m(x, y)
        assert xe is x and torch.equal(ye, F.one_hot(y, K).float())  # unmixed, unsmoothed targets
        m.train()
        assert not torch.equal(m(x, y)[0], x)
    asked = Mixup(1.0, num_classes=K, mix_in_eval=True, generator=_gen(0)).eval()
    assert not torch.equal(asked(x, y)[0], x)


# ---------------------------------------------------------------------------------------------- labels
def test_integer_and_bool_one_hot_labels_and_optional_num_classes():
    x, y = _batch((6, 3))
    onehot = F.one_hot(y, K)
    ref = mix(x, y, num_classes=K, lam=0.3, index=torch.arange(6).roll(2), label_smoothing=0.1)
    for lab in (onehot, onehot.to(torch.int32), onehot.bool(), onehot.float()):
        for nc in (K, None):
            out = mix(x, lab, num_classes=nc, lam=0.3, index=torch.arange(6).roll(2), label_smoothing=0.1)
            assert torch.equal(out.targets, ref.targets) and out.targets.dtype == torch.float32
        assert torch.equal(cutmix(x.reshape(6, 1, 3), lab, lam=0.5, box_dims=1, generator=_gen(0)).targets,
                           cutmix(x.reshape(6, 1, 3), y, num_classes=K, lam=0.5, box_dims=1, generator=_gen(0)).targets)
    assert torch.equal(smooth_labels(onehot.bool(), None, 0.1), smooth_labels(y, K, 0.1))
    assert mix_k(x, onehot, k=3, generator=_gen(0)).targets.shape == (6, K)
    with pytest.raises(ValueError, match=r"num_classes must be given when y holds class indices"):
        mix(x, y)
    with pytest.raises(ValueError, match=r"rows that sum to 1 .*multi_label=True"):
        mix(x, onehot * 2)
    with pytest.raises(ValueError, match=r"rows that sum to 1 .*multi_label=True"):  # a bool multi-hot row
        mix(x, (onehot + F.one_hot((y + 1) % K, K)).bool())
    with pytest.raises(ValueError, match=r"width num_classes = 4"):
        mix(x, onehot, num_classes=4)


def test_multi_label_targets_are_mixed_and_smoothed_by_formula_2():
    x, _ = _batch((6, 3))
    multi = (torch.rand(6, K, generator=_gen(1)) < 0.4).float()
    multi[0] = 0.0  # a row with no active class
    lam, idx, eps = 0.35, torch.arange(6).roll(1), 0.1
    out = mix(x, multi, lam=lam, index=idx, label_smoothing=eps, multi_label=True)
    torch.testing.assert_close(out.targets, (1 - eps) * (lam * multi + (1 - lam) * multi[idx]) + eps / K,
                               atol=1e-6, rtol=0)
    s = smooth_labels(multi, None, eps, multi_label=True)  # active 1 - ε + ε/K, inactive ε/K (timm's on/off)
    assert torch.allclose(s[multi.bool()], torch.tensor(1 - eps + eps / K)) and torch.allclose(s[~multi.bool()],
                                                                                                torch.tensor(eps / K))
    xm, ym = Mixup(1.0, multi_label=True, generator=_gen(0))(x, multi.bool())
    assert ym.shape == (6, K) and float(ym.max()) <= 1.0
    with pytest.raises(ValueError, match=r"rows that sum to 1"):
        mix(x, multi, lam=0.5)
    with pytest.raises(ValueError, match=r"multi-label targets must have entries in \[0, 1\]"):
        mix(x, multi * 3, lam=0.5, multi_label=True)
    with pytest.raises(ValueError, match=r"multi_label=True needs \(B, K\) multi-hot targets"):
        mix(x, torch.arange(6) % K, num_classes=K, multi_label=True)


def test_numpy_lambda_scalars_and_arrays():
    x, y = _batch((6, 3, 4, 4))
    idx = torch.arange(6).roll(1)
    ref = mix(x, y, num_classes=K, lam=0.25, index=idx)
    for lam in (np.float32(0.25), np.float64(0.25), np.array(0.25), np.array(0.25, dtype=np.float32)):
        out = mix(x, y, num_classes=K, lam=lam, index=idx)
        assert torch.equal(out.inputs, ref.inputs) and torch.equal(out.targets, ref.targets)
    per = np.linspace(0, 1, 6).astype(np.float32)  # timm's per-sample λ is a float32 array
    out = mix(x, y, num_classes=K, lam=per, index=idx)
    torch.testing.assert_close(out.lam, torch.from_numpy(per).double())
    assert torch.equal(out.inputs, mix(x, y, num_classes=K, lam=torch.from_numpy(per).double(), index=idx).inputs)
    assert torch.equal(cutmix(x, y, num_classes=K, lam=np.float32(0.5), generator=_gen(1)).inputs,
                       cutmix(x, y, num_classes=K, lam=0.5, generator=_gen(1)).inputs)
    crit = torch.nn.CrossEntropyLoss()
    logits = torch.randn(6, K, generator=_gen(2))
    assert torch.equal(mixup_criterion(crit, logits, y, y[idx], np.float32(0.25)),
                       mixup_criterion(crit, logits, y, y[idx], 0.25))
    w = np.array([0.5, 0.3, 0.2])
    assert torch.allclose(mix_k(x, y, num_classes=K, k=3, weights=w, generator=_gen(0)).lam,
                          torch.tensor(w, dtype=torch.float64))
    with pytest.raises(ValueError, match=r"lam must be in \[0, 1\]"):
        mix(x, y, num_classes=K, lam=np.float32(1.5))
    with pytest.raises(ValueError, match=r"lam must be .*\(6,\) tensor"):
        mix(x, y, num_classes=K, lam=np.ones(3))
    with pytest.raises(TypeError, match=r"lam given as a NumPy array must hold real numbers"):
        mix(x, y, num_classes=K, lam=np.array(["a"] * 6))
    with pytest.raises(TypeError, match=r"lam must be a number, a tensor or a NumPy array, got str"):
        mix(x, y, num_classes=K, lam="0.5")
    with pytest.raises(ValueError, match=r"lam must be a number or a 0-d tensor"):
        mixup_criterion(crit, logits, y, y[idx], np.ones(6) * 0.5)


# ---------------------------------------------------------------------------------------------- tv_tensors
def test_tv_tensors_images_and_videos_rewrapped_masks_boxes_keypoints_refused():
    from torchvision import tv_tensors

    x, y = _batch((4, 3, 6, 6))
    img = tv_tensors.Image(x)
    vid = tv_tensors.Video(torch.randn(4, 2, 3, 6, 6, generator=_gen(1)))
    for fn in (lambda t: mix(t, y, num_classes=K, generator=_gen(0)).inputs,
               lambda t: cutmix(t, y, num_classes=K, generator=_gen(0)).inputs,
               lambda t: mix_k(t, y, num_classes=K, generator=_gen(0)).inputs,
               lambda t: Mixup(1.0, num_classes=K, generator=_gen(0))(t, y)[0],
               lambda t: CutMix(1.0, num_classes=K, generator=_gen(0))(t, y)[0],
               lambda t: Mixup(1.0, num_classes=K, generator=_gen(0)).eval()(t, y)[0]):
        for t in (img, vid):
            out = fn(t)
            assert type(out) is type(t)
    assert torch.equal(mix(img, y, num_classes=K, generator=_gen(0)).inputs.as_subclass(torch.Tensor),
                       mix(x, y, num_classes=K, generator=_gen(0)).inputs)
    refused = [tv_tensors.Mask(torch.zeros(4, 6, 6)),
               tv_tensors.BoundingBoxes(torch.zeros(4, 4), format="XYXY", canvas_size=(6, 6))]
    if hasattr(tv_tensors, "KeyPoints"):
        refused.append(tv_tensors.KeyPoints(torch.zeros(4, 2), canvas_size=(6, 6)))
    for t in refused:
        name = type(t).__name__
        for fn in (lambda t: mix(t, y, num_classes=K), lambda t: cutmix(t, y, num_classes=K),
                   lambda t: Mixup(1.0, num_classes=K)(t, y), lambda t: CutMix(1.0, num_classes=K)(t, y)):
            with pytest.raises(TypeError, match=rf"x is a torchvision.tv_tensors.{name}: only Image and Video"):
                fn(t)


# ---------------------------------------------------------------------------------------------- sync, bad input
def test_cutmix_and_switching_read_no_tensor_value_with_validate_false(host_reads):
    x, y = torch.randn(16, 3, 8, 8), torch.randint(0, 10, (16,))
    cutmix(x, y, num_classes=10, generator=_gen(0), label_smoothing=0.1, validate=False)
    cutmix(x, F.one_hot(y, 10).bool(), lam=torch.rand(16, dtype=torch.float64), pairing="cycle", validate=False)
    Mixup(1.0, num_classes=10, switch_prob=0.5, mode="elem", prob=0.7, validate=False)(x, y)
    Mixup(1.0, num_classes=10, switch_prob=0.5, validate=False, pairing="cycle")(x, y)
    CutMix(1.0, num_classes=10, mode="pair", validate=False, generator=_gen(1))(x, y)
    mix(x, y, num_classes=10, lam=np.float32(0.3), pairing="flip", validate=False)
    assert not host_reads, dict(host_reads)


@pytest.mark.parametrize("call, exc, match", [
    (lambda x, y: cutmix(x, y, num_classes=K, box_dims=4), ValueError, r"box_dims = 4 needs x of rank >= 5"),
    (lambda x, y: cutmix(x, y, num_classes=K, box_dims=0), ValueError, r"box_dims must be >= 1"),
    (lambda x, y: cutmix(x, y, num_classes=K, lam=1.2), ValueError, r"lam must be in \[0, 1\]"),
    (lambda x, y: cutmix(x, y, num_classes=K, box=torch.zeros(3, 2, dtype=torch.long)), ValueError,
     r"box must be an integer tensor of shape \(2, 2\) or \(4, 2, 2\)"),
    (lambda x, y: cutmix(x, y, num_classes=K, box=torch.zeros(2, 2, dtype=torch.long), correct_lam=False),
     ValueError, r"lam must be given with box when correct_lam=False"),
    (lambda x, y: cutmix(x, y, num_classes=K, correct_lam=1), TypeError, r"correct_lam must be True or False"),
    (lambda x, y: cutmix(x, y, num_classes=K, alpha=-1), ValueError, r"alpha must be in \[0, inf\)"),
    (lambda x, y: cutmix_box(0.5, (4, 4), center=torch.tensor([1, 2, 3])), ValueError,
     r"center must be an integer tensor of shape \(2,\)"),
    (lambda x, y: cutmix_box(0.5, 4), TypeError, r"size must be a non-empty tuple of ints"),
    (lambda x, y: cutmix_box(0.5, (4, 0)), ValueError, r"size must be >= 1"),
    (lambda x, y: Mixup(1.0, num_classes=K, switch_prob=1.5), ValueError, r"switch_prob must be in \[0, 1\]"),
    (lambda x, y: Mixup(1.0, num_classes=K, cutmix_alpha=-2), ValueError, r"cutmix_alpha must be in \[0, inf\)"),
    (lambda x, y: Mixup(1.0, num_classes=K, k=3, switch_prob=0.5), ValueError, r"k = 3 .* supports only"),
    (lambda x, y: Mixup(1.0, num_classes=K, mix_in_eval="yes"), TypeError, r"mix_in_eval must be True or False"),
    (lambda x, y: Mixup(1.0, num_classes=K, pairing="shuffle"), ValueError, r"pairing must be one of"),
    (lambda x, y: Mixup(1.0, num_classes=1), ValueError, r"num_classes must be >= 2"),
    (lambda x, y: mix(x, y[:, None].float()), ValueError, r"K >= 2 columns"),
])
def test_bad_arguments_name_themselves(call, exc, match):
    x, y = _batch((4, 3, 4, 4))
    with pytest.raises(exc, match=match):
        call(x, y)
