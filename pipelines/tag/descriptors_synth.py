"""Clips with a known tempo and key, synthesised: a drum pattern at a given BPM over a chord progression
in a given key. Ground truth for bench/descriptors_accuracy.py and for the descriptor tests.

Written here rather than taken from a library because no installable package makes labelled music; the
sounds are deliberately plain (additive tones, noise drums) and varied per seed (timbre, detuning,
humanised timing, levels) so that an estimator cannot succeed by accident of one timbre.
"""
from __future__ import annotations

import numpy as np

PITCH_CLASSES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
# Progressions in scale degrees (semitones from the tonic, chord quality): the minor one uses the
# harmonic-minor dominant (a major V), as music in a minor key does, so the key is not its relative major.
PROGRESSIONS = {
    "major": [(0, "maj"), (5, "maj"), (7, "maj"), (0, "maj"), (9, "min"), (5, "maj"), (7, "maj"), (0, "maj")],
    "minor": [(0, "min"), (5, "min"), (7, "maj"), (0, "min"), (8, "maj"), (5, "min"), (7, "maj"), (0, "min")],
}
_TRIAD = {"maj": (0, 4, 7), "min": (0, 3, 7)}


def key_name(tonic: int, mode: str) -> str:
    return f"{PITCH_CLASSES[tonic % 12]} {mode}"


def _midi_hz(note: float) -> float:
    return 440.0 * 2.0 ** ((note - 69) / 12.0)


def _tone(hz: float, n: int, sr: int, rng: np.random.Generator, harmonics: int) -> np.ndarray:
    t = np.arange(n) / sr
    out = np.zeros(n)
    for k in range(1, harmonics + 1):
        if hz * k >= sr / 2:
            break
        out += np.sin(2 * np.pi * hz * k * t + rng.uniform(0, 2 * np.pi)) / k ** rng.uniform(1.0, 1.8)
    attack = max(1, int(0.01 * sr))
    env = np.minimum(1.0, np.arange(n) / attack) * np.exp(-t * rng.uniform(0.5, 2.0))
    return out * env


def _kick(sr: int, rng) -> np.ndarray:
    n = int(0.25 * sr)
    t = np.arange(n) / sr
    freq = 50 + 90 * np.exp(-t * 30)
    return np.sin(2 * np.pi * np.cumsum(freq) / sr) * np.exp(-t * rng.uniform(12, 20))


def _snare(sr: int, rng) -> np.ndarray:
    n = int(0.18 * sr)
    t = np.arange(n) / sr
    noise = rng.standard_normal(n) * np.exp(-t * rng.uniform(20, 30))
    return 0.6 * noise + 0.4 * np.sin(2 * np.pi * 185 * t) * np.exp(-t * 25)


def _hat(sr: int, rng) -> np.ndarray:
    n = int(0.05 * sr)
    t = np.arange(n) / sr
    noise = np.diff(rng.standard_normal(n + 1))  # first difference: a crude high-pass
    return noise * np.exp(-t * 80) * 0.3


def _place(track: np.ndarray, sound: np.ndarray, at: int, gain: float) -> None:
    if 0 <= at < len(track):
        end = min(len(track), at + len(sound))
        track[at:end] += gain * sound[: end - at]


def synth_clip(bpm: float, tonic: int, mode: str, seconds: float = 15.0, sr: int = 16000,
               seed: int = 0, drums: bool = True) -> np.ndarray:
    """Mono float32 at `sr`: 4/4 drums at `bpm` (kick 1 and 3, snare 2 and 4, eighth-note hats) over the
    key's progression, one chord per bar, with a bass line on the chord roots; peak level -3 dBFS."""
    if mode not in PROGRESSIONS:
        raise ValueError(f"mode must be major or minor, got {mode!r}")
    rng = np.random.default_rng(seed)
    n = int(seconds * sr)
    beat = 60.0 / bpm
    music = np.zeros(n)
    drum_track = np.zeros(n)
    harmonics = int(rng.integers(3, 8))
    base = 48 + tonic % 12  # chords around C3..B3
    bar_s = 4 * beat
    n_bars = int(np.ceil(seconds / bar_s))
    kick, snare, hat = _kick(sr, rng), _snare(sr, rng), _hat(sr, rng)
    jitter = 0.004 * sr  # humanised timing, +-4 ms
    for bar in range(n_bars):
        degree, quality = PROGRESSIONS[mode][bar % len(PROGRESSIONS[mode])]
        start = int(bar * bar_s * sr)
        length = int(bar_s * sr)
        if start >= n:
            break
        length = min(length, n - start)
        root = base + degree
        for interval in _TRIAD[quality]:
            hz = _midi_hz(root + interval + 12 * (interval == 0 and rng.random() < 0.3))
            music[start:start + length] += 0.25 * _tone(hz * (1 + rng.normal(0, 0.0005)), length, sr, rng, harmonics)
        for half in range(2):  # bass: the chord root on beats 1 and 3, an octave lower
            b_start = start + int(half * 2 * beat * sr)
            b_len = min(int(2 * beat * sr), n - b_start)
            if b_len > 0:
                music[b_start:b_start + b_len] += 0.35 * _tone(_midi_hz(root - 12), b_len, sr, rng, 3)
        if drums:
            for b in range(4):
                at = start + int(b * beat * sr + rng.uniform(-jitter, jitter))
                _place(drum_track, kick if b % 2 == 0 else snare, at, rng.uniform(0.8, 1.0))
                for eighth in range(2):
                    _place(drum_track, hat, at + int(eighth * beat / 2 * sr), rng.uniform(0.5, 0.9))
    drums = drum_track / (np.abs(drum_track).max() or 1.0)
    mix = music / (np.abs(music).max() or 1.0) + drums * rng.uniform(0.6, 1.0)
    mix *= 10 ** (-3 / 20) / (np.abs(mix).max() or 1.0)
    return mix.astype(np.float32)


def tempo_correct(estimate: float, truth: float, tolerance: float = 0.04, factors=(1.0,)) -> bool:
    """Within `tolerance` of truth times one of `factors` (the MIREX Accuracy1/Accuracy2 convention)."""
    return any(abs(estimate - truth * f) <= tolerance * truth * f for f in factors)


OCTAVE_FACTORS = (1.0, 2.0, 3.0, 1 / 2, 1 / 3)


def key_relation(estimate: str, truth: str) -> str:
    """same / fifth / relative / parallel / other, the MIREX key-evaluation categories."""
    (e_tonic, e_mode), (t_tonic, t_mode) = (_parse_key(estimate), _parse_key(truth))
    if (e_tonic, e_mode) == (t_tonic, t_mode):
        return "same"
    if e_mode == t_mode and (e_tonic - t_tonic) % 12 in (5, 7):
        return "fifth"
    if e_mode != t_mode:
        if t_mode == "major" and (e_tonic - t_tonic) % 12 == 9 or t_mode == "minor" and (e_tonic - t_tonic) % 12 == 3:
            return "relative"
        if e_tonic == t_tonic:
            return "parallel"
    return "other"


# MIREX weighted key score per relation
KEY_WEIGHTS = {"same": 1.0, "fifth": 0.5, "relative": 0.3, "parallel": 0.2, "other": 0.0}


def _parse_key(name: str) -> tuple[int, str]:
    tonic, mode = name.split()
    return PITCH_CLASSES.index(tonic), mode
