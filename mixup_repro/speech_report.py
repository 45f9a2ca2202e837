"""The speech chapter's numbers: α and ε chosen on the validation speakers, reported on the test speakers, and the
paired claims (per-seed differences, 95 % t intervals, Holm, the verdict words of :mod:`mixup_repro.stats`).

Every run of the ``speech`` table (:mod:`mixup_repro.experiments`) is evaluated on both the validation and the
test speakers (``eval_split="test+validation"``). For each model and each method with a hyper-parameter (mixup:
α; label smoothing: ε; mixup + label smoothing: (α, ε)) the candidate with the lowest **mean validation final
error** over its seeds is selected (ties: the smaller α, then ε), only once every candidate of that method has
all its seeds (candidates are the rows run at the scale: the smoke scale runs one per method); the selected
candidate's **test** numbers are reported. Nothing is chosen on the test speakers.

Where a scale gives the candidates fewer seeds than the table (:data:`~mixup_repro.tables.SPEECH_SELECTION_SEEDS`:
2 of 5 at the CPU scale), the choice is made on those seeds only, and the chosen row is then run with the table's
seeds (:func:`speech_confirm_configs`; ``table speech`` runs them once the selection is complete): its test numbers
and the claims use all of them, so a chosen row's later seeds played no part in choosing it.

The claims (:data:`SPEECH_CLAIMS`) compare the selected rows seed by seed (same seed = same initialisation and
data order; the speakers of each part are fixed). "The gain is larger for VGG-11 than for LeNet" is a paired
difference of differences: per seed, ``(ERM − mixup)`` of VGG-11 minus ``(ERM − mixup)`` of LeNet.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

from ._checks import check_choice
from .stats import holm, judge, paired_difference, regime_check, result_cells
from .tables import SPEECH_ALPHAS, SPEECH_EPS, SPEECH_MODELS, TABLES, speech_row_label

__all__ = ["SPEECH_CLAIMS", "SpeechClaim", "find_data", "plot_spectrograms", "speech_runs", "speech_confirm_configs",
           "speech_selection", "speech_best_eps", "speech_claims",
           "speech_claims_markdown", "speech_discussion", "speech_regime"]

TABLE = "speech"
MODEL_NAMES = tuple(name for _, name, _ in SPEECH_MODELS)
METHODS = ("ERM", "mixup", "label smoothing", "mixup + label smoothing")


def _candidates(method: str) -> list[tuple]:
    """(α, ε) candidates of a method, in tie-break order."""
    check_choice("method", method, METHODS)
    if method == "ERM":
        return [(None, None)]
    if method == "mixup":
        return [(a, None) for a in SPEECH_ALPHAS]
    if method == "label smoothing":
        return [(None, e) for e in SPEECH_EPS]
    return [(a, e) for a in SPEECH_ALPHAS for e in SPEECH_EPS]


def _key(method: str, model: str, alpha=None, eps=None) -> str:
    return f"{speech_row_label(method, alpha, eps)} [model={model}]"


def speech_runs(scale: str, out, *, seeds=None) -> dict[str, list]:
    """Row key -> finished results records of the speech table at ``scale`` in ``out`` (nothing is run)."""
    from .plan import row_runs

    return row_runs(TABLE, scale, out, seeds=seeds)


def _expected(scale: str, seeds) -> dict[str, int]:
    from .plan import table_configs

    n: dict[str, int] = {}
    for key, _ in table_configs(TABLE, scale, seeds=seeds):
        n[key] = n.get(key, 0) + 1
    return n


def _per_seed(records, metric: str, factor: float = 1.0) -> dict[int, float]:
    out = {}
    for rec in records:
        v = rec.get("summary", {}).get(metric)
        if isinstance(v, (int, float)) and math.isfinite(v):
            out[rec["config"]["seed"]] = float(v) * factor
    return out


def _mean_ci(values: dict) -> tuple[float, float, float]:
    """Mean and the 95 % Student-t interval's half-width (NaN with fewer than 2 values)."""
    v = list(values.values())
    if not v:
        return math.nan, math.nan, 0
    m = statistics.fmean(v)
    if len(v) < 2:
        return m, math.nan, len(v)
    from scipy import stats as st

    return m, float(st.t.ppf(0.975, len(v) - 1) * statistics.stdev(v) / math.sqrt(len(v))), len(v)


