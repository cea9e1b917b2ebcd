import pytest

from pipelines.tag.vocabulary import LabelMapping, ScoredLabel, Vocabulary, VocabularyError


@pytest.fixture(scope="module")
def vocab():
    return Vocabulary.load()


def test_packaged_vocabulary_has_paper_sizes(vocab):
    assert vocab.category_sizes() == {"genre": 20, "mood": 28, "instrument": 41}
    # tags from the paper's worked examples are in it
    for name in ["rock", "hip-hop", "frantic", "dreamy", "synthesizer keyboard", "electronic drumset", "lead vocals"]:
        assert vocab.get(name) is not None, name
    assert vocab.get("Hip-Hop").name == "hip-hop"  # case-insensitive lookup
    assert all(t.display for t in vocab.tags)


def test_musicnn_mapping_covers_all_labels_and_valid_targets(vocab):
    mapping = LabelMapping.load(vocab, "musicnn")
    assert set(mapping.table) == {"MSD_musicnn", "MTT_musicnn"}
    assert all(len(labels) == 50 for labels in mapping.table.values())
    covered = mapping.covered_tags([(m, label) for m, t in mapping.table.items() for label in t])
    assert len(covered) > 40 and "rock" in covered and "violin" in covered


def test_apply_merges_with_max_and_keeps_every_tag_sorted(vocab):
    mapping = LabelMapping.load(vocab, "musicnn")
    rows = mapping.apply([
        ScoredLabel("MSD_musicnn", "rock", 0.7), ScoredLabel("MTT_musicnn", "rock", 0.9),
        ScoredLabel("MSD_musicnn", "female vocalists", 0.4), ScoredLabel("MSD_musicnn", "00s", 0.99),
    ])
    assert len(rows) == len(vocab)
    assert rows[0] == {"tag": "rock", "category": "genre", "confidence": 0.9}
    by_tag = {r["tag"]: r["confidence"] for r in rows}
    assert by_tag["female vocals"] == by_tag["vocals"] == 0.4  # one label can feed several tags
    assert [r["confidence"] for r in rows] == sorted((r["confidence"] for r in rows), reverse=True)


def test_identity_mapping_matches_names_and_ignores_unknown(vocab):
    rows = LabelMapping.identity(vocab).apply([ScoredLabel("x", "Jazz", 0.5),
                                               ScoredLabel("x", "mellow piano melody", 1.0)])
    assert rows[0]["tag"] == "jazz" and rows[1]["confidence"] == 0.0


def test_non_finite_score_is_rejected(vocab):
    with pytest.raises(ValueError, match="non-finite"):
        LabelMapping.identity(vocab).apply([ScoredLabel("x", "jazz", float("nan"))])


def test_mapping_to_unknown_tag_names_file_and_line(vocab, tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("models:\n  m:\n    rock: [rock]\n    shoegaze: [dreampop]\n")
    with pytest.raises(VocabularyError, match=r"bad.yaml, line 4: label 'shoegaze' maps to 'dreampop'"):
        LabelMapping.load(vocab, path)


def test_vocabulary_with_duplicate_tag_is_rejected(tmp_path):
    path = tmp_path / "v.yaml"
    path.write_text("categories:\n  genre:\n    rock: Rock\n  mood:\n    Rock: Rocky\n")
    with pytest.raises(VocabularyError, match="line 5: tag 'Rock' appears twice"):
        Vocabulary.load(path)


def test_broken_yaml_is_reported(tmp_path):
    path = tmp_path / "v.yaml"
    path.write_text("categories: [unclosed\n")
    with pytest.raises(VocabularyError, match="not valid YAML"):
        Vocabulary.load(path)
