"""The paper's experiments: one import for the declared tables, their configs, sweeps, summaries and command.

This module holds no code of its own; each concern lives in one module, and every name is re-exported here:

:mod:`mixup_repro.scales`
    the scales (``paper``, ``cpu``, ``smoke``: per-scale TrainConfig overrides, notes, default datasets) and the
    paper's verified published numbers;
:mod:`mixup_repro.declare`
    :class:`Row`, :class:`Table` and :class:`PairedClaim` (row references checked when a table is built);
:mod:`mixup_repro.tables`
    the declared tables (:data:`TABLES`) with their rows, claims, README rows and presets;
:mod:`mixup_repro.plan`
    argument checks, row selection, configs (:func:`table_configs`) and the finished runs of a table;
:mod:`mixup_repro.timing`
    the time model (:data:`TIME_MODEL`, :func:`estimate_seconds`) and ``--dry-run``;
:mod:`mixup_repro.sweep`
    the sweep runner (:func:`run_table`, :func:`run_tables`, ``--print-commands``);
:mod:`mixup_repro.summary`
    :func:`summarize`, :func:`format_table`, :func:`write_summary`;
:mod:`mixup_repro.table_cli`
    the ``table`` subcommand (:func:`register_cli`).

Every run goes flat into one folder (default ``results/<scale>``) as ``<run_id>.json``; the run id derives from
the config, so identical configs in different tables share one run and re-running a table only computes what is
missing.
"""

from __future__ import annotations

from .declare import BASE_METRICS, METRIC_NAMES, PairedClaim, Row, Table
from .plan import (
                   check_scale,
                   check_seeds,
                   get_table,
                   missing_configs,
                   plan_table,
                   resolve_dataset,
                   row_runs,
                   run_status,
                   select_rows,
                   table_configs,
                   table_dataset,
                   unique_configs,
)
from .scales import (
                   FGSM_EPS,
                   PAPER_NUMBERS,
                   PAPER_SOURCES,
                   SCALE_DATASETS,
                   SCALE_NOTES,
                   SCALES,
                   SPEECH_CPU_EPOCHS,
                   PaperNumber,
)
from .summary import (
                   DISPLAY_SCALE,
                   display_value,
                   format_number,
                   format_table,
                   metric_name,
                   summarize,
                   write_summary,
)
from .sweep import (
                   Job,
                   SweepFailed,
                   SweepInterrupted,
                   child_env,
                   config_argv,
                   followup_configs,
                   print_commands,
                   run_table,
                   run_tables,
                   table_specs,
                   train_command,
                   visible_gpus,
)
from .table_cli import register_cli
from .tables import (
                   ALL_TABLES,
                   EPS_CANDIDATES,
                   EPS_FIXED,
                   ERM,
                   NOISE_CPU,
                   ROW_PRESETS,
                   SPEECH_ALPHAS,
                   SPEECH_EPS,
                   SPEECH_FAMILIES,
                   SPEECH_MODELS,
                   SPEECH_PROTOCOL,
                   TABLES,
                   TRAINING_LENGTHS,
                   UCI_DATASETS,
                   UCI_PROTOCOL,
                   UCI_SMOKE_DATASET,
                   VAL_FRACTION,
                   speech_row_label,
)
from .timing import DATA_SIZES, TIME_MODEL, dry_run, estimate_seconds

__all__ = [
    "FGSM_EPS", "SCALES", "SCALE_DATASETS", "SCALE_NOTES", "TIME_MODEL", "PAPER_SOURCES", "PaperNumber", "Row", "Table",
    "TABLES", "SweepInterrupted", "SweepFailed", "table_configs", "missing_configs", "estimate_seconds",
    "train_command", "config_argv", "run_table", "run_tables", "summarize", "format_table", "write_summary",
    "dry_run", "print_commands", "followup_configs", "register_cli", "DISPLAY_SCALE", "display_value", "ROW_PRESETS", "select_rows",
    "row_runs", "table_dataset", "UCI_DATASETS", "UCI_SMOKE_DATASET", "TRAINING_LENGTHS",
    # re-exported from the modules above as well
    "ALL_TABLES", "ERM", "BASE_METRICS", "METRIC_NAMES", "PAPER_NUMBERS", "PairedClaim", "SPEECH_CPU_EPOCHS", "EPS_CANDIDATES",
    "EPS_FIXED", "VAL_FRACTION", "NOISE_CPU", "UCI_PROTOCOL", "SPEECH_PROTOCOL", "SPEECH_MODELS", "SPEECH_ALPHAS",
    "SPEECH_EPS", "SPEECH_FAMILIES", "speech_row_label", "DATA_SIZES", "Job", "child_env", "visible_gpus",
    "table_specs", "format_number", "metric_name", "get_table", "check_scale", "check_seeds", "resolve_dataset",
    "plan_table", "run_status", "unique_configs",
]

