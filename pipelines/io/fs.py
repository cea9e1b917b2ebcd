"""Listing files through Beam's FileSystems (local paths and any URI Beam opens), in one place."""
from __future__ import annotations

from apache_beam.io.filesystems import FileSystems


def matched(pattern: str) -> list:
    """FileMetadata (path, size_in_bytes) of the files matching a glob, sorted by path; [] when nothing
    matches (Beam raises, rather than matching nothing, for a folder that does not exist)."""
    try:
        found = FileSystems.match([pattern])[0].metadata_list
    except Exception:
        return []
    return sorted(found, key=lambda m: m.path)


def match_paths(pattern: str) -> list[str]:
    return [m.path for m in matched(pattern)]
