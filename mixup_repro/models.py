"""Network architectures used in the mixup experiments, behind one factory.

``build_model(name, num_classes, in_channels, **options)`` returns one of

* ``preact_resnet18`` -- PreAct ResNet-18 of the official mixup CIFAR code (11,171,146 parameters at
  10 classes, 3 channels, width 64);
* ``wrn28_10`` -- Wide ResNet 28-10 (36,479,194 parameters at 10 classes);
* ``densenet_bc_190`` -- DenseNet-BC, depth 190, growth rate 40 (25,624,906 parameters at 10 classes);
* ``mlp`` -- the paper's UCI network, two hidden layers of 128 ReLU units;
* ``gru`` -- a one-layer GRU sequence classifier (reads single-channel images row by row; optionally
  bidirectional), which reads log-mel spectrograms as ``(B, time, mel)``;
* ``lenet`` -- a LeNet-5-style CNN for single-channel spectrograms (61,876 parameters at 12 classes);
* ``vgg11`` -- VGG-11 with batch norm (configuration "A"), width a parameter (at 12 classes and 1 channel:
  9,228,236 parameters at width 64, 579,068 at 16, 145,540 at 8).

Every model's ``forward(x, mix_layer=None, mix_fn=None)`` supports manifold mixup: layer ``k = 0`` is
the input, ``k = 1`` the output of the stem, ``k = 2, ...`` the outputs of the successive stages, up to
``model.num_mix_layers - 1``. When ``mix_layer == k`` the hidden tensor ``h`` at that point is replaced
by ``mix_fn(h)`` (which must keep its shape). ``mlp`` and ``gru`` only accept ``k = 0``; ``gru`` mixes its
3-D ``(B, T, F)`` input directly.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from mixup_repro._checks import check_bool, check_choice, check_int, check_num_classes, check_real

__all__ = [
    "MLP",
    "MODEL_NAMES",
    "DenseNetBC",
    "GRUClassifier",
    "LeNet",
    "VGG11",
    "MixableNet",
    "PreActBlock",
    "PreActResNet18",
    "WideBasicBlock",
    "WideResNet",
    "build_model",
    "count_parameters",
    "run_stages",
]

MixFn = Callable[[torch.Tensor], torch.Tensor]


# --------------------------------------------------------------------------------------------------
# Shared manifold-mixup machinery
# --------------------------------------------------------------------------------------------------
def _check_mix_args(mix_layer, mix_fn, num_mix_layers: int) -> int | None:
    """Validate ``mix_layer`` / ``mix_fn`` and return the layer index (or None for a plain forward)."""
    if mix_layer is None:
        return None
    k = check_int("mix_layer", mix_layer, low=0, high=num_mix_layers - 1)
    if mix_fn is None:
        raise ValueError(f"mix_fn must be given when mix_layer is set (mix_layer={k})")
    if not callable(mix_fn):
        raise TypeError(f"mix_fn must be callable, got {type(mix_fn).__name__}")
    return k


def _apply_mix(h: torch.Tensor, mix_fn: MixFn, k: int) -> torch.Tensor:
    """Apply ``mix_fn`` to ``h`` and check the result is a tensor of the same shape."""
    out = mix_fn(h)
    if not isinstance(out, torch.Tensor) or out.shape != h.shape:
        got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise ValueError(f"mix_fn must return a tensor of shape {tuple(h.shape)} at mix_layer={k}, got {got}")
    return out


def run_stages(stages: Sequence[nn.Module], h: torch.Tensor, mix_layer: int | None = None,
               mix_fn: MixFn | None = None) -> torch.Tensor:
    """Run ``stages`` in order, mixing the hidden tensor at index ``mix_layer``.

    Parameters
    ----------
    stages : sequence of nn.Module
        The modules applied one after the other.
    h : torch.Tensor
        The input of the first stage.
    mix_layer : int or None
        ``k = 0`` mixes the input, ``k = i`` mixes the output of ``stages[i - 1]``
        (``0 <= k <= len(stages)``); None means no mixing. Assumed already validated.
    mix_fn : callable or None
        Maps the hidden tensor to its mixed version (same shape).

    Returns
    -------
    torch.Tensor
        The output of the last stage.
    """
    if mix_layer == 0:
        h = _apply_mix(h, mix_fn, 0)
    for i, stage in enumerate(stages, start=1):
        h = stage(h)
        if mix_layer == i:
            h = _apply_mix(h, mix_fn, i)
    return h


class MixableNet(nn.Module):
    """Base class: an input check, an ordered list of ``stages`` and a ``head``.

    Subclasses set ``self.stages`` (an ``nn.ModuleList``) and ``self.head`` and may override
    ``_check_input``. ``forward(x, mix_layer, mix_fn)`` runs the stages with optional manifold mixing
    (see :func:`run_stages`) and then the head. ``num_mix_layers = len(stages) + 1``.
    """

    stages: nn.ModuleList
    head: nn.Module

    @property
    def num_mix_layers(self) -> int:
        """Number of valid ``mix_layer`` values (``0 .. num_mix_layers - 1``)."""
        return len(self.stages) + 1

    def _check_input(self, x: torch.Tensor) -> None:
        """Raise ValueError if ``x`` is not a valid input (overridden by subclasses)."""

    def forward(self, x: torch.Tensor, mix_layer: int | None = None, mix_fn: MixFn | None = None) -> torch.Tensor:
        """Compute the logits, optionally mixing the hidden tensor at layer ``mix_layer``.

        Parameters
        ----------
        x : torch.Tensor
            Input batch.
        mix_layer : int or None
            Layer at which ``mix_fn`` is applied (0 = input); None for a plain forward pass.
        mix_fn : callable or None
            Maps the hidden tensor at ``mix_layer`` to a tensor of the same shape.

        Returns
        -------
        torch.Tensor
            Logits of shape ``(B, num_classes)``.
        """
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"x must be a torch.Tensor, got {type(x).__name__}")
        k = _check_mix_args(mix_layer, mix_fn, self.num_mix_layers)
        self._check_input(x)
        return self.head(run_stages(self.stages, x, k, mix_fn))


def _check_image(x: torch.Tensor, in_channels: int) -> None:
    if x.dim() != 4 or x.shape[1] != in_channels:
        raise ValueError(f"x must have shape (B, {in_channels}, H, W), got {tuple(x.shape)}")


def _check_dropout(dropout) -> float:
    return check_real("dropout", dropout, low=0.0, high=1.0, high_open=True)


class _PoolHead(nn.Module):
    """Optional BN+ReLU, global average pooling, dropout and a linear classifier."""

    def __init__(self, in_features: int, num_classes: int, dropout: float = 0.0, bn_relu: bool = False):
        super().__init__()
        self.bn = nn.BatchNorm2d(in_features) if bn_relu else None
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.linear = nn.Linear(in_features, num_classes)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        """Map a feature map ``(B, C, H, W)`` to logits ``(B, num_classes)``."""
        if self.bn is not None:
            h = F.relu(self.bn(h))
        h = F.adaptive_avg_pool2d(h, 1).flatten(1)
        return self.linear(self.dropout(h))


def _init_conv_bn_linear(module: nn.Module) -> None:
    """He (fan-out) init for convolutions, unit BN, zero linear bias (WRN / DenseNet convention)."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.zeros_(m.bias)


