"""The vocabulary of a declared table: :class:`Row`, :class:`Table` and the :class:`PairedClaim` s that judge it.

A table holds its rows, its claims (two rows compared by their keys on one metric), its README rows and its
named row presets. Every reference to a row is checked when the :class:`Table` is built, that is when
:mod:`mixup_repro.tables` is imported: a renamed or removed row raises ``ValueError`` naming the table and the
missing key, instead of silently turning a verdict into "not tested" or a preset into an empty selection.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from .scales import SCALE_DATASETS, SCALE_NOTES, fgsm_key, scale_fgsm

__all__ = ["METRIC_NAMES", "BASE_METRICS", "Row", "PairedClaim", "Table", "CLAIM_SOURCES", "REGIME_KINDS"]

METRIC_NAMES = {
    "final_error": "final error (%)",
    "median_last10_error": "median last 10 (%)",
    "best_error": "best error (%)",
    "final_nll": "NLL",
    "final_ece": "ECE (%)",
    "overconfidence": "confidence − accuracy (%)",
    "train_error_noisy_labels": "train error on corrupted labels (%)",
    "train_error_clean_labels": "train error on clean labels (%)",
    "val_final_error": "validation error (%)",
    "val_final_ece": "validation ECE",
}
BASE_METRICS = ("final_error", "median_last10_error", "final_nll", "final_ece")
"""Reduced for every row of every table (mean and std over seeds)."""


@dataclass(frozen=True)
class Row:
    """One row of a table: a label as in the paper, TrainConfig overrides, seeds and published numbers.

    ``columns`` are extra key columns shown next to the label (weight decay, model, dataset, noise level);
    a table may hold several rows with the same label that differ in them. ``seeds`` maps a scale to a
    number of seeds (default: the table's). ``skip`` maps a scale to the reason the row is not run there.
    """

    label: str
    overrides: Mapping = field(default_factory=dict)
    columns: Mapping = field(default_factory=dict)
    paper: tuple = ()
    seeds: Mapping = field(default_factory=dict)
    skip: Mapping = field(default_factory=dict)
    group: str = ""

    @property
    def key(self) -> str:
        """Unique within its table: the label plus its key columns, e.g. ``ERM [weight decay=1e-4]``."""
        if not self.columns:
            return self.label
        return f"{self.label} [{', '.join(f'{k}={v}' for k, v in self.columns.items())}]"

    def runnable(self, scale: str) -> bool:
        """Whether the row runs at ``scale`` (else :attr:`skip` says why not)."""
        return scale not in self.skip



REGIME_KINDS = ("fit", "memorised")
"""How a claim's regime row is checked: ``fit`` (ERM's final training error below 1 %, see
:func:`mixup_repro.stats.regime_check`) or ``memorised`` (ERM's final training error on the corrupted labels
below :data:`mixup_repro.claims.MEMORISED` %)."""

CLAIM_SOURCES = ("paper", "extension", "related work")
"""Who makes a claim: the paper, this reproduction's extension, or related work (``related work (...)``)."""


@dataclass(frozen=True)
class PairedClaim:
    """``a`` is ``direction`` than ``b`` on ``metric`` (rows by key of ``table``), claimed by ``source``.

    ``regime`` is the key of the row whose runs decide whether the claim applies (checked as ``regime_kind``);
    None: the claim applies whatever the runs reached.
    """

    id: str
    statement: str
    source: str          # "paper", "extension" (this book's question) or "related work (...)"
    table: str
    a: str
    b: str
    metric: str = "median_last10_error"
    direction: str = "lower"
    regime: str | None = None
    regime_kind: str = "fit"

    def rows(self) -> tuple[str, ...]:
        """Every row key the claim names (its two sides and its regime row)."""
        return (self.a, self.b) + ((self.regime,) if self.regime is not None else ())


def _known_metric(metric: str) -> bool:
    """Whether ``metric`` is one a table can reduce."""
    return metric in METRIC_NAMES or metric.startswith("fgsm_error_")


