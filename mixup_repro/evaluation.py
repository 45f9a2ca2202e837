"""Evaluation of a model on stored data: loss, error, calibration, FGSM, and what a run records of them.

:func:`evaluate` (NLL, error, ECE, calibration counts and predictions, all on the device) and
:func:`fgsm_error` are public. :func:`epoch_metrics` is the per-epoch evaluation of a run (the test or
validation set, the regime check of the training error, the label-noise split, the validation speakers), read
back to the host once per epoch; :func:`summarize` the final summary; :func:`timing_record` its timing.
"""

from __future__ import annotations

import statistics

import torch
import torch.nn.functional as F
from torch import nn

from .metrics import calibration_counts, ece_from_counts, error_percent, reliability_from_counts

__all__ = ["TRAIN_EVAL_SAMPLE", "epoch_metrics", "evaluate", "fgsm_error", "summarize", "timing_record",
           "train_eval_sample"]

TRAIN_EVAL_SAMPLE = 2000
"""Training images (a fixed sample) behind the per-epoch ``train_error`` curve; the final value uses all."""


@torch.no_grad()
def evaluate(model: nn.Module, x, y, inputs=None, *, batch_size: int = 1000, autocast=None) -> dict:
    """Loss (NLL), error (%) and ECE of ``model`` on stored data ``x, y``; tensors stay on the device.

    Returns 0-d tensors ``loss``, ``error``, ``ece`` and the (3, 15) ``counts`` of
    :func:`mixup_repro.metrics.calibration_counts`; also ``pred`` (N,) predictions.
    """
    model.eval()
    loss = torch.zeros((), dtype=torch.float64, device=x.device)
    counts = torch.zeros(3, 15, dtype=torch.float64, device=x.device)
    preds = []
    for i in range(0, x.shape[0], batch_size):
        xb, yb = x[i:i + batch_size], y[i:i + batch_size]
        xb = inputs(xb) if inputs is not None else xb
        with autocast if autocast is not None else torch.autocast(x.device.type, enabled=False):
            logits = model(xb)
        logits = logits.float()
        loss += F.cross_entropy(logits, yb, reduction="sum").double()
        probs = logits.softmax(1)
        counts += calibration_counts(probs, yb)
        preds.append(probs.argmax(1))
    pred = torch.cat(preds)
    n = x.shape[0]
    return {"loss": loss / n, "error": error_percent(pred, y), "ece": ece_from_counts(counts),
            "counts": counts, "pred": pred}


def fgsm_error(model: nn.Module, x_uint8, y, eps: float, inputs, *, batch_size: int = 500) -> float:
    """Test error (%) under the fast gradient sign method with step ``eps`` in [0, 1] pixel units.

    Images are perturbed in pixel space (x/255 ± eps, clipped to [0, 1]) and normalised afterwards, the
    usual white-box FGSM of Goodfellow et al. (2015) as used in the paper's robustness section.
    """
    model.eval()
    wrong = 0
    for i in range(0, x_uint8.shape[0], batch_size):
        xb, yb = x_uint8[i:i + batch_size], y[i:i + batch_size]
        x01 = xb.float() / 255
        if inputs.channels_last:  # the layout the model was trained in
            x01 = x01.contiguous(memory_format=torch.channels_last)
        x01.requires_grad_(True)
        logits = model((x01 - inputs.mean.view(-1, 1, 1)) / inputs.std.view(-1, 1, 1))
        grad, = torch.autograd.grad(F.cross_entropy(logits, yb), x01)
        adv = (x01 + eps * grad.sign()).clamp(0, 1).detach()
        with torch.no_grad():
            pred = model((adv - inputs.mean.view(-1, 1, 1)) / inputs.std.view(-1, 1, 1)).argmax(1)
        wrong += int((pred != yb).sum())
    return 100.0 * wrong / x_uint8.shape[0]


def train_eval_sample(num_train: int, device) -> torch.Tensor:
    """The fixed sample of at most :data:`TRAIN_EVAL_SAMPLE` training indices behind the ``train_error`` curve:
    the same in every epoch and for every seed."""
    g = torch.Generator().manual_seed(0)
    return torch.randperm(num_train, generator=g)[:TRAIN_EVAL_SAMPLE].sort().values.to(device)


def curve_names(cfg, validation: bool) -> list[str]:
    """The curves a run records, in the order of :func:`epoch_metrics` (after ``epoch``; ``lr`` apart)."""
    keys = ["epoch", "train_loss", "test_loss", "test_error", "test_ece", "lr"]
    if cfg.eval_train:
        keys.append("train_error")
    if cfg.label_noise > 0:
        keys += ["train_error_noisy_labels", "train_error_clean_labels"]
    if validation:
        keys += ["val_loss", "val_error", "val_ece"]
    return keys


