"""The video manifest (video_id, video_path [, start_s, end_s]) read like the tag stage's manifest:
CSV/TSV/JSONL/Parquet, local or any Beam URI, relative paths relative to the manifest's folder; a bad
row becomes an error record instead of stopping the run; the rows are read by the workers. (Music
manifests are the tag stage's own format: pipelines.io.manifest.read_manifest.)"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

from pipelines.io.manifest import Manifest, optional_float, optional_str, resolve_path
from pipelines.io.read_rows import check_input, row_id

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
    video_id, video_path = row_id(raw, "video_id"), optional_str(raw, "video_path")
    missing = ["video_path"] if video_path is None else []
    if missing:
        raise ValueError(f"missing required field(s): {', '.join(missing)}")
    start_s, end_s = optional_float(raw, "start_s"), optional_float(raw, "end_s")
    if start_s is not None and end_s is not None and end_s <= start_s:
        raise ValueError(f"end_s ({end_s}) must be greater than start_s ({start_s})")
    extra = {k: v for k, v in raw.items() if k not in REQUIRED + OPTIONAL}
    return VideoRequest(video_id, resolve_path(video_path, path), start_s, end_s, row, path, extra)


def _video(raw: dict, ref: dict) -> VideoRequest:
    return validate_video_row(raw, ref["row"], ref["source"])


def read_video_manifest(path: str, fmt: str | None = None) -> Manifest:
    """The checked video manifest; its rows (VideoRequests) are read by the workers."""
    return Manifest(check_input(path, fmt, REQUIRED, "video_id", "video manifest"), _video, "encoded")
