"""hf:<model> backend on a tiny audio-classification model built from a config and saved locally."""
import glob
import json

import numpy as np
import pyarrow.parquet as pq
import pytest
import soundfile as sf

from pipelines.io.manifest import ClipRequest, read_manifest
from pipelines.tag.backends import from_spec
from pipelines.tag.pipeline import TagJob, run
from pipelines.tag.vocabulary import Vocabulary
from tests.tag.backends.tiny_models import audioset_classifier

LABELS = ["rock", "jazz", "Metal", "birdsong", "bowed strings"]


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    return audioset_classifier(tmp_path_factory.mktemp("tiny-audio-classifier"), LABELS)


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    folder = tmp_path_factory.mktemp("hf-audio")
    rng = np.random.default_rng(0)
    t = np.arange(int(22050 * 2.5)) / 22050
    for name in ("tone", "noise"):
        audio = 0.3 * np.sin(2 * np.pi * 440 * t) if name == "tone" else 0.2 * rng.standard_normal(len(t))
        sf.write(folder / f"{name}.wav", np.stack([audio, audio], axis=1), 22050)
    (folder / "m.csv").write_text("music_id,audio_path\ntone,tone.wav\nnoise,noise.wav\nmissing,nope.wav\n")
    return folder


def test_backend_scores_windows_and_maps_labels(tiny_model, clips, tmp_path):
    label_map = tmp_path / "map.yaml"
    label_map.write_text("models:\n  '*':\n    bowed strings: [strings, violin]\n    birdsong: null\n")
    backend = from_spec(f"hf:{tiny_model}", label_map=str(label_map), hf_window_s=1.0)
    state = backend.load()
    assert state["sample_rate"] == 8000 and state["multi_label"]
    prepared = backend.prepare(ClipRequest("tone", str(clips / "tone.wav")), state)
    assert [len(w) for w in prepared.features] == [8000, 8000]  # 2.5 s -> two 1 s windows, 0.5 s tail dropped
    [scores] = backend.predict(state, [prepared])
    assert prepared.n_patches == 2
    assert [s.label for s in scores] == LABELS and all(0 < s.score < 1 for s in scores)
    rows = {r["tag"]: r["confidence"] for r in backend.label_mapping(Vocabulary.load()).apply(scores)}
    by_label = {s.label: s.score for s in scores}
    assert rows["metal"] == pytest.approx(by_label["Metal"])       # matched by name
    assert rows["violin"] == rows["strings"] == pytest.approx(by_label["bowed strings"])


def test_pipeline_with_hf_backend(tiny_model, clips, tmp_path):
    backend = from_spec(f"hf:{tiny_model}")
    summary = run(TagJob(read_manifest(str(clips / "m.csv")), backend, str(tmp_path / "out"), Vocabulary.load()))
    assert (summary["counts"]["tagged"], summary["counts"]["failed"]) == (2, 1)
    assert summary["counts"]["errors_by_type"] == {"missing_file": 1}
    rows = pq.read_table(glob.glob(str(tmp_path / "out" / "tags-*.parquet"))[0]).to_pylist()
    assert {r["tagger"] for r in rows} == {f"hf:{tiny_model}"}
    assert all(r["n_patches"] == 1 and r["duration_s"] == pytest.approx(2.5, abs=0.01) for r in rows)
    assert json.loads((tmp_path / "out" / "summary.json").read_text())["tagger"]["model"] == tiny_model