# --------------------------------------------------------------------------------------------------
# PreAct ResNet-18 (facebookresearch/mixup-cifar10 models/preact_resnet.py)
# --------------------------------------------------------------------------------------------------
class PreActBlock(nn.Module):
    """Pre-activation basic block: BN-ReLU-conv3x3-BN-ReLU-conv3x3 plus a (1x1 conv) shortcut.

    Parameters
    ----------
    in_planes, planes : int
        Input and output channels.
    stride : int
        Stride of the first convolution (and of the shortcut).
    """

    def __init__(self, in_planes: int, planes: int, stride: int = 1):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_planes)
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
        self.shortcut = None
        if stride != 1 or in_planes != planes:
            self.shortcut = nn.Conv2d(in_planes, planes, 1, stride=stride, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the block."""
        out = F.relu(self.bn1(x))
        shortcut = self.shortcut(out) if self.shortcut is not None else x
        out = self.conv1(out)
        out = self.conv2(F.relu(self.bn2(out)))
        return out + shortcut


class PreActResNet18(MixableNet):
    """PreAct ResNet-18 as in the official mixup CIFAR code, with global average pooling.

    Stem conv3x3 (no BN), four stages of two :class:`PreActBlock` (strides 1, 2, 2, 2; channels
    ``width * (1, 2, 4, 8)``), global average pooling, optional dropout, linear layer. Like the official
    model there is no BN-ReLU before pooling. Mix layers: 0 input, 1 stem, 2..5 stages 1..4.

    Parameters
    ----------
    num_classes : int
        Number of classes (>= 2).
    in_channels : int
        Input channels (>= 1).
    width : int
        Channels of the first stage (64 in the paper).
    dropout : float
        Dropout probability before the linear layer, in [0, 1).
    """

    def __init__(self, num_classes: int = 10, in_channels: int = 3, width: int = 64, dropout: float = 0.0):
        super().__init__()
        num_classes = check_num_classes(num_classes)
        self.in_channels = check_int("in_channels", in_channels, low=1)
        width = check_int("width", width, low=1)
        dropout = _check_dropout(dropout)
        stem = nn.Conv2d(self.in_channels, width, 3, stride=1, padding=1, bias=False)
        stages = [stem]
        in_planes = width
        for i, stride in enumerate((1, 2, 2, 2)):
            planes = width * 2 ** i
            stages.append(nn.Sequential(PreActBlock(in_planes, planes, stride), PreActBlock(planes, planes, 1)))
            in_planes = planes
        self.stages = nn.ModuleList(stages)
        self.head = _PoolHead(in_planes, num_classes, dropout, bn_relu=False)

    def _check_input(self, x: torch.Tensor) -> None:
        _check_image(x, self.in_channels)


# --------------------------------------------------------------------------------------------------
# Wide ResNet (Zagoruyko & Komodakis 2016)
# --------------------------------------------------------------------------------------------------
class WideBasicBlock(nn.Module):
    """Pre-activation wide block: BN-ReLU-conv3x3-BN-ReLU-dropout-conv3x3 plus shortcut.

    When the shape changes, the shortcut is a 1x1 convolution of the pre-activated input.

    Parameters
    ----------
    in_planes, planes : int
        Input and output channels.
    stride : int
        Stride of the first convolution.
    dropout : float
        Dropout probability between the two convolutions.
    """

    def __init__(self, in_planes: int, planes: int, stride: int = 1, dropout: float = 0.0):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_planes)
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
        self.shortcut = None
        if stride != 1 or in_planes != planes:
            self.shortcut = nn.Conv2d(in_planes, planes, 1, stride=stride, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the block."""
        out = F.relu(self.bn1(x))
        shortcut = self.shortcut(out) if self.shortcut is not None else x
        out = self.conv1(out)
        out = self.conv2(self.dropout(F.relu(self.bn2(out))))
        return out + shortcut


class WideResNet(MixableNet):
    """Wide ResNet WRN-depth-k: stem conv3x3 (16 ch), three groups, BN-ReLU, pooling, linear.

    Groups have ``n = (depth - 4) / 6`` :class:`WideBasicBlock` each, channels ``16k, 32k, 64k`` and
    strides 1, 2, 2. Mix layers: 0 input, 1 stem, 2..4 groups 1..3.

    Parameters
    ----------
    num_classes : int
        Number of classes (>= 2).
    in_channels : int
        Input channels (>= 1).
    depth : int
        Total depth, ``depth = 6 n + 4`` with ``n >= 1`` (28 for WRN-28-10).
    widen_factor : int
        Width multiplier ``k`` (>= 1).
    dropout : float
        Dropout probability inside every block, in [0, 1).
    """

    def __init__(self, num_classes: int = 10, in_channels: int = 3, depth: int = 28, widen_factor: int = 10,
                 dropout: float = 0.0):
        super().__init__()
        num_classes = check_num_classes(num_classes)
        self.in_channels = check_int("in_channels", in_channels, low=1)
        depth = check_int("depth", depth, low=10)
        if (depth - 4) % 6 != 0:
            raise ValueError(f"depth must be 6n + 4 with n >= 1 (10, 16, 22, 28, ...), got {depth}")
        widen_factor = check_int("widen_factor", widen_factor, low=1)
        dropout = _check_dropout(dropout)
        n = (depth - 4) // 6
        stages = [nn.Conv2d(self.in_channels, 16, 3, stride=1, padding=1, bias=False)]
        in_planes = 16
        for planes, stride in ((16 * widen_factor, 1), (32 * widen_factor, 2), (64 * widen_factor, 2)):
            blocks = []
            for j in range(n):
                blocks.append(WideBasicBlock(in_planes, planes, stride if j == 0 else 1, dropout))
                in_planes = planes
            stages.append(nn.Sequential(*blocks))
        self.stages = nn.ModuleList(stages)
        self.head = _PoolHead(in_planes, num_classes, 0.0, bn_relu=True)
        _init_conv_bn_linear(self)

    def _check_input(self, x: torch.Tensor) -> None:
        _check_image(x, self.in_channels)


# --------------------------------------------------------------------------------------------------
# DenseNet-BC (Huang et al. 2017)
# --------------------------------------------------------------------------------------------------
class _Bottleneck(nn.Module):
    """BN-ReLU-conv1x1(4k)-BN-ReLU-conv3x3(k); output concatenated to the input."""

    def __init__(self, in_planes: int, growth_rate: int, dropout: float):
        super().__init__()
        inter = 4 * growth_rate
        self.bn1 = nn.BatchNorm2d(in_planes)
        self.conv1 = nn.Conv2d(in_planes, inter, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(inter)
        self.conv2 = nn.Conv2d(inter, growth_rate, 3, padding=1, bias=False)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.dropout(self.conv1(F.relu(self.bn1(x))))
        out = self.dropout(self.conv2(F.relu(self.bn2(out))))
        return torch.cat([x, out], 1)


class _Transition(nn.Module):
    """BN-ReLU-conv1x1 (compression)-avgpool2x2."""

    def __init__(self, in_planes: int, out_planes: int, dropout: float):
        super().__init__()
        self.bn = nn.BatchNorm2d(in_planes)
        self.conv = nn.Conv2d(in_planes, out_planes, 1, bias=False)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(self.dropout(self.conv(F.relu(self.bn(x)))), 2, ceil_mode=True)


class DenseNetBC(MixableNet):
    """DenseNet-BC for 32x32 inputs: stem conv3x3 (2k ch), three dense blocks with bottleneck layers.

    Each block has ``n = (depth - 4) / 6`` bottleneck layers; transitions compress the channels by
    ``compression`` and halve the resolution (with ``ceil_mode`` so 28x28 inputs work). Final BN-ReLU,
    global average pooling and a linear layer. Mix layers: 0 input, 1 stem, 2 block 1 + transition,
    3 block 2 + transition, 4 block 3.

    Parameters
    ----------
    num_classes : int
        Number of classes (>= 2).
    in_channels : int
        Input channels (>= 1).
    depth : int
        Total depth, ``6 n + 4`` with ``n >= 1`` (190 for DenseNet-BC-190).
    growth_rate : int
        Growth rate ``k`` (40 for DenseNet-BC-190).
    compression : float
        Transition compression factor in (0, 1].
    dropout : float
        Dropout probability after every convolution of the blocks and transitions, in [0, 1).
    """

    def __init__(self, num_classes: int = 10, in_channels: int = 3, depth: int = 190, growth_rate: int = 40,
                 compression: float = 0.5, dropout: float = 0.0):
        super().__init__()
        num_classes = check_num_classes(num_classes)
        self.in_channels = check_int("in_channels", in_channels, low=1)
        depth = check_int("depth", depth, low=10)
        if (depth - 4) % 6 != 0:
            raise ValueError(f"depth must be 6n + 4 with n >= 1 (10, 16, ..., 40, ..., 190), got {depth}")
        growth_rate = check_int("growth_rate", growth_rate, low=1)
        compression = check_real("compression", compression, low=0.0, high=1.0, low_open=True)
        dropout = _check_dropout(dropout)
        n = (depth - 4) // 6
        planes = 2 * growth_rate
        stages: list[nn.Module] = [nn.Conv2d(self.in_channels, planes, 3, padding=1, bias=False)]
        for b in range(3):
            layers = []
            for _ in range(n):
                layers.append(_Bottleneck(planes, growth_rate, dropout))
                planes += growth_rate
            if b < 2:
                out_planes = max(1, int(planes * compression))
                layers.append(_Transition(planes, out_planes, dropout))
                planes = out_planes
            stages.append(nn.Sequential(*layers))
        self.stages = nn.ModuleList(stages)
        self.head = _PoolHead(planes, num_classes, 0.0, bn_relu=True)
        _init_conv_bn_linear(self)

    def _check_input(self, x: torch.Tensor) -> None:
        _check_image(x, self.in_channels)


# --------------------------------------------------------------------------------------------------
# Spectrogram CNNs: LeNet-style and VGG-11 (the paper's speech models, Section 3.4)
# --------------------------------------------------------------------------------------------------
class LeNet(MixableNet):
    """A LeNet-5-style CNN: conv5x5(6)-ReLU-maxpool2, conv5x5(16)-ReLU-maxpool2, FC 120-84-classes.

    Made independent of the input size by an adaptive average pooling of the second feature map to 5 x 5
    (LeNet-5's 16 x 5 x 5 = 400 features), so the parameter count does not depend on the spectrogram's size:
    ``(k·k·in + 1)·6 + (25·6 + 1)·16 + (400 + 1)·120 + (120 + 1)·84 + (84 + 1)·classes`` (61,876 at 12 classes
    and 1 channel). Inputs must be at least 16 x 16. Mix layers: 0 input, 1 conv block 1, 2 conv block 2.

    Parameters
    ----------
    num_classes : int
        Number of classes (>= 2).
    in_channels : int
        Input channels (1 for a spectrogram).
    dropout : float
        Dropout probability before each fully connected layer after the first, in [0, 1).
    """

    def __init__(self, num_classes: int = 12, in_channels: int = 1, dropout: float = 0.0):
        super().__init__()
        num_classes = check_num_classes(num_classes)
        self.in_channels = check_int("in_channels", in_channels, low=1)
        dropout = _check_dropout(dropout)
        self.stages = nn.ModuleList([
            nn.Sequential(nn.Conv2d(self.in_channels, 6, 5), nn.ReLU(), nn.MaxPool2d(2)),
            nn.Sequential(nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2)),
        ])

        def drop() -> nn.Module:
            return nn.Dropout(dropout) if dropout > 0 else nn.Identity()

        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(5), nn.Flatten(1), nn.Linear(400, 120), nn.ReLU(), drop(),
                                  nn.Linear(120, 84), nn.ReLU(), drop(), nn.Linear(84, num_classes))

    def _check_input(self, x: torch.Tensor) -> None:
        _check_image(x, self.in_channels)
        if x.shape[2] < 16 or x.shape[3] < 16:
            raise ValueError(f"x must be at least 16 x 16 for lenet (two 5x5 convolutions and 2x2 poolings), "
                             f"got {tuple(x.shape)}")


