"""A readable table of the top tags per clip, for the demo and for a quick look at an output."""
from __future__ import annotations

import pyarrow.parquet as pq
from apache_beam.io.filesystems import FileSystems


def top_tags_table(out_dir: str, top: int = 5) -> str:
    files = [m.path for m in FileSystems.match([FileSystems.join(out_dir, "tags-*.parquet")])[0].metadata_list]
    rows = [r for f in sorted(files) for r in pq.read_table(f, columns=["music_id", "tags"]).to_pylist()]
    if not rows:
        return f"(no tagged clips in {out_dir})"
    rows.sort(key=lambda r: r["music_id"])
    width = max(len(r["music_id"]) for r in rows)
    lines = []
    for category in ("genre", "mood", "instrument"):
        lines.append(f"{'top ' + category:<{width}}  " + "")
        for r in rows:
            best = [t for t in r["tags"] if t["category"] == category][:top]
            cells = ", ".join(f"{t['tag']} {t['confidence']:.2f}" for t in best)
            lines.append(f"{r['music_id']:<{width}}  {cells}")
        lines.append("")
    return "\n".join(lines).rstrip()
