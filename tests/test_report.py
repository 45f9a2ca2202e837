"""The table chapters: claims and verdicts (se_claims), chapter views (chapters), figures (plots), the README
section and ``report --check`` (readme).

Summary frames are the real ones of :func:`mixup_repro.experiments.summarize` (every row of the table, read
from an empty folder) with synthetic numbers filled in, so the claims see the real row labels and columns.
Results files are written in the real schema with :func:`mixup_repro.results.atomic_write_json`. One live
run of the UCI table (4 tiny runs) checks ``table_view(run_missing=True)``.
"""

from __future__ import annotations

import argparse
import math

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import nbformat  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from mixup_repro import chapters, experiments, plots, se_claims, views  # noqa: E402
from mixup_repro import readme as readme_mod  # noqa: E402
from mixup_repro.experiments import TABLES, summarize, table_configs  # noqa: E402
from mixup_repro.results import SCHEMA, atomic_write_json  # noqa: E402
from mixup_repro.train import result_path, run_id  # noqa: E402

CHAPTERS = ("04_headline", "05_ablation", "06_label_noise", "07_uci", "08_calibration_robustness",
            "09_eps_validation")
PARAMS = ("scale", "dataset", "seeds", "rows", "results_dir", "run_missing", "max_live_runs", "paper_results_dir")


# ---------------------------------------------------------------------------------------------- helpers
@pytest.fixture(scope="module")
def empty(tmp_path_factory):
    return tmp_path_factory.mktemp("empty")


def _frame(name, folder, values, metric="median_last10_error", scale="cpu"):
    """summarize() of an empty folder, then ``values``: {(label, key value or None): (mean, std, n)}."""
    df = summarize(name, scale, folder)
    keys = df.attrs["key_columns"]
    for (label, key), (mean, std, n) in values.items():
        m = df["row"] == label
        if key is not None:
            m &= df[keys[0]].astype(str) == key
        assert m.sum() == 1, (label, key)
        metrics = [metric] if isinstance(metric, str) else metric
        for met in metrics:
            df.loc[m, f"{met}_mean"] = mean
            df.loc[m, f"{met}_std"] = std
        df.loc[m, "n_done"] = n
        df.loc[m, "status"] = f"{n}/{int(df.loc[m, 'n_expected'].iloc[0])}"
    return df


def _verdict(claims, cid):
    row = claims[claims["id"] == cid]
    assert len(row) == 1, f"{cid} not judged: {list(claims['id'])}"
    return row.iloc[0]["verdict"], row.iloc[0]["evidence"]


PRE = "PreAct ResNet-18"


# ---------------------------------------------------------------------------------------------- compare
def test_compare_counts_a_difference_only_beyond_two_standard_errors():
    a = {"row": "a", "n_done": 3, "x_mean": 10.0, "x_std": 0.5}
    b = {"row": "b", "n_done": 3, "x_mean": 12.0, "x_std": 0.5}
    c = se_claims.compare(a, b, "x")
    se = math.sqrt(0.25 / 3 + 0.25 / 3)
    assert c.outcome == "lower" and c.se == pytest.approx(se) and c.diff == pytest.approx(-2.0)
    assert "10.00 ± 0.50 (n=3)" in c.text() and "12.00 ± 0.50 (n=3)" in c.text() and "-2.00" in c.text()
    assert se_claims.compare(b, a, "x").outcome == "higher"
    # the same difference with a large spread is within 2 SE
    assert se_claims.compare({**a, "x_std": 3.0}, b, "x").outcome == "unclear"
    assert se_claims.compare({**a, "n_done": 1, "x_std": math.nan}, b, "x").outcome == "few seeds"
    assert se_claims.compare({**a, "n_done": 0, "x_mean": math.nan}, b, "x").outcome == "missing"
    assert se_claims.compare(None, b, "x").outcome == "missing"
    # z is a parameter: a difference of 2 with SE 0.41 counts at z = 2 but not at z = 5
    assert se_claims.compare(a, b, "x", z=5).outcome == "unclear"
    with pytest.raises(ValueError, match="z"):
        se_claims.compare(a, b, "x", z=0)


