"""WordNet 3.0 synonyms for METEOR's synonym stage, read from the database files themselves.

The data is Princeton's WordNet 3.0 as Debian ships it (package `wordnet-base`, WordNet 3.0 licence:
free use with the copyright notice, which is copied beside the files). `fetch()` gets the package with
`apt-get download` (no root needed) and unpacks it with `dpkg-deb`; `make install` runs it through
`viml-synth wordnet`. Nothing else is needed: the files are parsed here.

`synonyms(word)`: every lemma of every synset of the word's base forms, in all four parts of speech,
which is what NLTK's METEOR matches a hypothesis word against. Base forms come from WordNet's own
morphology: its exception lists (`noun.exc`: "geese goose"), then its suffix rules, keeping only forms
that are WordNet lemmas.
"""
from __future__ import annotations

import functools
import logging
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from pipelines.resources import cache_dir

log = logging.getLogger(__name__)

POS = ("noun", "verb", "adj", "adv")
PACKAGE = "wordnet-base"
FILES = [f"data.{p}" for p in POS] + [f"{p}.exc" for p in POS]
LICENSE = "LICENSE-WordNet-3.0.txt"
# WordNet's detachment rules (morph.c / wndb(5WN)): suffix -> ending, per part of speech
SUFFIX_RULES = {
    "noun": (("s", ""), ("ses", "s"), ("xes", "x"), ("zes", "z"), ("ches", "ch"), ("shes", "sh"), ("men", "man"),
             ("ies", "y")),
    "verb": (("s", ""), ("ies", "y"), ("es", "e"), ("es", ""), ("ed", "e"), ("ed", ""), ("ing", "e"), ("ing", "")),
    "adj": (("er", ""), ("est", ""), ("er", "e"), ("est", "e")),
    "adv": (),
}


class WordNetUnavailable(RuntimeError):
    pass


def default_dir() -> Path:
    return Path(os.environ.get("VIML_SYNTH_WORDNET") or cache_dir() / "wordnet")


def fetch(dest: str | os.PathLike | None = None) -> Path:
    """Download and unpack Debian's wordnet-base into `dest` (default: the cache); returns the folder."""
    dest = Path(dest) if dest else default_dir()
    for tool in ("apt-get", "dpkg-deb"):
        if shutil.which(tool) is None:
            raise WordNetUnavailable(f"{tool} not found: WordNet is fetched as Debian's {PACKAGE} package")
    with tempfile.TemporaryDirectory(prefix="wordnet-") as tmp:
        try:
            subprocess.run(["apt-get", "download", PACKAGE], cwd=tmp, check=True, capture_output=True, text=True,
                           timeout=600)
            [deb] = Path(tmp).glob(f"{PACKAGE}_*.deb")
            subprocess.run(["dpkg-deb", "-x", str(deb), str(Path(tmp, "root"))], check=True, capture_output=True,
                           text=True, timeout=600)
        except subprocess.CalledProcessError as exc:
            raise WordNetUnavailable(f"{' '.join(exc.cmd[:3])} failed: {(exc.stderr or '').strip()[-300:]}") from None
        except ValueError:
            raise WordNetUnavailable(f"apt-get download {PACKAGE} wrote no .deb file") from None
        source = Path(tmp, "root", "usr", "share")
        staging = Path(tempfile.mkdtemp(prefix=".wordnet-", dir=_parent(dest)))
        try:
            for name in FILES:
                shutil.copyfile(source / "wordnet" / name, staging / name)
            shutil.copyfile(source / "doc" / PACKAGE / "copyright", staging / LICENSE)
        except OSError as exc:
            shutil.rmtree(staging, ignore_errors=True)
            raise WordNetUnavailable(f"the {PACKAGE} package did not hold what was expected: {exc}") from None
    if dest.exists():
        shutil.rmtree(dest)
    staging.rename(dest)  # whole or not at all: a half-copied folder would load as a smaller WordNet
    return dest


def _parent(dest: Path) -> Path:
    dest.parent.mkdir(parents=True, exist_ok=True)
    return dest.parent


