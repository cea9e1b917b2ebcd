"""Tagger backends behind one interface (base.py), chosen by a spec string: the factory lives here, so
the interface never imports its implementations."""
from __future__ import annotations

from pipelines.tag.backends.base import Prepared, TaggerBackend

__all__ = ["Prepared", "TaggerBackend", "from_spec"]


def from_spec(spec: str, **options) -> TaggerBackend:
    """`musicnn`, `hf:<model id or path>`, `clap:<model id or path>`, `precomputed:<file>`, or several
    joined with `+` (`musicnn+hf:<model>`: see combined.py)."""
    if "+" in spec:
        from pipelines.tag.backends.combined import CombinedBackend

        parts = [p.strip() for p in spec.split("+")]
        if len(parts) < 2 or not all(parts):
            raise ValueError(f"--tagger {spec!r}: join backends with '+', e.g. musicnn+hf:<model>")
        if options.get("label_map"):
            raise ValueError("--label-map applies to one backend; a combined tagger uses each backend's default")
        return CombinedBackend([from_spec(p, **options) for p in parts])
    kind, _, arg = spec.partition(":")
    if kind == "musicnn":
        from pipelines.tag.backends.musicnn_backend import MusicnnBackend

        return MusicnnBackend(weights_dir=options.get("weights_dir"), models=options.get("musicnn_models"))
    if kind == "hf":
        if not arg:
            raise ValueError("--tagger hf:<model id or local path> needs a model")
        from pipelines.tag.backends.hf_backend import HFAudioBackend

        return HFAudioBackend(arg, label_map=options.get("label_map"), window_s=options.get("hf_window_s"))
    if kind == "precomputed":
        if not arg:
            raise ValueError("--tagger precomputed:<file> needs a file (CSV, JSONL or Parquet)")
        from pipelines.tag.backends.precomputed import PrecomputedBackend

        return PrecomputedBackend(arg, label_map=options.get("label_map"))
    if kind == "clap":
        if not arg:
            raise ValueError("--tagger clap:<model id or local path> needs a model")
        from pipelines.tag.backends.clap_backend import ClapBackend

        return ClapBackend(arg, window_s=options.get("clap_window_s"), vocabulary=options.get("vocabulary"))
    raise ValueError(f"unknown tagger '{spec}': use musicnn, hf:<model id or path>, clap:<model id or path>, "
                     "precomputed:<file>, or several joined with '+'")