# ---------------------------------------------------------------------------------------------- claims
@pytest.mark.parametrize("mixup, erm, verdict", [
    ((10.0, 0.5, 3), (12.0, 0.5, 3), "holds"),
    ((12.0, 0.5, 3), (10.0, 0.5, 3), "does not hold"),
    ((11.0, 1.5, 3), (11.5, 1.5, 3), "inconclusive"),   # within 2 SE
    ((10.0, math.nan, 1), (12.0, math.nan, 1), "inconclusive"),  # one seed: no spread
    ((math.nan, math.nan, 0), (12.0, 0.5, 3), "not tested"),
])
def test_headline_claim_every_verdict(empty, mixup, erm, verdict):
    vals = {("ERM", PRE): erm}
    if mixup[2]:
        vals[("mixup α=1", PRE)] = mixup
    claims = se_claims.assess_claims(headline=_frame("headline", empty, vals))
    v, ev = _verdict(claims, "mixup_beats_erm")
    assert v == verdict
    if erm[2] >= 1:
        assert f"{erm[0]:.2f}" in ev and f"(n={erm[2]})" in ev
    assert set(claims["verdict"]) <= set(se_claims.VERDICTS)
    # only the headline's claims are judged (ext_ece from the headline's ECE: the same runs)
    assert list(claims["id"]) == ["mixup_beats_erm", "ext_error", "ext_ece"]


def test_extension_claims_error_and_ece(empty):
    head = _frame("headline", empty, {("mixup α=1", PRE): (10.0, 0.2, 3),
                                      ("mixup + label smoothing ε=0.1", PRE): (9.0, 0.2, 3)})
    cal = _frame("calibration", empty, {("mixup α=1", None): (0.08, 0.005, 3),
                                        ("mixup + label smoothing ε=0.1", None): (0.12, 0.005, 3)},
                 metric="final_ece")
    claims = se_claims.assess_claims(headline=head, calibration=cal)
    assert _verdict(claims, "ext_error")[0] == "holds"
    v, ev = _verdict(claims, "ext_ece")
    # stored as fractions, shown in percent, with the unit
    assert v == "does not hold" and "12.00 ± 0.50 (n=3)" in ev and "8.00 ± 0.50" in ev
    assert ev.startswith("test ECE (%)") and "difference +4.00" in ev
    assert claims.set_index("id").loc["ext_ece", "kind"] == "extension"


def test_ece_is_displayed_in_percent_in_tables_and_figures(empty):
    cal = _frame("calibration", empty, {("mixup α=1", None): (0.08, 0.005, 3)}, metric="final_ece")
    frame = chapters.table_frame(cal)
    assert "ECE (%)" in frame.columns and "ECE" not in frame.columns
    assert frame.loc["mixup α=1", "ECE (%)"] == "8.00 ± 0.50"
    from mixup_repro.experiments import format_table

    assert "| ECE (%) |" in format_table(cal) and "8.00 ± 0.50" in format_table(cal)
    fig = plots.plot_metric_bars(cal, "final_ece")
    ax = fig.axes[0]
    assert ax.get_xlabel().startswith("test ECE (%)")
    assert [p.get_width() for p in ax.patches] == pytest.approx([8.0])
    plt.close(fig)


def test_ece_curves_are_drawn_in_percent(tmp_path):
    _write_table_runs(tmp_path, "headline", {"ERM": 20.0}, seeds=2)  # test_ece 0.05 at every epoch
    runs = {k: v for k, v in experiments.row_runs("headline", "cpu", tmp_path).items() if v}
    fig = plots.plot_row_curves(runs, "test_ece")
    ax = fig.axes[0]
    assert ax.get_ylabel() == "test ECE (%)" and ax.lines[0].get_ydata().tolist() == pytest.approx([5.0] * len(ax.lines[0].get_ydata()))
    plt.close(fig)


def _ablation(empty, wd="1e-4", mixup=(10.0, 0.2, 3), runner_up=11.0, others=13.0, std=0.2, n=3, **extra):
    """Every paper-ablation row at ``wd``: mixup AC + RP, mix inputs + LS ε=0.1 as runner-up, the rest."""
    vals = {}
    for r in TABLES["ablation"].rows:
        if r.group != "paper ablation" or r.columns["weight decay"] != wd:
            continue
        if r.label == "mixup AC + RP":
            vals[(r.label, wd)] = mixup
        elif r.label == "mix inputs + label smoothing ε=0.1":
            vals[(r.label, wd)] = (runner_up, std, n)
        else:
            vals[(r.label, wd)] = (others, std, n)
    vals.update(extra.get("more", {}))
    return _frame("ablation", empty, vals)


