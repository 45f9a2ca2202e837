"""The book pipeline: parameters, papermill execution, post-processing, errors and the CLI handler.

Each test that executes a chapter starts a Jupyter kernel (a few seconds); the file runs in well under
90 s on two cores. Nothing is written into the repository: executed chapters go to ``tmp_path`` and the
chapters' ``results_dir`` is overridden with ``null`` (no results files).
"""

from __future__ import annotations

import argparse
import json
import shlex
from pathlib import Path

import nbformat
import pytest

from mixup_repro import book, views
from mixup_repro.book import BookConfigError, ChapterError, build_book

CH2 = "02_erm_vrm_mixup"
# small, non-default values (the template defaults are alpha 1.0, epochs 20, subset 50)
SMALL = {"alpha": "0.3", "epochs": 3, "subset": "20", "n_samples": 500, "resolution": 20, "results_dir": "null"}


def _stream_text(nb) -> str:
    return "\n".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
                     if o.get("output_type") == "stream")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mixup-repro")
    sub = parser.add_subparsers(dest="command", required=True)
    book.register_cli(sub)
    return parser


def _cli(argv) -> int:
    args = _parser().parse_args(argv)
    return args.func(args)


# ---------------------------------------------------------------------------------------------- no kernel
@pytest.mark.parametrize("text, value", [("0.1", 0.1), ("3", 3), ("[0, 1]", [0, 1]), ("null", None),
                                         ("two-moons", "two-moons"), ("true", True), ("results/cpu", "results/cpu")])
def test_values_are_parsed_as_yaml(text, value):
    assert book.parse_param_value(text) == value
    assert book.parse_params([("x", text)]) == {"x": value}


def test_parse_params_refuses_repeats_and_bad_names():
    with pytest.raises(BookConfigError, match="given twice"):
        book.parse_params([("alpha", "1"), ("alpha", "2")])
    with pytest.raises(BookConfigError, match="identifier"):
        book.parse_params([("not-a-name", "1")])


def test_rerun_command_round_trips_through_the_shell():
    values = {"alpha": 0.4, "dataset": "two-moons", "results_dir": None, "sizes": [0, 1], "name": "1.5"}
    cmd = book.rerun_command(CH2, "gpu", values)
    words = shlex.split(cmd)
    assert words[:6] == ["python", "-m", "mixup_repro", "book", "--profile", "gpu"]
    pairs = [(words[i + 1], words[i + 2]) for i, w in enumerate(words) if w == "-p"]
    assert book.parse_params(pairs) == values
    assert "--profile" not in book.rerun_command(CH2, "cpu")


@pytest.mark.parametrize("kw, name", [({"alpha": -1.0}, "alpha"), ({"epsilon": 1.0}, "epsilon"),
                                      ({"epochs": 0}, "epochs"), ({"epochs": 2.5}, "epochs"),
                                      ({"dataset": "mnist"}, "dataset"), ({"image_dataset": "iris"}, "image_dataset"),
                                      ({"seed": -1}, "seed"), ({"image_augment": "yes"}, "image_augment"),
                                      ({"nonsense": 1}, "nonsense")])
def test_check_params_names_the_bad_parameter(kw, name):
    with pytest.raises(ValueError, match=name):
        book.check_params(**kw)


def test_check_params_accepts_good_values():
    ok = book.check_params(alpha=0, epsilon=0.0, epochs=1, seed=0, dataset="spirals", subset=None,
                           image_dataset=None, results_dir="results/cpu", image_augment=True)
    assert ok["alpha"] == 0.0 and ok["dataset"] == "spirals" and ok["subset"] is None


