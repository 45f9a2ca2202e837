"""The API page (book/api.md): every module listed, no "Alias for field number N" entries.

Builds book/api.md alone with Sphinx (myst-parser, autodoc and napoleon configured as in _config.yml, plus the
book's local extension book/_ext/mixup_docs.py) into a temporary folder: a few seconds, no chapters needed.
"""

from __future__ import annotations

import io
import re
import shutil
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
MODULES = ("stats", "claims", "cifar_jpeg", "uci", "speech", "cache")


def test_every_public_module_is_on_the_api_page():
    text = (ROOT / "book" / "api.md").read_text(encoding="utf-8")
    listed = set(re.findall(r"automodule:: mixup_repro\.(\w+)", text))
    assert set(MODULES) <= listed
    modules = {p.stem for p in (ROOT / "mixup_repro").glob("*.py") if not p.stem.startswith("_")}
    assert modules - listed == set(), f"modules missing from book/api.md: {sorted(modules - listed)}"


def test_local_extension_is_configured_and_recognises_field_aliases():
    cfg = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    assert cfg["sphinx"]["local_extensions"] == {"mixup_docs": "book/_ext"}
    sys.path.insert(0, str(ROOT / "book" / "_ext"))
    try:
        import mixup_docs
    finally:
        sys.path.pop(0)
    from mixup_repro.mixing import MixedBatch

    assert mixup_docs.is_field_alias(MixedBatch.lam) and not mixup_docs.is_field_alias(MixedBatch)
    lines = ["Alias for field number 2", "kept"]
    mixup_docs.strip_alias_lines(None, "attribute", "x", None, {}, lines)
    assert lines == ["kept"]


@pytest.mark.filterwarnings("ignore")
def test_api_page_builds_without_field_alias_entries(tmp_path):
    sphinx_app = pytest.importorskip("sphinx.application")
    pytest.importorskip("myst_parser")
    cfg = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))["sphinx"]
    src = tmp_path / "src"
    src.mkdir()
    shutil.copy(ROOT / "book" / "api.md", src / "index.md")
    keep = ("autodoc_member_order", "autodoc_typehints", "autodoc_default_options", "napoleon_google_docstring",
            "napoleon_numpy_docstring", "napoleon_use_ivar")
    conf = {k: cfg["config"][k] for k in keep}
    conf["extensions"] = ["myst_parser", *cfg["extra_extensions"], "mixup_docs"]
    conf["myst_enable_extensions"] = ["amsmath", "dollarmath", "colon_fence", "deflist"]
    (src / "conf.py").write_text("\n".join(f"{k} = {v!r}" for k, v in conf.items()) + "\n", encoding="utf-8")
    sys.path.insert(0, str(ROOT / "book" / "_ext"))
    warnings = io.StringIO()
    try:
        app = sphinx_app.Sphinx(str(src), str(src), str(tmp_path / "html"), str(tmp_path / "doctrees"), "html",
                                status=None, warning=warnings, freshenv=True)
        app.build(force_all=True)
    finally:
        sys.path.remove(str(ROOT / "book" / "_ext"))
    assert warnings.getvalue() == "", warnings.getvalue()  # the book's build is strict: a warning fails it
    html = (tmp_path / "html" / "index.html").read_text(encoding="utf-8")
    assert "Alias for field number" not in html
    for m in MODULES:
        assert f'id="module-mixup_repro.{m}"' in html, m
    assert "mixup_repro.mixing.MixedBatch" in html and "ResultsGroup" in html  # the classes stay, documented
