"""PyTorch port of musicnn (Pons & Serra 2019; MTG-UPF, ISC licence) for inference.

The module keeps the checkpoint's weights in PyTorch layouts (its state dict maps one to one to
the TF variables, 792,079 numbers) and runs a fast path built from them:

* every block is Conv -> ReLU -> BN -> max over frequency. max commutes exactly with adding a bias,
  with ReLU and with an affine map of positive slope, so we pool the raw conv output first and apply
  bias/ReLU/BN to the small pooled tensor. Channels whose BN slope is negative need the min instead;
  their filters are negated (exact in IEEE arithmetic) so a single max serves every channel.
* convolutions run through torch's oneDNN kernels (F.conv2d / F.conv1d), channels first. On this
  kind of CPU they beat an im2col or banded-Toeplitz GEMM by about 2x: oneDNN uses AVX-512 on any
  x86 vendor, while MKL's GEMM falls back to AVX2 on AMD.
* BN(1506) is folded into the dense layer after it; batches run in small chunks so the large
  conv outputs ([204, T, 59] per patch) stay in cache.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

N_MELS = 96
N_TAGS = 50
BN_EPS = 1e-3  # tf.compat.v1.layers.batch_normalization default
TIMBRAL = {"timbral_38": 38, "timbral_67": 67}  # 0.4 and 0.7 of 96 mel bins, 7 frames long
TEMPORAL = {"temporal_128": 128, "temporal_64": 64, "temporal_32": 32}
N_TIMBRAL, N_TEMPORAL, N_MID, N_DENSE = 204, 51, 64, 200
N_FRONT = 2 * N_TIMBRAL + 3 * N_TEMPORAL  # 561
N_FEATURES = N_FRONT + 3 * N_MID  # 753, pooled by max and mean -> 1506
TEMPORAL_PAD = (63, 64)  # TF 'same' for k=128: (k-1)//2 before, k//2 after


class BatchNorm(nn.Module):
    """Inference batch norm holding the four TF tensors (no num_batches_tracked)."""

    def __init__(self, n: int):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(n))
        self.bias = nn.Parameter(torch.zeros(n))
        self.register_buffer("running_mean", torch.zeros(n))
        self.register_buffer("running_var", torch.ones(n))

    def scale_shift(self) -> tuple[torch.Tensor, torch.Tensor]:
        scale = self.weight / torch.sqrt(self.running_var + BN_EPS)
        return scale, self.bias - self.running_mean * scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # channels last
        scale, shift = self.scale_shift()
        return torch.addcmul(shift, x, scale)


class Musicnn(nn.Module):
    """[B, T, 96] log-mel patches (T = 187 for the released models) -> (logits [B, 50], penultimate [B, 200])."""

    def __init__(self, n_tags: int = N_TAGS):
        super().__init__()
        self.bn_input = BatchNorm(1)
        for name, width in TIMBRAL.items():
            self.add_module(name, nn.Conv2d(1, N_TIMBRAL, (7, width)))
            self.add_module("bn_" + name, BatchNorm(N_TIMBRAL))
        for name, length in TEMPORAL.items():
            self.add_module(name, nn.Conv2d(1, N_TEMPORAL, (length, 1)))
            self.add_module("bn_" + name, BatchNorm(N_TEMPORAL))
        for i, n_in in enumerate((N_FRONT, N_MID, N_MID), start=1):
            self.add_module(f"mid_{i}", nn.Conv1d(n_in, N_MID, 7))
            self.add_module(f"bn_mid_{i}", BatchNorm(N_MID))
        self.bn_pool = BatchNorm(2 * N_FEATURES)
        self.dense = nn.Linear(2 * N_FEATURES, N_DENSE)
        self.bn_dense = BatchNorm(N_DENSE)
        self.out = nn.Linear(N_DENSE, n_tags)
        self._fast: dict[str, torch.Tensor] | None = None
        self.chunk = 2  # patches per internal step of the fast path (benchmarked: 1-2 best)
        self.register_load_state_dict_post_hook(_invalidate_after_load)  # not a lambda: picklable
        self.eval()

    def invalidate(self) -> None:
        """Forget the derived fast-path tensors (call after changing weights in place)."""
        self._fast = None

    def __getstate__(self) -> dict:  # pickles (e.g. Beam) carry the weights, not the derived copies
        state = dict(self.__dict__)
        state["_fast"] = None
        return state

    # ------------------------------------------------------------ derived tensors
    @torch.no_grad()
    def _prepare(self) -> dict[str, torch.Tensor]:
        fast: dict[str, torch.Tensor] = {}
        fast["in_scale"], fast["in_shift"] = self.bn_input.scale_shift()
        for name in (*TIMBRAL, *TEMPORAL):
            conv, bn = getattr(self, name), getattr(self, "bn_" + name)
            scale, shift = bn.scale_shift()
            sign = torch.where(scale < 0, -1.0, 1.0)
            w = conv.weight * sign[:, None, None, None]
            fast[name + "_w"] = w[..., 0] if name in TEMPORAL else w  # temporal: Conv1d over time
            # per-channel vectors shaped [C, 1] to broadcast over [B, C, T]
            fast[name + "_b"] = (conv.bias * sign)[:, None]
            fast[name + "_sign"], fast[name + "_scale"], fast[name + "_shift"] = (
                sign[:, None], scale[:, None], shift[:, None])
        for i in (1, 2, 3):
            scale, shift = getattr(self, f"bn_mid_{i}").scale_shift()
            fast[f"mid_{i}_scale"], fast[f"mid_{i}_shift"] = scale[:, None], shift[:, None]
        # BN(1506) folded into the dense layer that follows it (no nonlinearity in between)
        scale, shift = self.bn_pool.scale_shift()
        fast["dense_w"] = (self.dense.weight * scale).t().contiguous()
        fast["dense_b"] = self.dense.bias + self.dense.weight @ shift
        fast["pen_scale"], fast["pen_shift"] = self.bn_dense.scale_shift()
        fast["out_w"], fast["out_b"] = self.out.weight.t().contiguous(), self.out.bias.clone()
        return {k: v.detach().contiguous() for k, v in fast.items()}

    @staticmethod
    def _pooled_block(pooled: torch.Tensor, p: dict[str, torch.Tensor], name: str) -> torch.Tensor:
        """ReLU then BN applied after the frequency max (see module docstring)."""
        z = torch.relu((pooled + p[name + "_b"]) * p[name + "_sign"])
        return torch.addcmul(p[name + "_shift"], z, p[name + "_scale"])

    # ------------------------------------------------------------ fast path ([B, C, T] layout)
    def _timbral(self, x: torch.Tensor, p: dict[str, torch.Tensor]) -> list[torch.Tensor]:
        padded = F.pad(x[:, None], (0, 0, 3, 3))  # [B, 1, T + 6, 96]: pad time only
        return [self._pooled_block(F.conv2d(padded, p[name + "_w"]).amax(3), p, name) for name in TIMBRAL]

    def _temporal(self, x: torch.Tensor, p: dict[str, torch.Tensor]) -> list[torch.Tensor]:
        b, t, f = x.shape
        # every mel bin is an independent 1-channel signal: [B * 96, 1, T + 127]
        seq = F.pad(x.transpose(1, 2).reshape(b * f, 1, t), TEMPORAL_PAD)
        out = []
        for name, k in TEMPORAL.items():
            start = TEMPORAL_PAD[0] - (k - 1) // 2  # shorter kernels: centred slice of the padding
            y = F.conv1d(seq[..., start:start + t + k - 1], p[name + "_w"])  # [B * 96, 51, T]
            out.append(self._pooled_block(y.view(b, f, -1, t).amax(1), p, name))
        return out

    def _midend(self, front: torch.Tensor, p: dict[str, torch.Tensor]) -> list[torch.Tensor]:
        outs, prev = [], front
        for i in (1, 2, 3):
            conv = getattr(self, f"mid_{i}")
            z = torch.relu(F.conv1d(prev, conv.weight, conv.bias, padding=3))
            z = torch.addcmul(p[f"mid_{i}_shift"], z, p[f"mid_{i}_scale"])
            prev = z if i == 1 else z + prev  # layers 2 and 3 are residual
            outs.append(prev)
        return outs

    def _pool_chunk(self, x: torch.Tensor, p: dict[str, torch.Tensor]) -> torch.Tensor:
        x = x * p["in_scale"] + p["in_shift"]
        front = torch.cat(self._timbral(x, p) + self._temporal(x, p), dim=1)  # [B, 561, T]
        feats = torch.cat([front] + self._midend(front, p), dim=1)  # [B, 753, T]
        # TF concatenates [max, mean] on a trailing axis and flattens: interleaved per feature
        return torch.stack([feats.amax(2), feats.mean(2)], dim=2).flatten(1)

    def _backend(self, pooled: torch.Tensor, p: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        hidden = torch.relu(torch.addmm(p["dense_b"], pooled, p["dense_w"]))
        penultimate = torch.addcmul(p["pen_shift"], hidden, p["pen_scale"])
        return torch.addmm(p["out_b"], penultimate, p["out_w"]), penultimate

    def _chunks(self, x: torch.Tensor) -> tuple[list[torch.Tensor], dict[str, torch.Tensor]]:
        if x.ndim != 3 or x.shape[2] != N_MELS:
            raise ValueError(f"expected [batch, frames, {N_MELS}] log-mel patches, got {tuple(x.shape)}")
        if self._fast is None:
            self._fast = self._prepare()
        # Small chunks keep the big conv outputs cache-sized; whole batches run slower per patch.
        return list(x.float().split(self.chunk)), self._fast

    @torch.no_grad()  # inference only: the fast path uses detached, derived weights
    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits [B, n_tags] and penultimate features [B, 200] (the BN(200) output)."""
        chunks, p = self._chunks(x)
        outs = [self._backend(self._pool_chunk(xb, p), p) for xb in chunks]
        if len(outs) == 1:
            return outs[0]
        return torch.cat([o[0] for o in outs]), torch.cat([o[1] for o in outs])

    @torch.no_grad()
    def pooled(self, x: torch.Tensor) -> torch.Tensor:
        """[B, 1506]: max and mean over time of the front- and mid-end features, interleaved per
        feature (the input of the back end's BN + dense layer)."""
        chunks, p = self._chunks(x)
        return torch.cat([self._pool_chunk(xb, p) for xb in chunks])

    # ------------------------------------------------------------ plain reference
    @torch.no_grad()
    def reference_forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Layer-by-layer transcription of the TF graph; slow, kept to test the fast path."""
        def bn(mod: BatchNorm, y: torch.Tensor, dim: int = 1) -> torch.Tensor:
            scale, shift = mod.scale_shift()
            shape = [1] * y.ndim
            shape[dim] = -1
            return y * scale.view(shape) + shift.view(shape)

        xn = bn(self.bn_input, x[:, None])  # [B, 1, T, 96]
        front = []
        for name in TIMBRAL:
            y = torch.relu(getattr(self, name)(F.pad(xn, (0, 0, 3, 3))))
            front.append(bn(getattr(self, "bn_" + name), y).amax(3))
        for name, k in TEMPORAL.items():
            y = torch.relu(getattr(self, name)(F.pad(xn, (0, 0, (k - 1) // 2, k // 2))))
            front.append(bn(getattr(self, "bn_" + name), y).amax(3))
        layers = [torch.cat(front, 1)]  # [B, 561, T]
        for i in (1, 2, 3):
            y = bn(getattr(self, f"bn_mid_{i}"), torch.relu(getattr(self, f"mid_{i}")(F.pad(layers[-1], (3, 3)))))
            layers.append(y if i == 1 else y + layers[-1])
        feats = torch.cat(layers, 1)
        pooled = torch.stack([feats.amax(2), feats.mean(2)], dim=2).flatten(1)
        hidden = torch.relu(self.dense(bn(self.bn_pool, pooled)))
        penultimate = bn(self.bn_dense, hidden)
        return self.out(penultimate), penultimate


def _invalidate_after_load(module: Musicnn, _incompatible_keys) -> None:
    module.invalidate()


# ---------------------------------------------------------------- TF checkpoint -> module
def _tf_name_map() -> dict[str, tuple[str, str]]:
    """TF variable -> (state-dict key, layout transform)."""
    convs = [*TIMBRAL, *TEMPORAL]
    m: dict[str, tuple[str, str]] = {}
    for i, name in enumerate(convs):
        m[f"conv2d{f'_{i}' if i else ''}/kernel"] = (f"{name}.weight", "conv2d")
        m[f"conv2d{f'_{i}' if i else ''}/bias"] = (f"{name}.bias", "copy")
    for j in (1, 2, 3):
        m[f"conv2d_{len(convs) + j - 1}/kernel"] = (f"mid_{j}.weight", "conv1d")
        m[f"conv2d_{len(convs) + j - 1}/bias"] = (f"mid_{j}.bias", "copy")
    bns = ["bn_input", *("bn_" + n for n in convs), "bn_mid_1", "bn_mid_2", "bn_mid_3", "bn_pool", "bn_dense"]
    for i, name in enumerate(bns):
        tf = f"batch_normalization{f'_{i}' if i else ''}"
        for tf_leaf, leaf in (("gamma", "weight"), ("beta", "bias"),
                              ("moving_mean", "running_mean"), ("moving_variance", "running_var")):
            m[f"{tf}/{tf_leaf}"] = (f"{name}.{leaf}", "copy")
    for tf, name in (("dense", "dense"), ("dense_1", "out")):
        m[f"{tf}/kernel"] = (f"{name}.weight", "dense")
        m[f"{tf}/bias"] = (f"{name}.bias", "copy")
    return m


_TRANSFORMS = {
    "copy": lambda a: a,
    "conv2d": lambda a: a.transpose(3, 2, 0, 1),  # [kh, kw, in, out] -> [out, in, kh, kw]
    "conv1d": lambda a: a[:, :, 0, :].transpose(2, 1, 0),  # [7, C_in, 1, out] -> [out, C_in, 7]
    "dense": lambda a: a.T,  # [in, out] -> [out, in]
}


def state_dict_from_tf(weights: dict[str, np.ndarray], n_tags: int = N_TAGS) -> dict[str, torch.Tensor]:
    """Convert TF variables to this module's state dict, checking names and shapes."""
    expected = Musicnn(n_tags).state_dict()
    name_map = _tf_name_map()
    missing = sorted(set(name_map) - set(weights))
    if missing:
        raise KeyError(f"not a musicnn checkpoint: {len(missing)} variables missing, e.g. {missing[:5]}")
    out = {}
    for tf_name, (key, transform) in name_map.items():
        array = np.ascontiguousarray(_TRANSFORMS[transform](np.asarray(weights[tf_name], dtype=np.float32)))
        if array.shape != tuple(expected[key].shape):
            raise ValueError(f"variable '{tf_name}' has shape {weights[tf_name].shape}, "
                             f"which does not fit {key} {tuple(expected[key].shape)}")
        out[key] = torch.from_numpy(array)
    return out


def from_tf_checkpoint(weights: dict[str, np.ndarray]) -> Musicnn:
    """Build an eval-mode Musicnn from a TF variable dict (see tf_checkpoint.read_checkpoint)."""
    n_tags = int(np.asarray(weights["dense_1/bias"]).shape[0]) if "dense_1/bias" in weights else N_TAGS
    model = Musicnn(n_tags)
    model.load_state_dict(state_dict_from_tf(weights, n_tags), strict=True)
    return model.eval()