class WordNet:
    """Lemma -> synsets and synset -> lemmas for the four parts of speech, from the `data.*` files."""

    def __init__(self, synsets: dict[str, dict[str, list[int]]], lemmas: dict[tuple[str, int], tuple[str, ...]],
                 exceptions: dict[str, dict[str, list[str]]], source: str = ""):
        self._synsets, self._lemmas, self._exceptions, self.source = synsets, lemmas, exceptions, source

    @classmethod
    def load(cls, folder: str | os.PathLike | None = None) -> "WordNet":
        folder = Path(folder) if folder else default_dir()
        missing = [name for name in FILES if not (folder / name).is_file()]
        if missing:
            raise WordNetUnavailable(f"no WordNet in {folder} (missing {', '.join(missing)}); "
                                     f"run `viml-synth wordnet` to fetch it")
        synsets: dict[str, dict[str, list[int]]] = {p: {} for p in POS}
        lemmas: dict[tuple[str, int], tuple[str, ...]] = {}
        for pos in POS:
            with open(folder / f"data.{pos}", encoding="utf-8", errors="replace") as fh:
                for line in fh:
                    if line.startswith("  "):  # the licence header
                        continue
                    # offset lex_filenum ss_type w_cnt(hex) word lex_id [word lex_id ...] ...
                    fields = line.split()
                    offset, count = int(fields[0]), int(fields[3], 16)
                    words = tuple(_lemma(w) for w in fields[4:4 + 2 * count:2])
                    lemmas[(pos, offset)] = words
                    for word in words:
                        synsets[pos].setdefault(word, []).append(offset)
        exceptions = {p: _read_exceptions(folder / f"{p}.exc") for p in POS}
        return cls(synsets, lemmas, exceptions, str(folder))

    def base_forms(self, word: str, pos: str) -> list[str]:
        """WordNet's morphy: the word's lemmas in `pos` (the word itself, listed irregular forms, or
        regular suffix detachments), keeping only forms WordNet knows."""
        known = self._synsets[pos]
        if word in self._exceptions[pos]:
            forms = [word, *self._exceptions[pos][word]]
        else:
            forms = [word] + [word[: -len(suffix)] + ending for suffix, ending in SUFFIX_RULES[pos]
                              if word.endswith(suffix) and len(word) > len(suffix)]
        return list(dict.fromkeys(f for f in forms if f in known))

    @functools.lru_cache(maxsize=1 << 16)
    def synonyms(self, word: str) -> frozenset[str]:
        """Every lemma of every synset of the word (lowercase; multiword lemmas keep their spaces)."""
        word = word.lower()
        out: set[str] = set()
        for pos in POS:
            for form in self.base_forms(word, pos):
                for offset in self._synsets[pos][form]:
                    out.update(self._lemmas[(pos, offset)])
        return frozenset(out)

    def describe(self) -> dict:
        return {"wordnet": "3.0", "source": self.source, "lemmas": sum(len(v) for v in self._synsets.values()),
                "synsets": len(self._lemmas)}


def _lemma(raw: str) -> str:
    # adjectives may carry a syntactic marker: "long(a)", "galore(ip)"
    if raw.endswith(")") and "(" in raw:
        raw = raw[: raw.index("(")]
    return raw.replace("_", " ").lower()


def _read_exceptions(path: Path) -> dict[str, list[str]]:
    table: dict[str, list[str]] = {}
    with open(path, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            inflected, *bases = line.split()
            if bases:
                table[inflected.replace("_", " ")] = [b.replace("_", " ") for b in bases]
    return table


def find(folder: str | None = None) -> WordNet | None:
    """The WordNet to use: `folder` ("none": none at all), else the default folder when it is there."""
    if folder == "none":
        return None
    if folder:
        return WordNet.load(folder)  # asked for explicitly: a missing one is an error
    try:
        return WordNet.load()
    except WordNetUnavailable as exc:
        log.info("%s", exc)
        return None