def test_ablation_claims_hold_on_a_clear_ranking(empty):
    wd_rows = {("ERM", "5e-4"): (12.0, 0.2, 3), ("mixup AC + RP", "5e-4"): (10.8, 0.2, 3)}
    df = _ablation(empty, more=wd_rows)
    claims = se_claims.assess_claims(ablation=df)
    assert list(claims["id"]) == ["mixup_best", "mix_inputs_ls_second", "ls_noise_small", "weight_decay"]
    v, ev = _verdict(claims, "mixup_best")
    assert v == "holds" and "10.00 ± 0.20 (n=3)" in ev and "lower by more than 2 SE than" in ev
    assert _verdict(claims, "mix_inputs_ls_second")[0] == "holds"
    v, ev = _verdict(claims, "ls_noise_small")
    assert v == "holds" and "gain over ERM" in ev
    v, ev = _verdict(claims, "weight_decay")  # ERM: 12.0 at 5e-4 < 13.0 at 1e-4; mixup: 10.0 < 10.8
    assert v == "holds" and "ERM wd 5e-4 12.00" in ev and "mixup wd 5e-4 10.80" in ev


def test_ablation_claims_other_verdicts(empty):
    # a method beats mixup clearly: mixup is not the best, and label smoothing is not "only a little"
    df = _ablation(empty, more={("label smoothing ε=0.05", "1e-4"): (8.0, 0.2, 3)})
    claims = se_claims.assess_claims(ablation=df)
    assert _verdict(claims, "mixup_best")[0] == "does not hold"
    assert _verdict(claims, "ls_noise_small")[0] == "does not hold"
    assert _verdict(claims, "mix_inputs_ls_second")[0] == "does not hold"  # label smoothing is second
    assert _verdict(claims, "weight_decay")[0] == "not tested"  # no 5e-4 runs
    # one seed everywhere: nothing can be decided
    df1 = _ablation(empty, mixup=(10.0, math.nan, 1), std=math.nan, n=1)
    claims1 = se_claims.assess_claims(ablation=df1)
    assert _verdict(claims1, "mixup_best")[0] == "inconclusive"
    assert _verdict(claims1, "mix_inputs_ls_second")[0] == "inconclusive"
    # nothing run
    claims0 = se_claims.assess_claims(ablation=summarize("ablation", "cpu", empty))
    assert set(claims0["verdict"]) == {"not tested"}


def test_label_noise_claim_combines_noise_levels(empty):
    def frame(at80):
        vals = {}
        for lev, (mix, drop) in {"20%": (30.0, 33.0), "50%": (40.0, 45.0), "80%": at80}.items():
            vals[("mixup α=8", lev)] = (mix, 0.5, 2)
            vals[("ERM + dropout p=0.5", lev)] = (drop, 0.5, 2)
        return _frame("label_noise", empty, vals, metric="final_error")

    v, ev = _verdict(se_claims.assess_claims(label_noise=frame((60.0, 70.0))), "label_noise")
    assert v == "holds" and "label noise 80%: mixup α=8 60.00 ± 0.50 (n=2)" in ev
    assert _verdict(se_claims.assess_claims(label_noise=frame((60.0, 60.2))), "label_noise")[0] == "inconclusive"
    assert _verdict(se_claims.assess_claims(label_noise=frame((70.0, 60.0))), "label_noise")[0] == "does not hold"


def test_uci_claims_need_some_data_set_and_no_contradiction(empty):
    def frame(wine_mixup):
        return _frame("uci", empty, {("ERM", "iris"): (5.0, 0.5, 6), ("mixup α=1", "iris"): (3.0, 0.5, 6),
                                     ("ERM", "abalone"): (4.0, 0.5, 6), ("mixup α=1", "abalone"): wine_mixup},
                      metric="final_error")
    assert _verdict(se_claims.assess_claims(uci=frame((4.1, 0.5, 6))), "uci_mixup")[0] == "holds"
    assert _verdict(se_claims.assess_claims(uci=frame((8.0, 0.5, 6))), "uci_mixup")[0] == "does not hold"
    claims = se_claims.assess_claims(uci=frame((4.1, 0.5, 6)))
    assert list(claims["id"]) == ["uci_mixup", "uci_ext"] and _verdict(claims, "uci_ext")[0] == "not tested"


