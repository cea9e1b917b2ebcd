"""The video manifest (video_id, video_path [, start_s, end_s]) read like the tag stage's manifest:
CSV/TSV/JSONL/Parquet, local or any Beam URI, relative paths relative to the manifest's folder; a bad
row becomes an error record instead of stopping the run. (Music manifests are the tag stage's own
format: pipelines.io.manifest.read_manifest.)"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

from pipelines.io.errors import error_record
from pipelines.io.manifest import (Manifest, ManifestError, RowError, optional_float, optional_str, resolve_path,
                                   iter_records)

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
    items: list[VideoRequest] = []
    errors: list[dict] = []
    first_row: dict[str, int] = {}
    n_rows, columns = 0, set()
    for row, raw in iter_records(path, fmt):
        n_rows += 1
        columns |= set(raw) if isinstance(raw, dict) else set()
        fields = raw.partial if isinstance(raw, RowError) else raw if isinstance(raw, dict) else None
        ref = {"manifest": path, "row": row, "raw": fields}
        try:
            if isinstance(raw, Exception):
                raise raw
            item = validate_video_row(raw, row, path)
        except ValueError as exc:
            rid = optional_str(fields, "video_id") if fields else None
            errors.append(error_record(rid or f"{path}:{row}", "manifest", "malformed_row",
                                       f"manifest row {row}: {exc}", ref))
            continue
        if item.video_id in first_row:
            errors.append(error_record(item.video_id, "manifest", "duplicate_id",
                                       f"manifest row {row}: video_id '{item.video_id}' was already used by row "
                                       f"{first_row[item.video_id]}; only the first is encoded", ref))
            continue
        first_row[item.video_id] = row
        items.append(item)
    if n_rows == 0:
        raise ManifestError(f"{path}: the manifest has no rows")
    if not items and columns and not set(REQUIRED) <= columns:
        raise ManifestError(f"{path}: a video manifest needs the columns {', '.join(REQUIRED)} "
                            f"(found: {', '.join(sorted(columns))})")
    return Manifest(items, errors, n_rows, path)
