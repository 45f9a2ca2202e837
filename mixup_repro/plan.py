"""From declared tables to concrete runs: argument checks, row selection, configs and the results they have.

:func:`table_configs` turns a table of :mod:`mixup_repro.tables` at a scale of :mod:`mixup_repro.scales` into
``(row key, TrainConfig)`` pairs (TrainConfig defaults <- the table's ``base`` <- ``SCALES[scale][kind]`` <- the
table's scale overrides <- the row's overrides <- dataset and seed); :func:`row_runs` reads the finished results
files of a table's rows, :func:`run_status` tells whether one run is done.
"""

from __future__ import annotations

from collections.abc import Sequence

from ._checks import check_choice
from .data import IMAGE_DATASETS
from .declare import Row, Table
from .results import ResultsError, read_result
from .scales import SCALES
from .tables import ROW_PRESETS, TABLES, UCI_DATASETS, UCI_SMOKE_DATASET
from .train import TrainConfig, result_path, run_id

__all__ = ["get_table", "check_scale", "resolve_dataset", "check_seeds", "plan_table", "table_configs",
           "table_dataset", "select_rows", "row_runs", "run_status", "unique_configs", "missing_configs"]


def get_table(name) -> Table:
    """The declared table ``name``; ``ValueError`` naming the tables otherwise."""
    if name not in TABLES:
        raise ValueError(f"unknown table {name!r}; choose from {', '.join(TABLES)}")
    return TABLES[name]


def check_scale(scale) -> str:
    """``scale`` when it is one of :data:`~mixup_repro.scales.SCALES`; ``ValueError`` otherwise."""
    if scale not in SCALES:
        raise ValueError(f"unknown scale {scale!r}; choose from {', '.join(SCALES)}")
    return scale


def resolve_dataset(table: Table, dataset, scale: str = "paper") -> str | None:
    """The image dataset of ``table`` (``dataset`` or the scale's default); None for tables whose rows fix it."""
    if table.kind == "speech":
        if dataset not in (None, "speech-commands"):
            raise ValueError(f"--dataset does not apply to table {table.name!r}: its rows fix the dataset "
                             f"(speech-commands), got {dataset!r}")
        return None
    if table.kind == "tabular":
        if dataset is not None:
            raise ValueError(f"--dataset does not apply to table {table.name!r}: its rows fix the datasets "
                             f"({', '.join(UCI_DATASETS)})")
        return None
    dataset = table.default_dataset[scale] if dataset is None else dataset
    if dataset not in IMAGE_DATASETS:
        raise ValueError(f"dataset must be one of {', '.join(IMAGE_DATASETS)} for table {table.name!r}, "
                         f"got {dataset!r}")
    return dataset




def check_seeds(seeds):
    """``seeds`` as a list of distinct integers >= 0 (None stays None); ``ValueError`` naming the problem."""
    if seeds is None:
        return None
    seeds = list(seeds)
    if not seeds:
        raise ValueError("--seeds needs at least one seed")
    for s in seeds:
        if isinstance(s, bool) or not isinstance(s, int) or s < 0:
            raise ValueError(f"seeds must be integers >= 0, got {s!r}")
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds must be distinct, got {seeds}")
    return seeds


def _row_config(table: Table, row: Row, scale: str, dataset, seed: int) -> TrainConfig:
    """The config of ``row`` at ``scale`` for one seed (the layering of the module docstring)."""
    d = {} if dataset is None else {"dataset": dataset}
    d.update(table.base)
    d.update(SCALES[scale][table.kind])
    d.update(table.scale_overrides.get(scale, {}))
    d.update(row.overrides)
    d["seed"] = int(seed)
    return TrainConfig(**d)


_SHARED_SEEDS: dict = {}


def _shared_seeds(scale: str, dataset) -> dict[str, int]:
    """Run id (of seed 0) -> the most seeds any image table's row with that run asks for at ``scale`` on
    ``dataset``: rows of two tables with the same config are the same runs (the same run id and results files),
    so every table that reads them expects, and shows, all of them (the headline's 5 seeds in calibration,
    robustness, the 30-epoch training length and the ablation; the ε table's test rows in the ablation)."""
    key = (scale, dataset)
    if key not in _SHARED_SEEDS:
        most: dict[str, int] = {}
        for t in TABLES.values():
            if t.kind != "image":
                continue
            for r in t.rows:
                if r.runnable(scale):
                    rid = run_id(_row_config(t, r, scale, dataset, 0))
                    most[rid] = max(most.get(rid, 0), t.row_seeds(r, scale))
        _SHARED_SEEDS[key] = most
    return _SHARED_SEEDS[key]


