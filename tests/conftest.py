"""Suite-wide settings: offline, deterministic, the optional ../shared data folder, and an in-memory Beam
filesystem."""
import io
import os
import posixpath
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


# ---------------------------------------------------------------- an in-memory Beam filesystem

_MEM_FILES: dict[str, bytes] = {}
_MEMORY_FILESYSTEM = []


def _register_memory_filesystem() -> None:
    """Define (once) a Beam FileSystem for ``memtest://``: Beam 2.77 ships no in-memory filesystem, and
    FileSystems finds schemes by looking at FileSystem's subclasses. It stands in for a bucket: objects
    are written whole on close, there are no directories, and listing, copying and deleting are not
    supported."""
    if _MEMORY_FILESYSTEM:
        return
    from apache_beam.io.filesystem import FileSystem

    class _Object(io.BytesIO):
        def __init__(self, path):
            super().__init__()
            self.path = path

        def close(self):
            _MEM_FILES[self.path] = self.getvalue()
            super().close()

    class MemoryFileSystem(FileSystem):
        @classmethod
        def scheme(cls):
            return "memtest"

        def join(self, base, *paths):
            return posixpath.join(base, *paths)

        def split(self, path):
            return posixpath.split(path)

        def create(self, path, mime_type="application/octet-stream", compression_type=None):
            return _Object(path)

        def open(self, path, mime_type="application/octet-stream", compression_type=None):
            if path not in _MEM_FILES:
                raise FileNotFoundError(path)
            return io.BytesIO(_MEM_FILES[path])

        def exists(self, path):
            return path in _MEM_FILES

        def size(self, path):
            return len(_MEM_FILES[path])

        def has_dirs(self):
            return False

        def mkdirs(self, path):
            return None

        def _unsupported(self, *args, **kwargs):
            raise NotImplementedError("memtest:// supports create, open, exists and size only")

        _list = copy = rename = last_updated = metadata = delete = _unsupported

    _MEMORY_FILESYSTEM.append(MemoryFileSystem)


@pytest.fixture
def memfs():
    """dict-like store behind ``memtest://...`` URIs that Beam's FileSystems can create and open."""
    _register_memory_filesystem()
    _MEM_FILES.clear()
    yield _MEM_FILES
    _MEM_FILES.clear()