VGG11_CONFIG = (1, "M", 2, "M", 4, 4, "M", 8, 8, "M", 8, 8, "M")
"""VGG-11 (configuration "A"): channels in units of ``width`` (64, M, 128, M, 256, 256, M, 512, 512, M, 512, 512, M
at width 64); "M" is a 2x2 max pooling."""


class VGG11(MixableNet):
    """VGG-11 with batch norm: eight conv3x3-BN-ReLU layers and five 2x2 max poolings, then global average pooling
    and one linear layer (the CIFAR-style VGG head; the paper's speech experiment names VGG-11 only).

    Channels are ``width * (1, 2, 4, 4, 8, 8, 8, 8)`` (64 gives VGG-11's 64 ... 512). The poolings use
    ``ceil_mode`` so that short inputs (a 40 x 101 spectrogram becomes 2 x 4 after five) never vanish. Mix
    layers: 0 input, 1..5 the output of each of the five blocks that end in a pooling.

    Parameters
    ----------
    num_classes : int
        Number of classes (>= 2).
    in_channels : int
        Input channels (1 for a spectrogram).
    width : int
        Channels of the first layer (64 for VGG-11; a narrow 8 or 16 fits a CPU).
    dropout : float
        Dropout probability before the linear layer, in [0, 1).
    """

    def __init__(self, num_classes: int = 12, in_channels: int = 1, width: int = 64, dropout: float = 0.0):
        super().__init__()
        num_classes = check_num_classes(num_classes)
        self.in_channels = check_int("in_channels", in_channels, low=1)
        width = check_int("width", width, low=1)
        dropout = _check_dropout(dropout)
        stages, block, planes = [], [], self.in_channels
        for item in VGG11_CONFIG:
            if item == "M":
                block.append(nn.MaxPool2d(2, ceil_mode=True))
                stages.append(nn.Sequential(*block))
                block = []
            else:
                out = width * item
                block += [nn.Conv2d(planes, out, 3, padding=1, bias=False), nn.BatchNorm2d(out), nn.ReLU(inplace=True)]
                planes = out
        self.stages = nn.ModuleList(stages)
        self.head = _PoolHead(planes, num_classes, dropout, bn_relu=False)
        _init_conv_bn_linear(self)

    def _check_input(self, x: torch.Tensor) -> None:
        _check_image(x, self.in_channels)


