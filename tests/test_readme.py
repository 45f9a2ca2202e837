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