def epoch_metrics(cfg, model, ds, inputs, train_loss, *, train_sample=None, clean_y=None, corrupted=None,
                  val_data=None) -> list[float]:
    """One epoch's evaluation, in fp32 (free of bf16 rounding), as the values of the curves of
    :func:`curve_names` after ``epoch`` and ``lr``: the training loss, the evaluation set's loss, error and ECE,
    then the training error (regime check), the label-noise split and the validation speakers where they apply.
    The one host synchronisation of an epoch."""
    ev = evaluate(model, ds.x_test, ds.y_test, inputs)
    row = [train_loss, ev["loss"], ev["error"], ev["ece"]]
    if cfg.label_noise > 0:  # all unaugmented training images, against the labels trained on
        pred = evaluate(model, ds.x_train, ds.y_train, inputs)["pred"]
        wrong = pred != ds.y_train
    if cfg.eval_train:  # the regime curve: a fixed sample (or all of them, when computed anyway)
        row.append(wrong.double().mean() * 100 if cfg.label_noise > 0 else
                   evaluate(model, ds.x_train[train_sample], ds.y_train[train_sample], inputs)["error"])
    if cfg.label_noise > 0:
        # mean over an empty set is NaN, stored as null (not 0, which would read "nothing memorized")
        row += [wrong[corrupted].double().mean() * 100, (pred != clean_y)[~corrupted].double().mean() * 100]
    if val_data is not None:  # the validation speakers, beside the test speakers
        vev = evaluate(model, *val_data, inputs)
        row += [vev["loss"], vev["error"], vev["ece"]]
    return torch.stack([v.double().cpu() for v in row]).tolist()


def summarize(cfg, model, ds, inputs, curves: dict) -> dict:
    """A finished run's summary: statistics of its curves and the final model's extras (training error on every
    training sample, reliability bins, FGSM errors)."""
    errs = curves["test_error"]
    summary = {
        "median_last10_error": statistics.median(errs[-10:]),
        "final_error": errs[-1],
        "best_error": min(errs),
        "final_nll": curves["test_loss"][-1],
        "final_ece": curves["test_ece"][-1],
        "final_train_loss": curves["train_loss"][-1],
        "evaluated_on": "validation" if cfg.val_fraction > 0 or cfg.eval_split == "validation" else "test",
        "num_train": ds.num_train,
        "num_eval": ds.num_test,
    }
    if "train_error" in curves:  # the regime check: did the run fit its training data, and when
        tr = curves["train_error"]
        summary["final_train_error"] = float(evaluate(model, ds.x_train, ds.y_train, inputs)["error"])  # all of them
        summary["train_error_curve_sample"] = min(ds.num_train, TRAIN_EVAL_SAMPLE)
        summary["epoch_train_error_below_1"] = next((e for e, v in zip(curves["epoch"], tr) if v < 1.0), None)
    if "val_error" in curves:  # eval_split "test+validation": the validation speakers' numbers, for selection
        verr = curves["val_error"]
        summary.update(val_median_last10_error=statistics.median(verr[-10:]), val_final_error=verr[-1],
                       val_best_error=min(verr), val_final_nll=curves["val_loss"][-1],
                       val_final_ece=curves["val_ece"][-1])
    counts = evaluate(model, ds.x_test, ds.y_test, inputs)["counts"]
    summary["reliability"] = reliability_from_counts(counts)
    for eps in cfg.fgsm_eps:
        summary[f"fgsm_error_{eps:g}"] = fgsm_error(model, ds.x_test, ds.y_test, eps, inputs)
    return summary


def timing_record(cfg, train_s: list[float], eval_s: list[float], epoch_ends: list[float]) -> dict:
    """Training time per epoch: the first epoch (with warm-up and compilation) apart from the rest.

    ``train_s`` counts the training steps of each epoch (the device is synchronised at the epoch's end),
    ``eval_s`` the evaluation after it. A resumed run keeps the times of earlier sittings; the first epoch
    after a resume pays its warm-up again, which only ``median_epoch_s`` is robust to.
    """
    rest = train_s[1:]
    med = statistics.median(rest) if rest else None
    return {
        "median_eval_s": statistics.median(eval_s) if eval_s else None,
        "first_epoch_s": train_s[0] if train_s else None,
        "median_epoch_s": med,  # epochs 2..N
        "warmup_s": round(train_s[0] - med, 4) if rest else None,  # compile time and other first-epoch costs
        "train_s": round(sum(train_s), 3),
        "epoch_train_s": list(train_s),
        "epoch_end_unix": list(epoch_ends),  # wall clock at the end of each epoch's training (runs side by side)
        "compile": cfg.compile,
    }
