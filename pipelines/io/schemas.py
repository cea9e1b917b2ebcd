"""Parquet schemas, declared once and imported wherever outputs are written or read."""
import pyarrow as pa

TAG_STRUCT = pa.struct([("tag", pa.string()), ("category", pa.string()), ("confidence", pa.float32())])
SCORE_STRUCT = pa.struct([("model", pa.string()), ("label", pa.string()), ("score", pa.float32())])

TAGS_SCHEMA = pa.schema(
    [
        ("music_id", pa.string()),
        ("video_id", pa.string()),
        ("tagger", pa.string()),
        ("tags", pa.list_(TAG_STRUCT)),
        ("tagger_scores", pa.list_(SCORE_STRUCT)),
        ("duration_s", pa.float64()),
        ("n_patches", pa.int32()),
        # provenance: where the audio came from
        ("audio_path", pa.string()),
        ("start_s", pa.float64()),
        ("end_s", pa.float64()),
    ]
)

ERRORS_SCHEMA = pa.schema(
    [
        ("id", pa.string()),  # music_id when known, else "<manifest>:<row>"
        ("stage", pa.string()),  # manifest | decode | tag | ...
        ("error_type", pa.string()),  # short machine-readable reason
        ("message", pa.string()),  # a sentence a user understands
        ("input_ref", pa.string()),  # the input row as JSON, with its manifest and row number
    ]
)