def test_profiles_cover_every_template_with_valid_parameters():
    root = book.find_root()
    stems = book.chapters(root / "notebooks")
    assert stems[:3] == ["01_introduction", "02_erm_vrm_mixup", "03_label_smoothing"]
    assert stems[3:12] == ["04_headline", "05_ablation", "06_label_noise", "07_uci", "08_calibration_robustness",
                           "09_eps_validation", "10_speed", "11_gan", "12_speech"]
    assert stems[-1] == "13_conclusions"
    toc = (root / "_toc.yml").read_text(encoding="utf-8")
    assert all(f"book/chapters/{s}\n" in toc for s in stems), "a chapter missing from _toc.yml"
    from mixup_repro import gan, report

    for profile in book.PROFILES:
        table = book.load_profile(profile)
        assert set(table) == set(stems)
        for stem, params in table.items():
            valid = book.chapter_parameters(root / "notebooks" / f"{stem}.ipynb")
            assert set(params) <= set(valid), (profile, stem)
            # theory chapters validate with book.check_params, the table chapters with report.check_params (the
            # GAN chapter with gan.check_params); a results_dir that is not there yet (results/paper, until
            # paper-scale runs exist) needs run_missing
            table = "04" <= stem < "10" or stem in ("12_speech", "13_conclusions")
            if table and not (root / str(params.get("results_dir"))).is_dir():
                params = {**params, "results_dir": str(root / params["results_dir"]), "run_missing": True}
            check = gan.check_params if stem == "11_gan" else report.check_params if table else book.check_params
            check(**params)