@dataclass(frozen=True)
class Table:
    """A declared experiment: rows, the kind of data, per-scale seeds and notes, what to report and how to judge it.

    ``claims`` are its :class:`PairedClaim` s, ``readme`` the README's view ``(row labels or None for every
    runnable row, metrics)``, ``presets`` named row selections (preset name -> row tokens, see :meth:`select`),
    ``derived_rows`` claim sides that are resolved from the runs when judged (the ε selected on validation).
    """

    name: str
    title: str
    rows: tuple
    kind: str = "image"                      # "image": --dataset chooses the dataset; "tabular": rows fix it
    base: Mapping = field(default_factory=dict)
    seeds: Mapping = field(default_factory=lambda: {"paper": 3, "cpu": 3, "smoke": 1})
    notes: Mapping = field(default_factory=dict)   # scale (or "all") -> text
    metrics: tuple = BASE_METRICS           # shown in the markdown table (all of BASE_METRICS go to the CSV)
    extra: tuple = ()                        # metrics reduced in addition to BASE_METRICS
    default_dataset: Mapping = field(default_factory=lambda: dict(SCALE_DATASETS))  # scale -> image dataset
    scale_overrides: Mapping = field(default_factory=dict)  # scale -> TrainConfig overrides after SCALES'
    claims: tuple = ()
    readme: tuple | None = None
    presets: Mapping = field(default_factory=dict)
    derived_rows: tuple = ()

    def __post_init__(self):
        """Check every row reference (claims, presets, README rows): ``ValueError`` naming it."""
        keys = [r.key for r in self.rows]
        dup = sorted({k for k in keys if keys.count(k) > 1})
        if dup:
            raise ValueError(f"table {self.name!r}: row key(s) declared twice: {'; '.join(dup)}")
        self._check_claims(set(keys) | set(self.derived_rows))
        for preset, tokens in self.presets.items():
            if preset in {r.label for r in self.rows}:
                raise ValueError(f"table {self.name!r}: preset {preset!r} clashes with a row label")
            self.select(list(tokens))
        if self.readme is not None:
            labels, metrics = self.readme
            missing = [x for x in labels or () if x not in {r.label for r in self.rows}]
            if missing:
                raise ValueError(f"table {self.name!r}: README row(s) {'; '.join(missing)} are not row labels")
            bad = [m for m in metrics if m != "fgsm" and not _known_metric(m)]
            if bad:
                raise ValueError(f"table {self.name!r}: README metric(s) {', '.join(bad)} unknown")

    def _check_claims(self, keys: set) -> None:
        """Check the claims' ids, tables, row keys (among ``keys``), metrics and directions."""
        ids = [c.id for c in self.claims]
        for c in self.claims:
            if ids.count(c.id) > 1:
                raise ValueError(f"table {self.name!r}: paired claim id {c.id!r} declared twice")
            if c.table != self.name:
                raise ValueError(f"paired claim {c.id!r} names table {c.table!r} but is declared in {self.name!r}")
            for key in c.rows():
                if key not in keys:
                    raise ValueError(f"paired claim {c.id!r}: table {self.name!r} has no row {key!r}")
            if not _known_metric(c.metric):
                raise ValueError(f"paired claim {c.id!r}: unknown metric {c.metric!r}")
            if c.direction not in ("lower", "higher") or c.regime_kind not in REGIME_KINDS:
                raise ValueError(f"paired claim {c.id!r}: direction must be lower/higher and regime_kind one of "
                                 f"{', '.join(REGIME_KINDS)}")
            if not c.source.startswith(CLAIM_SOURCES):
                raise ValueError(f"paired claim {c.id!r}: source must start with one of {', '.join(CLAIM_SOURCES)}")

    def select(self, tokens) -> list[Row]:
        """Rows whose label, key or one of whose column values equals one of ``tokens`` (all when None).

        Raises ``ValueError`` naming the table and the rows it has for a token that matches no row.
        """
        if tokens is None:
            return list(self.rows)
        if isinstance(tokens, str):
            tokens = [tokens]
        chosen = set()
        for token in tokens:
            hits = [i for i, r in enumerate(self.rows)
                    if token in (r.label, r.key) or token in [str(v) for v in r.columns.values()]]
            if not hits:
                labels = list(dict.fromkeys(r.label for r in self.rows))
                raise ValueError(f"unknown row {token!r} for table {self.name!r}; rows: {'; '.join(labels)}")
            chosen.update(hits)
        return [r for i, r in enumerate(self.rows) if i in chosen]

    def row(self, key: str) -> Row:
        """The row whose key is ``key``."""
        for r in self.rows:
            if r.key == key:
                return r
        raise KeyError(f"table {self.name!r} has no row {key!r}")

    def scale_note(self, scale: str) -> str:
        """The scale's protocol plus this table's choices at that scale (seeds, rows not run, ...)."""
        parts = [SCALE_NOTES[scale] if self.kind == "image" else ""]
        parts += [self.notes.get("all", ""), self.notes.get(scale, "")]
        return " ".join(p for p in parts if p)

    def row_seeds(self, row: Row, scale: str) -> int:
        """The number of seeds of ``row`` at ``scale`` (the row's, else the table's)."""
        return int(row.seeds.get(scale, self.seeds[scale]))

    def metric_list(self, scale: str) -> list[str]:
        """Every metric reduced at ``scale``: the base metrics, the extra ones, one per FGSM step."""
        out = list(BASE_METRICS) + [m for m in self.extra if m not in BASE_METRICS]
        if "fgsm" in self.extra:
            out.remove("fgsm")
            out += [fgsm_key(e) for e in scale_fgsm(scale)]
        return out

    def shown_metrics(self, scale: str) -> list[str]:
        """The metrics of the markdown table at ``scale`` (``fgsm`` expanded to its steps)."""
        out = []
        for m in self.metrics:
            out += [fgsm_key(e) for e in scale_fgsm(scale)] if m == "fgsm" else [m]
        return out