@dataclass
class _Choice:
    model: str
    method: str
    alpha: float | None
    eps: float | None
    key: str | None            # the selected row's key, None while the selection is pending
    status: str                # "selected", "fixed" (ERM) or "pending (k/n candidates complete)"
    val_errors: dict           # (α, ε) -> mean validation final error (complete candidates)


def _choose(runs, expected, model: str, method: str) -> _Choice:
    cands = [c for c in _candidates(method) if expected.get(_key(method, model, *c))]  # those run at this scale
    val, complete = {}, 0
    for a, e in cands:
        key = _key(method, model, a, e)
        recs = runs.get(key, [])
        if recs:
            val[(a, e)] = statistics.fmean(_per_seed(recs, "val_final_error").values() or [math.nan])
        if expected.get(key) and len(recs) == expected[key]:
            complete += 1
    if method == "ERM":
        return _Choice(model, method, None, None, _key(method, model), "fixed", val)
    if complete < len(cands) or not cands:
        return _Choice(model, method, None, None, None, f"pending ({complete}/{len(cands)} candidates complete)", val)
    a, e = min(cands, key=lambda c: (val[c], c[0] or 0, c[1] or 0))
    return _Choice(model, method, a, e, _key(method, model, a, e), "selected", val)


def _confirm_seeds(scale: str, seeds) -> list[int]:
    """The seeds of a chosen row: ``seeds`` when given, else the table's number at ``scale``."""
    return list(seeds) if seeds is not None else list(range(TABLES[TABLE].seeds[scale]))


def _choices(scale, out, seeds):
    """(row key -> finished runs, (model, method) -> choice); a chosen row's runs are those of all its
    confirmation seeds (:func:`_confirm_seeds`), the candidates' those of their declared seeds."""
    from .plan import row_runs

    runs, expected = speech_runs(scale, out, seeds=seeds), _expected(scale, seeds)
    choices = {(m, meth): _choose(runs, expected, m, meth) for m in MODEL_NAMES for meth in METHODS}
    chosen = [c.key for c in choices.values() if c.key]
    runs.update(row_runs(TABLE, scale, out, seeds=_confirm_seeds(scale, seeds), rows=chosen) if chosen else {})
    return runs, choices


def speech_confirm_configs(scale: str, out, *, seeds=None, pending: bool = False) -> list:
    """The configs (TrainConfig) of the chosen rows' seeds whose results are missing in ``out``: empty while every
    selection is pending, or when the candidates already have the table's seeds. ``table speech`` runs them after
    the candidates. ``pending=True`` returns instead, for ``--dry-run``'s estimate, stand-ins for the runs the
    pending selections will add (the first candidate of each pending model and method, at the extra seeds)."""
    from .plan import missing_configs, table_configs

    _, choices = _choices(scale, out, seeds)
    confirm = _confirm_seeds(scale, seeds)
    if pending:
        keys = [_key(c.method, c.model, *next(iter(_candidates(c.method))))
                for c in choices.values() if c.key is None]
        cands = {k for k, _ in table_configs(TABLE, scale, seeds=seeds)}
        keys = [k for k in keys if k in cands]
        if not keys:
            return []
        have = {(k, cfg.seed) for k, cfg in table_configs(TABLE, scale, seeds=seeds, rows=keys)}
        return [cfg for k, cfg in table_configs(TABLE, scale, seeds=confirm, rows=keys) if (k, cfg.seed) not in have]
    chosen = [c.key for c in choices.values() if c.key and c.method != "ERM"]  # ERM's seeds are declared
    return missing_configs(TABLE, scale, out, seeds=confirm, rows=chosen) if chosen else []


