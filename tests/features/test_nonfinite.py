"""`features` never writes a non-finite vector: a real encoder (a tiny CLIP whose embedding of one
token is NaN) makes the texts holding that token NaN; they end in errors-text with their reason, the
others are written, every input is accounted for, and RunInference's metrics are in summary.json."""
import glob
import json
import shutil

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipelines.features.encoders import text_encoder
from pipelines.features.pipeline import FeaturesJob, run
from pipelines.io.schemas import TRIPLETS_SCHEMA

GOOD = ["a calm piano song", "happy pop music for dancing", "sad strings and a slow beat"]
POISONED = "loud rock with electric guitars"


@pytest.fixture(scope="module")
def nan_clip(tiny_clip, tmp_path_factory) -> str:
    """The tiny CLIP with NaN as the embedding of a token only POISONED uses."""
    import torch
    from transformers import AutoTokenizer, CLIPModel

    path = tmp_path_factory.mktemp("nan-clip")
    shutil.copytree(tiny_clip, path, dirs_exist_ok=True)
    tokenizer = AutoTokenizer.from_pretrained(tiny_clip)
    used_elsewhere = {i for t in GOOD + [""] for i in tokenizer(t)["input_ids"]}
    only_poisoned = [i for i in tokenizer(POISONED)["input_ids"] if i not in used_elsewhere]
    assert only_poisoned, "the test needs a token that only the poisoned text uses"
    model = CLIPModel.from_pretrained(tiny_clip)
    with torch.no_grad():
        model.text_model.embeddings.token_embedding.weight[only_poisoned[0]] = float("nan")
    model.save_pretrained(path)
    return str(path)


def test_the_poisoned_encoder_really_gives_nan_for_that_text_only(nan_clip):
    encoder = text_encoder(f"clip:{nan_clip}")
    feats = encoder.encode(encoder.load(), GOOD + [POISONED])
    assert np.isfinite(feats[:3]).all() and not np.isfinite(feats[3]).any()


def test_non_finite_features_go_to_errors_never_to_the_output(nan_clip, tmp_path):
    rows = [{"video_id": f"v{i}", "music_id": f"m{i}", "method": "tags", "sample": 0, "text": t, "tags": [],
             "metadata": None} for i, t in enumerate(GOOD + [POISONED])]
    pq.write_table(pa.Table.from_pylist(rows, schema=TRIPLETS_SCHEMA), tmp_path / "triplets-00000-of-00001.parquet")
    out = tmp_path / "out"
    summary = run(FeaturesJob(out_dir=str(out), triplets=str(tmp_path / "triplets-*.parquet"),
                              text_encoder=text_encoder(f"clip:{nan_clip}"), batch_texts=8))

    written = [r for f in glob.glob(str(out / "text-*.parquet")) for r in pq.read_table(f).to_pylist()]
    assert sorted(r["text"] for r in written) == sorted(GOOD + [""])
    assert all(np.isfinite(r["features"]).all() for r in written)
    errors = [r for f in glob.glob(str(out / "errors-text-*.parquet")) for r in pq.read_table(f).to_pylist()]
    assert [(e["id"], e["stage"], e["error_type"]) for e in errors] == [(POISONED, "encode_text", "bad_features")]
    assert "NaN or infinite" in errors[0]["message"]

    text = json.loads((out / "summary.json").read_text())["modalities"]["text"]
    assert (text["inputs"], text["encoded"], text["failed"], text["adds_up"]) == (5, 4, 1, True)
    assert text["errors_by_type"] == {"bad_features": 1}
    inference = text["inference"]
    assert inference["elements"] == 5 and inference["batch_size"]["max"] <= 8
    assert inference["inference_ms_per_element"] > 0 and inference["failed_batches"] == 0
    assert summary["modalities"]["text"]["inference"] == inference
