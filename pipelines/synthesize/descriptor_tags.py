"""Descriptors measured from the audio (tempo, key) as tags of their own categories, for text synthesis.

    tags = descriptor_tags(row)
    # [InputTag("medium tempo", "tempo", 0.58, value="92 BPM"), InputTag("A minor", "key", 0.81)]

Read from a tags-*.parquet row's `descriptors` struct, or from `bpm` / `key` (and optional
`bpm_confidence` / `key_strength`) columns of a user's own tag file. The BPM ranges and the words are data:
pipelines/data/descriptor_tags.yaml. The number stays with the tag (`value`) so texts can say "at 92 BPM",
while the tag itself ("medium tempo") is what selection, the `tags` column and fidelity see.
"""
from __future__ import annotations

import functools
import math
import random
import re
from importlib import resources

from pipelines import yaml_data
from pipelines.synthesize.tagset import InputTag

DATA_FILE = "descriptor_tags.yaml"
PITCH_CLASSES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
_FLATS = {"Db": "C#", "Eb": "D#", "Gb": "F#", "Ab": "G#", "Bb": "A#", "Cb": "B", "Fb": "E"}
_KEY = re.compile(r"^\s*([A-Ga-g])([#b♯♭]?)\s*(major|minor|maj|min|m)?\s*$", re.IGNORECASE)


class DescriptorTagError(ValueError):
    reason = "bad_descriptors"


@functools.cache
def rules() -> dict:
    return yaml_data.load(resources.files("pipelines.data").joinpath(DATA_FILE).read_text(encoding="utf-8"))


def tempo_tag(bpm: float) -> str:
    for r in rules()["tempo"]["ranges"]:
        if "below" not in r or bpm < float(r["below"]):
            return r["tag"]
    raise AssertionError("the last tempo range needs no `below`")


def tempo_tags() -> list[str]:
    return [r["tag"] for r in rules()["tempo"]["ranges"]]


def normalize_key(text) -> str:
    """"A minor", "a min", "Am", "Bb major", "C#" -> "A minor", "A minor", "A minor", "A# major", "C# major"."""
    m = _KEY.match(str(text))
    if not m:
        raise DescriptorTagError(f"key {text!r} is not a key like 'A minor' or 'F# major'")
    letter, accidental, mode = m.group(1).upper(), m.group(2).replace("♯", "#").replace("♭", "b"), m.group(3)
    tonic = _FLATS.get(letter + accidental, letter + accidental)
    minor = mode is not None and mode.lower() in ("minor", "min", "m") and not (mode == "M")
    return f"{tonic} {'minor' if minor else 'major'}"


def _number(row: dict, name: str):
    value = row.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise DescriptorTagError(f"{name} is not a number: {value!r}") from None
    if not math.isfinite(number):
        raise DescriptorTagError(f"{name} is not finite: {value!r}")
    return number


def descriptor_tags(row: dict) -> list[InputTag]:
    """Tempo and key tags of one input row (none when it has neither); raises DescriptorTagError for a
    value that is not a tempo or a key."""
    source = row.get("descriptors") if isinstance(row.get("descriptors"), dict) else row
    tags = []
    bpm = _number(source, "bpm")
    if bpm is not None:
        if not 0 < bpm < 1000:
            raise DescriptorTagError(f"bpm must be a tempo in beats per minute, got {bpm:g}")
        confidence = _number(source, "bpm_confidence")
        scale = float(rules()["tempo"]["confidence_scale"])
        confidence = 1.0 if confidence is None else min(1.0, max(0.0, confidence / scale))
        tags.append(InputTag(tempo_tag(bpm), rules()["tempo"]["category"], confidence, value=f"{round(bpm)} BPM"))
    key = source.get("key")
    if key is not None and str(key).strip():
        strength = _number(source, "key_strength")
        confidence = 1.0 if strength is None else min(1.0, max(0.0, strength))
        tags.append(InputTag(normalize_key(key), rules()["key"]["category"], confidence))
    return tags


def surface(tag: InputTag, rng: random.Random) -> str:
    """How a text names a descriptor tag: a tempo with its number ("medium tempo of 92 BPM"), picked with
    the row's seed; other tags as they are."""
    if tag.value and tag.category == rules()["tempo"]["category"]:
        bpm = tag.value.split()[0]
        return rng.choice(rules()["tempo"]["surface"]).format(tag=tag.tag, bpm=bpm)
    return tag.tag


def prompt_text(tag: InputTag) -> str:
    """A tag as an LLM prompt lists it: "medium tempo (92 BPM)" keeps the measured number beside the tag."""
    return f"{tag.tag} ({tag.value})" if tag.value else tag.tag


def superseded(chosen) -> set[str]:
    """Lower-cased texts of tags a chosen measured tempo replaces (a tagger's "slow", "fast")."""
    if not any(t.value for t in chosen):  # nearly every row: no measured descriptor at all
        return set()
    tempo = rules()["tempo"]
    if not any(t.value and t.category == tempo["category"] for t in chosen):
        return set()
    return {str(r).lower() for r in tempo.get("replaces") or ()}
