

def test_rows_hint_counts_local_lines_and_parquet_footers(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from pipelines.progress import rows_hint

    (tmp_path / "m.csv").write_text("music_id,audio_path\na,x.wav\nb,y.wav")  # no final newline
    (tmp_path / "t.jsonl").write_text('{"a": 1}\n{"a": 2}\n{"a": 3}\n')
    pq.write_table(pa.table({"a": [1, 2, 3, 4]}), tmp_path / "p-0.parquet")
    assert rows_hint(str(tmp_path / "m.csv")) == 2
    assert rows_hint(str(tmp_path / "t.jsonl")) == 3
    assert rows_hint(str(tmp_path / "p-*.parquet")) == 4
    assert rows_hint(str(tmp_path / "missing.csv")) is None
    assert rows_hint("gs://bucket/m.csv") is None