def _fmt(m, h, digits=2):
    if m is None or (isinstance(m, float) and math.isnan(m)):
        return "—"
    return f"{m:.{digits}f}" if h is None or math.isnan(h) else f"{m:.{digits}f} ± {h:.{digits}f}"


def speech_selection(scale: str, out, *, seeds=None):
    """One row per model and method: the choice made on the validation speakers and its test numbers.

    Columns: ``model``, ``method``, ``choice`` (the selected α / ε, or why it is pending), ``seeds`` (finished
    runs of the chosen row), ``validation error (%)`` (mean), ``test error (%)`` and ``test ECE (%)`` (mean ± the
    half-width of the 95 % t interval over seeds). Rows of the smoke scale that are not run count as absent
    candidates (their methods stay pending unless all candidates run)."""
    import pandas as pd

    runs, choices = _choices(scale, out, seeds)
    rows = []
    for (model, method), c in choices.items():
        recs = runs.get(c.key, []) if c.key else []
        te, te_h, n = _mean_ci(_per_seed(recs, "final_error"))
        ece, ece_h, _ = _mean_ci(_per_seed(recs, "final_ece", 100.0))
        val = statistics.fmean(_per_seed(recs, "val_final_error").values()) if recs else math.nan
        if c.key is None:
            choice = c.status
        elif method == "ERM":
            choice = "—"
        else:
            choice = ", ".join(p for p in ((f"α={c.alpha:g}" if c.alpha is not None else ""),
                                           (f"ε={c.eps:g}" if c.eps is not None else "")) if p)
        rows.append({"model": model, "method": method, "choice": choice, "seeds": n,
                     "validation error (%)": _fmt(val, None), "test error (%)": _fmt(te, te_h),
                     "test ECE (%)": _fmt(ece, ece_h)})
    return pd.DataFrame(rows).set_index(["model", "method"])


def speech_best_eps(scale: str, out, *, seeds=None):
    """The source text's question: per model, the ε chosen on the validation speakers without mixup (label
    smoothing) and with mixup (the ε of the selected (α, ε) of mixup + label smoothing), with the mean validation
    error of every ε (for mixup + label smoothing at the selected α)."""
    import pandas as pd

    _, choices = _choices(scale, out, seeds)
    rows = []
    for model in MODEL_NAMES:
        for method, label in (("label smoothing", "without mixup"), ("mixup + label smoothing", "with mixup")):
            c = choices[(model, method)]
            rec = {"model": model, "ε chosen": label,
                   "best ε": f"{c.eps:g}" if c.eps is not None else c.status}
            alpha = c.alpha
            if method == "mixup + label smoothing":
                rec["at α"] = f"{alpha:g}" if alpha is not None else "—"
            for e in SPEECH_EPS:
                v = c.val_errors.get((alpha if method != "label smoothing" else None, e)) if (
                    method == "label smoothing" or alpha is not None) else None
                rec[f"validation error at ε={e:g} (%)"] = _fmt(v, None)
            rows.append(rec)
    frame = pd.DataFrame(rows).set_index(["model", "ε chosen"])
    return frame.fillna("")


@dataclass(frozen=True)
class SpeechClaim:
    """``a`` is ``direction`` than ``b`` on ``metric``; ``a`` / ``b`` are (model, method) pairs of selected rows, or
    for a difference of differences (``kind="gain"``) the gain (b's method minus a's method) of model ``a[0]``
    against that of model ``b[0]``."""

    id: str
    statement: str
    source: str
    a: tuple
    b: tuple
    metric: str = "final_error"
    direction: str = "lower"
    kind: str = "pair"


