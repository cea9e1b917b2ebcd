"""musicnn's input representation: the original extractor's log-mel spectrogram, without librosa.

Reproduces ``librosa.feature.melspectrogram(y, sr=16000, n_fft=512, hop_length=256, n_mels=96)``
(librosa 0.11 defaults: periodic Hann, center=True with ZERO padding, power 2, Slaney mel scale
and area norm, fmin 0, fmax sr/2), then the extractor's float16 round trip and ``log10(1e4 x + 1)``.
"""
from __future__ import annotations

import functools

import numpy as np
import torch

SAMPLE_RATE = 16000
N_FFT = 512
HOP = 256
N_MELS = 96
PATCH_FRAMES = 187  # 3 s: librosa.time_to_frames(3, sr=16000, hop_length=256) + 1


# ---------------------------------------------------------------- Slaney mel scale
_F_SP = 200.0 / 3  # Hz per mel below the break
_MIN_LOG_HZ = 1000.0
_MIN_LOG_MEL = _MIN_LOG_HZ / _F_SP
_LOGSTEP = np.log(6.4) / 27.0


def hz_to_mel(hz: np.ndarray) -> np.ndarray:
    """Slaney (Auditory Toolbox) mel scale: linear below 1 kHz, logarithmic above."""
    hz = np.asarray(hz, dtype=np.float64)
    mel = hz / _F_SP
    log_part = _MIN_LOG_MEL + np.log(np.maximum(hz, _MIN_LOG_HZ) / _MIN_LOG_HZ) / _LOGSTEP
    return np.where(hz >= _MIN_LOG_HZ, log_part, mel)


def mel_to_hz(mel: np.ndarray) -> np.ndarray:
    mel = np.asarray(mel, dtype=np.float64)
    hz = _F_SP * mel
    log_part = _MIN_LOG_HZ * np.exp(_LOGSTEP * (mel - _MIN_LOG_MEL))
    return np.where(mel >= _MIN_LOG_MEL, log_part, hz)


@functools.lru_cache(maxsize=4)
def mel_filterbank(sr: int = SAMPLE_RATE, n_fft: int = N_FFT, n_mels: int = N_MELS,
                   fmin: float = 0.0, fmax: float | None = None) -> np.ndarray:
    """[n_fft//2 + 1, n_mels] float32 triangular filters with Slaney area normalisation.

    Computed in float64, stored float32, then scaled by the area norm in float32 as librosa does,
    so the weights match librosa.filters.mel bit for bit.
    """
    fmax = sr / 2 if fmax is None else fmax
    fft_freqs = np.fft.rfftfreq(n_fft, d=1.0 / sr)
    mel_f = mel_to_hz(np.linspace(hz_to_mel(fmin), hz_to_mel(fmax), n_mels + 2))
    fdiff = np.diff(mel_f)
    ramps = mel_f[:, None] - fft_freqs[None, :]
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper)).astype(np.float32)
    weights *= (2.0 / (mel_f[2:] - mel_f[:-2]))[:, None]
    weights = np.ascontiguousarray(weights.T)
    weights.setflags(write=False)
    return weights


@functools.lru_cache(maxsize=1)
def _mel_basis() -> torch.Tensor:
    return torch.from_numpy(mel_filterbank().copy())


@functools.lru_cache(maxsize=1)
def _hann() -> torch.Tensor:
    """Periodic Hann, as scipy's get_window('hann', N, fftbins=True) that librosa uses."""
    return torch.hann_window(N_FFT, periodic=True, dtype=torch.float32)


def n_frames(n_samples: int) -> int:
    """Frames produced for a clip: center=True pads n_fft//2 each side, so 1 + n // hop."""
    return 1 + n_samples // HOP


def min_samples(patch_frames: int = PATCH_FRAMES) -> int:
    """Fewest 16 kHz samples that yield one patch (47,616 for 187 frames, about 2.98 s)."""
    return (patch_frames - 1) * HOP


def min_patch_seconds(patch_frames: int = PATCH_FRAMES) -> float:
    """Shortest clip duration (s) that yields one patch: 2.976 s for 187 frames."""
    return min_samples(patch_frames) / SAMPLE_RATE