def test_fgsm_and_eps_claims(empty):
    rob = _frame("robustness", empty, {("ERM", None): (50.0, 1.0, 3), ("mixup α=1", None): (40.0, 1.0, 3)},
                 metric=["fgsm_error_0.01", "fgsm_error_0.03", "fgsm_error_0.1"])
    v, ev = _verdict(se_claims.assess_claims(robustness=rob), "fgsm")
    assert v == "holds" and "FGSM ε = 0.03" in ev and "40.00 ± 1.00 (n=3)" in ev
    eps = summarize("eps_validation", "cpu", empty)
    assert _verdict(se_claims.assess_claims(eps_validation=eps), "eps_selected")[0] == "not tested"
    eps.attrs["selected_eps"] = 0.0
    eps.attrs["validation_curve"] = {0.0: 20.0, 0.05: 21.0, 0.1: 22.0, 0.2: 23.0}
    v, ev = _verdict(se_claims.assess_claims(eps_validation=eps), "eps_selected")
    assert v == "does not hold" and "ε = 0" in ev and "ε=0.2: 23.00" in ev
    eps.attrs["selected_eps"] = 0.1
    for tag, mean in (("(a)", 9.0), ("(c)", 10.0)):
        m = eps["row"].astype(str).str.startswith(tag)
        eps.loc[m, ["median_last10_error_mean", "median_last10_error_std", "n_done"]] = [mean, 0.2, 3]
    v, ev = _verdict(se_claims.assess_claims(eps_validation=eps), "eps_selected")
    assert v == "holds" and "selected ε = 0.1" in ev


def test_claims_markdown_says_no_more_than_the_verdicts(empty):
    head = _frame("headline", empty, {("ERM", PRE): (12.0, 0.5, 3), ("mixup α=1", PRE): (10.0, 0.5, 3)})
    claims = se_claims.assess_claims(headline=head)
    text = se_claims.claims_markdown(claims, "cpu")
    assert "Supported by the runs at this scale: *mixup (α = 1) has a lower test error than ERM*" in text
    assert "Not tested yet" in text and "this scale only" in text and "Contradicted" not in text
    assert list(se_claims.claims_table(claims).columns) == ["verdict", "evidence"]


# ---------------------------------------------------------------------------------------------- views
def test_check_params_and_row_selection():
    ok = chapters.check_params(scale="cpu", dataset=None, seeds=[0, 2], rows="core", results_dir="results/cpu",
                             run_missing=False, max_live_runs=None, paper_results_dir="results/paper")
    assert ok["seeds"] == [0, 2] and ok["rows"] == ["core"]
    for kw, name in (({"scale": "huge"}, "scale"), ({"seeds": [0, 0]}, "seeds"), ({"seeds": [-1]}, "seeds"),
                     ({"run_missing": "yes"}, "run_missing"), ({"rows": []}, "rows"), ({"dataset": "mnist"}, "dataset"),
                     ({"max_live_runs": -1}, "max_live_runs"), ({"alpha": 1}, "alpha")):
        with pytest.raises(ValueError, match=name):
            chapters.check_params(**kw)
    core = experiments.select_rows("ablation", "core")
    assert len(core) == 10 and "ERM [weight decay=5e-4]" in core
    assert experiments.select_rows("uci", None, "abalone") == [r.key for r in TABLES["uci"].rows
                                                         if r.columns["dataset"] == "abalone"]
    assert experiments.select_rows("headline") is None
    with pytest.raises(ValueError, match="unknown row 'nope'"):
        experiments.select_rows("headline", ["nope"])


def test_table_view_reads_only_and_runs_missing_on_request(tmp_path, capsys):
    out = tmp_path / "res"
    df = chapters.table_view("headline", "cpu", out)  # read-only: every row kept, nothing written
    assert len(df) == len(TABLES["headline"].rows) and not out.exists()
    assert set(df["status"]) == {"0/5", "not run"}
    with pytest.raises(ValueError, match="max_live_runs = 0.*python -m mixup_repro table uci --scale smoke"):
        chapters.table_view("uci", "smoke", out, dataset="iris", run_missing=True, max_live_runs=0)
    df = chapters.table_view("uci", "smoke", out, dataset="iris", run_missing=True, max_live_runs=4)
    assert list(df["status"]) == ["1/1"] * 4 and df.attrs["live_runs"] == 4
    assert "4 missing run(s) computed live" in capsys.readouterr().out
    again = chapters.table_view("uci", "smoke", out, dataset="iris", run_missing=True, max_live_runs=0)
    assert again.attrs["live_runs"] == 0  # nothing missing any more
    frame = chapters.table_frame(df)
    assert list(frame.index) == [r.label for r in TABLES["uci"].rows[:4]] and "final error (%)" in frame
    assert "Protocol at every scale" in chapters.table_notes(df)
    runs = experiments.row_runs("uci", "smoke", out, dataset="iris")
    assert all(len(v) == 1 for v in runs.values()) and len(runs) == 4


