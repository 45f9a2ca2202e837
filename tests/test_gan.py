"""GANs on the 2-D toy problems (mixup_repro.gan): data, losses, one training step, metrics, results files."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from scipy import stats

from mixup_repro import gan
from mixup_repro.gan import (
    GANConfig,
    GANDiscriminator,
    GANGenerator,
    discriminator_loss,
    energy_distance,
    generator_loss,
    mode_centers,
    mode_coverage,
    paired_comparison,
    sample_toy,
    train_gan,
)
from mixup_repro.results import ResultsError
from mixup_repro.stats import holm

TINY = dict(hidden=16, layers=2, batch_size=32, iterations=6, d_steps=2, eval_every=3, n_eval=200, n_snapshot=50)


# ---------------------------------------------------------------------------------------------- data
def test_mode_centers_follow_the_official_layout():
    ring = mode_centers("ring")
    assert ring.shape == (8, 2)
    assert torch.allclose(ring.norm(dim=1), torch.ones(8))
    assert torch.allclose(ring[0], torch.tensor([0.0, 1.0]))
    grid = mode_centers("grid")
    assert grid.shape == (25, 2)
    assert sorted(set(grid[:, 0].tolist())) == [-1.0, -0.5, 0.0, 0.5, 1.0]
    assert mode_centers("ring", 6).shape == (6, 2) and mode_centers("grid", 9).shape == (9, 2)
    with pytest.raises(ValueError, match="n_modes must be a square number"):
        mode_centers("grid", 10)
    with pytest.raises(ValueError, match="problem"):
        mode_centers("moons")


@pytest.mark.parametrize("problem", ["ring", "grid"])
@pytest.mark.parametrize("std", [0.01, 0.1])
def test_toy_samplers_have_the_mixtures_moments(problem, std):
    n = 200_000
    x = sample_toy(problem, n, std=std, generator=torch.Generator().manual_seed(0)).double()
    assert x.shape == (n, 2) and x.dtype == torch.float64
    # both mixtures: mean 0, per-coordinate variance 1/2 (ring: E sin^2 = 1/2; grid: mean of 1, 1/4, 0, 1/4, 1)
    # plus std^2, and uncorrelated coordinates
    se = math.sqrt(0.6 / n)
    assert x.mean(0).abs().max() < 5 * se
    cov = torch.cov(x.T)
    assert torch.allclose(torch.diag(cov), torch.full((2,), 0.5 + std ** 2, dtype=torch.float64), atol=0.01)
    assert abs(float(cov[0, 1])) < 0.01
    # the noise around the nearest centre has the given standard deviation (modes far apart relative to std)
    centers = mode_centers(problem).double()
    if std == 0.01:
        resid = x - centers[torch.cdist(x, centers).argmin(1)]
        assert abs(float(resid.std()) - std) < 0.02 * std
        counts = torch.bincount(torch.cdist(x, centers).argmin(1), minlength=len(centers)).double() / n
        assert float((counts - 1 / len(centers)).abs().max()) < 0.01  # modes picked uniformly


def test_toy_sampler_is_seeded_and_checks_its_arguments():
    a = sample_toy("grid", 10, generator=torch.Generator().manual_seed(3))
    b = sample_toy("grid", 10, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a, b)
    with pytest.raises(ValueError, match="std"):
        sample_toy("ring", 10, std=0.0)
    with pytest.raises(ValueError, match="n must be >= 1"):
        sample_toy("ring", 0)


# ---------------------------------------------------------------------------------------------- losses, one step
def test_alpha_zero_is_the_plain_gan_loss_and_mixup_follows_the_formula():
    torch.manual_seed(0)
    disc = GANDiscriminator(hidden=8, layers=2)
    real, fake = sample_toy("ring", 16, generator=torch.Generator().manual_seed(1)), torch.randn(16, 2)
    plain = 0.5 * (torch.nn.functional.softplus(-disc(real)).mean() + torch.nn.functional.softplus(disc(fake)).mean())
    assert torch.allclose(discriminator_loss(disc, real, fake, 0.0), plain, atol=1e-7)
    from mixup_repro.mixing import sample_lambda

    lam = sample_lambda(0.2, (16,), torch.Generator().manual_seed(5)).float()
    x1 = lam[:, None] * real + (1 - lam[:, None]) * fake
    x2 = (1 - lam[:, None]) * real + lam[:, None] * fake
    bce = torch.nn.functional.binary_cross_entropy_with_logits
    manual = 0.5 * (bce(disc(x1), lam) + bce(disc(x2), 1 - lam))
    got = discriminator_loss(disc, real, fake, 0.2, torch.Generator().manual_seed(5))
    assert torch.allclose(got, manual, atol=1e-6)
    assert not torch.allclose(got, plain)
    with pytest.raises(ValueError, match="alpha"):
        discriminator_loss(disc, real, fake, -1.0)
    with pytest.raises(ValueError, match="real and fake"):
        discriminator_loss(disc, real, fake[:8], 0.2)


def test_generator_losses():
    torch.manual_seed(0)
    disc = GANDiscriminator(hidden=8, layers=2)
    fake = torch.randn(32, 2)
    p_real = torch.sigmoid(disc(fake))
    assert torch.allclose(generator_loss(disc, fake, "saturating"), torch.log(1 - p_real).mean(), atol=1e-6)
    assert torch.allclose(generator_loss(disc, fake, "non_saturating"), -torch.log(p_real).mean(), atol=1e-6)
    with pytest.raises(ValueError, match="generator_loss"):
        generator_loss(disc, fake, "wasserstein")


@pytest.mark.parametrize("alpha", [0.0, 0.2])
@pytest.mark.parametrize("kind", ["saturating", "non_saturating"])
def test_one_training_step_of_each_variant_changes_the_parameters(alpha, kind):
    torch.manual_seed(0)
    g, d = GANGenerator(2, 16, 2), GANDiscriminator(16, 2)
    opt_g, opt_d = torch.optim.Adam(g.parameters(), 1e-3), torch.optim.Adam(d.parameters(), 1e-3)
    before_g = [p.detach().clone() for p in g.parameters()]
    before_d = [p.detach().clone() for p in d.parameters()]
    real = sample_toy("grid", 64, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        fake = g(torch.randn(64, 2))
    loss = discriminator_loss(d, real, fake, alpha, torch.Generator().manual_seed(0))
    opt_d.zero_grad()
    loss.backward()
    opt_d.step()
    assert all(not torch.equal(a, b) for a, b in zip(before_d, d.parameters()))
    assert all(torch.equal(a, b) for a, b in zip(before_g, g.parameters()))  # the D step leaves G alone
    after_d = [p.detach().clone() for p in d.parameters()]
    loss_g = generator_loss(d, g(torch.randn(64, 2)), kind)
    opt_g.zero_grad()
    loss_g.backward()
    opt_g.step()
    assert all(not torch.equal(a, b) for a, b in zip(before_g, g.parameters()))
    assert all(torch.equal(a, b) for a, b in zip(after_d, d.parameters()))  # the G step leaves D alone


# ---------------------------------------------------------------------------------------------- metrics
def test_mode_coverage_on_hand_made_points():
    centers = mode_centers("ring")
    std = 0.01
    # 100 points exactly on modes 0, 1, 2; 100 points at the origin (far from every mode)
    pts = torch.cat([centers[0].repeat(100, 1), centers[1].repeat(100, 1), centers[2].repeat(100, 1),
                     torch.zeros(100, 2)])
    cov = mode_coverage(pts, centers, std)
    assert cov["modes_covered"] == 3
    assert cov["hq_share"] == pytest.approx(0.75)
    assert cov["mode_counts"] == [100, 100, 100, 0, 0, 0, 0, 0]
    # the 3-sigma radius: 2.9 sigma counts, 3.1 sigma does not
    near = centers[3] * (1 + 2.9 * std)
    far = centers[4] * (1 + 3.1 * std)
    cov = mode_coverage(torch.cat([pts, near.repeat(10, 1), far.repeat(10, 1)]), centers, std)
    assert cov["mode_counts"][3] == 10 and cov["mode_counts"][4] == 0
    assert cov["hq_share"] == pytest.approx(310 / 420)
    # a mode needs min_share of all points: 1 point of 401 is below 1 % but counts with min_share 0
    one = torch.cat([pts, centers[5][None]])
    assert mode_coverage(one, centers, std)["modes_covered"] == 3
    assert mode_coverage(one, centers, std, min_share=0.0)["modes_covered"] == 4
    assert mode_coverage(one, centers, std, n_sigmas=1000.0)["hq_share"] == 1.0  # every point near enough
    # a collapsed generator: everything on one mode
    assert mode_coverage(centers[7].repeat(50, 1), centers, std)["modes_covered"] == 1
    with pytest.raises(ValueError, match="points"):
        mode_coverage(torch.zeros(5, 3), centers, std)
    with pytest.raises(ValueError, match="min_share"):
        mode_coverage(pts, centers, std, min_share=2.0)


def test_energy_distance_matches_scipy_in_one_dimension_and_behaves_in_two():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=300), rng.normal(0.5, 2.0, size=200)
    assert energy_distance(a, b) == pytest.approx(stats.energy_distance(a, b), rel=1e-10)
    x = torch.tensor(rng.normal(size=(400, 2)))
    assert energy_distance(x, x) == 0.0
    shifted = energy_distance(x, x + torch.tensor([1.0, 0.0]))
    assert shifted > 0.5
    assert energy_distance(x + 3.0, x + torch.tensor([4.0, 3.0])) == pytest.approx(shifted)  # translation invariant
    # a sample of the target is closer to the target than a collapsed generator is
    g = torch.Generator().manual_seed(0)
    target = sample_toy("ring", 1000, generator=g)
    assert energy_distance(sample_toy("ring", 1000, generator=g), target) < 0.1
    assert energy_distance(mode_centers("ring")[0].repeat(1000, 1), target) > 0.5
    with pytest.raises(ValueError, match="x and y"):
        energy_distance(torch.zeros(3, 2), torch.zeros(3, 3))


# ---------------------------------------------------------------------------------------------- configs, runs
def test_config_defaults_are_the_official_code_and_bad_values_name_the_argument():
    c = GANConfig()
    assert (c.hidden, c.layers, c.latent_dim, c.batch_size, c.iterations, c.d_steps) == (512, 3, 2, 128, 20000, 5)
    assert (c.lr_d, c.beta1, c.beta2, c.std, c.alpha) == (1e-3, 0.9, 0.999, 0.01, 0.2)
    assert c.snapshot_iters == (10, 100, 1000, 10000, 20000)
    assert GANConfig(iterations=500).snapshot_iters == (10, 100, 250, 500)
    assert gan.scaled_snapshot_iters(4000) == (10, 100, 1000, 2000, 4000)
    for kw, name in [({"alpha": -1}, "alpha"), ({"problem": "moons"}, "problem"), ({"hidden": 0}, "hidden"),
                     ({"lr_d": 0.0}, "lr_d"), ({"generator_loss": "x"}, "generator_loss"),
                     ({"snapshot_iters": (5, 50), "iterations": 10}, "snapshot_iters"), ({"std": -0.1}, "std"),
                     ({"beta1": 1.0}, "beta1"), ({"n_modes": 7, "problem": "grid"}, "n_modes")]:
        with pytest.raises((ValueError, TypeError), match=name):
            GANConfig(**kw)


def test_train_gan_writes_a_valid_results_file_reuses_it_and_is_deterministic(tmp_path):
    cfg = GANConfig(problem="grid", alpha=0.2, **TINY)
    r = train_gan(cfg, out=tmp_path)
    path = tmp_path / f"{gan.gan_run_id(cfg)}.json"
    assert path.is_file()
    d = json.loads(path.read_text())
    assert d["schema"] == gan.GAN_SCHEMA and d["config"] == cfg.to_dict()
    assert d["metrics"]["iteration"] == [0, 3, 6] and d["snapshots"]["iteration"] == [3, 6]
    assert len(d["snapshots"]["fake"][0]) == 50 and len(d["snapshots"]["fake"][0][0]) == 2
    assert d["curves"]["iteration"] == [3, 6] and all(math.isfinite(v) for v in d["curves"]["d_loss"])
    for key in ("device", "threads", "versions", "git_commit", "started", "finished", "wall_s", "cpu_s"):
        assert key in d
    assert d["cpu_s"] > 0 and d["summary"]["n_modes"] == 25
    assert 0 <= d["summary"]["final_modes_covered"] <= 25 and 0 <= d["summary"]["final_hq_share"] <= 1
    again = train_gan(cfg, out=tmp_path)  # read back, not retrained
    assert again["started"] == r["started"] and again["metrics"] == r["metrics"]
    fresh = train_gan(cfg)  # the CPU is deterministic
    assert fresh["metrics"] == r["metrics"] and fresh["snapshots"] == r["snapshots"]
    erm = train_gan(GANConfig(problem="grid", alpha=0.0, **TINY))
    assert erm["metrics"]["energy_distance"][0] == r["metrics"]["energy_distance"][0]  # same init, same eval set
    assert erm["metrics"]["energy_distance"][-1] != r["metrics"]["energy_distance"][-1]
    assert gan.load_gan_results(tmp_path)[0]["run_id"] == r["run_id"]
    path.write_text(path.read_text()[:100])
    with pytest.warns(UserWarning, match="skipping"):
        assert gan.load_gan_results(tmp_path) == []
    with pytest.raises(ResultsError, match=path.name):
        gan.read_gan_result(path)
    with pytest.raises(TypeError, match="config"):
        train_gan({"problem": "ring"})


def _fake_run(problem, alpha, seed, modes, hq, ed):
    summary = {}
    for stat in ("late", "final"):
        summary.update({f"{stat}_modes_covered": modes, f"{stat}_hq_share": hq, f"{stat}_energy_distance": ed})
    return {"config": {"problem": problem, "alpha": alpha, "seed": seed}, "summary": summary}


def test_paired_comparison_intervals_and_verdicts():
    erm_modes, mix_modes = [3, 4, 2, 5, 3], [7, 8, 6, 8, 7]
    runs = []
    for s in range(5):
        runs.append(_fake_run("ring", 0.0, s, erm_modes[s], 0.5, 0.3 + 0.01 * s))
        runs.append(_fake_run("ring", 0.2, s, mix_modes[s], 0.5 + 0.01 * (s - 2), 0.1 + 0.01 * s + 0.001 * s * s))
    runs.append(_fake_run("ring", 0.2, 9, 8, 0.9, 0.0))  # no ERM partner: ignored
    t = paired_comparison(runs).set_index("metric")
    d = np.array(mix_modes, float) - np.array(erm_modes, float)
    lo, hi = stats.t.interval(0.95, 4, loc=d.mean(), scale=stats.sem(d))
    row = t.loc["modes_covered"]
    assert row["n"] == 5 and row["Δ (mixup − ERM)"] == pytest.approx(3.8)
    assert (row["CI low"], row["CI high"]) == (pytest.approx(lo), pytest.approx(hi))
    assert row["p (paired t)"] == pytest.approx(stats.ttest_rel(mix_modes, erm_modes).pvalue)
    assert row["verdict"] == "reproduced"
    raw = [t.loc[m, "p (paired t)"] for m in gan.GAN_METRICS]
    assert list(t["Holm p"]) == pytest.approx(holm(raw))  # Holm over the table's rows, as in every chapter
    assert t.loc["hq_share", "Holm p"] >= 0.05 and t.loc["hq_share", "verdict"] == "not detected"  # ±0.02 around 0
    assert t.loc["energy_distance", "verdict"] == "reproduced"  # lower is the paper's direction
    flipped = [_fake_run(r["config"]["problem"], 0.2 if r["config"]["alpha"] == 0 else 0.0, r["config"]["seed"],
                         *(r["summary"][f"late_{k}"] for k in gan.GAN_METRICS)) for r in runs[:10]]
    t2 = paired_comparison(flipped).set_index("metric")
    assert t2.loc["modes_covered", "verdict"] == "reversed" and t2.loc["energy_distance", "verdict"] == "reversed"
    with pytest.raises(ValueError, match="statistic"):
        paired_comparison(runs, statistic="best")


def test_gan_claims_have_the_paired_claims_shape_and_refuse_mixed_settings():
    erm_modes, mix_modes = [3, 4, 2, 5, 3], [7, 8, 6, 8, 7]
    runs = [_fake_run("ring", 0.0, s, erm_modes[s], 0.5, 0.3) for s in range(5)]
    runs += [_fake_run("ring", 0.2, s, mix_modes[s], 0.5 + 0.01 * (s - 2), 0.35 + 0.01 * s) for s in range(5)]
    c = gan.gan_claims(runs).set_index("claim")
    assert list(c.columns) == ["source", "metric", "Δ = A − B", "95 % CI", "Holm p", "n", "verdict"]
    modes = c.loc["mixup-GAN (α = 0.2) covers more modes than ERM-GAN on the ring problem"]
    d = np.array(mix_modes, float) - np.array(erm_modes, float)
    lo, hi = stats.t.interval(0.95, 4, loc=d.mean(), scale=stats.sem(d))
    assert modes["Δ = A − B"] == "+3.800" and modes["95 % CI"] == f"[{lo:+.3f}, {hi:+.3f}]"
    assert modes["n"] == 5 and modes["verdict"] == "reproduced" and modes["source"] == gan.GAN_SOURCE
    ed = c.loc["mixup-GAN (α = 0.2) is closer to the target (a smaller energy distance) than ERM-GAN on the ring "
               "problem"]
    assert ed["Δ = A − B"] == "+0.070" and ed["verdict"] == "reversed"  # larger distance: against the paper
    one = gan.gan_claims(runs[:1] + runs[5:6])  # one paired seed: no interval, no test
    assert set(one["verdict"]) == {"not tested"} and set(one["95 % CI"]) == {""} and set(one["n"]) == {1}
    other = dict(runs[0], config={**runs[0]["config"], "lr_d": 0.01})
    with pytest.raises(ValueError, match="runs: 2 different GAN settings"):
        gan.gan_claims([other] + runs[1:])


def test_chapter_runs_are_the_runs_of_the_chapters_parameters(tmp_path):
    params = dict(problems=["ring"], alpha=0.2, n_seeds=2, results_dir=str(tmp_path),
                  **{k: v for k, v in TINY.items() if k != "n_eval"})
    base = GANConfig(problem="ring", alpha=0.0, **{k: v for k, v in TINY.items() if k != "n_eval"})
    made = gan.gan_runs(base, problems=["ring"], alphas=(0.0, 0.2), seeds=[0, 1], out=tmp_path)
    # another protocol in the same folder (the chapter re-run with -p generator_loss non_saturating)
    gan.gan_runs(GANConfig.from_dict({**base.to_dict(), "generator_loss": "non_saturating"}), problems=["ring"],
                 alphas=(0.0, 0.2), seeds=[0], out=tmp_path)
    assert len(list(tmp_path.glob("*.json"))) == 6
    runs = gan.chapter_runs(params)
    assert [r["run_id"] for r in runs] == [r["run_id"] for r in made]  # the chapter's grid, in its order
    assert {r["config"]["generator_loss"] for r in runs} == {"saturating"}
    assert len(gan.gan_claims(runs)) == 3  # one protocol: judged, where all runs of the folder would be refused
    with pytest.raises(ValueError, match="different GAN settings"):
        gan.gan_claims(gan.load_gan_results(tmp_path))
    assert len(gan.chapter_runs({**params, "n_seeds": 2, "problems": ["ring", "grid"]})) == 4  # no grid runs yet
    assert gan.chapter_runs({**params, "results_dir": str(tmp_path / "none")}) == []
    with pytest.raises(ValueError, match="gan_params: results_dir"):
        gan.chapter_runs({**params, "results_dir": None})
    with pytest.raises(ValueError, match="gan_params: alpha"):
        gan.chapter_runs({**params, "alpha": -1})
    with pytest.raises(ValueError, match="gan_params must be a mapping"):
        gan.chapter_runs("results/gan")


def test_chapter_parameters_are_checked_by_name():
    ok = gan.check_params(problems=["ring"], alpha=0.2, iterations=10, n_seeds=2, results_dir=None)
    assert ok["problems"] == ["ring"]
    for kw, name in [({"alpha": 0}, "alpha"), ({"problems": ["moons"]}, "problems"), ({"n_seeds": 1}, "n_seeds"),
                     ({"iterations": 0}, "iterations"), ({"nope": 1}, "nope")]:
        with pytest.raises(ValueError, match=name):
            gan.check_params(**kw)


def test_cli_trains_and_reports(tmp_path, capsys):
    from mixup_repro.cli import main

    argv = ["gan", "--problem", "ring", "--seeds", "0", "--hidden", "8", "--layers", "1", "--iterations", "4",
            "--d-steps", "1", "--eval-every", "2", "--n-snapshot", "20", "--batch-size", "16", "--quiet",
            "--out", str(tmp_path)]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert out.count("ring_") == 2 and "final modes" in out and "CPU s" in out
    assert len(list(tmp_path.glob("ring_*.json"))) == 2
    assert main(argv[:-2] + ["--lr-d", "-1", "--out", str(tmp_path)]) == 2
    assert "lr_d" in capsys.readouterr().err


def test_chapter_tables_notes_and_figures_from_real_runs():
    import matplotlib

    matplotlib.use("Agg")
    base = GANConfig(problem="ring", alpha=0.0, **TINY)
    runs = gan.gan_runs(base, problems=["grid", "ring"], alphas=(0.0, 0.2), seeds=[0, 1])
    assert len(runs) == 8
    table = gan.per_seed_table(runs)
    assert list(table["problem"]) == ["ring"] * 4 + ["grid"] * 4  # the chapter's order, not alphabetical
    assert list(table["seed"][:4]) == [0, 1, 0, 1] and list(table["α"][:4]) == [0.0, 0.0, 0.2, 0.2]
    comp = paired_comparison(runs)
    assert list(comp["problem"]) == ["ring"] * 3 + ["grid"] * 3 and set(comp["n"]) == {2}
    text = gan.verdict_markdown(comp)
    assert text.count("seed pairs") == 2 and "Over all problems and metrics: 6 " in text
    note = gan.cpu_time_note(runs)
    assert f"{sum(r['cpu_s'] for r in runs):.0f} CPU seconds" in note and "8 runs" in note
    assert "| generator iterations | 6 | 20,000" in gan.scale_table(base, GANConfig(), n_seeds=2, alpha=0.2)
    assert len(gan.plot_gan_samples(runs, seed=1).axes) == 4 * 2  # 4 (problem, variant) rows x 2 snapshots
    assert len(gan.plot_gan_metrics(runs).axes) == 2 * 3
    assert len(gan.plot_gan_losses(runs).axes) == 2 * 2
    with pytest.raises(ValueError, match="seed 7"):
        gan.plot_gan_samples(runs, seed=7)


def test_outcome_table_counts_collapsed_and_complete_runs():
    def run(problem, alpha, seed, modes, ed):
        return {"config": {"problem": problem, "alpha": alpha, "seed": seed},
                "summary": {"final_modes_covered": modes, "n_modes": 8, "final_energy_distance": ed}}

    runs = [run("ring", 0.0, 0, 1, 2.0), run("ring", 0.0, 1, 0, 1.0), run("ring", 0.0, 2, 8, 0.1),
            run("ring", 0.2, 0, 8, 0.1), run("ring", 0.2, 1, 5, 0.3)]
    t = gan.outcome_table(runs).set_index("variant")
    assert t.loc["ERM-GAN", "runs"] == 3 and t.loc["ERM-GAN", "≤ 1 mode covered"] == 2
    assert t.loc["ERM-GAN", "all modes covered"] == 1 and t.loc["ERM-GAN", "median final energy distance"] == 1.0
    assert t.loc["mixup-GAN", "median final energy distance"] == pytest.approx(0.2)
    assert (t.loc["mixup-GAN", "min"], t.loc["mixup-GAN", "max"]) == (0.1, 0.3)
    for r in runs:
        r["summary"]["final_hq_share"] = 0.9 if r["config"]["seed"] == 1 and r["config"]["alpha"] == 0 else 0.1
    text = gan.outcome_markdown(runs)
    assert "ERM-GAN: 2 of 3 runs end with at most one mode covered, 1 with every mode covered, 1 far from the target" in text
    assert "mixup-GAN: 0 of 2 runs end with at most one mode covered, 1 with every mode covered, 0 far" in text
    assert "ring ERM-GAN seed 1 (0.900)" in text and "seed 0 (" not in text


def test_the_cpu_profile_finds_every_run_in_the_committed_results():
    """`make book` reads results/gan instead of retraining: every run of the cpu profile is committed."""
    from mixup_repro import book

    root = book.find_root()
    p = gan.check_params(**book.load_profile("cpu")["11_gan"])
    base = GANConfig(problem=p["problems"][0], alpha=0.0, std=p["std"], hidden=p["hidden"], layers=p["layers"],
                     batch_size=p["batch_size"], iterations=p["iterations"], d_steps=p["d_steps"], lr_d=p["lr_d"],
                     lr_g=p["lr_g"], generator_loss=p["generator_loss"], eval_every=p["eval_every"],
                     n_snapshot=p["n_snapshot"])
    folder = root / p["results_dir"]
    for problem in p["problems"]:
        for seed in range(p["n_seeds"]):
            for alpha in (0.0, p["alpha"]):
                cfg = GANConfig.from_dict({**base.to_dict(), "problem": problem, "alpha": alpha, "seed": seed})
                d = gan.read_gan_result(folder / f"{gan.gan_run_id(cfg)}.json")
                assert d["config"] == cfg.to_dict() and d["cpu_s"] > 0 and d["git_commit"]
    assert sum(f.stat().st_size for f in folder.glob("*.json")) < 3e6  # the committed folder stays small
