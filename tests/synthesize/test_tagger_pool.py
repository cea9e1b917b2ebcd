"""The analogy pool in the tagger's style: vocabulary tags matched from MusicCaps aspects, used by default
for tags that come from `viml-synth tag`."""
import glob
import json

import pyarrow.parquet as pq

from pipelines.cli import EXIT_OK, main
from pipelines.synthesize.descriptor_tags import tempo_tags
from pipelines.synthesize.prompt2text.examples import default_pool_path, load_pool, tagger_pool_path
from pipelines.tag.vocabulary import Vocabulary

VOCAB = Vocabulary.load()


def test_pool_holds_only_vocabulary_and_tempo_tags():
    pool = load_pool(tagger_pool_path())
    assert len(pool.examples) == 64
    allowed = {t.name for t in VOCAB.tags} | set(tempo_tags())
    for ex in pool.examples:
        assert len(ex.tags) >= 3 and set(ex.tags) <= allowed, ex
        assert ex.id.startswith("musiccaps:")
    assert any(set(ex.tags) & set(tempo_tags()) for ex in pool.examples)


def test_aspects_are_matched_through_aliases_surface_forms_and_negation():
    import importlib.util
    from pathlib import Path

    from pipelines.synthesize.fidelity import matcher_for

    spec = importlib.util.spec_from_file_location(
        "build_tagger_pool", Path(__file__).resolve().parents[2] / "prompts" / "build_tagger_pool.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    aspects = ["rock", "passionate male vocal", "groovy bass guitar", "punchy kick and snare hits", "no drums",
               "shimmering shakers", "low quality", "medium tempo", "slow", "energetic"]
    tags = module.tagger_tags(aspects, VOCAB, matcher_for(VOCAB))
    assert tags == ["rock", "energetic", "male vocals", "electric bass", "medium tempo"]


def test_tagger_rows_get_the_tagger_pool_and_user_rows_the_musiccaps_pool(server, tmp_path):
    import pyarrow as pa

    from pipelines.io.schemas import TAG_STRUCT

    tags = [{"tag": "rock", "category": "genre", "confidence": 0.8},
            {"tag": "electric guitar", "category": "instrument", "confidence": 0.6},
            {"tag": "male vocals", "category": "instrument", "confidence": 0.5}]
    table = pa.table({"music_id": ["tagged"], "tagger": ["musicnn"], "tags": pa.array([tags], pa.list_(TAG_STRUCT))})
    pq.write_table(table, tmp_path / "tags-00000-of-00001.parquet")
    (tmp_path / "user.jsonl").write_text(json.dumps({"music_id": "user", "tags": ["rock", "electric guitar"]}) + "\n")
    for name, source in (("t", str(tmp_path / "tags-*.parquet")), ("u", str(tmp_path / "user.jsonl"))):
        assert main(["synthesize", "--input", source, "--out", str(tmp_path / name), "--methods", "prompt2text",
                     "--llm-base-url", f"{server.url}/v1", "--llm-model", "loopback-llm", "--no-cache",
                     "--log-level", "WARNING"]) == EXIT_OK
    rows = {r["music_id"]: r for f in glob.glob(f"{tmp_path}/*/triplets-*.parquet")
            for r in pq.read_table(f).to_pylist()}
    assert rows["tagged"]["metadata"]["example_pool_version"] == load_pool(tagger_pool_path()).version
    assert rows["user"]["metadata"]["example_pool_version"] == load_pool(default_pool_path()).version
    tagger_ids = {e.id for e in load_pool(tagger_pool_path()).examples}
    assert set(rows["tagged"]["metadata"]["example_ids"]) <= tagger_ids
