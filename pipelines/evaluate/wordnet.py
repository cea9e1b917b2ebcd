"""WordNet 3.0 for METEOR's synonym stage, read by NLTK's own `WordNetCorpusReader`.

The data is Princeton's WordNet 3.0 as Debian ships it (packages `wordnet-base` and `wordnet-sense-index`,
WordNet 3.0 licence: free use with the copyright notice, which is copied beside the files). `fetch()`
gets them with `apt-get download` (no root needed), unpacks them with `dpkg-deb` and lays them out as
NLTK's own `nltk.download("wordnet")` would: `<root>/corpora/wordnet/`. `make install` runs it through
`viml-synth wordnet`. Debian has no `lexnames` file (NLTK reads it), only its manual page lexnames(5WN),
whose table of the 45 lexicographer files is written out as that file.

`load(root)` returns NLTK's reader for `<root>/corpora/wordnet`; any NLTK wordnet download folder works.
"""
from __future__ import annotations

import gzip
import logging
import os
import re
import shutil
import subprocess
import tempfile
import warnings
from pathlib import Path

from pipelines.resources import cache_dir

log = logging.getLogger(__name__)

PACKAGES = ("wordnet-base", "wordnet-sense-index")
POS = ("noun", "verb", "adj", "adv")
# What NLTK's WordNetCorpusReader opens: lexnames, index.* and data.* (lemmas and synsets), *.exc
# (irregular forms for morphy) and index.sense (its version mapping reads it on every load).
FILES = ["lexnames", "index.sense"] + [f"{kind}.{p}" for kind in ("index", "data") for p in POS] + \
        [f"{p}.exc" for p in POS]
LICENSE = "LICENSE-WordNet-3.0.txt"
SUBDIR = Path("corpora", "wordnet")
_LEXNAMES_ROW = re.compile(r"^(\d\d)\t(\w+)\.(\w+)\s*\t")
_CATEGORY = {"noun": 1, "verb": 2, "adj": 3, "adv": 4}  # lexnames(5WN): the syntactic category codes


class WordNetUnavailable(RuntimeError):
    pass


def default_dir() -> Path:
    """The NLTK data root that holds corpora/wordnet ($VIML_SYNTH_WORDNET, else the cache)."""
    return Path(os.environ.get("VIML_SYNTH_WORDNET") or cache_dir() / "nltk_data")


def fetch(dest: str | os.PathLike | None = None) -> Path:
    """Download and unpack Debian's WordNet 3.0 into `dest`/corpora/wordnet (default: the cache);
    returns `dest`."""
    dest = Path(dest) if dest else default_dir()
    for tool in ("apt-get", "dpkg-deb"):
        if shutil.which(tool) is None:
            raise WordNetUnavailable(f"{tool} not found: WordNet is fetched as Debian's {' and '.join(PACKAGES)}")
    target = dest / SUBDIR
    with tempfile.TemporaryDirectory(prefix="wordnet-") as tmp:
        root = Path(tmp, "root")
        try:
            subprocess.run(["apt-get", "download", *PACKAGES], cwd=tmp, check=True, capture_output=True, text=True,
                           timeout=600)
            for package in PACKAGES:
                [deb] = Path(tmp).glob(f"{package}_*.deb")
                subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], check=True, capture_output=True, text=True,
                               timeout=600)
        except subprocess.CalledProcessError as exc:
            raise WordNetUnavailable(f"{' '.join(exc.cmd[:3])} failed: {(exc.stderr or '').strip()[-300:]}") from None
        except ValueError:
            raise WordNetUnavailable(f"apt-get download {' '.join(PACKAGES)} wrote no .deb file") from None
        share = root / "usr" / "share"
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".wordnet-", dir=target.parent))
        try:
            for name in FILES:
                if name != "lexnames":
                    shutil.copyfile(share / "wordnet" / name, staging / name)
            (staging / "lexnames").write_text(lexnames_from_manual(share / "man" / "man5" / "lexnames.5WN.gz"))
            shutil.copyfile(share / "doc" / PACKAGES[0] / "copyright", staging / LICENSE)
        except (OSError, ValueError) as exc:
            shutil.rmtree(staging, ignore_errors=True)
            raise WordNetUnavailable(f"the WordNet packages did not hold what was expected: {exc}") from None
    if target.exists():
        shutil.rmtree(target)
    staging.rename(target)  # whole or not at all: a half-copied folder would load as a smaller WordNet
    return dest


def lexnames_from_manual(manual: Path) -> str:
    """The `lexnames` file (number, name, category, tab-separated) from the table in lexnames(5WN)."""
    rows = []
    with gzip.open(manual, "rt", encoding="utf-8", errors="replace") as fh:
        for line in fh:
            m = _LEXNAMES_ROW.match(line)
            if m:
                rows.append(f"{m.group(1)}\t{m.group(2)}.{m.group(3)}\t{_CATEGORY[m.group(2)]}\n")
    if len(rows) != 45 or [int(r[:2]) for r in rows] != list(range(45)):
        raise ValueError(f"{manual.name}: expected the 45 lexicographer files 00-44, found {len(rows)}")
    return "".join(rows)


def load(root: str | os.PathLike | None = None):
    """NLTK's WordNetCorpusReader over `root`/corpora/wordnet (default: `default_dir()`)."""
    root = Path(root) if root else default_dir()
    folder = root / SUBDIR
    missing = [name for name in FILES if not (folder / name).is_file()]
    if missing:
        raise WordNetUnavailable(f"no WordNet in {folder} (missing {', '.join(missing)}); "
                                 f"run `viml-synth wordnet` to fetch it")
    import nltk
    from nltk.corpus.reader.wordnet import WordNetCorpusReader

    # NLTK opens corpus files only under its data path, and its version mapping looks "wordnet" up
    # there: the root goes first, so this WordNet is the one found.
    resolved = str(root.resolve())
    if resolved not in nltk.data.path:
        nltk.data.path.insert(0, resolved)
    with warnings.catch_warnings():  # "multilingual functions are not available": not needed here
        warnings.simplefilter("ignore", UserWarning)
        reader = WordNetCorpusReader(str(folder.resolve()), None)
    if reader.get_version() != "3.0":
        raise WordNetUnavailable(f"{folder} holds WordNet {reader.get_version()}, not 3.0")
    return reader


def describe(reader) -> dict:
    return {"wordnet": reader.get_version(), "source": str(getattr(reader.root, "path", reader.root)),
            "reader": "nltk.corpus.reader.wordnet.WordNetCorpusReader"}


def find(folder: str | None = None):
    """The WordNet to use: `folder` ("none": none at all), else the default one when it is there."""
    if folder == "none":
        return None
    if folder:
        return load(folder)  # asked for explicitly: a missing one is an error
    try:
        return load()
    except WordNetUnavailable as exc:
        log.info("%s", exc)
        return None