SPEECH_CLAIMS: tuple[SpeechClaim, ...] = (
    *(SpeechClaim(f"mixup_vs_erm_{m.lower().replace('-', '')}", f"{m}: mixup (α chosen on validation) has a lower test "
                  "error than ERM", "paper", (m, "mixup"), (m, "ERM")) for m in MODEL_NAMES),
    SpeechClaim("gain_vgg_vs_lenet", "the test-error gain of mixup over ERM is larger for VGG-11 than for LeNet",
                "paper", ("VGG-11", "mixup", "ERM"), ("LeNet", "mixup", "ERM"), direction="higher", kind="gain"),
    *(SpeechClaim(f"ls_vs_erm_{m.lower().replace('-', '')}", f"{m}: label smoothing (ε chosen on validation) has a "
                  "lower test error than ERM", "related work (Szegedy et al., 2016)", (m, "label smoothing"),
                  (m, "ERM")) for m in MODEL_NAMES),
    *(SpeechClaim(f"mixup_ls_vs_mixup_{m.lower().replace('-', '')}", f"{m}: mixup + label smoothing (α, ε chosen on "
                  "validation) has a lower test error than mixup (α chosen)", "extension",
                  (m, "mixup + label smoothing"), (m, "mixup")) for m in MODEL_NAMES),
    *(SpeechClaim(f"mixup_ls_ece_vs_mixup_{m.lower().replace('-', '')}", f"{m}: mixup + label smoothing has a lower "
                  "test ECE than mixup", "extension", (m, "mixup + label smoothing"), (m, "mixup"), "final_ece")
      for m in MODEL_NAMES),
)
"""The claims of the speech chapter, judged together (Holm over all of them)."""


def _check_declarations() -> None:
    keys = {r.key for r in TABLES[TABLE].rows}
    for model in MODEL_NAMES:
        for method in METHODS:
            for a, e in _candidates(method):
                if _key(method, model, a, e) not in keys:
                    raise ValueError(f"speech claims: table {TABLE!r} has no row {_key(method, model, a, e)!r}")


_check_declarations()


def speech_regime(scale: str, out, *, seeds=None) -> dict[str, dict]:
    """Model -> :func:`~mixup_repro.stats.regime_check` of its ERM runs (did ERM fit its training clips)."""
    runs = speech_runs(scale, out, seeds=seeds)
    return {m: regime_check(runs.get(_key("ERM", m), [])) for m in MODEL_NAMES}


def speech_claims(scale: str, out, *, seeds=None):
    """One row per claim of :data:`SPEECH_CLAIMS`: the selected rows, means, paired Δ, its 95 % CI, p, Holm p, n
    and the verdict (a claim is *not applicable* when ERM of its model(s) did not fit the training clips, and *not
    tested* while a selection is pending or fewer than 2 seeds are paired). ``attrs["regime"]``: per model."""
    import pandas as pd

    runs, choices = _choices(scale, out, seeds)
    regime = speech_regime(scale, out, seeds=seeds)

    def values(model, method, metric):
        c = choices[(model, method)]
        factor = 100.0 if metric == "final_ece" else 1.0
        return _per_seed(runs.get(c.key, []), metric, factor) if c.key else {}

    results, models_of = [], []
    for c in SPEECH_CLAIMS:
        if c.kind == "gain":
            ga = _gain(values(c.a[0], c.a[2], c.metric), values(c.a[0], c.a[1], c.metric))
            gb = _gain(values(c.b[0], c.b[2], c.metric), values(c.b[0], c.b[1], c.metric))
            results.append(paired_difference(ga, gb))
            models_of.append((c.a[0], c.b[0]))
        else:
            results.append(paired_difference(values(*c.a, c.metric), values(*c.b, c.metric)))
            models_of.append((c.a[0],))
    adjusted = holm([r.p for r in results])
    rows = []
    for c, r, padj, models in zip(SPEECH_CLAIMS, results, adjusted, models_of):
        applicable = all(regime[m]["reached"] is not False for m in models)
        verdict = judge(r, padj, direction=c.direction, applicable=applicable)

        def rowname(side, c=c):
            if c.kind == "gain":
                return f"{side[0]}: ERM − {_chosen_text(choices[(side[0], side[1])])}"
            return f"{side[0]}: {_chosen_text(choices[side])}"

        unit = "ECE, %" if c.metric == "final_ece" else "test error, %"
        rows.append({"claim": c.statement, "source": c.source, "A": rowname(c.a), "B": rowname(c.b),
                     "metric": unit, **result_cells(r, padj), "verdict": verdict})
    frame = pd.DataFrame(rows)
    frame.attrs["regime"] = regime
    return frame


