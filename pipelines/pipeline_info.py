"""Facts every run records in its summary: package versions."""
from __future__ import annotations

import platform
from importlib import metadata

from pipelines import __version__

_PACKAGES = ("apache-beam", "numpy", "pyarrow", "torch", "transformers", "huggingface_hub", "jinja2")


def versions() -> dict:
    found = {"viml-synth": __version__, "python": platform.python_version()}
    for name in _PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return found