def _power_spectrogram(audio: np.ndarray) -> torch.Tensor:
    y = np.asarray(audio, dtype=np.float32)
    if y.ndim != 1:
        raise ValueError(f"expected 1-D mono audio, got shape {y.shape}")
    padded = torch.nn.functional.pad(torch.from_numpy(np.ascontiguousarray(y)), (N_FFT // 2, N_FFT // 2))
    spec = torch.stft(padded, N_FFT, HOP, window=_hann(), center=False, return_complex=True)
    return torch.view_as_real(spec).pow(2).sum(-1).T  # [frames, 257]


def power_spectrogram(audio: np.ndarray) -> np.ndarray:
    """[frames, 257] float32 |STFT|^2 with zero-padded centring (librosa >= 0.10).

    torch.stft in float32 is about 5x faster than librosa's float64 FFT and differs by ~3e-7
    relative, far below the float16 rounding that follows.
    """
    return _power_spectrogram(audio).contiguous().numpy()


def mel_power(audio: np.ndarray) -> np.ndarray:
    """[frames, 96] float32 mel power spectrogram (librosa.feature.melspectrogram, transposed)."""
    # the product runs in torch: NumPy's own BLAS threads fight torch's for the cores (10-50x slower)
    return (_power_spectrogram(audio) @ _mel_basis()).numpy()


def log_mel(audio: np.ndarray) -> np.ndarray:
    """[frames, 96] float32 musicnn input for mono float32 audio at 16 kHz."""
    # The original stores the mel as float16. Cast back to float32 BEFORE scaling: under NumPy 2
    # 10000 * float16 stays float16 and overflows to inf (junk tags for every track).
    mel = mel_power(audio).astype(np.float16).astype(np.float32)
    return np.log10(np.float32(10000.0) * mel + np.float32(1.0))


def to_patches(logmel: np.ndarray, n_frames: int = PATCH_FRAMES, hop: int = PATCH_FRAMES) -> np.ndarray:
    """[P, n_frames, 96] patches starting at frame 0 every ``hop`` frames; partial tail dropped."""
    total, n_bins = logmel.shape
    if total < n_frames:
        return np.zeros((0, n_frames, n_bins), dtype=logmel.dtype)
    starts = range(0, total - n_frames + 1, hop)
    if hop == n_frames:
        return np.ascontiguousarray(logmel[: len(starts) * n_frames].reshape(-1, n_frames, n_bins))
    return np.stack([logmel[s:s + n_frames] for s in starts])


def stream_patches(blocks, patches_per_block: int):
    """`to_patches(log_mel(signal))` for a signal given as an iterable of 1-D blocks, yielded as
    arrays of at most `patches_per_block` patches, holding only about one block of samples.

    Frame f of the centred STFT covers samples [f*HOP - N_FFT/2, f*HOP + N_FFT/2), so a run of whole
    patches needs the samples from its first frame's start to its last frame's end; each run is
    computed on that slice alone (left zero padding = librosa's centring at the start, right zero
    padding at the end), then the buffer drops the samples no later frame needs.
    """
    per_patch = PATCH_FRAMES * HOP
    half = N_FFT // 2
    buf = np.zeros(half, np.float32)  # the centring pad; buf[0] is frame `done * PATCH_FRAMES`'s first sample

    def take(n_patches: int) -> np.ndarray:
        span = (n_patches * PATCH_FRAMES - 1) * HOP + N_FFT
        spec = _log_mel_frames(buf[:span])
        return np.ascontiguousarray(spec.reshape(n_patches, PATCH_FRAMES, N_MELS))

    for block in blocks:
        buf = np.concatenate([buf, np.asarray(block, np.float32)])
        while len(buf) >= (patches_per_block * PATCH_FRAMES - 1) * HOP + N_FFT:
            yield take(patches_per_block)
            buf = buf[patches_per_block * per_patch:]
    buf = np.concatenate([buf, np.zeros(half, np.float32)])  # the centring pad at the end
    frames = 1 + (len(buf) - N_FFT) // HOP if len(buf) >= N_FFT else 0
    if frames // PATCH_FRAMES:
        yield take(frames // PATCH_FRAMES)


def _log_mel_frames(padded: np.ndarray) -> np.ndarray:
    """`log_mel` of an already padded slice: frames at 0, HOP, ... with no centring of its own."""
    x = torch.from_numpy(np.ascontiguousarray(padded))
    spec = torch.stft(x, N_FFT, HOP, window=_hann(), center=False, return_complex=True)
    mel = (torch.view_as_real(spec).pow(2).sum(-1).T @ _mel_basis()).numpy()
    mel = mel.astype(np.float16).astype(np.float32)
    return np.log10(np.float32(10000.0) * mel + np.float32(1.0))
