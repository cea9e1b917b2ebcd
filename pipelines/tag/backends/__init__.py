"""Tagger backends behind one interface, chosen by a spec string (see `from_spec`)."""
from pipelines.tag.backends.base import Prepared, TaggerBackend, from_spec

__all__ = ["Prepared", "TaggerBackend", "from_spec"]