def test_every_template_has_one_parameters_cell_followed_by_validation():
    root = book.find_root()
    for stem in book.chapters(root / "notebooks"):
        nb = nbformat.read(root / "notebooks" / f"{stem}.ipynb", as_version=4)
        tagged = [i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", [])]
        assert len(tagged) == 1, stem
        assert "check_params(" in nb.cells[tagged[0] + 1].source, stem
        assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code"), f"{stem} has outputs"


def test_unknown_parameter_is_refused_before_running(tmp_path):
    with pytest.raises(BookConfigError, match="unknown parameter 'alpah'.*valid parameters: .*alpha"):
        build_book(only=CH2, params={"alpah": 0.4}, render=False, output_dir=tmp_path, quiet=True)
    with pytest.raises(BookConfigError, match="unknown parameter 'alpah' for any chapter"):
        build_book(params={"alpah": 0.4}, render=False, output_dir=tmp_path, quiet=True)
    assert list(tmp_path.iterdir()) == []


def test_unknown_chapter_and_profile_are_refused(tmp_path):
    with pytest.raises(BookConfigError, match="unknown chapter '99_nope'; chapters: 01_introduction"):
        build_book(only="99_nope", render=False, output_dir=tmp_path, quiet=True)
    with pytest.raises(BookConfigError, match="unknown profile"):
        build_book(profile="tpu", render=False, output_dir=tmp_path, quiet=True)
    with pytest.raises(BookConfigError, match="render=True needs"):
        build_book(only=CH2, render=True, output_dir=tmp_path, quiet=True)
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------------------------------------- kernels
def test_chapter_runs_with_non_default_parameters(tmp_path):
    res = build_book(only=CH2, params=SMALL, render=False, output_dir=tmp_path, progress_bar=False, quiet=True)
    path = tmp_path / f"{CH2}.ipynb"
    assert res["chapters"] == {CH2: path} and res["html"] is None
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary files left behind
    nb = nbformat.read(path, as_version=4)
    tags = [c.metadata.get("tags", []) for c in nb.cells]
    # the template's parameters cell and papermill's injected cell are hidden in the rendered page ...
    hidden = [i for i, t in enumerate(tags) if "parameters" in t or "injected-parameters" in t]
    assert len(hidden) == 2 and all("remove-cell" in tags[i] for i in hidden)
    # ... and followed by the note that shows the values of this run and how to re-run it
    note = nb.cells[hidden[-1] + 1]
    assert note.cell_type == "markdown" and "run-parameters" in note.metadata["tags"]
    assert note.source.startswith("**Parameters of this run** (profile `cpu`)")
    for shown in ("`alpha = 0.3`", "`epochs = 3`", "`subset = 20`", "`results_dir = None`",
                  "`dataset = 'two-moons'`"):  # the last one comes from the cpu profile
        assert shown in note.source
    assert f"python -m mixup_repro book --only {CH2} -p alpha 0.3 -p epochs 3" in note.source
    assert "-p alpha 0.4" in note.source  # the example of another value
    injected = nb.cells[hidden[-1]].source
    assert "alpha = 0.3" in injected and "epochs = 3" in injected
    out = _stream_text(nb)
    assert "alpha = 0.3:" in out and "3 epochs" in out and "40 training points" in out


def test_bad_value_fails_the_chapter_in_one_line_and_replaces_nothing(tmp_path):
    old = tmp_path / f"{CH2}.ipynb"
    old.write_text("previous build")
    with pytest.raises(ChapterError) as info:
        build_book(only=CH2, params={"alpha": -1, "results_dir": None}, render=False, output_dir=tmp_path,
                   progress_bar=False, quiet=True)
    msg = str(info.value)
    assert msg == f"chapter {CH2} failed: ValueError: alpha must be in [0, inf), got -1.0"
    assert info.value.chapter == CH2 and info.value.ename == "ValueError"
    assert old.read_text() == "previous build"
    assert [p.name for p in tmp_path.iterdir()] == [old.name]


def test_cli_exit_codes(tmp_path, capsys):
    out = ["--no-render", "--no-progress", "--output-dir", str(tmp_path)]
    # 2: bad requests, refused before anything runs
    assert _cli(["book", "--only", "99_nope", *out]) == 2
    assert _cli(["book", "--only", CH2, "-p", "alpah", "0.4", *out]) == 2
    assert _cli(["book", "--only", CH2, "-p", "alpha", "1", "-p", "alpha", "2", *out]) == 2
    assert _cli(["book", "--only", CH2, "--output-dir", str(tmp_path)]) == 2  # rendering needs book/chapters
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 4 and all(line.startswith("mixup-repro book: error: ") for line in err)
    assert "unknown chapter '99_nope'" in err[0] and "'alpah'" in err[1] and "twice" in err[2]
    assert list(tmp_path.iterdir()) == []
    # 1: a chapter fails (bad value); one line, no traceback
    assert _cli(["book", "--only", CH2, "-p", "alpha", "-1", "-p", "results_dir", "null", *out]) == 1
    err = capsys.readouterr().err
    assert err.strip() == (f"mixup-repro book: error: chapter {CH2} failed: ValueError: "
                           "alpha must be in [0, inf), got -1.0")
    assert list(tmp_path.iterdir()) == []
    # 0: success (an empty results folder: the summary says there is nothing yet)
    (tmp_path / "none").mkdir()
    assert _cli(["book", "--only", "01_introduction", "-p", "results_dir", str(tmp_path / "none"), *out]) == 0
    assert (tmp_path / "01_introduction.ipynb").is_file()
    nb = nbformat.read(tmp_path / "01_introduction.ipynb", as_version=4)
    assert "No results yet" in _stream_text(nb)
    # argparse itself refuses an unknown profile
    with pytest.raises(SystemExit) as info:
        _parser().parse_args(["book", "--profile", "tpu"])
    assert info.value.code == 2


# ---------------------------------------------------------------------------------------------- helpers
def test_results_helpers(tmp_path):
    assert views.summarize_results(None) == []
    assert views.summarize_results(tmp_path / "missing") == []
    assert views.summarize_results(tmp_path) == []  # empty folder
    common = dict(dataset="two-moons", model="mlp", optimizer="adam", lr=0.01, epochs=2, subset=5,
                  augment=False, device="cpu")
    runs = views.run_methods(common, alpha=0.4, epsilon=0.1, seeds=[0, 1], out=tmp_path)
    assert list(runs) == ["erm", "label_smoothing", "mixup", "mixup_ls"]
    assert [r.config.seed for r in runs["mixup"]] == [0, 1]
    assert runs["mixup"][0].config.alpha == 0.4 and runs["erm"][0].config.alpha == 0.0
    assert runs["mixup_ls"][0].config.label_smoothing == 0.1 and runs["mixup"][0].config.label_smoothing == 0.0
    table = views.comparison_table(runs)
    assert table.shape == (4, 6) and list(table.index) == list(runs) and (table["seeds"] == 2).all()
    assert table["over-confidence (pp)"].notna().all()
    errors = [r.summary["final_error"] for r in runs["erm"]]
    assert table.loc["erm", "error (%)"] == pytest.approx(sum(errors) / 2)
    assert " ± " in views.comparison_table(runs, formatted=True).loc["erm", "NLL"]
    # pooled reliability: counts add up over the seeds; curves are averaged epoch by epoch
    from mixup_repro import plots

    pooled = plots.pool_reliability(runs["mixup"])
    assert sum(pooled["bin_count"]) == sum(r.summary["num_eval"] for r in runs["mixup"])
    curves = views.mean_curves(runs["mixup"])
    assert curves["epoch"] == [1, 2]
    assert curves["test_error"][1] == pytest.approx(sum(r.curves["test_error"][1] for r in runs["mixup"]) / 2)
    (group,) = views.summarize_results(tmp_path)
    assert (group.dataset, group.model) == ("two-moons", "mlp")
    assert group.common["epochs"] == 2 and group.common["optimizer"] == "adam"
    assert len(group.table) == 4 and (group.table["seeds"] == 2).all()
    assert list(group.table.columns) == ["α", "ε", "seeds", "error (%)", "NLL", "ECE (%)"]
    assert group.table.loc["mixup", "α"] == 0.4 and group.table.loc["mixup_ls", "ε"] == 0.1


def test_results_table_is_formatted_per_column_and_long_tables_collapse():
    import pandas as pd

    n = 20
    table = pd.DataFrame({"method": ["erm", "mixup"] * (n // 2), "α": [1.0] * n,
                          "weight_decay": [1e-4, 5e-4] * (n // 2), "label_noise": [0.0, 0.2] * (n // 2),
                          "seeds": [3] * n, "error (%)": [25.8834] * n, "NLL": [0.68219] * n,
                          "ECE (%)": [3.1667] * n}).set_index("method")
    f = views.format_results_table(table)
    assert list(f.columns) == ["method", "α", "weight decay", "label noise (%)", "seeds", "error (%)",
                               "NLL (nats)", "ECE (%)"]
    assert set(f["weight decay"]) == {"1e-4", "5e-4"}  # not both "0.0" as with .round(3)
    assert list(f["label noise (%)"][:2]) == ["0", "20"]
    assert list(f["α"][:2]) == ["–", "1"]  # ERM ignores α: no inert default shown
    assert f.iloc[0][["error (%)", "NLL (nats)", "ECE (%)"]].tolist() == ["25.88", "0.682", "3.17"]
    assert list(f.index[:2]) == [1, 2]
    html = views.collapsible_table_html(f, max_rows=15)
    shown, hidden = html.split("<details>")
    assert shown.count("<tr>") == 15 and hidden.count("<tr>") == 5  # the rows; the header is one styled row,
    assert shown.split("</thead>")[0].count("<tr") == 1 and "<th>#</th>" in shown  # the index name in it
    assert "Show the other 5 rows (16–20 of 20)" in hidden
    assert "<details>" not in views.collapsible_table_html(f.iloc[:15], max_rows=15)
    assert views.common_settings_text({"weight_decay": 0.0001, "lr": 0.05, "subset": float("nan")}) == \
        "weight decay 1e-4, lr 0.05"


def test_boundary_text_is_worded_from_the_numbers():
    import pandas as pd

    stats = {"erm": {"train_wrong": 0, "n_train": 500, "uncertain_area": 4.2},
             "mixup": {"train_wrong": 4, "n_train": 500, "uncertain_area": 31.0}}
    worse = pd.DataFrame({"error (%)": [0.1, 1.5]}, index=["erm", "mixup"])
    text = views.boundary_text(worse, stats, alpha=1.0, dataset="two-moons")
    assert "a higher test error than ERM: 1.5 % against 0.1 %" in text
    assert "31 % of the plotted area for mixup and 4 % for ERM" in text and "4 of the 500" in text
    assert "not a better classifier" in text
    better = pd.DataFrame({"error (%)": [2.0, 1.0]}, index=["erm", "mixup"])
    text = views.boundary_text(better, stats, alpha=0.4, dataset="spirals")
    assert "a lower test error than ERM: 1.0 % against 2.0 %" in text and "costs mixup nothing" in text
    assert "higher" not in text
    same = pd.DataFrame({"error (%)": [1.01, 0.99]}, index=["erm", "mixup"])
    assert "the same test error" in views.boundary_text(same, stats, alpha=1.0, dataset="ring")


def test_conclusions_judge_every_claim_at_every_scale(tmp_path):
    from test_stats import _record  # the real results-file schema, with a training error

    from mixup_repro.experiments import table_configs
    from mixup_repro.results import atomic_write_json
    from mixup_repro.train import result_path

    base = {"ERM": 40.0, "mixup α=1": 36.0}
    for key, cfg in table_configs("headline", "cpu", None, [0, 1, 2]):
        label = key.split(" [")[0]
        if label in base and "PreAct" in key:
            atomic_write_json(result_path(cfg, tmp_path), _record(cfg, base[label] + cfg.seed / 10 * (label == "ERM"),
                                                                  0.0))
    frame, regimes = views.verdicts_by_scale({"cpu": tmp_path, "paper": None})
    assert list(frame.columns) == ["source", "metric", "cpu scale", "paper scale"]
    cell = frame.loc["mixup (α = 1) has a lower test error than ERM", "cpu scale"]
    assert cell.startswith("reproduced (Δ -4.10, CI [") and cell.endswith("n=3)")
    assert frame.loc["label smoothing (ε = 0.1) has a lower test error than ERM", "cpu scale"] == "not tested"
    assert set(frame["paper scale"]) == {"not tested"}
    # the smoke scale evaluates one FGSM step only: the claims of the others show as not run there
    smoke, _ = views.verdicts_by_scale({"cpu": tmp_path, "smoke": None})
    assert len(smoke) == len(frame) and "not run at this scale" in set(smoke["smoke scale"])
    assert "regime reached" in regimes["cpu"] and regimes["paper"] == "not recorded"
    every = views.all_paired_verdicts(tmp_path, "cpu", dataset=None)
    row = every[every["claim"] == "mixup (α = 1) has a lower test error than ERM (paper)"].iloc[0]
    assert row["table"] == "headline" and row["verdict"] == "reproduced" and row["n"] == 3
    assert row["Δ [95 % CI]"].startswith("-4.10 pp [")
    counts = views.verdict_counts(every).set_index("table")
    assert counts.loc["headline", "claims"] == 9 and counts.loc["headline", "reproduced"] >= 1
    assert {"headline", "ablation", "label_noise", "uci", "eps_validation"} <= set(counts.index)
    assert "calibration" not in set(counts.index)  # its claims are the headline's: counted once, there
    # the GAN chapter's claims join with gan_params (chapter 11's parameters): the committed runs of its grid
    import shutil

    import yaml

    root = Path(__file__).resolve().parents[1]
    gan_dir = tmp_path / "gan"
    shutil.copytree(root / "results" / "gan", gan_dir)
    prm = {**yaml.safe_load((root / "book" / "params.yml").read_text())["cpu"]["11_gan"], "results_dir": str(gan_dir)}
    with_gan = views.all_paired_verdicts(tmp_path, "cpu", dataset=None, gan_params=prm)
    got = with_gan[with_gan["table"] == "gan"].set_index("claim")
    assert len(got) == 6 and set(got["n"]) == {5} and len(with_gan) == len(every) + 6
    ring_modes = got.loc["mixup-GAN (α = 0.2) covers more modes than ERM-GAN on the ring problem (paper (Section "
                         "3.7, Figure 5))"]
    assert ring_modes["Δ [95 % CI]"].startswith("+") and "stability" in with_gan.attrs["regimes"]["gan"]
    # a run of another protocol in the same folder changes nothing (chapter 11 does not show it either)
    one = json.loads(next(gan_dir.glob("ring_mixup_s0_*.json")).read_text())
    one["config"]["generator_loss"] = "non_saturating"
    (gan_dir / "ring_mixup_s0_0000000000.json").write_text(json.dumps(one))
    again = views.all_paired_verdicts(tmp_path, "cpu", dataset=None, gan_params=prm)
    assert again[again["table"] == "gan"].equals(with_gan[with_gan["table"] == "gan"])
    empty = views.all_paired_verdicts(tmp_path, "cpu", dataset=None, gan_params={**prm, "results_dir": str(tmp_path)})
    assert "gan" not in set(empty["table"]) and "no runs" in empty.attrs["regimes"]["gan"]
    with pytest.raises(ValueError, match="gan_params: iterations"):
        views.all_paired_verdicts(tmp_path, "cpu", dataset=None, gan_params={**prm, "iterations": 0})


# ---------------------------------------------------------------------------------------------- headless (issue 16)
def test_figures_do_not_depend_on_the_callers_matplotlib_backend(tmp_path, monkeypatch):
    monkeypatch.setenv("MPLBACKEND", "Agg")  # as on servers and CI
    build_book(only=CH2, params=SMALL, render=False, output_dir=tmp_path, progress_bar=False, quiet=True)
    nb = nbformat.read(tmp_path / f"{CH2}.ipynb", as_version=4)
    figures = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
               if "image/png" in o.get("data", {}) or "image/svg+xml" in o.get("data", {})]
    assert len(figures) >= 2  # the Beta densities and the concentration of λ
    import os

    assert os.environ["MPLBACKEND"] == "Agg"  # the caller's environment is left as it was


def test_a_chapter_whose_plotting_cells_show_no_figure_fails(tmp_path):
    template = tmp_path / "nofig.ipynb"
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("import matplotlib\nmatplotlib.use('Agg')  # a non-inline backend\n"
                                          "import matplotlib.pyplot as plt\nfig, ax = plt.subplots()\n"
                                          "ax.plot([0, 1])\nplt.show()")]
    nbformat.write(nb, template)
    out = tmp_path / "out" / "nofig.ipynb"
    with pytest.raises(ChapterError, match=r"chapter nofig failed: NoFigures: its 1 plotting cell\(s\) produced "
                                           r"no figure .*nothing was written"):
        book.execute_chapter(template, out, {}, progress_bar=False)
    assert not out.exists()
    nb.cells[0].metadata["tags"] = ["figure-optional"]  # a figure that may be absent (data not there)
    nbformat.write(nb, template)
    assert book.execute_chapter(template, out, {}, progress_bar=False).is_file()
    out.unlink()
    nb.cells[0].metadata["tags"] = []
    nb.cells[0].source = "x = 1  # no plotting cell: no figure expected"
    nbformat.write(nb, template)
    assert book.execute_chapter(template, out, {}, progress_bar=False).is_file()


def test_parameters_naming_a_missing_folder_that_a_chapter_only_reads_fail(tmp_path, capsys):
    from mixup_repro import report

    typo = tmp_path / "resluts"
    with pytest.raises(ValueError, match=r"results_dir '.*resluts' is not a folder .* run_missing is false"):
        report.check_params(results_dir=str(typo), run_missing=False)
    assert report.check_params(results_dir=str(typo), run_missing=True)["results_dir"] == str(typo)  # filled live
    out = ["--no-render", "--no-progress", "--output-dir", str(tmp_path / "out")]
    assert _cli(["book", "--only", "04_headline", "-p", "results_dir", str(typo), "-p", "run_missing", "false",
                 *out]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("mixup-repro book: error: chapter 04_headline failed: ValueError: results_dir") and \
        str(typo) in err and len(err.splitlines()) == 1
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
    # the speed chapter only reads its speed_dir (its precision_dir may not exist yet: the page says so)
    assert _cli(["book", "--only", "10_speed", "-p", "speed_dir", str(typo), *out]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"mixup-repro book: error: chapter 10_speed failed: ValueError: speed_dir '{typo}' is not "
                          "a folder") and "e.g. benchmarks/results" in err
    # the introduction only reads its results_dir: a missing one fails before its kernel starts
    assert _cli(["book", "--only", "01_introduction", "-p", "results_dir", str(typo), *out]) == 1
    err = capsys.readouterr().err.strip()
    assert err == (f"mixup-repro book: error: chapter 01_introduction failed: ValueError: results_dir '{typo}' is not "
                   f"a folder (looked for {typo}); this chapter only reads it, so its page would be empty: give a "
                   "folder of results files, e.g. results/cpu")
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_a_chapter_rerun_with_other_parameters_keeps_its_runs_out_of_the_profiles_results(tmp_path):
    import shutil

    import yaml

    root = tmp_path / "book_root"  # a book of one chapter whose profile keeps its runs in results/cpu
    (root / "notebooks").mkdir(parents=True)
    shutil.copy(book.find_root() / "notebooks" / f"{CH2}.ipynb", root / "notebooks")
    (root / "book").mkdir()
    profile = {"cpu": {CH2: {"dataset": "two-moons", "results_dir": "results/cpu"}}}
    (root / "book" / "params.yml").write_text(yaml.safe_dump(profile))
    small = {k: v for k, v in SMALL.items() if k != "results_dir"}
    build_book(only=CH2, params=small, render=False, root=root, output_dir=tmp_path / "out", progress_bar=False,
               quiet=True)
    assert not (root / "results" / "cpu").exists()  # the committed results stay as they were
    scratch = root / book.scratch_dir("cpu", CH2)
    assert len(list(scratch.glob("*.json"))) == 2  # ERM and mixup, kept for the next re-run
    nb = nbformat.read(tmp_path / "out" / f"{CH2}.ipynb", as_version=4)
    note = next(c.source for c in nb.cells if "run-parameters" in c.metadata.get("tags", []))
    assert "**These parameters differ from the profile `cpu`** (`alpha`, `epochs`" in note
    assert f"its runs are kept in `{book.scratch_dir('cpu', CH2)}`, not with the profile's results" in note
    # the profile's own parameters (no -p) use the profile's results_dir, and the page says nothing of the kind
    plan = book._resolve_plan(root, "cpu", CH2, {}, root / "notebooks", None)
    assert plan[0][2]["results_dir"] == "results/cpu"
    plan = book._resolve_plan(root, "cpu", CH2, {"alpha": 0.3, "results_dir": "mine"}, root / "notebooks", None)
    assert plan[0][2]["results_dir"] == "mine"  # an explicit results_dir wins


def test_toc_lists_exactly_the_chapters_in_notebooks():
    """_toc.yml names every chapter template of notebooks/, in order, and no other chapter."""
    import yaml

    root = book.find_root()
    toc = yaml.safe_load((root / "_toc.yml").read_text(encoding="utf-8"))
    files = [c["file"] for part in toc["parts"] for c in part["chapters"]]
    listed = [f.removeprefix("book/chapters/") for f in files if f.startswith("book/chapters/")]
    assert listed == book.chapters(root / "notebooks")