def _row_seed_list(table: Table, row: Row, scale: str, seeds, dataset=None) -> list[int]:
    """The seeds of ``row``: ``seeds`` when given, else the row's number at ``scale``, or more when another image
    table's row is the same runs and asks for more (see :func:`_shared_seeds`)."""
    if seeds is not None:
        return list(seeds)
    n = table.row_seeds(row, scale)
    if table.kind == "image":
        n = max(n, _shared_seeds(scale, dataset).get(run_id(_row_config(table, row, scale, dataset, 0)), 0))
    return list(range(n))


def plan_table(name, scale, dataset=None, seeds=None, rows=None):
    """``(table, dataset, [(row, [configs] or None when not runnable at scale)])``, every argument checked."""
    table = get_table(name)
    check_scale(scale)
    dataset = resolve_dataset(table, dataset, scale)
    seeds = check_seeds(seeds)
    plan = []
    for row in table.select(rows):
        if not row.runnable(scale):
            plan.append((row, None))
        else:
            plan.append((row, [_row_config(table, row, scale, dataset, s)
                               for s in _row_seed_list(table, row, scale, seeds, dataset)]))
    return table, dataset, plan


def table_configs(name: str, scale: str, dataset: str | None = None, seeds: Sequence[int] | None = None,
                  rows: Sequence[str] | None = None) -> list[tuple[str, TrainConfig]]:
    """The runs of table ``name`` at ``scale``: ``(row key, TrainConfig)`` pairs, rows in order, then seeds.

    ``dataset`` (image tables; default Fashion-MNIST), ``seeds`` (an explicit list for every row instead of
    the per-row defaults) and ``rows`` (labels, keys or key-column values, e.g. ``"ERM"``,
    ``"ERM [weight decay=5e-4]"``, ``"iris"``) restrict or change the runs. Rows not runnable at
    ``scale`` have no configs. The row key is the label when the row has no key columns.
    """
    _, _, plan = plan_table(name, scale, dataset, seeds, rows)
    return [(row.key, cfg) for row, cfgs in plan if cfgs for cfg in cfgs]


def table_dataset(name: str, dataset):
    """``dataset`` for an image table, None for the tables whose rows fix their datasets."""
    return None if get_table(name).kind == "tabular" else dataset


def select_rows(name: str, rows=None, dataset: str | None = None) -> list[str] | None:
    """Row keys of table ``name`` matching ``rows`` (labels, keys or key values, as ``--rows``, or a name of
    :data:`ROW_PRESETS`); for the tabular table, ``dataset`` keeps only that data set's rows. None (all rows)
    when neither is given."""
    table = get_table(name)
    if rows is None and (dataset is None or table.kind != "tabular"):
        return None
    chosen = list(table.rows)
    if rows is not None:
        tokens = [rows] if isinstance(rows, str) else list(rows)
        presets = ROW_PRESETS.get(name, {})
        chosen = table.select([t2 for t in tokens for t2 in (presets[t] if t in presets else (t,))])
    if dataset is not None and table.kind == "tabular":
        check_choice("dataset", dataset, (*UCI_DATASETS, UCI_SMOKE_DATASET))
        chosen = [r for r in chosen if r.columns.get("dataset") == dataset]
    return [r.key for r in chosen]


def row_runs(name: str, scale: str, out, *, dataset: str | None = None, seeds=None, rows=None) -> dict[str, list]:
    """Row key -> list of the finished results records (dicts, see :func:`~mixup_repro.results.read_result`)."""
    keys = select_rows(name, rows, dataset)
    runs: dict[str, list] = {}
    for key, cfg in table_configs(name, scale, table_dataset(name, dataset), seeds, keys):
        runs.setdefault(key, [])
        path = result_path(cfg, out)
        if path.exists():
            try:
                runs[key].append(read_result(path))
            except ResultsError:
                continue
    return runs


def run_status(cfg: TrainConfig, out) -> str:
    """'done', 'missing', or 'corrupt' (a results file that does not read; it will be redone)."""
    path = result_path(cfg, out)
    if not path.exists():
        return "missing"
    try:
        read_result(path)
    except ResultsError:
        return "corrupt"
    return "done"


def unique_configs(cfgs) -> list[TrainConfig]:
    """``cfgs`` without repeated run ids, in order."""
    seen, out = set(), []
    for c in cfgs:
        rid = run_id(c)
        if rid not in seen:
            seen.add(rid)
            out.append(c)
    return out


def missing_configs(name: str, scale: str, out, **kw) -> list[TrainConfig]:
    """The distinct configs of a table whose results file is absent (or unreadable) in ``out``."""
    cfgs = unique_configs(c for _, c in table_configs(name, scale, **kw))
    return [c for c in cfgs if run_status(c, out) != "done"]

