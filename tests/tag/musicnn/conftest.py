"""Shared musicnn fixtures: the wheel, weights converted once per session, loaded models."""
from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"


@pytest.fixture(scope="session")
def musicnn_wheel() -> Path:
    from pipelines.tag.musicnn.weights import find_wheel

    try:
        return find_wheel()
    except FileNotFoundError as exc:
        pytest.skip(f"musicnn wheel not available ({exc})")


@pytest.fixture(scope="session")
def wheel_zip(musicnn_wheel):
    with zipfile.ZipFile(musicnn_wheel) as zf:
        yield zf


@pytest.fixture(scope="session")
def weights_dir(musicnn_wheel, tmp_path_factory) -> Path:
    """Both models converted from the wheel into a session temp dir (never the user's cache)."""
    from pipelines.tag.musicnn.weights import convert_from_wheel

    out = tmp_path_factory.mktemp("musicnn_weights")
    convert_from_wheel(musicnn_wheel, out)
    return out


@pytest.fixture(scope="session")
def musicnn_models(weights_dir) -> dict:
    from pipelines.tag.musicnn.weights import MODEL_NAMES, load_musicnn

    return {name: load_musicnn(name, str(weights_dir)) for name in MODEL_NAMES}


@pytest.fixture(scope="session")
def musicnn_reference() -> dict:
    """The original musicnn 0.1.0 (TensorFlow) outputs on the 12 shared clips; see its "meta"."""
    return json.loads((FIXTURES / "musicnn_reference.json").read_text())
