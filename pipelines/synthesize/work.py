"""What flows through the synthesize pipeline: tracks, per-text work items, and output records."""
from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass, field
from typing import NamedTuple

from pipelines.io.tags_cell import parse_tags_cell
from pipelines.synthesize.descriptor_tags import descriptor_tags
from pipelines.synthesize.tagset import InputTag


class Track(NamedTuple):
    """A track to describe. (NamedTuples, this and WorkItem: each row makes two Tracks and a WorkItem per
    method, and a frozen dataclass's __init__ costs twice as much.)"""

    music_id: str
    video_id: str | None
    tags: tuple[InputTag, ...]
    ref: str  # where the row came from, for error records
    from_tagger: bool = False  # tags written by `viml-synth tag` (a `tagger` column): picks the example pool


class WorkItem(NamedTuple):
    """One text to write: a track, its selected tags, a method and a sample index."""

    track: Track
    selected: tuple[InputTag, ...]
    method: str
    sample: int
    seed: int
    selection_fallback: bool = False

    @property
    def id(self) -> str:
        return f"{self.track.music_id}/{self.method}/{self.sample}"

    def rng(self) -> random.Random:
        return random.Random(self.seed)


def row_seed(run_seed: int, music_id: str, video_id: str | None, method: str, sample: int) -> int:
    """A row's own seed: stable across runs, workers and row order, distinct per text.

    The hash of json.dumps([run_seed, music_id, video_id, method, sample]); the common case (int, str,
    str or None, str, int) is written by hand with json's own string encoder, which is the same text
    at half the cost of json.dumps (tests compare them)."""
    if type(run_seed) is int and type(sample) is int and type(music_id) is str and type(method) is str \
            and (video_id is None or type(video_id) is str):
        video = "null" if video_id is None else _json_string(video_id)
        key = f"[{run_seed}, {_json_string(music_id)}, {video}, {_json_string(method)}, {sample}]"
    else:
        key = json.dumps([run_seed, music_id, video_id, method, sample])
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:7], "big")


_json_string = json.encoder.encode_basestring_ascii  # what json.dumps writes a str as (ensure_ascii)


class TrackRowError(ValueError):
    reason = "malformed_row"


def track_from_row(raw: dict, ref: str) -> Track:
    """A track from an input row: our tags-*.parquet rows or a user's {music_id, video_id, tags}."""
    music_id = raw.get("music_id")
    if music_id is None or not str(music_id).strip():
        raise TrackRowError("missing music_id")
    if "tags" not in raw or raw["tags"] is None:
        raise TrackRowError("missing tags")
    video_id = raw.get("video_id")
    video_id = str(video_id).strip() or None if video_id is not None else None
    # measured tempo / key (our `descriptors` column, or a user's `bpm` / `key` columns) become tags too
    return Track(str(music_id).strip(), video_id, tuple(parse_tags_cell(raw["tags"])) + tuple(descriptor_tags(raw)),
                 ref, from_tagger=bool(raw.get("tagger")))


@dataclass
class TextOut:
    """A method's result for one WorkItem; `metadata` holds the METADATA_STRUCT fields it knows."""

    text: str
    metadata: dict = field(default_factory=dict)
