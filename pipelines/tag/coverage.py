"""Which vocabulary tags each tagger backend can produce (`viml-synth vocabulary --coverage`).

A tag is reachable when at least one of the backend's labels maps onto it (its label mapping, or its
name). Backends given by spec are asked for their labels (an `hf:` model's config is read, no weights);
without specs the report covers musicnn, any AudioSet classifier through `hf:` (the labels of
pipelines/data/mappings/audioset.yaml) and `clap:` (every tag, by construction).
"""
from __future__ import annotations

from pipelines.tag.vocabulary import LabelMapping, Vocabulary

DEFAULT_SPECS = ("musicnn", "hf:<any AudioSet classifier>", "clap:<any CLAP model>", "musicnn+hf:<AudioSet classifier>")


def _reachable(spec: str, vocabulary: Vocabulary) -> list[str]:
    from pipelines.tag.backends import from_spec

    if "<" in spec:  # a stand-in for any model of a kind: no model to ask, the kind's labels are known
        return sorted(set().union(*(_kind_reachable(part, vocabulary) for part in spec.split("+"))),
                      key=[t.name for t in vocabulary.tags].index)
    backend = from_spec(spec, vocabulary=vocabulary.source)
    return backend.label_mapping(vocabulary).covered_tags(backend.labels())


def _kind_reachable(part: str, vocabulary: Vocabulary) -> set[str]:
    if part.startswith("hf:"):
        mapping = LabelMapping.load(vocabulary, "audioset")
        return set(mapping.covered_tags((mapping.WILDCARD, label) for label in mapping.table[mapping.WILDCARD]))
    if part.startswith("clap:"):
        return {t.name for t in vocabulary.tags}
    return set(_reachable(part, vocabulary))


def coverage_report(vocabulary: Vocabulary, specs=None) -> str:
    sizes = vocabulary.category_sizes()
    lines = []
    for spec in specs or DEFAULT_SPECS:
        reached = set(_reachable(spec, vocabulary))
        per = ", ".join(f"{c} {sum(1 for t in vocabulary.tags if t.category == c and t.name in reached)}/{n}"
                        for c, n in sizes.items())
        lines.append(f"{spec}: {len(reached)} of {len(vocabulary)} tags ({per})")
        for category in sizes:
            missing = [t.name for t in vocabulary.tags if t.category == category and t.name not in reached]
            if missing:
                lines.append(f"  cannot produce ({category}): {', '.join(missing)}")
        lines.append("")
    return "\n".join(lines).rstrip()
