"""Where and how a run computes: devices, torchrun processes, precision, TF32, random streams, resources.

:class:`Dist` is this process's place in a ``torchrun`` job; :func:`resolve_device` the training device;
:func:`precision_used`, :func:`autocast_for`, :func:`use_channels_last`, :func:`ieee_fp32` and :func:`no_tf32`
decide the arithmetic of the training steps (a CUDA fp32 run trains in IEEE fp32, not TF32; the flags come
back afterwards); :func:`cudnn_benchmark` lets cuDNN pick kernels for the duration of a run only;
:func:`seeded_generators` the run's independent random streams; :func:`check_resources` refuses, before
training, a run that cannot fit the device's memory or the ``--out`` folder. Nothing here changes a global
setting at import time.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path

import torch

from .config import SPEAKER_SPLIT_DATASETS, model_options
from .data import IMAGE_DATASETS
from .files import file_size_limit, format_bytes
from .models import build_model

__all__ = ["Dist", "autocast_for", "available_memory", "check_resources", "cudnn_benchmark", "cudnn_tf32",
           "ieee_fp32", "model_size", "no_tf32", "optimizer_copies", "precision_used", "resolve_device",
           "seeded_generators", "tf32_flags", "use_channels_last"]


def resolve_device(name: str, dist_=None) -> torch.device:
    """The training device; under torchrun, ``auto`` / ``cuda`` mean the GPU of this process's local rank."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {name!r} requested but CUDA is not available")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        n = torch.cuda.device_count()
        raise ValueError(f"device {name!r} requested but this machine has {n} CUDA device(s) "
                         f"({', '.join(f'cuda:{i}' for i in range(n))}); use --device cuda or one of those")
    world = dist_.world if dist_ is not None else 1
    if device.type == "cuda" and device.index is not None and world > 1:
        raise ValueError(f"device {name!r} names one GPU, but torchrun started {world} processes; use --device "
                         "cuda (each process takes the GPU of its local rank)")
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", dist_.local_rank or 0 if dist_ is not None else 0)
    return device


class Dist:
    """This process's place in a ``torchrun`` job (``rank``, ``world`` processes); world 1 without torchrun.

    Under ``torchrun --nproc_per_node=N -m mixup_repro train ...`` the model is wrapped in
    :class:`~torch.nn.parallel.DistributedDataParallel`. Every rank walks the same shuffled order of the
    training set; each step's global batch of ``batch_size`` is split in ``world`` parts and each rank
    augments and mixes its own part with its own random streams: its own λ and partners within its part.
    Losses are weighted by part size, so the averaged gradient is the global batch's mean.

    This is not the same training as one process, and not the official code's either (which wraps the
    model in ``DataParallel``: one λ for the whole batch, partners from the whole batch, batch-norm statistics
    per GPU): here λ is drawn per rank and batch-norm statistics come from ``batch_size / world`` images.
    The number of processes is therefore stored in the results file and a result of another world size is
    not reused. Rank 0 evaluates, checkpoints (gathering every rank's random states) and writes the results
    file. A stop signal is agreed on at the end of each epoch, so a SIGTERM takes effect within one epoch
    (torchrun waits 30 s before killing its workers; an epoch on a GPU takes seconds). Checkpoints and
    results need a folder that every rank sees (always so on one machine).
    """

    def __init__(self):
        self.world = int(os.environ.get("WORLD_SIZE", "1") or 1)
        self.rank = int(os.environ.get("RANK", "0") or 0) if self.world > 1 else 0
        self.local_rank = int(os.environ.get("LOCAL_RANK", "0") or 0) if self.world > 1 else None
        self.own_group = False
        self.together = True  # whether close() waits for every rank (False once an error broke the run)

    def start(self, device: torch.device, batch_size: int) -> None:
        """Join (or create) the process group under torchrun, after checking the batch can be split."""
        if self.world == 1:
            return
        if batch_size < self.world:
            raise ValueError(f"batch_size must be at least the number of processes ({self.world}) under "
                             f"torchrun, got {batch_size}")
        import torch.distributed as dist

        if device.type == "cuda":
            torch.cuda.set_device(device)
        if not dist.is_initialized():
            if device.type == "cuda":  # device_id: NCCL binds this rank to its GPU at once (no guess at barriers)
                dist.init_process_group("nccl", device_id=device)
            else:
                dist.init_process_group("gloo")
            self.own_group = True
        if dist.get_world_size() != self.world:
            raise RuntimeError(f"WORLD_SIZE={self.world} but the process group has {dist.get_world_size()} ranks")

    def barrier(self) -> None:
        """Wait for every rank (nothing to wait for in one process)."""
        if self.world > 1:
            import torch.distributed as dist

            dist.barrier()

    def close(self) -> None:
        """Tear the process group down; unless an error broke the run, only once every rank has got here: a rank
        that tears down while rank 0 still evaluates and writes may abort at exit ("terminate called without an
        active exception", seen with gloo under torch 2.11)."""
        if self.own_group:
            import torch.distributed as dist

            if self.together:
                dist.barrier()
            dist.destroy_process_group()
            self.own_group = False

    def sum_(self, t: torch.Tensor) -> torch.Tensor:
        """``t`` summed over the ranks, in place."""
        if self.world > 1:
            import torch.distributed as dist

            dist.all_reduce(t)
        return t

    def gather(self, obj) -> list:
        """Every rank's ``obj``, in rank order."""
        if self.world == 1:
            return [obj]
        import torch.distributed as dist

        objs = [None] * self.world
        dist.all_gather_object(objs, obj)
        return objs

    def agreed_stop(self, received: str | None, device) -> str | None:
        """The signal name if any rank received one (one small collective; called once per epoch)."""
        if self.world == 1:
            return received
        flag = self.sum_(torch.tensor([1 if received else 0], device=device))
        return received or ("SIGTERM" if int(flag) else None)


