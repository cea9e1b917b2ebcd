"""Suite-wide settings: offline, deterministic, and the optional ../shared data folder."""
import os
from pathlib import Path

import pytest

# Set before anything imports huggingface_hub/transformers: tests never reach the network.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"

PROJECT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("VIML_SYNTH_SHARED", PROJECT.parent / "shared"))
FIXTURES = Path(__file__).resolve().parent / "fixtures"


@pytest.fixture(scope="session")
def shared_audio() -> Path:
    folder = SHARED / "audio"
    if not (folder / "clips.json").is_file():
        pytest.skip(f"shared audio not available at {folder}")
    return folder


@pytest.fixture(scope="session")
def demo_dir() -> Path:
    return PROJECT / "demo"