def test_figures_have_titles_labels_and_survive_missing_runs(tmp_path, empty):
    def check(fig):
        axes = [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]
        title = fig._suptitle.get_text() if fig._suptitle is not None else ""
        assert title or all(ax.get_title() for ax in axes)
        assert all(ax.get_xlabel() and ax.get_ylabel() for ax in axes)
        plt.close(fig)

    for name in ("headline", "ablation", "label_noise", "uci", "robustness", "eps_validation"):
        df = summarize(name, "cpu", empty)
        check(plots.plot_metric_bars(df, "final_error", hue=df.attrs["key_columns"][0]
                                      if df.attrs["key_columns"] else None))
    check(plots.plot_alpha_sweep(summarize("ablation", "cpu", empty)))
    check(plots.plot_fgsm(summarize("robustness", "cpu", empty)))
    check(plots.plot_eps_validation(summarize("eps_validation", "cpu", empty)))
    check(plots.plot_memorization({}))
    check(plots.plot_reliability_rows({}))
    check(plots.plot_row_curves({}))
    # with runs
    _write_table_runs(tmp_path, "label_noise", {"ERM": 40.0, "mixup α=8": 35.0}, seeds=2)
    runs = experiments.row_runs("label_noise", "cpu", tmp_path)
    check(plots.plot_memorization(runs))
    check(plots.plot_reliability_rows({k: v for k, v in runs.items() if v}))
    check(plots.plot_row_curves({k: v for k, v in runs.items() if v}))
    ln = summarize("label_noise", "cpu", tmp_path)
    check(plots.plot_metric_bars(ln, "final_error", hue="label noise"))


# ---------------------------------------------------------------------------------------------- README
def _record(cfg, err):
    n = cfg.epochs
    curves = {"epoch": list(range(1, n + 1)), "train_loss": [1.0] * n, "test_loss": [0.5] * n,
              "test_error": [err] * n, "test_ece": [0.05] * n, "lr": [cfg.lr] * n}
    if cfg.label_noise > 0:
        curves["train_error_noisy_labels"] = [90.0 - i for i in range(n)]
        curves["train_error_clean_labels"] = [50.0 - i for i in range(n)]
    rel = {"bin_lower": [i / 15 for i in range(15)], "bin_upper": [(i + 1) / 15 for i in range(15)],
           "bin_confidence": [None] * 13 + [0.9, 0.97], "bin_accuracy": [None] * 13 + [0.8, 0.95],
           "bin_count": [0] * 13 + [30, 70], "ece": 0.05}
    summary = {"median_last10_error": err, "final_error": err, "best_error": err - 0.5, "final_nll": 0.5,
               "final_ece": 0.05, "final_train_loss": 0.1, "evaluated_on": "test", "num_train": 1000,
               "num_eval": 100, "reliability": rel, **{f"fgsm_error_{e:g}": err + 10 for e in cfg.fgsm_eps}}
    return {"schema": SCHEMA, "run_id": run_id(cfg), "config": cfg.to_dict(), "curves": curves, "summary": summary,
            "device": "cpu: test", "versions": {}, "git_commit": None, "started": "2025-01-01T00:00:00+00:00",
            "finished": "2025-01-01T00:01:00+00:00", "wall_s": 60.0}


def _write_table_runs(folder, name, errors, seeds=3, scale="cpu", dataset=None):
    """Results files for rows (by label) of ``name``: error = errors[label] + seed / 10."""
    for key, cfg in table_configs(name, scale, dataset, list(range(seeds))):
        label = key.split(" [")[0]
        if label in errors:
            atomic_write_json(result_path(cfg, folder), _record(cfg, errors[label] + cfg.seed / 10))


README = "# x\n\nintro\n\n## Results\n\n<!-- results:start -->\nold text\n<!-- results:end -->\n\n## After\n"