# --------------------------------------------------------------------------------------------------
# Small models: MLP (UCI) and GRU (sequences)
# --------------------------------------------------------------------------------------------------
class MLP(MixableNet):
    """The paper's UCI network: Linear-ReLU-Linear-ReLU-Linear on flattened inputs.

    Inputs of any rank >= 2 are flattened to ``(B, in_features)``. Only ``mix_layer = 0`` (the input)
    is supported.

    Parameters
    ----------
    num_classes : int
        Number of classes (>= 2).
    in_features : int
        Number of input features after flattening (>= 1).
    hidden : int
        Width of both hidden layers (128 in the paper).
    dropout : float
        Dropout probability after each hidden ReLU, in [0, 1).
    """

    def __init__(self, num_classes: int = 2, in_features: int = 1, hidden: int = 128, dropout: float = 0.0):
        super().__init__()
        num_classes = check_num_classes(num_classes)
        self.in_features = check_int("in_channels", in_features, low=1)
        hidden = check_int("hidden", hidden, low=1)
        dropout = _check_dropout(dropout)

        def drop() -> nn.Module:
            return nn.Dropout(dropout) if dropout > 0 else nn.Identity()

        self.stages = nn.ModuleList()
        self.head = nn.Sequential(
            nn.Flatten(1),
            nn.Linear(self.in_features, hidden), nn.ReLU(), drop(),
            nn.Linear(hidden, hidden), nn.ReLU(), drop(),
            nn.Linear(hidden, num_classes),
        )

    def _check_input(self, x: torch.Tensor) -> None:
        if x.dim() < 2 or x[0].numel() != self.in_features:
            raise ValueError(f"x must have shape (B, ...) with {self.in_features} features per sample, "
                             f"got {tuple(x.shape)}")