def seeded_generators(seed: int, device: torch.device, rank: int = 0) -> dict:
    """Independent, seeded streams for data order, augmentation and mixing, on the training device.

    Under torchrun every rank shares the data order and has its own augmentation and mixing streams.
    """
    gens = {}
    for i, name in enumerate(("order", "augment", "mix")):
        g = torch.Generator(device=device)
        g.manual_seed(seed * 1000 + 17 * (i + 1) + (7919 * rank if name != "order" else 0))
        gens[name] = g
    return gens


def precision_used(cfg, device: torch.device) -> str:
    """The precision a run trains in: ``cfg.precision``, with ``"auto"`` meaning bf16 on CUDA, fp32 elsewhere."""
    if cfg.precision == "auto":
        return "bf16" if device.type == "cuda" else "fp32"
    return cfg.precision


def use_channels_last(cfg, device: torch.device) -> bool:
    """Whether image models use the channels_last memory format: ``cfg.channels_last``, None meaning on CUDA."""
    return device.type == "cuda" if cfg.channels_last is None else cfg.channels_last


def autocast_for(cfg, device: torch.device):
    """The autocast context of the training steps: bf16 where the run's precision is bf16, else disabled."""
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision_used(cfg, device) == "bf16")


def ieee_fp32(cfg, device: torch.device) -> bool:
    """Whether the run's training steps must compute float32 convolutions and matrix products in IEEE fp32, not
    TF32: a CUDA run in ``precision="fp32"`` (the comparison for bf16), where cuDNN would otherwise use TF32."""
    return device.type == "cuda" and precision_used(cfg, device) == "fp32"


def tf32_flags() -> list[tuple[object, str, object]]:
    """``(namespace, attribute, IEEE value)`` of the flags that allow TF32. The legacy ``allow_tf32`` ones (which
    torch 2.9+ mirrors in its ``fp32_precision`` ones, and which Inductor's autotuning reads) unless they can no
    longer be read: after a write of the newer flags, torch 2.9+ raises on reading the legacy ones."""
    try:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32  # noqa: B018 - may raise
        return [(torch.backends.cudnn, "allow_tf32", False), (torch.backends.cuda.matmul, "allow_tf32", False)]
    except RuntimeError:
        return [(torch.backends.cudnn.conv, "fp32_precision", "ieee"),
                (torch.backends.cudnn.rnn, "fp32_precision", "ieee"),
                (torch.backends.cuda.matmul, "fp32_precision", "ieee")]


def cudnn_tf32() -> bool:
    """Whether cuDNN may now run float32 convolutions in TF32 (read from whichever flags can be read)."""
    obj, name, _ = tf32_flags()[0]  # cuDNN's (convolution) flag comes first
    value = getattr(obj, name)
    return value is True or value == "tf32"


@contextlib.contextmanager
def no_tf32(enabled: bool):
    """Within the block, cuDNN and cuBLAS compute float32 convolutions and matrix products in IEEE fp32, not
    TF32; the previous settings come back after it, also on an exception."""
    if not enabled:
        yield
        return
    flags = tf32_flags()
    saved = [getattr(obj, name) for obj, name, _ in flags]
    try:
        for obj, name, value in flags:
            setattr(obj, name, value)
        yield
    finally:
        for (obj, name, _), value in zip(flags, saved):
            setattr(obj, name, value)


