import pytest

from pipelines.io.manifest import ClipRequest
from pipelines.tag.backends.precomputed import PrecomputedBackend, PrecomputedTagsError, parse_tags_cell


@pytest.mark.parametrize("cell,expected", [
    (["rock", "jazz"], [("rock", 1.0), ("jazz", 1.0)]),
    ("rock, mellow piano melody", [("rock", 1.0), ("mellow piano melody", 1.0)]),
    ('[{"tag": "rock", "confidence": 0.25}]', [("rock", 0.25)]),
    ({"rock": 0.5, "sad": 0}, [("rock", 0.5), ("sad", 0.0)]),
    ([{"tag": "rock", "category": "genre", "confidence": None}], [("rock", 1.0)]),
])
def test_parse_tags_cell_forms(cell, expected):
    assert parse_tags_cell(cell) == expected


@pytest.mark.parametrize("cell,match", [
    ([{"tag": "rock", "confidence": 1.5}], r"within \[0, 1\]"),
    ([{"tag": "rock", "confidence": "high"}], "not a number"),
    ('[{"tag": ', "not valid JSON"),
    ([], "no tags"),
    (42, "must be a list or mapping"),
    ([{"name": "rock"}], "cannot read tag entry"),
])
def test_parse_tags_cell_rejects(cell, match):
    with pytest.raises(PrecomputedTagsError, match=match):
        parse_tags_cell(cell)


def test_backend_looks_up_by_music_id(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text('music_id,tags\na,"rock, jazz"\nb,\n')
    backend = PrecomputedBackend(str(path))
    state = backend.load()
    prepared = backend.prepare(ClipRequest("a", ""), state)
    [scores] = backend.predict(state, [prepared])
    assert [(s.model, s.label, s.score) for s in scores] == [("precomputed", "rock", 1.0), ("precomputed", "jazz", 1.0)]
    with pytest.raises(PrecomputedTagsError, match="no precomputed tags for music_id 'zz'"):
        backend.prepare(ClipRequest("zz", ""), state)
    with pytest.raises(PrecomputedTagsError):
        backend.prepare(ClipRequest("b", ""), state)
