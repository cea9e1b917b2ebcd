"""A readable table of the top tags per clip, for the demo and for a quick look at an output."""
from __future__ import annotations

import pyarrow.parquet as pq
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from pipelines.io.outputs import committed_files


def _rows(files: list[str], columns: list[str]) -> list[dict]:
    """Rows of the committed files only (a glob could also see a run killed mid-commit), with the columns
    each file has (outputs written before descriptors existed lack that one)."""
    rows = []
    for f in sorted(files):
        with FileSystems.open(f, compression_type=CompressionTypes.UNCOMPRESSED) as fh:
            table = pq.ParquetFile(fh)
            present = set(table.schema_arrow.names)
            rows += table.read(columns=[c for c in columns if c in present]).to_pylist()
    return rows


def top_tags_table(out_dir: str, top: int = 5) -> str:
    rows = _rows(committed_files(out_dir, "tags"), ["music_id", "tags", "descriptors"])
    if not rows:
        return f"(no tagged clips in {out_dir})"
    rows.sort(key=lambda r: r["music_id"])
    width = max(len(r["music_id"]) for r in rows)
    lines = []
    for category in ("genre", "mood", "instrument"):
        lines.append(f"-- top {category} tags --")
        for r in rows:
            best = [t for t in r["tags"] if t["category"] == category][:top]
            cells = ", ".join(f"{t['tag']} {t['confidence']:.2f}" for t in best)
            lines.append(f"{r['music_id']:<{width}}  {cells}")
        lines.append("")
    if any(r.get("descriptors") for r in rows):
        lines.append("-- measured from the audio --")
        for r in rows:
            lines.append(f"{r['music_id']:<{width}}  {describe_cell(r.get('descriptors'))}")
    return "\n".join(lines).rstrip()


def describe_cell(d: dict | None) -> str:
    """"92 BPM, A minor, -14.1 LUFS, danceability 1.21" (fields that failed are left out)."""
    if not d:
        return "(not measured)"
    parts = []
    if d.get("bpm") is not None:
        parts.append(f"{d['bpm']:.0f} BPM")
    if d.get("key"):
        parts.append(d["key"])
    if d.get("loudness_lufs") is not None:
        parts.append(f"{d['loudness_lufs']:.1f} LUFS")
    if d.get("danceability") is not None:
        parts.append(f"danceability {d['danceability']:.2f}")
    failed = [e["descriptor"] for e in d.get("errors") or ()]
    if failed:
        parts.append("failed: " + ", ".join(failed))
    return ", ".join(parts) or "(none)"


def texts_table(out_dir: str, limit: int = 24, width: int = 280) -> str:
    rows = _rows(committed_files(out_dir, "triplets"), ["music_id", "method", "sample", "text"])
    if not rows:
        return f"(no texts in {out_dir})"
    rows.sort(key=lambda r: (r["music_id"], r["method"], r["sample"]))
    lines = []
    for r in rows[:limit]:
        text = r["text"] if len(r["text"]) <= width else r["text"][: width - 3] + "..."
        lines.append(f"{r['music_id']} [{r['method']} #{r['sample']}] {text}")
    if len(rows) > limit:
        lines.append(f"... {len(rows) - limit} more in {out_dir}")
    return "\n".join(lines)
