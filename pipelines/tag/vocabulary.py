"""The tag vocabulary (data file) and the label mappings that carry a tagger's labels onto it."""
from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import yaml

from pipelines import yaml_data

DATA_PACKAGE = "pipelines.data"


class VocabularyError(ValueError):
    """A vocabulary or mapping file is malformed; the message names the file and line."""


@dataclass(frozen=True)
class Tag:
    name: str
    category: str
    display: str
    surface: tuple[str, ...] = ()  # how texts may name it ("drums" for "acoustic drumset"); () = its name


@dataclass(frozen=True)
class ScoredLabel:
    """One raw output of a tagger: model name, the model's own label, its clip score."""

    model: str
    label: str
    score: float


def normalize(name: str) -> str:
    """Comparable form of a tag name: case- and whitespace-insensitive."""
    return " ".join(str(name).strip().lower().split())


def _load_yaml(path: Path | str) -> tuple[dict, yaml.Node]:
    text = (Path(path) if isinstance(path, str) else path).read_text(encoding="utf-8")
    try:
        data, node = yaml_data.load_with_node(text)
        return data or {}, node
    except yaml.YAMLError as exc:
        raise VocabularyError(f"{path}: not valid YAML: {exc}") from exc


def _key_lines(node: yaml.Node | None, *keys: str) -> dict[str, int]:
    """1-based line of every key of the mapping found by walking `keys`, for error messages."""
    for key in keys:
        if not isinstance(node, yaml.MappingNode):
            return {}
        node = next((v for k, v in node.value if k.value == key), None)
    if not isinstance(node, yaml.MappingNode):
        return {}
    return {k.value: k.start_mark.line + 1 for k, _ in node.value}


def _packaged(name: str):
    return resources.files(DATA_PACKAGE).joinpath(name)


class Vocabulary:
    """Tags by category, in file order (the order used to break confidence ties)."""

    def __init__(self, tags: list[Tag], source: str, version: int | str = 1):
        self.tags = tags
        self.source = source
        self.version = version
        self._by_name = {normalize(t.name): t for t in tags}

    @classmethod
    def load(cls, path: str | Path | None = None) -> Vocabulary:
        source = path or _packaged("vocabulary.yaml")
        data, root = _load_yaml(source)
        categories = data.get("categories") if isinstance(data, dict) else None
        if not isinstance(categories, dict) or not categories:
            raise VocabularyError(f"{source}: expected a top-level 'categories' mapping of category -> tags")
        tags: list[Tag] = []
        seen: dict[str, str] = {}
        for category, entries in categories.items():
            lines = _key_lines(root, "categories", category)
            if not isinstance(entries, dict):
                raise VocabularyError(f"{source}: category '{category}' must map tag -> display name")
            for name, display in entries.items():
                key = normalize(name)
                if key in seen:
                    raise VocabularyError(
                        f"{source}, line {lines.get(str(name), '?')}: tag '{name}' appears twice "
                        f"(categories '{seen[key]}' and '{category}')"
                    )
                seen[key] = category
                tags.append(Tag(str(name), str(category), str(display or name)))
        tags = _with_surface(tags, data.get("surface"), _key_lines(root, "surface"), source)
        return cls(tags, str(source), data.get("version", 1))

    def __len__(self) -> int:
        return len(self.tags)

    def get(self, name: str) -> Tag | None:
        return self._by_name.get(normalize(name))

    def category_sizes(self) -> dict[str, int]:
        sizes: dict[str, int] = {}
        for tag in self.tags:
            sizes[tag.category] = sizes.get(tag.category, 0) + 1
        return sizes


def _with_surface(tags: list[Tag], surface, lines: dict[str, int], source) -> list[Tag]:
    """Tags with their `surface` forms from the vocabulary file's optional `surface:` section."""
    if surface is None:
        return tags
    if not isinstance(surface, dict):
        raise VocabularyError(f"{source}: 'surface' must map tag -> list of forms")
    by_name = {normalize(t.name): i for i, t in enumerate(tags)}
    tags = list(tags)
    for name, forms in surface.items():
        where = f"{source}, line {lines.get(str(name), '?')}"
        if normalize(name) not in by_name:
            raise VocabularyError(f"{where}: surface forms for '{name}', which is not a vocabulary tag")
        if not isinstance(forms, list) or not forms or not all(isinstance(f, str) and f.strip() for f in forms):
            raise VocabularyError(f"{where}: surface forms of '{name}' must be a non-empty list of words")
        i = by_name[normalize(name)]
        tags[i] = Tag(tags[i].name, tags[i].category, tags[i].display, tuple(f.strip() for f in forms))
    return tags


