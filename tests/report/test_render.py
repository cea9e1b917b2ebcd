"""`viml-synth report` with every option on the hand-made runs: each section is there with its numbers."""
import html
import re

from report_fixtures import TEXTS, write_run, write_tags

from pipelines.cli import main


def _text(page: str) -> str:
    """The page's visible text, one space between words (tags stripped, entities decoded)."""
    body = re.sub(r"<svg.*?</svg>", " ", page, flags=re.S)
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", body)))


def test_every_section(run_dir, tmp_path, capsys):
    other = {m: {k: v for k, v in rows.items() if k != "b"} for m, rows in TEXTS.items()}
    other["data2text"]["c"] = ("A jazz song with piano", 2 / 3, [])
    b_dir = write_run(tmp_path / "b", other)
    tags_dir = write_tags(tmp_path / "tags", descriptors=True)
    refs = tmp_path / "refs.csv"
    refs.write_text("ytid,caption\na,A calm rock song with a piano.\nc,A jazz song with piano and drums.\n")
    out = tmp_path / "r" / "report.html"
    status = main(["report", "--triplets", str(run_dir), "--compare", str(b_dir), "--tags", str(tags_dir),
                   "--references", str(refs), "--id-column", "ytid", "--no-embed", "--wordnet", "none",
                   "--out", str(out), "--log-level", "WARNING"])
    assert status == 0 and capsys.readouterr().out.strip() == str(out)
    page = out.read_text(encoding="utf-8")
    text = _text(page)
    for section in ("run", "tags", "tagger", "texts", "examples", "references", "compare"):
        assert f'id="{section}"' in page
    assert "data2text template_error 2" in text  # failures by reason
    assert "Highest mean confidence per category genre mood rock 0.553 calm 0.420 jazz 0.253" in text
    assert "Tempo (mean 105)" in page and "Key" in page  # descriptor charts
    # references: 2 tracks have one; each method scores its 2 texts of those tracks
    assert "tags 2 of 2, data2text 2 of 2" in text
    assert re.search(r"method n B1 B2 B3 B4 METEOR ROUGE-L .* tags 2 ", text)
    # comparison on the 2 shared tracks; data2text coverage 0.667 -> 0.833
    assert "Both restricted to the 2 tracks they share (A has 3, B 2)" in text
    assert "mean coverage 1.000 1.000 +0.000 0.667 0.833 +0.167" in text  # tags, then data2text
    assert "A: A jazz song with male vocals and drums" in text and "B: A jazz song with piano" in text
    for rows in TEXTS.values():
        for example, *_ in rows.values():
            assert html.escape(example, quote=False) in page


def test_a_run_without_summary_or_errors_still_reports(tmp_path, capsys):
    run = write_run(tmp_path / "run")
    (run / "summary.json").unlink()
    for f in run.glob("errors-*.parquet"):
        f.unlink()
    out = tmp_path / "report.html"
    assert main(["report", "--triplets", str(run), "--out", str(out), "--log-level", "WARNING"]) == 0
    text = _text(out.read_text(encoding="utf-8"))
    assert "None: every input row has its texts." in text and "3 tracks" in text


def test_missing_triplets_is_a_usage_error(tmp_path, capsys):
    assert main(["report", "--triplets", str(tmp_path / "nothing"), "--out", str(tmp_path / "r.html")]) == 2
    assert "no triplets-*.parquet" in capsys.readouterr().err
