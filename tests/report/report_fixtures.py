"""Writers of a hand-made synthesize run (triplets, errors, summary.json) and tag run, small enough to count by hand."""
from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from pipelines.io.schemas import ERRORS_SCHEMA, TAGS_SCHEMA, TRIPLETS_SCHEMA
from pipelines.synthesize.triplets import METADATA_FIELDS

TRACK_TAGS = {  # music_id -> (video_id, selected tags, selection fallback)
    "a": ("v1", [("rock", "genre"), ("piano", "instrument"), ("calm", "mood")], False),
    "b": (None, [("rock", "genre"), ("guitar", "instrument")], True),
    "c": ("v3", [("jazz", "genre"), ("piano", "instrument"), ("calm", "mood")], False),
}
# method -> music_id -> (text, coverage, hallucinated tags)
TEXTS = {
    "tags": {"a": ("rock, piano, calm", 1.0, []), "b": ("guitar, rock", 1.0, []), "c": ("jazz, calm, piano", 1.0, [])},
    "data2text": {
        "a": ("A calm rock song with piano.", 1.0, []),
        "b": ("Loud rock with drums and a guitar", 1.0, ["acoustic drumset"]),
        "c": ("A jazz song with male vocals and drums", 1 / 3, ["male vocals", "acoustic drumset"]),
    },
}


def triplet_row(music_id: str, method: str, text: str, coverage: float, hallucinated: list[str]) -> dict:
    video_id, tags, fallback = TRACK_TAGS[music_id]
    metadata = {k: None for k in METADATA_FIELDS}
    metadata.update(seed=1, selection_fallback=fallback,
                    fidelity={"coverage": coverage, "mentioned": [], "missing": [], "hallucinated": hallucinated})
    return {"video_id": video_id, "music_id": music_id, "method": method, "sample": 0, "text": text,
            "tags": [{"tag": t, "category": c, "confidence": 0.5} for t, c in tags], "metadata": metadata}


def write_run(folder: Path, texts: dict = TEXTS, errors: list[tuple] = ()) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for method, rows in texts.items():
        table = pa.Table.from_pylist([triplet_row(m, method, *v) for m, v in rows.items()], TRIPLETS_SCHEMA)
        pq.write_table(table, folder / f"triplets-{method}-00000-of-00001.parquet")
    pq.write_table(pa.Table.from_pylist([{"id": i, "stage": s, "error_type": e, "message": f"{e} of {i}",
                                          "input_ref": "{}"} for i, s, e in errors], ERRORS_SCHEMA),
                   folder / "errors-00000-of-00001.parquet")
    (folder / "summary.json").write_text(json.dumps({
        "stage": "synthesize", "seed": 0,
        "counts": {"input_rows": 4, "bad_input_rows": 1, "tracks": 3, "texts": 6, "failed": len(errors) - 1},
        "per_method": {m: {"texts": 3, "failed": 0, "config": {"method": m}} for m in texts}}))
    return folder


# clip -> (tags with confidences, descriptors or None)
CLIPS = {
    "k1": ([("rock", "genre", 0.92), ("jazz", "genre", 0.12), ("calm", "mood", 0.42)],
           {"bpm": 120.0, "bpm_confidence": 3.0, "key": "A minor", "key_strength": 0.8, "loudness_lufs": -14.0,
            "danceability": 1.2}),
    "k2": ([("rock", "genre", 0.22), ("jazz", "genre", 0.62), ("calm", "mood", 0.82)],
           {"bpm": 90.0, "bpm_confidence": 1.0, "key": "C major", "key_strength": 0.6, "loudness_lufs": -20.0,
            "danceability": 0.8}),
    "k3": ([("rock", "genre", 0.52), ("jazz", "genre", 0.02), ("calm", "mood", 0.02)], None),
}
def write_tags(folder: Path, descriptors: bool) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    # the real tags schema; without descriptors, the schema of outputs written before that column existed
    schema = TAGS_SCHEMA if descriptors else TAGS_SCHEMA.remove(TAGS_SCHEMA.get_field_index("descriptors"))
    rows = []
    for clip, (tags, desc) in CLIPS.items():
        row = {"music_id": clip, "tagger": "musicnn", "tags": [{"tag": t, "category": c, "confidence": x}
                                                               for t, c, x in tags], "tagger_scores": []}
        if descriptors:
            row["descriptors"] = desc
        rows.append(row)
    pq.write_table(pa.Table.from_pylist(rows, schema), folder / "tags-00000-of-00001.parquet")
    return folder
