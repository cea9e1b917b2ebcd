"""The report of a real (small) synthesize run, rendered by headless Chromium: the page is not blank, its
example texts are in the rendered DOM, and it loads nothing from anywhere."""
from __future__ import annotations

import html.parser
import json
import re
import subprocess
import sys

import pyarrow.parquet as pq
import pytest

from pipelines.report import browser

CHROMIUM = browser.find_chromium()
TRACKS = [
    {"music_id": "t1", "video_id": "v1", "tags": ["rock", "electric guitar", "energetic", "drums"]},
    {"music_id": "t2", "tags": ["jazz", "piano", "calm", "double bass"]},
    {"music_id": "t3", "video_id": "v3", "tags": ["electronic", "synthesizer", "happy"]},
    {"music_id": "t4", "tags": ["classical", "violin", "sad", "strings"]},
    {"music_id": "t5", "tags": ["hip hop", "male vocals", "dark"]},
]


def viml_synth(*args: str) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, "-m", "pipelines.cli", *args], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


class _ExampleTexts(html.parser.HTMLParser):
    """The text of every element of class example-text in a DOM dump."""

    def __init__(self):
        super().__init__()
        self.texts, self._depth, self._buf = [], 0, []

    def handle_starttag(self, tag, attrs):
        if self._depth:
            self._depth += 1
        elif "example-text" in (dict(attrs).get("class") or "").split():
            self._depth, self._buf = 1, []

    def handle_endtag(self, tag):
        if self._depth:
            self._depth -= 1
            if not self._depth:
                self.texts.append("".join(self._buf))

    def handle_data(self, data):
        if self._depth:
            self._buf.append(data)


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("report")
    (tmp / "tags.jsonl").write_text("".join(json.dumps(t) + "\n" for t in TRACKS))
    viml_synth("synthesize", "--input", str(tmp / "tags.jsonl"), "--out", str(tmp / "run"),
               "--methods", "tags,data2text", "--samples-per-track", "2", "--log-level", "WARNING")
    out = tmp / "report.html"
    done = viml_synth("report", "--triplets", str(tmp / "run"), "--out", str(out), "--log-level", "WARNING")
    assert done.stdout.strip() == str(out)
    texts = [t for f in sorted((tmp / "run").glob("triplets-*.parquet"))
             for t in pq.read_table(f, columns=["text"]).column(0).to_pylist()]
    return tmp, out, texts


def test_report_is_self_contained(report):
    _, out, texts = report
    page = out.read_text(encoding="utf-8")
    assert len(texts) == 20
    # nothing fetched from anywhere: no external script, stylesheet, image, font or frame
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)
    assert not re.search(r"url\(\s*['\"]?(https?:)?//", page)
    assert "<script" not in page
    assert page.count("<svg") >= 5


@pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium not installed (Debian: apt-get install chromium)")
def test_chromium_renders_the_examples(report):
    tmp, out, texts = report
    parser = _ExampleTexts()
    parser.feed(browser.dump_dom(out))
    assert sorted(parser.texts) == sorted(texts)  # 5 tracks x 2 methods x 2 samples, every one shown

    shot = browser.screenshot(out, tmp / "report.png", 1280, 2000)
    from PIL import Image

    image = Image.open(shot).convert("RGB")
    assert image.size == (1280, 2000)
    small = image.resize((320, 500))
    pixels = list(small.getdata())
    not_white = sum(1 for p in pixels if min(p) < 235) / len(pixels)
    assert not_white > 0.05, f"page looks blank: {not_white:.1%} of it is not white"
    assert len(set(pixels)) > 50  # text, charts and the header, not one flat colour