def test_readme_summary_and_update(tmp_path):
    results = tmp_path / "results"
    _write_table_runs(results / "cpu", "headline", {"ERM": 20.0, "mixup α=1": 15.0})
    text = readme_mod.readme_summary(results)
    assert text == readme_mod.readme_summary(results)  # deterministic
    assert "### CPU scale (`" in text and "6 results files" in text
    assert "| ERM | PreAct ResNet-18 | 3/5 | 20.10 ± 0.10 | 20.10 ± 0.10 | 5.53 | [1] |" in text
    assert "[1] github.com/hongyi-zhang/mixup README" in text and "CPU scale: CIFAR-10 (JPEG copy)" in text
    head = "#### Paired verdicts (headline, cpu scale)"
    assert head in text and "previous rule" not in text
    mixup_row = next(line for line in text.split(head)[1].splitlines() if line.startswith("| mixup (α = 1) has a lower"))
    assert "**reproduced**" in mixup_row and "| 3 |" in mixup_row  # Δ = −5 on each of 3 paired seeds
    assert "#### Paired verdicts (uci, cpu scale)\n\nNot tested yet" in text
    assert "Paper-scale runs need a GPU and are not done yet" in text
    # paper-scale results appear in their own section
    _write_table_runs(results / "paper", "headline", {"ERM": 5.6}, seeds=1, scale="paper", dataset="cifar10")
    text2 = readme_mod.readme_summary(results)
    assert "### Paper scale (`" in text2 and "cifar10" in text2 and "not done yet" not in text2

    readme = tmp_path / "README.md"
    readme.write_text(README)
    assert readme_mod.update_readme(readme, results, check=True) is True and readme.read_text() == README
    assert readme_mod.update_readme(readme, results) is True
    new = readme.read_text()
    assert new.startswith("# x\n\nintro\n\n## Results\n\n<!-- results:start -->\nGenerated by")
    assert new.endswith("<!-- results:end -->\n\n## After\n") and "old text" not in new
    assert readme_mod.update_readme(readme, results) is False and readme.read_text() == new
    readme.write_text("# no markers\n")
    with pytest.raises(ValueError, match="markers"):
        readme_mod.update_readme(readme, results)