@contextlib.contextmanager
def cudnn_benchmark(enabled: bool):
    """Within the block, cuDNN benchmarks its kernels for the fixed shapes of a run (as the official code) when
    ``enabled`` (a CUDA run); the previous setting comes back after it."""
    saved = torch.backends.cudnn.benchmark
    if enabled:
        torch.backends.cudnn.benchmark = True
    try:
        yield
    finally:
        torch.backends.cudnn.benchmark = saved


def model_size(cfg) -> tuple[int, int]:
    """(parameter bytes, buffer bytes) of the run's model, built on the meta device (no memory; for
    wrn28_10 / densenet_bc_190 the first call takes a few seconds, spent in torch's meta decompositions).

    An upper bound over the data sets of its kind (3 input channels and 100 classes for images; 3072 input
    features for ``mlp`` on images; 64 features and 10 classes for tabular and 2-D point data): the exact
    input shape is only known once the data are loaded.
    """
    image = cfg.dataset in IMAGE_DATASETS or cfg.dataset == "random-cifar"
    speech = cfg.dataset in SPEAKER_SPLIT_DATASETS
    classes = 100 if image else 12 if speech else 10
    in_ch = {"mlp": 3072 if image else 4040 if speech else 64, "gru": 32 if image else 64}.get(cfg.model, 3)
    with torch.device("meta"):
        model = build_model(cfg.model, classes, in_ch, **model_options(cfg))
    params = sum(p.numel() * p.element_size() for p in model.parameters())
    buffers = sum(b.numel() * b.element_size() for b in model.buffers())
    return params, buffers


def optimizer_copies(cfg) -> int:
    """How many parameter-sized tensors the optimizer keeps (SGD: the momentum buffer; Adam: two moments)."""
    return 2 if cfg.optimizer == "adam" else (1 if cfg.momentum > 0 else 0)


def available_memory(device: torch.device) -> int | None:
    """Bytes free for tensors on ``device`` (CUDA: free GPU memory; CPU: MemAvailable), None if unknown."""
    if device.type == "cuda":
        return int(torch.cuda.mem_get_info(device)[0])
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def check_resources(cfg, device: torch.device, out, save_model: bool) -> None:
    """Before training: refuse a model whose weights, gradients and optimizer state alone exceed the device's
    free memory, and (with ``out``) a folder without room for the checkpoint, final weights and results file,
    or a file-size limit (``ulimit -f``) below the checkpoint's size; each error says how much is needed."""
    params, buffers = model_size(cfg)
    copies = optimizer_copies(cfg)
    memory = params * (2 + copies) + buffers  # weights, gradients, optimizer state; activations come on top
    free = available_memory(device)
    if free is not None and memory > free:
        wide = cfg.model == "preact_resnet18" and cfg.width != 64
        raise ValueError((f"--width {cfg.width}: model {cfg.model}" if wide else f"model {cfg.model}")
                         + f" has about {params // 4:,} parameters; its weights, gradients and optimizer state "
                         f"alone need {format_bytes(memory)}, more than the {format_bytes(free)} free on {device}"
                         + ("; use a smaller --width" if wide else ""))
    if out is None:
        return
    most = 60_000 if cfg.dataset in IMAGE_DATASETS or cfg.dataset == "random-cifar" else 10_000  # training samples, at most
    if cfg.subset is not None:
        most = min(most, cfg.subset * 100)
    checkpoint = params * (1 + copies) + buffers + 8 * most + 2**18  # + the epoch's order, curves, random states
    need = checkpoint + (params + buffers if save_model else 0) + 2**20  # + the results file
    limit = file_size_limit()
    if limit is not None and checkpoint > limit:
        raise OSError(f"--out folder {out}: a checkpoint of this run takes up to about {format_bytes(checkpoint)}, more "
                      f"than the file-size limit of this process (ulimit -f: {format_bytes(limit)}); raise the "
                      "limit or use another machine")
    try:
        disk_free = shutil.disk_usage(out).free
    except OSError:
        return
    if need > disk_free:
        raise OSError(f"--out folder {out} has {format_bytes(disk_free)} free, but this run needs about "
                      f"{format_bytes(need)} (checkpoint {format_bytes(checkpoint)}"
                      + (", final weights" if save_model else "") + ", results file); free some space or choose "
                      "another --out")