def _gain(erm: dict, method: dict) -> dict:
    return {s: erm[s] - method[s] for s in set(erm) & set(method)}


def _chosen_text(c: _Choice) -> str:
    if c.method == "ERM":
        return "ERM"
    if c.key is None:
        return f"{c.method} (selection pending)"
    return speech_row_label(c.method, c.alpha, c.eps)


def speech_claims_markdown(frame, scale: str) -> str:
    """The claims frame as a markdown table, the regime per model and the verdict rules."""
    from .claims import VERDICT_REMINDER, verdict_table

    shown = frame.copy()
    shown["claim"] = [f"{c} ({src}; {m})" for c, src, m in zip(frame["claim"], frame["source"], frame["metric"])]
    shown["Δ [95 % CI]"] = [f"{d} {ci}".strip() for d, ci in zip(frame["Δ = A − B"], frame["95 % CI"])]
    shown = shown[["claim", "verdict", "A", "B", "Δ [95 % CI]", "Holm p", "n"]]
    lines = verdict_table(shown)
    regime = "; ".join(f"{m}: {r['text']}" for m, r in frame.attrs.get("regime", {}).items())
    return "\n".join(lines) + (
        f"\n\nA and B are the rows compared (at the α / ε chosen on the validation speakers); Δ is the mean over "
        f"paired seeds of A − B (percentage points); for the gain claim A and B are the per-seed gains ERM − mixup "
        f"of the two models. 95 % CI: Student's t over the paired differences; Holm p: the two-sided paired "
        f"t-test's p, adjusted over the {len(frame)} claims of this chapter. Regime ({scale} "
        f"scale), per model: {regime or 'not recorded'}.\n\n{VERDICT_REMINDER}.")


def speech_discussion(frame, selection, scale: str) -> str:
    """A paragraph written from the claims ``frame`` and the ``selection`` frame: every number is read from them."""
    from .claims import p_phrase

    parts = []
    regime = frame.attrs.get("regime", {})
    reached = [m for m, r in regime.items() if r["reached"]]
    missed = [m for m, r in regime.items() if r["reached"] is False]
    if not any(r["reached"] is not None for r in regime.values()):
        return ("No ERM run of the speech table has finished at this scale yet, so there is nothing to discuss: the "
                "tables above show 0 of the runs done. Run the table (the command is in the text) and re-run this "
                "chapter.")
    if missed:
        parts.append(f"ERM did not fit its training clips for {', '.join(missed)} (final training error above 1 %), "
                     "so by this book's rule the claims about those models are *not applicable*: mixup is meant to "
                     "regularise a network that would otherwise fit its training data.")
    if reached:
        parts.append(f"ERM fitted its training clips for {', '.join(reached)}.")
    try:
        erm = {m: selection.loc[(m, "ERM"), "test error (%)"] for m in MODEL_NAMES}
        mix = {m: (selection.loc[(m, "mixup"), "choice"], selection.loc[(m, "mixup"), "test error (%)"])
               for m in MODEL_NAMES}
        parts.append("Test error, ERM against mixup at the α chosen on the validation speakers: " + "; ".join(
            f"{m} {erm[m]} % against {mix[m][1]} % ({mix[m][0]})" for m in MODEL_NAMES) + ".")
    except KeyError:
        pass
    done = frame[frame["n"] >= 2]
    for verdict in ("reproduced", "reversed", "not detected", "not applicable"):
        rows = done[done["verdict"] == verdict]
        if len(rows):
            items = "; ".join(f"{r['claim']} (Δ = {r['Δ = A − B']} pp, 95 % CI {r['95 % CI']}, "
                              f"{p_phrase('Holm p', r['Holm p'])}, n = {r['n']})" for _, r in rows.iterrows())
            parts.append(f"*{verdict.capitalize()}*: {items}.")
    pending = frame[frame["n"] < 2]
    if len(pending):
        parts.append(f"{len(pending)} claim(s) are *not tested* yet (a selection pending or fewer than 2 paired "
                     "seeds).")
    gain = frame[frame["claim"].str.startswith("the test-error gain")]
    if len(gain) and gain.iloc[0]["n"] >= 2:
        g = gain.iloc[0]
        parts.append(f"On the paper's second point, mixup's gain for VGG-11 minus its gain for LeNet is {g['Δ = A − B']} "
                     f"pp (95 % CI {g['95 % CI']}): the verdict is *{g['verdict']}*.")
    parts.append(f"All of this is a {scale}-scale, 12-class, 4,890-clip miniature (3,322 training clips) of the paper's "
                 "30-class, 65,000-utterance experiment; it bears on the paper's claim only at this size.")
    return " ".join(parts)


