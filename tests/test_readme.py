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
