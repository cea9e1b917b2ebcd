"""The features directory's data contract, declared once (written by the pipeline, read by training).

  video-*.parquet   one row per video (segment): features [T, D] = one row per sampled frame
  music-*.parquet   one row per music clip: features [S, D] = one row per audio segment (3 s patch)
  text-*.parquet    one row per distinct text, including "" (the text-dropout NULL): features [D]
  errors-<modality>-*.parquet  every input that failed, with its reason (pipelines.io.schemas.ERRORS_SCHEMA)
  encoders.json     encoder names, model ids/versions, dims and settings per modality
  summary.json      counts per modality (inputs = rows + errors), timing, options, versions
"""
import pyarrow as pa

from pipelines.io.schemas import ERRORS_SCHEMA

FORMAT = "viml-synth/features/1"
MATRIX = pa.list_(pa.list_(pa.float32()))  # [rows, D]
VECTOR = pa.list_(pa.float32())  # [D]

VIDEO_SCHEMA = pa.schema([
    ("video_id", pa.string()),
    ("features", MATRIX),  # [T, D], T = floor((end_s - start_s) * fps) (at least 1)
    ("n_frames", pa.int32()),
    ("timestamps", VECTOR),  # [T] sampling times in seconds from the start of the video
    ("start_s", pa.float64()),  # the segment actually sampled (end clamped to the video)
    ("end_s", pa.float64()),
    ("video_path", pa.string()),
])

MUSIC_SCHEMA = pa.schema([
    ("music_id", pa.string()),
    ("features", MATRIX),  # [S, D]: one row per segment (musicnn: 3 s patch)
    ("n_segments", pa.int32()),
    ("start_s", pa.float64()),  # as requested in the manifest (null: from the start / to the end)
    ("end_s", pa.float64()),
    ("duration_s", pa.float64()),  # of the decoded audio
    ("audio_path", pa.string()),
])

TEXT_SCHEMA = pa.schema([
    ("text", pa.string()),
    ("features", VECTOR),  # [D]
])

SCHEMAS = {"video": VIDEO_SCHEMA, "music": MUSIC_SCHEMA, "text": TEXT_SCHEMA}
KEYS = {"video": "video_id", "music": "music_id", "text": "text"}

__all__ = ["ERRORS_SCHEMA", "FORMAT", "KEYS", "MUSIC_SCHEMA", "SCHEMAS", "TEXT_SCHEMA", "VIDEO_SCHEMA"]
