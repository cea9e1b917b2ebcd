"""The video manifest (video_id, video_path [, start_s, end_s]) read like the tag stage's manifest:
CSV/TSV/JSONL/Parquet, local or any Beam URI, relative paths relative to the manifest's folder; a bad
row becomes an error record instead of stopping the run. (Music manifests are the tag stage's own
format: pipelines.io.manifest.read_manifest.)"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

from pipelines.io.manifest import Manifest, optional_float, optional_str, read_validated, resolve_path

REQUIRED = ("video_id", "video_path")
OPTIONAL = ("start_s", "end_s")


@dataclass
class VideoRequest:
    video_id: str
    video_path: str
    start_s: float | None = None
    end_s: float | None = None
    row: int = 0
    manifest: str = ""
    extra: dict = field(default_factory=dict)

    def ref(self) -> dict:
        return asdict(self)


def validate_video_row(raw: dict, row: int, path: str) -> VideoRequest:
    video_id, video_path = optional_str(raw, "video_id"), optional_str(raw, "video_path")
    missing = [k for k, v in (("video_id", video_id), ("video_path", video_path)) if v is None]
    if missing:
        raise ValueError(f"missing required field(s): {', '.join(missing)}")
    start_s, end_s = optional_float(raw, "start_s"), optional_float(raw, "end_s")
    if start_s is not None and end_s is not None and end_s <= start_s:
        raise ValueError(f"end_s ({end_s}) must be greater than start_s ({start_s})")
    extra = {k: v for k, v in raw.items() if k not in REQUIRED + OPTIONAL}
    return VideoRequest(video_id, resolve_path(video_path, path), start_s, end_s, row, path, extra)


def read_video_manifest(path: str, fmt: str | None = None) -> Manifest:
    """Manifest whose `clips` are VideoRequests; malformed and duplicate rows are in `errors`."""
    return read_validated(path, fmt, validate_video_row, "video_id", "encoded", REQUIRED)
