"""Parquet schemas, declared once and imported wherever outputs are written or read."""
import pyarrow as pa

TAG_STRUCT = pa.struct([("tag", pa.string()), ("category", pa.string()), ("confidence", pa.float32())])
SCORE_STRUCT = pa.struct([("model", pa.string()), ("label", pa.string()), ("score", pa.float32())])

# Musical descriptors measured from the audio (pipelines/tag/descriptors.py); null when not computed.
DESCRIPTORS_STRUCT = pa.struct([
    ("bpm", pa.float32()),  # global tempo, beats per minute
    ("bpm_confidence", pa.float32()),  # Essentia RhythmExtractor2013 confidence, 0-5.32
    ("key", pa.string()),  # tonic and mode with sharps: "A minor", "F# major"
    ("key_strength", pa.float32()),  # 0-1
    ("loudness_lufs", pa.float32()),  # integrated loudness, EBU R128
    ("loudness_range_lu", pa.float32()),  # EBU R128 loudness range
    ("danceability", pa.float32()),  # Essentia Danceability (DFA), about 0-3
    ("dynamic_complexity", pa.float32()),  # mean deviation from the global loudness, dB
    ("onset_rate", pa.float32()),  # onsets per second
    ("errors", pa.list_(pa.struct([("descriptor", pa.string()), ("message", pa.string())]))),
])

TAGS_SCHEMA = pa.schema(
    [
        ("music_id", pa.string()),
        ("video_id", pa.string()),
        ("tagger", pa.string()),
        ("tags", pa.list_(TAG_STRUCT)),
        ("tagger_scores", pa.list_(SCORE_STRUCT)),
        ("duration_s", pa.float64()),
        ("n_patches", pa.int32()),
        ("descriptors", DESCRIPTORS_STRUCT),
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

FIDELITY_STRUCT = pa.struct([
    ("coverage", pa.float32()),  # share of input tags the text mentions
    ("mentioned", pa.list_(pa.string())),
    ("missing", pa.list_(pa.string())),
    ("hallucinated", pa.list_(pa.string())),  # vocabulary tags named in the text but not in the input
])

# One struct for every method; fields a method does not use are null.
METADATA_STRUCT = pa.struct([
    ("seed", pa.int64()),  # the row's own seed, derived from the run seed and the row's identity
    ("selection_fallback", pa.bool_()),  # too few tags passed the threshold: the most confident were used
    ("template_ids", pa.list_(pa.string())),  # data2text: templates used, as id@hash
    ("template_version", pa.string()),  # data2text: hash of the whole template bank
    ("rewriter", pa.string()),
    ("prompt_id", pa.string()),  # prompt2text: template file, and a hash of its text
    ("prompt_version", pa.string()),
    ("example_ids", pa.list_(pa.string())),  # prompt2text: the A:A' pairs shown
    ("example_pool_version", pa.string()),
    ("model", pa.string()),
    ("params", pa.string()),  # generation parameters as JSON
    ("cache_key", pa.string()),
    ("cache_hit", pa.bool_()),
    ("attempts", pa.int32()),
    ("latency_s", pa.float32()),
    ("candidates", pa.int32()),
    ("fidelity", FIDELITY_STRUCT),
    ("details", pa.string()),  # method-specific extras as JSON
])

TRIPLETS_SCHEMA = pa.schema([
    ("video_id", pa.string()),
    ("music_id", pa.string()),
    ("method", pa.string()),
    ("sample", pa.int32()),
    ("text", pa.string()),
    ("tags", pa.list_(TAG_STRUCT)),  # the tags that went in (after selection)
    ("metadata", METADATA_STRUCT),
])