class LabelMapping:
    """Maps (model, label) -> vocabulary tags; combines several sources per tag with max.

    Labels absent from the file fall back to an exact name match with the vocabulary, so a tagger
    whose labels already are vocabulary tags needs no file. Unmapped labels stay in the raw scores.
    """

    WILDCARD = "*"

    def __init__(self, vocabulary: Vocabulary, table: dict[str, dict[str, tuple[str, ...]]], source: str):
        self.vocabulary = vocabulary
        self.table = table
        self.source = source

    @classmethod
    def identity(cls, vocabulary: Vocabulary) -> LabelMapping:
        return cls(vocabulary, {}, "identity")

    @classmethod
    def load(cls, vocabulary: Vocabulary, path: str | Path) -> LabelMapping:
        packaged = _packaged(f"mappings/{path}.yaml")
        source = packaged if not Path(str(path)).suffix and packaged.is_file() else Path(path)
        if isinstance(source, Path) and not source.is_file():
            raise VocabularyError(f"label mapping file not found: {path}")
        data, root = _load_yaml(source)
        models = data.get("models") if isinstance(data, dict) else None
        if not isinstance(models, dict):
            raise VocabularyError(f"{source}: expected a top-level 'models' mapping of model -> label -> [tags]")
        if data.get("combine", "max") != "max":
            raise VocabularyError(f"{source}: only 'combine: max' is supported")
        table: dict[str, dict[str, tuple[str, ...]]] = {}
        for model, labels in models.items():
            lines = _key_lines(root, "models", str(model))
            table[str(model)] = {
                str(label): cls._targets(vocabulary, source, lines.get(str(label), "?"), label, targets)
                for label, targets in (labels or {}).items()
            }
        return cls(vocabulary, table, str(source))

    @staticmethod
    def _targets(vocabulary: Vocabulary, source, line, label, targets) -> tuple[str, ...]:
        if targets is None:
            return ()
        if isinstance(targets, str):
            targets = [targets]
        names = []
        for target in targets:
            tag = vocabulary.get(str(target))
            if tag is None:
                raise VocabularyError(
                    f"{source}, line {line}: label '{label}' maps to '{target}', which is not in the vocabulary"
                )
            names.append(tag.name)
        return tuple(names)

    def targets(self, model: str, label: str) -> tuple[str, ...]:
        for key in (model, self.WILDCARD):
            if key in self.table and label in self.table[key]:
                return self.table[key][label]
        tag = self.vocabulary.get(label)
        return (tag.name,) if tag else ()

    def covered_tags(self, labels: Iterable[tuple[str, str]]) -> list[str]:
        """Vocabulary tags that at least one of the given (model, label) pairs can reach."""
        reached = {t for model, label in labels for t in self.targets(model, label)}
        return [t.name for t in self.vocabulary.tags if t.name in reached]

    def apply(self, scores: Iterable[ScoredLabel]) -> list[dict]:
        """Every vocabulary tag with its confidence, sorted by confidence descending.

        Tags no label reaches get 0.0 (the tagger has no evidence for them); ties keep vocabulary order.
        """
        best: dict[str, float] = {}
        for s in scores:
            if not math.isfinite(s.score):
                raise ValueError(f"non-finite score {s.score} for {s.model}/{s.label}")
            for name in self.targets(s.model, s.label):
                best[name] = max(best.get(name, 0.0), float(s.score))
        order = {t.name: i for i, t in enumerate(self.vocabulary.tags)}
        rows = [
            {"tag": t.name, "category": t.category, "confidence": best.get(t.name, 0.0)}
            for t in self.vocabulary.tags
        ]
        rows.sort(key=lambda r: (-r["confidence"], order[r["tag"]]))
        return rows
