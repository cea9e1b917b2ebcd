import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipelines.io.manifest import ManifestError, read_manifest


def _errors(manifest):
    return {(e["id"], e["error_type"]) for e in manifest.errors}


def test_csv_rows_validated_with_reasons(tmp_path):
    path = tmp_path / "m.csv"
    path.write_text(
        "music_id,audio_path,start_s,end_s,video_id\n"
        "a,a.ogg,,,v1\n"
        "b,/abs/b.wav,1.5,4,\n"
        ",c.ogg,,,\n"          # no music_id
        "d,d.ogg,5,2,\n"       # end before start
        "e,e.ogg,x,,\n"        # not a number
        "a,other.ogg,,,\n"     # duplicate id
        "f,f.ogg\n"            # wrong field count
        "\n"
    )
    m = read_manifest(str(path))
    assert m.n_rows == 7
    assert [c.music_id for c in m.clips] == ["a", "b"]
    assert m.clips[0].audio_path == str(tmp_path / "a.ogg")  # relative to the manifest
    assert m.clips[0].video_id == "v1" and m.clips[1].video_id is None
    assert (m.clips[1].start_s, m.clips[1].end_s) == (1.5, 4.0)
    assert _errors(m) == {(f"{path}:3", "malformed_row"), ("d", "malformed_row"), ("e", "malformed_row"),
                          ("a", "duplicate_id"), ("f", "malformed_row")}
    messages = " | ".join(e["message"] for e in m.errors)
    assert "missing required field(s): music_id" in messages
    assert "end_s (2.0) must be greater than start_s (5.0)" in messages
    assert "already used by row 1" in messages
    assert "expected 5 fields, found 2" in messages
    assert len(m.clips) + len(m.errors) == m.n_rows


def test_jsonl_and_parquet(tmp_path):
    jl = tmp_path / "m.jsonl"
    jl.write_text(json.dumps({"music_id": 1, "audio_path": "x.mp3", "end_s": 3}) + "\n{broken\n")
    m = read_manifest(str(jl))
    assert m.clips[0].music_id == "1" and m.clips[0].end_s == 3.0
    assert m.errors[0]["error_type"] == "malformed_row" and "invalid JSON" in m.errors[0]["message"]

    pqf = tmp_path / "m.parquet"
    pq.write_table(pa.table({"music_id": ["p", "q"], "audio_path": ["gs://b/p.ogg", None], "genre": ["x", "y"]}), pqf)
    m = read_manifest(str(pqf))
    assert m.clips[0].audio_path == "gs://b/p.ogg" and m.clips[0].extra == {"genre": "x"}
    assert "audio_path" in m.errors[0]["message"]


@pytest.mark.parametrize("name,content,match", [
    ("missing.csv", None, "missing.csv does not exist"),
    ("m.txt", "x", "cannot tell the file format"),
    ("empty.csv", "", "empty"),
    ("cols.csv", "id,path\n1,a.ogg\n", r"needs the column\(s\) music_id"),
    ("bad.parquet", "not parquet", "bad.parquet is not a readable Parquet"),
])
def test_unusable_manifest_raises(tmp_path, name, content, match):
    path = tmp_path / name
    if content is not None:
        path.write_text(content)
    with pytest.raises(ManifestError, match=match):
        read_manifest(str(path))


def test_audio_optional_when_not_required(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("music_id,tags\nz,\"rock, jazz\"\n")
    m = read_manifest(str(path), require_audio=False)
    assert m.clips[0].audio_path == "" and m.clips[0].extra == {"tags": "rock, jazz"}


# ---------------------------------------------------------------- issue 8 (11): inputs named in every message

def test_non_utf8_manifest_names_the_file(tmp_path):
    path = tmp_path / "latin1.csv"
    path.write_bytes("music_id,audio_path\ncaf\u00e9,a.ogg\n".encode("latin-1"))
    with pytest.raises(ManifestError, match=r"latin1.csv is not UTF-8 text \(byte 0xe9"):
        read_manifest(str(path))


def test_missing_required_column_is_a_manifest_error(tmp_path):
    path = tmp_path / "m.csv"
    path.write_text("music_id,path\na,a.ogg\n")  # audio_path missing: not a row problem
    with pytest.raises(ManifestError, match=r"m.csv needs the column\(s\) audio_path \(header: music_id, path\)"):
        read_manifest(str(path))


def test_nan_music_id_is_an_error_row_not_the_id_nan(tmp_path):
    path = tmp_path / "m.parquet"
    pq.write_table(pa.table({"music_id": [1.0, float("nan")], "audio_path": ["a.ogg", "b.ogg"]}), path)
    m = read_manifest(str(path))
    assert [c.music_id for c in m.clips] == ["1.0"]
    assert [(e["id"], e["error_type"]) for e in m.errors] == [(f"{path}:2", "malformed_row")]
    assert "music_id is nan" in m.errors[0]["message"]


def test_symlink_loop_is_reported_as_such(tmp_path):
    loop = tmp_path / "loop.csv"
    loop.symlink_to(loop)
    with pytest.raises(ManifestError, match="symbolic link loop"):
        read_manifest(str(loop))
    dangling = tmp_path / "dangling.csv"
    dangling.symlink_to(tmp_path / "gone.csv")
    with pytest.raises(ManifestError, match="symbolic link to something that does not exist"):
        read_manifest(str(dangling))


def test_symlink_loop_audio_is_reported_as_such(tmp_path):
    from pipelines.io.media_source import MediaDecodeError, load_source

    loop = tmp_path / "a.ogg"
    loop.symlink_to(loop)
    with pytest.raises(MediaDecodeError, match="symbolic link loop") as info:
        load_source(str(loop), "audio", MediaDecodeError)
    assert info.value.reason == "missing_file"


def test_non_utf8_row_after_the_header_check_names_file_and_row(tmp_path):
    from pipelines.io.read_rows import HEAD_BYTES

    path = tmp_path / "big.csv"
    filler = "".join(f"id{i},a{i}.ogg\n" for i in range(HEAD_BYTES // 10))
    path.write_bytes(("music_id,audio_path\n" + filler).encode() + b"caf\xe9,x.ogg\n")
    m = read_manifest(str(path))
    bad = [e for e in m.errors if e["error_type"] == "malformed_row"]
    assert len(bad) == 1 and f"{path} row" in bad[0]["message"] and "not UTF-8" in bad[0]["message"]
    assert len(m.clips) + len(m.errors) == m.n_rows