class _GRUHead(nn.Module):
    def __init__(self, in_features: int, hidden: int, num_layers: int, num_classes: int, dropout: float,
                 bidirectional: bool = False):
        super().__init__()
        self.gru = nn.GRU(in_features, hidden, num_layers=num_layers, batch_first=True,
                          dropout=dropout if num_layers > 1 else 0.0, bidirectional=bidirectional)
        self.bidirectional = bidirectional
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.linear = nn.Linear(hidden * (2 if bidirectional else 1), num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 4:  # (B, 1, H, W): rows as time steps
            x = x[:, 0]
        # the GRU itself runs in fp32: under CUDA autocast, cuDNN's RNNs are cast to fp16 whatever dtype was asked
        with torch.autocast(x.device.type, enabled=False):
            _, h_n = self.gru(x.float())
        # the last layer's final state; bidirectional: forward (after the last step) and backward (after the first)
        last = torch.cat([h_n[-2], h_n[-1]], 1) if self.bidirectional else h_n[-1]
        return self.linear(self.dropout(last))


class GRUClassifier(MixableNet):
    """GRU sequence classifier: ``GRU(F, hidden, batch_first)`` and a linear head on the last hidden state
    (bidirectional: the forward direction's last state and the backward direction's, concatenated).

    Takes ``(B, T, F)`` sequences. A single-channel image batch ``(B, 1, H, W)`` is read row by row as a
    sequence of ``H`` steps of ``W`` features (so ``in_channels`` must equal ``W``, e.g. 28 for
    Fashion-MNIST). Only ``mix_layer = 0`` (the input, in the shape given) is supported.

    Parameters
    ----------
    num_classes : int
        Number of classes (>= 2).
    in_features : int
        Features per time step ``F`` (>= 1).
    hidden : int
        GRU hidden size (128).
    num_layers : int
        Number of stacked GRU layers (1).
    dropout : float
        Dropout before the linear head (and between GRU layers when ``num_layers > 1``), in [0, 1).
    bidirectional : bool
        Run a second GRU over the reversed sequence (parameters doubled, head input ``2 * hidden``).
    """

    def __init__(self, num_classes: int = 2, in_features: int = 1, hidden: int = 128, num_layers: int = 1,
                 dropout: float = 0.0, bidirectional: bool = False):
        super().__init__()
        num_classes = check_num_classes(num_classes)
        self.in_features = check_int("in_channels", in_features, low=1)
        hidden = check_int("hidden", hidden, low=1)
        num_layers = check_int("num_layers", num_layers, low=1)
        dropout = _check_dropout(dropout)
        check_bool("bidirectional", bidirectional)
        self.stages = nn.ModuleList()
        self.head = _GRUHead(self.in_features, hidden, num_layers, num_classes, dropout, bidirectional)

    def _check_input(self, x: torch.Tensor) -> None:
        ok = (x.dim() == 3 and x.shape[2] == self.in_features) or (
            x.dim() == 4 and x.shape[1] == 1 and x.shape[3] == self.in_features)
        if not ok:
            raise ValueError(f"x must have shape (B, T, {self.in_features}) or (B, 1, H, {self.in_features}), "
                             f"got {tuple(x.shape)}")


# --------------------------------------------------------------------------------------------------
# Factory
# --------------------------------------------------------------------------------------------------
_BUILDERS: dict[str, tuple[Callable[..., MixableNet], dict]] = {
    "preact_resnet18": (PreActResNet18, {"width": 64, "dropout": 0.0}),
    "wrn28_10": (WideResNet, {"depth": 28, "widen_factor": 10, "dropout": 0.0}),
    "densenet_bc_190": (DenseNetBC, {"depth": 190, "growth_rate": 40, "compression": 0.5, "dropout": 0.0}),
    "mlp": (MLP, {"hidden": 128, "dropout": 0.0}),
    "gru": (GRUClassifier, {"hidden": 128, "num_layers": 1, "dropout": 0.0, "bidirectional": False}),
    "lenet": (LeNet, {"dropout": 0.0}),
    "vgg11": (VGG11, {"width": 64, "dropout": 0.0}),
}

MODEL_NAMES: tuple[str, ...] = tuple(_BUILDERS)


def build_model(name: str, num_classes: int, in_channels: int, **kw) -> MixableNet:
    """Build a model by name.

    Parameters
    ----------
    name : str
        One of :data:`MODEL_NAMES`.
    num_classes : int
        Number of classes (>= 2).
    in_channels : int
        Image channels for the CNNs; number of input features for ``mlp``; features per time step for
        ``gru`` (the image width when reading ``(B, 1, H, W)`` images row by row).
    **kw
        Model options: ``preact_resnet18``: width, dropout; ``wrn28_10``: depth, widen_factor, dropout;
        ``densenet_bc_190``: depth, growth_rate, compression, dropout; ``mlp``: hidden, dropout;
        ``gru``: hidden, num_layers, dropout, bidirectional; ``lenet``: dropout; ``vgg11``: width, dropout.

    Returns
    -------
    MixableNet
        The model, whose ``forward(x, mix_layer=None, mix_fn=None)`` supports manifold mixup.
    """
    check_choice("model", name, MODEL_NAMES)
    cls, defaults = _BUILDERS[name]
    unknown = sorted(set(kw) - set(defaults))
    if unknown:
        raise TypeError(f"unknown option(s) {', '.join(unknown)} for model {name!r}; "
                        f"allowed: {', '.join(defaults)}")
    opts = {**defaults, **kw}
    if cls in (MLP, GRUClassifier):
        return cls(num_classes, in_features=in_channels, **opts)
    return cls(num_classes, in_channels=in_channels, **opts)


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    """Return the number of parameters of ``model`` (only those requiring grad if ``trainable_only``).

    Parameters
    ----------
    model : nn.Module
        The model.
    trainable_only : bool
        Count only parameters with ``requires_grad``.

    Returns
    -------
    int
        The total number of scalar parameters.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)
