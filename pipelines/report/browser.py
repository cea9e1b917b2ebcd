"""Headless Chromium on a report page: its rendered DOM, and screenshots (the README's docs/report.png).

    .venv/bin/python -m pipelines.report.browser demo/out/report.html docs/report.png

Chromium runs with a fresh profile and without any of its background network traffic; the page
itself loads nothing (see tests/report/test_report_browser.py).
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import tempfile
from pathlib import Path

FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars")


def find_chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def _run(page: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    binary = find_chromium()
    if binary is None:
        raise FileNotFoundError("chromium not found (Debian: apt-get install chromium)")
    with tempfile.TemporaryDirectory(prefix="viml-synth-chromium-") as profile:
        done = subprocess.run([binary, *FLAGS, f"--user-data-dir={profile}", *args, Path(page).resolve().as_uri()],
                              capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"chromium failed ({done.returncode}): {done.stderr[-2000:]}")
    return done


def dump_dom(page: Path) -> str:
    """The page's DOM after Chromium rendered it, serialized."""
    return _run(page, "--dump-dom").stdout


def screenshot(page: Path, png: Path, width: int = 1280, height: int = 2000) -> Path:
    _run(page, f"--window-size={width},{height}", f"--screenshot={Path(png).resolve()}")
    return Path(png)


def docs_png(page: Path, png: Path, width: int = 1200, height: int = 1500, scale_to: int = 960) -> Path:
    """A small PNG of the top of the page for the README: scaled down, 256 colours."""
    from PIL import Image

    with tempfile.TemporaryDirectory() as tmp:
        raw = screenshot(page, Path(tmp) / "raw.png", width, height)
        image = Image.open(raw).convert("RGB")
        image = image.resize((scale_to, round(image.height * scale_to / image.width)), Image.LANCZOS)
        image.quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(png, optimize=True)
    return Path(png)


def main() -> None:
    parser = argparse.ArgumentParser(description="a small PNG of a report page, made by headless Chromium")
    parser.add_argument("page", type=Path)
    parser.add_argument("png", type=Path)
    args = parser.parse_args()
    print(docs_png(args.page, args.png))


if __name__ == "__main__":
    main()