def _cli(argv) -> int:
    parser = argparse.ArgumentParser(prog="mixup-repro")
    readme_mod.register_cli(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


def test_report_check_exit_codes(tmp_path, capsys):
    results = tmp_path / "results"
    _write_table_runs(results / "cpu", "headline", {"ERM": 20.0}, seeds=2)
    readme = tmp_path / "README.md"
    readme.write_text(README)
    args = ["report", "--readme", str(readme), "--results-dir", str(results)]
    assert _cli([*args, "--check"]) == 1
    assert "out of date" in capsys.readouterr().err and readme.read_text() == README
    assert _cli(args) == 0
    assert "updated" in capsys.readouterr().out
    assert _cli([*args, "--check"]) == 0
    _write_table_runs(results / "cpu", "headline", {"mixup α=1": 15.0}, seeds=1)  # new results: stale again
    assert _cli([*args, "--check"]) == 1
    assert _cli([*args, "--print"]) == 0 and "Generated by" in capsys.readouterr().out
    assert _cli(["report", "--readme", str(tmp_path / "missing.md"), "--check"]) == 2
    assert "mixup-repro report: error:" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------------- chapters
def test_chapter_templates_follow_the_book_conventions():
    from mixup_repro.book import chapter_parameters, find_root

    root = find_root()
    for stem in CHAPTERS:
        path = root / "notebooks" / f"{stem}.ipynb"
        nb = nbformat.read(path, as_version=4)
        tagged = [i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", [])]
        assert len(tagged) == 1, stem
        assert "check_params(" in nb.cells[tagged[0] + 1].source, stem
        assert all(not c.get("outputs") and not c.get("execution_count") for c in nb.cells
                   if c.cell_type == "code"), f"{stem} has outputs"
        # papermill must see every parameter (it skips lines with two '=' signs, e.g. 'ε=0.1' in a default)
        assert tuple(chapter_parameters(path)) == PARAMS, stem
        assert "paired_prose(" in "".join(c.source for c in nb.cells), stem
    # the values proposed for the book's cpu and gpu profiles are valid
    for scale, folder, ds in (("cpu", "results/cpu", "cifar10"), ("paper", "results/paper", "cifar10")):
        # a results_dir that is not there yet is refused unless run_missing fills it (results/paper appears with
        # the first paper-scale runs: chapters 2 and 3 of the gpu profile write there before the tables run)
        missing = not (root / folder).is_dir()
        chapters.check_params(scale=scale, dataset=ds, seeds=None, rows=None, results_dir=str(root / folder),
                            run_missing=missing, paper_results_dir="results/paper")
        if missing:
            with pytest.raises(ValueError, match=r"results_dir .* is not a folder .* run_missing is false"):
                chapters.check_params(scale=scale, results_dir=str(root / folder), run_missing=False)


def test_scale_comparison_shows_paper_scale_runs_when_present(tmp_path, empty):
    cpu = _frame("headline", empty, {("ERM", PRE): (20.0, 0.5, 3)})
    frame, msg = chapters.scale_comparison("headline", "cpu", cpu, tmp_path / "paper")
    assert frame is None and "need a GPU and are not done yet" in msg
    assert chapters.scale_comparison("headline", "paper", cpu, tmp_path / "paper")[0] is None
    _write_table_runs(tmp_path / "paper", "headline", {"ERM": 5.6}, seeds=2, scale="paper", dataset="cifar10")
    # another dataset at the paper's protocol: none of it yet
    frame, msg = chapters.scale_comparison("headline", "cpu", cpu, tmp_path / "paper", paper_dataset="fashion-mnist")
    assert frame is None and "no paper-scale run of this table yet (on fashion-mnist)" in msg
    frame, msg = chapters.scale_comparison("headline", "cpu", cpu, tmp_path / "paper")  # the chapter's: CIFAR-10
    assert list(frame.columns) == ["model", "cpu scale", "paper scale", "published (%)", "source"]
    erm = frame.loc["ERM"].iloc[0]
    assert erm["cpu scale"] == "20.00 ± 0.50 (3/5)" and erm["paper scale"] == "5.65 ± 0.07 (2/3)"
    assert erm["published (%)"] == "5.53" and "README" in erm["source"] and "cifar10" in msg
    # Fashion-MNIST runs at the paper's protocol (issue 8) sit beside the CPU-scale rows; the rest reads "not done"
    _write_table_runs(tmp_path / "paper", "headline", {"mixup α=1": 4.0}, seeds=1, scale="paper",
                      dataset="fashion-mnist")
    frame, msg = chapters.scale_comparison("headline", "cpu", cpu, tmp_path / "paper", paper_dataset="fashion-mnist")
    assert "(fashion-mnist)" in msg
    assert frame.loc["mixup α=1"].iloc[0]["paper scale"].startswith("4.00 (1/3)")
    assert frame.loc["ERM"].iloc[0]["paper scale"] == "not done (0/3)"
    assert frame.loc["ERM"].iloc[0]["published (%)"].startswith("CIFAR-10: 5.53")
    # the table's claims judged again on those runs: one seed of mixup, none of ERM -> not decided there
    text = chapters.scale_claims("headline", "cpu", cpu, tmp_path / "paper", paper_dataset="fashion-mnist")
    assert text.startswith("**At the paper's scale (fashion-mnist)**") and "Regime (paper scale)" in text
    # the same paired rule as the page's: no seed of ERM, so nothing paired; named under the table, not a blank row
    line = next(x for x in text.splitlines() if x.startswith("*Not tested* yet, no paired seed finished"))
    assert "mixup (α = 1) has a lower test error than ERM" in line
    assert not any(x.startswith("| mixup (α = 1) has a lower test error than ERM") for x in text.splitlines())
    assert chapters.scale_claims("headline", "cpu", cpu, tmp_path / "none", paper_dataset="fashion-mnist") == (
        "No verdicts at the paper's scale yet: there are no paper-scale runs of this table (fashion-mnist).")
    assert chapters.scale_claims("headline", "paper", cpu, tmp_path / "paper") == ""


def test_memorization_text_follows_the_numbers(empty):
    m = "train_error_noisy_labels"
    none = chapters.memorization_text(summarize("label_noise", "cpu", empty))
    assert "No run of these rows has finished" in none and "near 0 %" in none and "about 90 %" in none
    df = _frame("label_noise", empty, {("ERM", "20%"): (2.5, 0.5, 2), ("mixup α=8", "20%"): (89.0, 1.0, 2),
                                       ("ERM + dropout p=0.5", "50%"): (45.0, 3.0, 2)}, metric=m)
    df.attrs["dataset"] = "cifar10"
    text = chapters.memorization_text(df)
    assert "- ERM, label noise 20%: 2.5 ± 0.5 % (n=2): **memorized**" in text
    assert "- mixup α=8, label noise 20%: 89.0 ± 1.0 % (n=2): **not memorized**" in text
    assert "- ERM + dropout p=0.5, label noise 50%: 45.0 ± 3.0 % (n=2): **partly memorized**" in text
    assert "No run" not in text
    df.attrs["dataset"] = "cifar100"
    assert "about 99 %" in chapters.memorization_text(df)


# ---------------------------------------------------------------------------------------------- the page's tables
def test_page_frame_names_the_rows_it_leaves_out_and_numbers_the_sources(tmp_path):
    _write_table_runs(tmp_path, "headline", {"ERM": 30.0, "mixup α=1": 26.0}, seeds=2)
    df = summarize("headline", "cpu", tmp_path)
    frame, notes = chapters.page_frame(df)
    assert list(frame["row"]) == ["ERM", "mixup α=1"]  # only rows with a finished run; the label is a column
    assert list(frame["runs"]) == ["2/5", "2/5"] and list(frame["source"]) == ["[1]", "[1]"]
    assert "paper source" not in frame.columns and frame.index.equals(pd.RangeIndex(2))
    assert "Sources of the published numbers: [1] github.com/hongyi-zhang/mixup README" in notes
    assert "model" not in frame.columns and "Every row shown: model PreAct ResNet-18." in notes
    # 12 rows the CPU scale does not run: one phrase per model, not one line of dashes per row
    assert ("Not run at this scale (too slow without a GPU): all 6 rows of model WRN-28-10; all 6 rows of model "
            "DenseNet-BC-190.") in notes
    assert ("No finished run yet (4 rows; finished / expected runs in brackets). **model PreAct ResNet-18**: "
            "mixup α=0.2; label smoothing ε=0.1; mixup + label smoothing ε=0.1; CutMix α=1 (0/5 each).") in notes
    html = views.collapsible_table_html(frame, max_rows=1, index=False)
    assert "<details><summary>Show the other 1 rows (2–2 of 2)</summary>" in html and "<th></th>" not in html


def test_tables_that_read_headline_runs_expect_all_its_seeds():
    from mixup_repro.plan import table_configs

    def seeds(name, label):
        return sorted(c.seed for k, c in table_configs(name, "cpu") if k.split(" [")[0] == label)

    assert seeds("headline", "ERM") == [0, 1, 2, 3, 4]
    assert seeds("calibration", "ERM") == seeds("robustness", "mixup α=1") == [0, 1, 2, 3, 4]  # the same runs
    length = [(k, c.seed) for k, c in table_configs("training_length", "cpu") if k.startswith("ERM")]
    assert sorted(s for k, s in length if k == "ERM [epochs=30]") == [0, 1, 2, 3, 4]  # the headline's runs
    assert sorted(s for k, s in length if k == "ERM [epochs=5]") == [0, 1, 2]  # its own runs: the table's seeds
    assert seeds("eps_validation", "validation: ε=0.1") == [0, 1]  # ε is chosen on 2 seeds at this scale
    assert seeds("eps_validation", "test: ε=0.1") == [0, 1, 2, 3, 4] and seeds("eps_validation", "test: ε=0.2") == [0, 1, 2]


def test_summary_of_runs_does_not_split_rows_on_fields_older_files_lack(tmp_path):
    from mixup_repro.plan import table_configs

    for key, cfg in table_configs("headline", "cpu", None, [0, 1]):
        if key.startswith("ERM [model=PreAct"):
            rec = _record(cfg, 30.0 + cfg.seed)
            if cfg.seed == 0:  # written before the field existed
                del rec["config"]["eval_split"]
            atomic_write_json(result_path(cfg, tmp_path), rec)
    (group,) = views.summarize_results(tmp_path)
    assert len(group.table) == 1 and int(group.table["seeds"].iloc[0]) == 2


def test_p_values_read_as_sentences_and_verdict_words_are_reminded_not_redefined():
    from mixup_repro.claims import VERDICT_REMINDER, p_phrase
    from mixup_repro.stats import VERDICT_RULES

    assert p_phrase("Holm p", "< 0.001") == "Holm p < 0.001" and p_phrase("Holm p", "0.053") == "Holm p = 0.053"
    assert all(f"*{w}*" in VERDICT_REMINDER for w in VERDICT_RULES)
    assert "memorised" in VERDICT_RULES["not applicable"] or "corrupted labels" in VERDICT_RULES["not applicable"]


def test_a_named_index_shares_the_header_row():
    frame = pd.DataFrame({"method": ["erm", "mixup"], "error (%)": ["1.00", "0.90"]},
                         index=pd.RangeIndex(1, 3, name="#"))
    html = views.collapsible_table_html(frame)
    header = html.split("</thead>")[0]
    assert header.count("<tr") == 1 and "<th>#</th>" in header and "<td>1</td>" in html
