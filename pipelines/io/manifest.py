"""Input manifests (CSV, TSV, JSONL or Parquet): the launcher checks them, the workers read them.

A malformed row never stops the run: it becomes an error record. Only a manifest that cannot be
used at all (missing, unknown format, not UTF-8, not Parquet, a required column missing) raises
ManifestError, naming the file, before the pipeline starts. See pipelines.io.read_rows.
"""
from __future__ import annotations

import functools
import math
import os
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field

from pipelines.io.read_rows import (
    InputError,
    InputSource,
    ReadInput,
    check_input,
    detect_format,  # noqa: F401 - re-exported for existing callers
    iter_file,
    read_all,
    row_id,
)

REQUIRED = ("music_id", "audio_path")
OPTIONAL = ("start_s", "end_s", "video_id")


ManifestError = InputError  # the manifest as a whole is unusable (exit 2, the file named)


class RowRequest:
    """What a validated manifest row of any medium shares: a segment [start_s, end_s), its row number and
    manifest, and `ref()` for error records. ClipRequest (music) and VideoRequest (video) differ only in
    the names of their id and path, which say which medium they are."""

    def ref(self) -> dict:
        return asdict(self)


def segment(raw: dict) -> tuple[float | None, float | None]:
    """The row's optional start_s / end_s, checked: numbers of seconds, end after start."""
    start_s, end_s = optional_float(raw, "start_s"), optional_float(raw, "end_s")
    if start_s is not None and end_s is not None and end_s <= start_s:
        raise ValueError(f"end_s ({end_s}) must be greater than start_s ({start_s})")
    return start_s, end_s


@dataclass
class ClipRequest(RowRequest):
    """One validated manifest row: what to tag. `row` is the 1-based data row number in the manifest."""

    music_id: str
    audio_path: str
    start_s: float | None = None
    end_s: float | None = None
    video_id: str | None = None
    row: int = 0
    manifest: str = ""
    extra: dict = field(default_factory=dict)


def optional_float(raw: dict, key: str) -> float | None:
    value = raw.get(key)
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{key} must be a number of seconds, got {value!r}") from None
    if not math.isfinite(number) or number < 0:
        raise ValueError(f"{key} must be a finite, non-negative number of seconds, got {value!r}")
    return number


def optional_str(raw: dict, key: str) -> str | None:
    value = raw.get(key)
    if value is None or (isinstance(value, float) and math.isnan(value)):  # NaN: an empty numeric cell
        return None
    value = str(value).strip()
    return value or None


def resolve_path(audio_path: str, manifest_path: str) -> str:
    """Relative local paths are relative to the manifest's folder, so a manifest travels with its audio."""
    if "://" in audio_path or os.path.isabs(audio_path) or "://" in manifest_path:
        return audio_path
    return os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(manifest_path)), audio_path))


def validate_row(raw: dict, row: int, path: str, require_audio: bool = True) -> ClipRequest:
    music_id = row_id(raw, "music_id")
    audio_path = optional_str(raw, "audio_path")
    missing = ["audio_path"] if require_audio and audio_path is None else []
    if missing:
        raise ValueError(f"missing required field(s): {', '.join(missing)}")
    start_s, end_s = segment(raw)
    extra = {k: v for k, v in raw.items() if k not in REQUIRED + OPTIONAL}
    return ClipRequest(music_id, resolve_path(audio_path, path) if audio_path else "", start_s, end_s,
                       optional_str(raw, "video_id"), row, path, extra)


def iter_records(path: str, fmt: str | None = None) -> Iterator[tuple[int, dict | Exception]]:
    """(1-based row number, row dict or the reason it could not be parsed) of one small CSV/TSV/JSONL/
    Parquet file, read here (for side files such as references; manifests go through Manifest)."""
    source = check_input(path, fmt, (), "", "file")
    for one in source.files:
        yield from iter_file(one, source.fmt)


def _clip(raw: dict, ref: dict, require_audio: bool) -> ClipRequest:
    return validate_row(raw, ref["row"], ref["source"], require_audio)


@dataclass
class Manifest:
    """A checked manifest. Its rows are read by the workers through `read()`; `clips`, `errors` and
    `n_rows` read them here instead, which is for tests and small files only."""

    input: InputSource
    validate: Callable
    purpose: str  # completes "only the first is ..."
    stage: str = "manifest"
    _loaded: tuple | None = field(default=None, repr=False)

    @property
    def source(self) -> str:
        return self.input.pattern

    def read(self, spread: bool = True, counter: str = "rows") -> ReadInput:
        return ReadInput(self.input, self.stage, self.purpose, self.validate, spread, counter)

    def _load(self) -> tuple:
        if self._loaded is None:
            self._loaded = read_all(self.input, self.validate, self.stage, self.purpose)
        return self._loaded

    @property
    def clips(self) -> list:
        return self._load()[0]

    @property
    def errors(self) -> list[dict]:
        return self._load()[1]

    @property
    def n_rows(self) -> int:
        return self._load()[2]


def read_manifest(path: str, fmt: str | None = None, require_audio: bool = True) -> Manifest:
    """The tag stage's manifest (music_id, audio_path [, start_s, end_s, video_id]), checked."""
    required = ("music_id", "audio_path") if require_audio else ("music_id",)
    source = check_input(path, fmt, required, "music_id", "manifest")
    return Manifest(source, functools.partial(_clip, require_audio=require_audio), "tagged")
