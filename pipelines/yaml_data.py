"""YAML parsing for the packaged data files (vocabulary, lexicon, aliases, descriptor rules).

PyYAML's pure-Python parser took ~0.1 s of every worker's start-up for these files (the lexicon alone
76 ms); its libyaml parser (``CSafeLoader``, in PyYAML's wheels) takes a tenth of that. Only the parser
changes: the constructor is SafeConstructor either way, so the values are the same
(tests/test_yaml_data.py compares both on every packaged file). Where PyYAML lacks libyaml, the
pure-Python loader is used.
"""
from __future__ import annotations

import yaml

SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load(text: str):
    """``yaml.safe_load(text)``, parsed by libyaml when present."""
    return yaml.load(text, Loader=SAFE_LOADER)  # a safe loader (SafeConstructor)


def load_with_node(text: str) -> tuple[object, yaml.Node | None]:
    """The document's value and its node tree (for line numbers in error messages), from one parse:
    what ``yaml.safe_load(text)`` and ``yaml.compose(text)`` give."""
    loader = SAFE_LOADER(text)
    try:
        node = loader.get_single_node()
        return (loader.construct_document(node) if node is not None else None), node
    finally:
        loader.dispose()
