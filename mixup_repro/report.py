"""The old home of the table chapters' helpers, kept as an index of where each now lives.

Every name here is re-exported from the module that holds it:

- :mod:`mixup_repro.se_claims`: the paper's claims judged by the two-standard-error rule (:data:`CLAIMS`,
  :data:`VERDICTS`, :func:`compare`, :func:`assess_claims`, :func:`assess_scale`, :func:`claims_table`,
  :func:`claims_markdown`);
- :mod:`mixup_repro.chapters`: the chapter parameters and views (:func:`check_params`, :func:`table_view`,
  :func:`table_frame`, :func:`table_notes`, :func:`scale_comparison`, :func:`scale_claims`,
  :func:`memorization_text`);
- :mod:`mixup_repro.readme`: the README's results section and the ``report`` command (:func:`readme_summary`,
  :func:`update_readme`, :func:`register_cli`);
- :mod:`mixup_repro.plots`: every figure (``plot_metric_bars`` ... ``plot_eps_validation``; not re-exported
  here, so that this index imports no plotting library);
- :mod:`mixup_repro.experiments` and :mod:`mixup_repro.params`: :data:`ROW_PRESETS`, :func:`select_rows`,
  :func:`row_runs`, :func:`resolve_results_dir`.
"""

from __future__ import annotations

from .chapters import (
                       check_params,
                       memorization_text,
                       scale_claims,
                       scale_comparison,
                       table_frame,
                       table_notes,
                       table_view,
)
from .experiments import ROW_PRESETS, row_runs, select_rows
from .params import resolve_results_dir
from .readme import README_END, README_START, README_TABLES, readme_summary, register_cli, update_readme
from .se_claims import (
                       CLAIMS,
                       VERDICTS,
                       Comparison,
                       assess_claims,
                       assess_scale,
                       claims_markdown,
                       claims_table,
                       compare,
)

__all__ = [
    "VERDICTS", "CLAIMS", "Comparison", "compare", "assess_claims", "assess_scale", "claims_table",
    "claims_markdown", "check_params", "resolve_results_dir", "ROW_PRESETS", "select_rows", "table_view", "table_frame",
    "table_notes", "row_runs", "scale_comparison", "memorization_text", "readme_summary", "update_readme",
    "README_START", "README_END", "README_TABLES", "register_cli", "scale_claims",
]
