"""Training under the paper's protocol: one :class:`TrainConfig`, one :func:`fit`, one results file.

The defaults of :class:`TrainConfig` are the paper's CIFAR protocol (PreAct ResNet-18, SGD with momentum
0.9, lr 0.1 divided by 10 at epochs 100 and 150 of 200, weight decay 1e-4 on all parameters, batch 128,
α = 1). The data live on the training device as tensors; every epoch shuffles, augments (random crop
with 4-pixel padding, horizontal flip) and normalises whole batches there, so the same loop is fast on a
GPU: no DataLoader workers, no per-image transforms, no host synchronisation per step (losses and
metrics accumulate on the device and are read once per epoch).

The methods (``method``) are registered in :mod:`mixup_repro.methods` (:func:`~mixup_repro.methods.methods_table`
lists them); the config and its run id in :mod:`mixup_repro.config`; evaluation in :mod:`mixup_repro.evaluation`;
devices, processes and precision in :mod:`mixup_repro.runtime`; the run's data in :mod:`mixup_repro.run_data`.
This module holds :func:`fit` and the :class:`Trainer` behind it (set-up, resume, checkpoint, one epoch, finish).

Partners (``pairing``): ``random`` (a permutation of the batch, as the official code; "RP"), ``knn`` (a
partner drawn among the ``knn_k`` nearest training neighbours in input space, precomputed once and
cached; "KNN"); ``same_class=True`` restricts partners to the sample's class ("SC" instead of "AC").

Speed and scale: on CUDA the defaults are bf16 autocast, channels_last and a fused SGD step; ``compile``
adds :func:`torch.compile` (``reduce-overhead``: CUDA graphs). Every results file records ``timing`` (each
epoch's training seconds, their median over epochs 2..N, the first epoch's warm-up apart, the evaluation
time). Launched by ``torchrun --nproc_per_node=N -m mixup_repro train ...``, :func:`fit` trains one run with
DistributedDataParallel: ``batch_size`` stays the global batch, split across the N processes; each process
augments and mixes its own part with its own random streams (the data order is shared); the losses are
weighted by part size so that the averaged gradient is the global batch's mean; rank 0 evaluates, writes the
checkpoints (with every rank's random state) and the results file; a stop signal is agreed on at the end of
each epoch.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import torch
from torch import nn

from .cache import cache_dir
from .checkpoint import (
    Interrupted,
    StopSignal,
    check_checkpoint_matches,
    check_checkpoint_origin,
    load_checkpoint,
    save_checkpoint,
)
from .config import (
    COMPILE_MODES,
    CUTMIX_METHODS,
    EVAL_SPLITS,
    METHODS,
    MIXING_METHODS,
    RUNTIME_FIELDS,
    SMOOTHING_METHODS,
    SPEAKER_SPLIT_DATASETS,
    TrainConfig,
    result_path,
    run_id,
)
from .evaluation import (
    TRAIN_EVAL_SAMPLE,
    curve_names,
    epoch_metrics,
    evaluate,
    fgsm_error,
    summarize,
    timing_record,
    train_eval_sample,
)
from .files import atomic_write_json, check_writable, first_missing, remove_empty
from .methods import CUTMIX_SWITCH_PROB, REGISTRY, Step, step_loss
from .results import SCHEMA, device_name, git_commit, read_result, versions
from .run_data import Inputs, Partners, model_for, prepare_data, validation_data
from .runtime import (
    Dist,
    autocast_for,
    check_resources,
    cudnn_benchmark,
    cudnn_tf32,
    ieee_fp32,
    no_tf32,
    precision_used,
    resolve_device,
    seeded_generators,
    use_channels_last,
)

__all__ = ["COMPILE_MODES", "CUTMIX_METHODS", "CUTMIX_SWITCH_PROB", "EVAL_SPLITS", "METHODS", "MIXING_METHODS",
           "RUNTIME_FIELDS", "SMOOTHING_METHODS", "SPEAKER_SPLIT_DATASETS", "TRAIN_EVAL_SAMPLE", "FitOptions",
           "RunFiles", "RunResult", "TrainConfig", "Trainer", "evaluate", "fgsm_error", "fit", "result_path",
           "run_id"]



@dataclass
class RunResult:
    """What :func:`fit` returns: the config, its run id, per-epoch curves, the summary and the model."""

    config: TrainConfig
    run_id: str
    curves: dict
    summary: dict
    model: nn.Module | None = None
    path: Path | None = None
    record: dict = field(default_factory=dict, repr=False)


@dataclass(frozen=True)
class RunFiles:
    """Where a run writes: its id, the ``out`` folder, results file and checkpoint (all None without ``out``)."""

    rid: str
    out: Path | None = None
    path: Path | None = None
    checkpoint: Path | None = None


@dataclass(frozen=True)
class FitOptions:
    """How :func:`fit` was asked to run (see its parameters)."""

    quiet: bool = False
    keep_model: bool = True
    save_model: bool = False
    on_step: object = None


def fit(config: TrainConfig, out=None, *, force: bool = False, resume: bool = True, quiet: bool = False,
        keep_model: bool = True, save_model: bool = False, on_step=None) -> RunResult:
    """Train one run and (with ``out``) write its results file atomically.

    Parameters
    ----------
    config : TrainConfig
        The run.
    out : path, optional
        Folder for the results file ``<run_id>.json`` and checkpoints (``out/checkpoints``). When the
        results file already exists the run is not redone (the stored result is returned, without a
        model) unless ``force``.
    resume : bool
        Continue from ``out/checkpoints/<run_id>.pt`` when it exists (written every
        ``config.checkpoint_every`` epochs and on SIGTERM / SIGINT).
    quiet : bool
        No progress bar.
    keep_model : bool
        Return the trained model in :attr:`RunResult.model`.
    save_model : bool
        Also write the final weights to ``out/models/<run_id>.pt`` (a plain state dict, atomically).
    on_step : callable, optional
        Called with no arguments after every optimizer step, e.g. a :class:`torch.profiler.profile`'s
        ``step`` (``benchmarks/speed.py --profile`` does so). It must not synchronise with the GPU if speed
        matters.

    Raises
    ------
    Interrupted
        On SIGTERM / SIGINT: the current step finishes, a checkpoint is written, no results file.
    ValueError, OSError
        Before training: the model's weights, gradients and optimizer state exceed the device's free memory;
        ``out`` lacks room for the checkpoint, or a file-size limit is below its size (the message says how much
        is needed). A failed run removes the ``out`` folders it created while they are empty.
    CheckpointError
        The checkpoint to resume from was written for another config, or its content does not fit this run's
        model or optimizer (use ``resume=False``).
    """
    if not isinstance(config, TrainConfig):
        raise TypeError(f"config must be a TrainConfig, got {type(config).__name__}")
    cfg = config
    rid = run_id(cfg)
    dist_ = Dist()
    device = resolve_device(cfg.device, dist_)
    dist_.start(device, cfg.batch_size)
    created = first_missing(out) if out is not None and dist_.rank == 0 else None
    try:
        path = ckpt_path = None
        if out is not None:
            out = check_writable(out)
            path = out / f"{rid}.json"
            ckpt_path = out / "checkpoints" / f"{rid}.pt"
            if path.exists() and not force:
                rec = read_result(path)
                if rec.get("world_size", 1) != dist_.world:
                    raise ValueError(f"{path} was trained by {rec.get('world_size', 1)} process(es), this run has "
                                     f"{dist_.world}; their batch-norm statistics and mixing differ (use --force "
                                     "to redo it)")
                return RunResult(cfg, rid, rec["curves"], rec["summary"], None, path, rec)
            if (force or not resume) and dist_.rank == 0:
                ckpt_path.unlink(missing_ok=True)
            dist_.barrier()  # no rank looks for a checkpoint before rank 0 has removed it
        check_resources(cfg, device, out if dist_.rank == 0 else None, save_model)
        options = FitOptions(quiet=quiet, keep_model=keep_model, save_model=save_model, on_step=on_step)
        with cudnn_benchmark(device.type == "cuda"):  # fixed shapes: let cuDNN pick its fastest kernels
            return Trainer(cfg, device, dist_, RunFiles(rid, out, path, ckpt_path), options).run()
    except Interrupted:  # every rank stops at the same epoch end (agreed), so every rank gets here
        raise
    except BaseException:  # an error on some ranks only: no waiting for the others
        dist_.together = False
        if created is not None:  # a failed run leaves no empty --out folder behind
            remove_empty(Path(out), created)
        raise
    finally:
        dist_.close()


class Trainer:
    """One run's training, in small steps: set-up (``__init__``), :meth:`resume`, :meth:`checkpoint`,
    :meth:`train_epoch` / :meth:`end_epoch`, :meth:`finish`; :meth:`run` strings them together.

    Every rank of a torchrun job makes one; rank 0 (``lead``) evaluates, shows progress and writes files.
    The random streams are drawn in a fixed order (data order, augmentation, mixing), so a seed reproduces a
    run bit for bit, also across a resume.
    """

    def __init__(self, cfg: TrainConfig, device: torch.device, dist_: Dist, files: RunFiles, options: FitOptions):
        self.cfg, self.device, self.dist, self.files, self.options = cfg, device, dist_, files, options
        self.lead = dist_.rank == 0  # the process that evaluates, shows progress and writes files
        self._set_up_data()
        self._set_up_model()
        self._set_up_state()
        self.resume()
        self._set_up_steps()

    # -------------------------------------------------------------------------------------------- set-up
    def _set_up_data(self) -> None:
        """The data on the device, the model-input transform, the partners and the held-out evaluation data."""
        cfg, dist_ = self.cfg, self.dist
        self.ds, self.clean_y, self.corrupted = prepare_data(cfg, self.device)
        ds = self.ds
        if dist_.world > 1 and 0 < ds.num_train % cfg.batch_size < dist_.world:
            raise ValueError(f"the last batch holds {ds.num_train % cfg.batch_size} sample(s) (num_train "
                             f"{ds.num_train} % batch_size {cfg.batch_size}), fewer than the {dist_.world} "
                             "processes; choose a batch size that leaves none or at least one per process")

    def _set_up_model(self) -> None:
        """Model (seeded), inputs, partners, optimizer, schedule and the run's random streams."""
        cfg, device, ds = self.cfg, self.device, self.ds
        torch.manual_seed(cfg.seed)
        model = model_for(cfg, ds).to(device)
        if use_channels_last(cfg, device) and ds.kind == "image":
            model = model.to(memory_format=torch.channels_last)
        if self.dist.rank > 0:  # the same initial weights (DDP broadcasts rank 0's), independent dropout per rank
            torch.manual_seed(cfg.seed + 7919 * self.dist.rank)
        self.model = model
        self.inputs = Inputs(ds, cfg)
        needs_partners = REGISTRY[cfg.method].external_partners and (cfg.pairing == "knn" or cfg.same_class)
        # the kNN cache is never inside the data folder, which may be read-only
        self.partners = Partners(ds, cfg, cache_dir() / "knn") if needs_partners else None
        fused = {"fused": True} if device.type == "cuda" else {}  # one kernel for the whole update on the GPU
        if cfg.optimizer == "sgd":
            self.opt = torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum,
                                       weight_decay=cfg.weight_decay, **fused)
        else:
            self.opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay, **fused)
        self.sched = torch.optim.lr_scheduler.MultiStepLR(self.opt, milestones=list(cfg.lr_milestones),
                                                          gamma=cfg.lr_decay)
        self.gens = seeded_generators(cfg.seed, device, self.dist.rank)
        self.autocast = autocast_for(cfg, device)

    def _set_up_state(self) -> None:
        """The run's progress, as a checkpoint stores it: curves, times, position, partial loss, provenance."""
        cfg, ds = self.cfg, self.ds
        self.train_sample = train_eval_sample(ds.num_train, self.device) if cfg.eval_train else None
        self.val_data = validation_data(cfg, self.device)
        self.curve_keys = curve_names(cfg, self.val_data is not None)
        self.curves = {k: [] for k in self.curve_keys}
        self.train_times: list[float] = []  # seconds of training per epoch (kept out of the curves, which are exact)
        self.eval_times: list[float] = []  # seconds of the per-epoch evaluation
        self.epoch_ends: list[float] = []  # wall-clock time (Unix seconds) at the end of each epoch's training
        self.n, self.bs = ds.num_train, cfg.batch_size
        self.steps = -(-self.n // self.bs)
        self.start_epoch, self.start_step, self.order = 0, 0, None
        self.loss_sum = torch.zeros((), dtype=torch.float64, device=self.device)
        self.wall_before, self.started = 0.0, datetime.now(timezone.utc).isoformat(timespec="seconds")
        self.commits = [git_commit()]  # the code this process loaded (a results file names it, not a later HEAD)

    def _set_up_steps(self) -> None:
        """The model the steps call (DDP, torch.compile), and the precision settings of the steps."""
        cfg, device, model = self.cfg, self.device, self.model
        plain = model
        if self.dist.world > 1:
            from torch.nn.parallel import DistributedDataParallel

            plain = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
        self.plain = self.net = plain
        if cfg.compile != "none":
            self.net = torch.compile(plain, mode=None if cfg.compile == "default" else cfg.compile)
        self.full_steps = self.n // self.bs  # a smaller last batch runs uncompiled: no second (dynamic) compilation
        self.ieee = ieee_fp32(cfg, device)
        with no_tf32(self.ieee):  # as the training steps run
            self.tf32_training = cudnn_tf32() if device.type == "cuda" else None
        self.graphs = cfg.compile in ("reduce-overhead", "max-autotune") and device.type == "cuda"  # CUDA graphs

    # -------------------------------------------------------------------------------------------- checkpoints
    def resume(self) -> None:
        """Continue from the run's checkpoint when there is one (refused if it does not fit this run)."""
        path = self.files.checkpoint
        if path is None or not path.exists():
            return
        device, dist_ = self.device, self.dist
        st = load_checkpoint(path, map_location=device)
        check_checkpoint_origin(path, st, self.files.rid, (device.type, precision_used(self.cfg, device), dist_.world))
        check_checkpoint_matches(path, st, self.cfg, self.model, self.opt, list(self.gens))
        self.model.load_state_dict(st["model"])
        self.opt.load_state_dict(st["optimizer"])
        self.sched.load_state_dict(st["scheduler"])
        saved = st["generators"][dist_.rank]
        for name, g in self.gens.items():
            g.set_state(saved[name].cpu())
        torch.set_rng_state(saved["_torch"].cpu())
        if device.type == "cuda":
            torch.cuda.set_rng_state(saved["_cuda"].cpu(), device)
        self.curves = {k: list(v) for k, v in st["curves"].items()}
        self.train_times, self.eval_times = list(st["train_times"]), list(st["eval_times"])
        self.epoch_ends = list(st["epoch_ends"])
        self.start_epoch, self.start_step = st["epoch"], st["step"]
        self.order = st["order"].to(device) if st["step"] > 0 else None
        self.loss_sum = st["loss_sum"].to(device)
        self.wall_before, self.started = st["wall_s"], st["started"]
        self.commits = list(dict.fromkeys(st["git_commits"] + self.commits))  # earlier sittings' code first

    def checkpoint(self, epoch: int, step: int, order) -> Path | None:
        """Write a checkpoint (rank 0); under torchrun every rank must call it (it gathers random states)."""
        if self.files.checkpoint is None:
            return None
        device = self.device
        mine = {k: g.get_state() for k, g in self.gens.items()}
        mine["_torch"] = torch.get_rng_state()  # dropout and other default-generator draws, per rank
        if device.type == "cuda":
            mine["_cuda"] = torch.cuda.get_rng_state(device)
        rank_gens = self.dist.gather(mine)
        if not self.lead:
            return None
        state = {
            "run_id": self.files.rid, "config": self.cfg.to_dict(), "epoch": epoch, "step": step,
            "model": self.model.state_dict(), "optimizer": self.opt.state_dict(), "scheduler": self.sched.state_dict(),
            "generators": rank_gens,  # per rank: its streams and its default CPU / CUDA generator states
            "order": order.cpu() if order is not None else torch.zeros(0, dtype=torch.long),
            "loss_sum": self.loss_sum.cpu(), "curves": self.curves,
            "wall_s": self.wall_before + time.perf_counter() - self.t0, "started": self.started,
            "git_commits": self.commits, "device_type": device.type, "precision": precision_used(self.cfg, device),
            "world_size": self.dist.world, "train_times": self.train_times, "eval_times": self.eval_times,
            "epoch_ends": self.epoch_ends,
        }
        return save_checkpoint(self.files.checkpoint, state)

    def _stop(self, signame: str, epoch: int, step: int, order=None):
        """Checkpoint where the run stands and raise :class:`Interrupted`."""
        written = self.checkpoint(epoch, step, order)
        self.bar.close()
        raise Interrupted(signame, written, epoch, step)

    # -------------------------------------------------------------------------------------------- training
    def run(self) -> RunResult:
        """Train the remaining epochs (stopping cleanly on SIGTERM / SIGINT), then finish the run."""
        from tqdm.auto import tqdm

        cfg = self.cfg
        self.t0 = time.perf_counter()
        self.bar = tqdm(total=cfg.epochs, initial=self.start_epoch, desc=self.files.rid, unit="epoch",
                        disable=self.options.quiet or not self.lead, leave=False, dynamic_ncols=True)
        with StopSignal() as stop:
            for epoch in range(self.start_epoch, cfg.epochs):
                self.train_epoch(epoch, stop)
                self.end_epoch(epoch)
                if cfg.checkpoint_every and (epoch + 1) % cfg.checkpoint_every == 0 and epoch + 1 < cfg.epochs:
                    self.checkpoint(epoch + 1, 0, None)
                received = self.dist.agreed_stop(stop.received, self.device)
                if received:
                    self._stop(received, epoch + 1, 0)
            self.bar.close()
            if self.start_epoch < cfg.epochs:  # (all ranks decide alike: a collective follows)
                self.checkpoint(cfg.epochs, 0, None)  # the final evaluation must not cost the training
            return self.finish(stop)

    def train_epoch(self, epoch: int, stop: StopSignal) -> None:
        """One epoch's optimizer steps (from the resumed step); the loss accumulates on the device."""
        dist_ = self.dist
        self.model.train()
        t_epoch = time.perf_counter()
        if self.order is None:
            self.order = torch.randperm(self.n, generator=self.gens["order"], device=self.device)
        with no_tf32(self.ieee):  # an fp32 run trains in IEEE fp32 on a GPU; evaluation keeps the defaults
            for step in range(self.start_step, self.steps):
                if self.graphs and step < self.full_steps:  # a new iteration of torch.compile's CUDA graphs
                    torch.compiler.cudagraph_mark_step_begin()
                idx = self.order[step * self.bs:(step + 1) * self.bs]
                weight = 1.0
                if dist_.world > 1:  # this rank's part of the global batch, weighted by its size
                    part = idx.tensor_split(dist_.world)[dist_.rank]
                    weight, idx = part.shape[0] * dist_.world / idx.shape[0], part
                loss = self.train_step(idx, self.net if step < self.full_steps else self.plain, weight)
                self.loss_sum += loss.detach().double() * idx.shape[0]
                if stop.received and dist_.world == 1:  # under torchrun the ranks agree at the epoch's end
                    self._stop(stop.received, epoch, step + 1, self.order)
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)  # one wait per epoch, for an honest training time
        self.train_times_pending = (time.perf_counter() - t_epoch, time.time())
        self.start_step = 0

    def train_step(self, idx, model, weight: float = 1.0):
        """One optimizer step on the training samples ``idx``; returns the (unweighted) loss, on the device."""
        ds, gens = self.ds, self.gens
        xb = self.inputs(ds.x_train[idx], gens["augment"], train=True)
        step = Step(self.cfg, model, xb, ds.y_train[idx], ds.num_classes, gens["mix"], idx, self._partner_source())
        with self.autocast:
            loss = step_loss(step)
        self.opt.zero_grad(set_to_none=True)
        (loss * weight if weight != 1.0 else loss).backward()
        self.opt.step()
        if self.options.on_step is not None:
            self.options.on_step()
        return loss

    def _partner_source(self):
        """``(idx, y) -> (x2, y2)``: partners outside the batch (kNN / same class), or None (in-batch)."""
        if self.partners is None:
            return None
        ds, gens = self.ds, self.gens

        def source(idx, y):
            pid = self.partners(idx, y, gens["mix"])
            return self.inputs(ds.x_train[pid], gens["augment"], train=True), ds.y_train[pid]
        return source

    def end_epoch(self, epoch: int) -> None:
        """The epoch's end: mean training loss, learning-rate step, and (rank 0) the evaluation into the curves."""
        train_s, epoch_end = self.train_times_pending
        train_loss = self.dist.sum_(self.loss_sum) / self.n
        self.loss_sum = torch.zeros_like(self.loss_sum)
        self.order = None
        lr = self.opt.param_groups[0]["lr"]
        self.sched.step()
        if not self.lead:
            return
        t_eval = time.perf_counter()
        vals = epoch_metrics(self.cfg, self.model, self.ds, self.inputs, train_loss, train_sample=self.train_sample,
                             clean_y=self.clean_y, corrupted=self.corrupted, val_data=self.val_data)
        self.curves["epoch"].append(epoch + 1)
        self.curves["lr"].append(lr)
        self.train_times.append(round(train_s, 4))
        self.epoch_ends.append(round(epoch_end, 3))
        self.eval_times.append(round(time.perf_counter() - t_eval, 4))
        for k, v in zip([k for k in self.curve_keys if k not in ("epoch", "lr")], vals):
            self.curves[k].append(v)
        self.bar.set_postfix(loss=f"{vals[0]:.3f}", err=f"{vals[2]:.2f}%")
        self.bar.update(1)

    # -------------------------------------------------------------------------------------------- finish
    def finish(self, stop: StopSignal) -> RunResult:
        """The final evaluation, the results record and (with ``out``) the results file; the checkpoint goes."""
        cfg, model, files, options = self.cfg, self.model, self.files, self.options
        if not self.lead:  # the other ranks' work ends with the training
            model.eval()
            return RunResult(cfg, files.rid, {}, {}, model if options.keep_model else None, None, {})
        record = self.record()
        if stop.received:  # stopped while finishing: the final checkpoint holds the training; no results
            written = files.checkpoint if files.checkpoint is not None and files.checkpoint.exists() else None
            raise Interrupted(stop.received, written, cfg.epochs, 0)
        if files.path is not None:
            if options.save_model:
                save_checkpoint(files.out / "models" / f"{files.rid}.pt", {"run_id": files.rid,
                                                                           "model": model.state_dict()})
            atomic_write_json(files.path, record)
            files.checkpoint.unlink(missing_ok=True)
        model.eval()
        return RunResult(cfg, files.rid, self.curves, record["summary"], model if options.keep_model else None,
                         files.path, record)

    def record(self) -> dict:
        """The results record of the finished run: config, curves, summary, timing and provenance."""
        cfg, device, ds, inputs = self.cfg, self.device, self.ds, self.inputs
        summary = summarize(cfg, self.model, ds, inputs, self.curves)
        record = {
            "schema": SCHEMA, "run_id": self.files.rid, "config": cfg.to_dict(), "curves": self.curves,
            "summary": summary, "device": device_name(device), "versions": versions(),
            "git_commit": self.commits[-1],  # the code of this sitting, read when it started
            "started": self.started, "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "wall_s": round(self.wall_before + time.perf_counter() - self.t0, 3), "threads": torch.get_num_threads(),
            "host": os.uname().nodename, "precision_used": precision_used(cfg, device),
            "channels_last_used": inputs.channels_last, "world_size": self.dist.world, "data_source": ds.source,
        }
        if len(self.commits) > 1:
            record["git_commits_earlier_sittings"] = self.commits[:-1]
        record["timing"] = timing_record(cfg, self.train_times, self.eval_times, self.epoch_ends)
        if self.val_data is not None:
            summary["val_num_eval"] = int(self.val_data[1].shape[0])
        record["tf32_training"] = self.tf32_training  # may cuDNN use TF32 in training steps (None: not CUDA)
        return record