def plot_spectrograms(data_dir=None, *, words=("yes", "no", "up"), lam: float = 0.7):
    """A figure of one standardised log-mel spectrogram per word of ``words`` (training speakers) and the mixup of
    the first two with weight ``lam`` (formula (1), :func:`mixup_repro.mixing.mix`), with its soft label.

    Raises FileNotFoundError when the Speech Commands copy is not in ``data_dir`` (default data folder)."""
    import matplotlib.pyplot as plt
    import torch

    from ._checks import check_real
    from .data import load_dataset
    from .mixing import mix

    lam = check_real("lam", lam, low=0.0, high=1.0)
    if isinstance(words, str) or len(words) < 2:
        raise ValueError(f"words must list at least 2 class names, got {words!r}")
    ds = load_dataset("speech-commands", data_dir)
    for w in words:
        check_choice("words", w, tuple(ds.classes))
    idx = [int((ds.y_train == ds.classes.index(w)).nonzero()[0]) for w in words]
    x, y = ds.x_train[idx], ds.y_train[idx]
    partner = torch.arange(len(idx)).roll(-1)  # clip i is mixed with clip i + 1
    mixed = mix(x, y, num_classes=ds.num_classes, lam=lam, index=partner)
    n = len(words)
    cols = max(n, 2)
    fig, grid = plt.subplots(2, cols, figsize=(3.2 * cols, 6.0), squeeze=False)
    lo, hi = float(x.min()), float(x.max())
    for ax, xi, w in zip(grid[0], x, words):  # the clips on the first row
        ax.imshow(xi[0].numpy(), origin="lower", aspect="auto", vmin=lo, vmax=hi, cmap="magma")
        ax.set_title(f"'{w}'")
        ax.set_xlabel("frame (10 ms)")
        ax.set_ylabel("mel band")
    ax = grid[1, 0]  # the mixed clip and its soft label below
    ax.imshow(mixed.inputs[0, 0].numpy(), origin="lower", aspect="auto", vmin=lo, vmax=hi, cmap="magma")
    ax.set_title(f"mixup: {lam:g}·'{words[0]}' + {1 - lam:g}·'{words[1]}'")
    ax.set_xlabel("frame (10 ms)")
    ax.set_ylabel("mel band")
    ax = grid[1, 1]
    ax.barh(range(ds.num_classes), mixed.targets[0].numpy(), color="tab:blue")
    ax.set_yticks(range(ds.num_classes), ds.classes, fontsize=9)
    ax.set_xlim(0, 1)
    ax.set_title("its soft label")
    ax.set_xlabel("target probability")
    for ax in grid[1, 2:]:
        ax.axis("off")
    fig.tight_layout()
    return fig


def find_data(data_dir=None):
    """The Speech Commands copy (archive or folder) in ``data_dir`` (default: the default data folder), or None."""
    from .dataset import data_folders
    from .speech import find_speech_commands

    return find_speech_commands(data_folders(data_dir))
