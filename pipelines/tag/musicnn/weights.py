"""Find, convert and load the pretrained musicnn weights.

The weights come from the musicnn 0.1.0 wheel on PyPI (TensorFlow 1 checkpoints inside a zip).
They are read straight from the zip (no TensorFlow, nothing extracted), converted once to
``<name>.safetensors`` (fp32, PyTorch layout) and loaded from there afterwards.

Licence: the musicnn code and weights are ISC-licensed,
  Copyright (c) Music Technology Group, Universitat Pompeu Fabra 2019. Code developed by Jordi Pons.
  Permission to use, copy, modify, and/or distribute this software for any purpose with or without
  fee is hereby granted, provided that the above copyright notice and this permission notice appear
  in all copies. (Full text: LICENSE.md in the wheel; it is copied into each converted file's
  metadata under "license".)
"""
from __future__ import annotations

import glob
import json
import logging
import os
import struct
import tempfile
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

from pipelines.resources import cache_dir, sha256_file
from pipelines.tag.musicnn.tf_checkpoint import DATA_SUFFIX, read_checkpoint_bytes

if TYPE_CHECKING:  # torch is imported lazily: MODEL_NAMES / MODEL_TAGS users should not pay for it
    from pipelines.tag.musicnn.model import Musicnn

log = logging.getLogger(__name__)

MODEL_NAMES = ("MSD_musicnn", "MTT_musicnn")
# The 50 output labels of each model, in output order (musicnn/configuration.py).
MODEL_TAGS: dict[str, list[str]] = {
    "MSD_musicnn": [
        "rock", "pop", "alternative", "indie", "electronic", "female vocalists", "dance", "00s",
        "alternative rock", "jazz", "beautiful", "metal", "chillout", "male vocalists", "classic rock",
        "soul", "indie rock", "Mellow", "electronica", "80s", "folk", "90s", "chill", "instrumental",
        "punk", "oldies", "blues", "hard rock", "ambient", "acoustic", "experimental",
        "female vocalist", "guitar", "Hip-Hop", "70s", "party", "country", "easy listening", "sexy",
        "catchy", "funk", "electro", "heavy metal", "Progressive rock", "60s", "rnb", "indie pop",
        "sad", "House", "happy"],
    "MTT_musicnn": [
        "guitar", "classical", "slow", "techno", "strings", "drums", "electronic", "rock", "fast",
        "piano", "ambient", "beat", "violin", "vocal", "synth", "female", "indian", "opera", "male",
        "singing", "vocals", "no vocals", "harpsichord", "loud", "quiet", "flute", "woman",
        "male vocal", "no vocal", "pop", "soft", "sitar", "solo", "man", "classic", "choir", "voice",
        "new age", "dance", "male voice", "female vocal", "beats", "harp", "cello", "no voice",
        "weird", "country", "metal", "female voice", "choral"],
}
WHEEL_GLOB = "musicnn-0.1.0-*.whl"
WHEEL_SHA256 = "f38a4890c648c1ddbb141c5d96d2b0a8cfcd36746002d896989f7b88beb65cfa"  # PyPI file
FORMAT = "viml-synth/musicnn-safetensors/1"


def find_wheel() -> Path:
    """The musicnn wheel: $VIML_SYNTH_MUSICNN_WHEEL, else <cache>/wheels/musicnn-0.1.0-*.whl."""
    explicit = os.environ.get("VIML_SYNTH_MUSICNN_WHEEL")
    if explicit:
        if not Path(explicit).is_file():
            raise FileNotFoundError(f"VIML_SYNTH_MUSICNN_WHEEL={explicit} does not exist")
        return Path(explicit)
    wheels = cache_dir() / "wheels"
    found = sorted(glob.glob(str(wheels / WHEEL_GLOB)))
    if not found:
        raise FileNotFoundError(
            f"musicnn weights not found: no {WHEEL_GLOB} in {wheels}. Run `make install` (it runs "
            f"`pip download --no-deps musicnn==0.1.0 -d {wheels}`) or set VIML_SYNTH_MUSICNN_WHEEL.")
    return Path(found[-1])




def read_wheel_checkpoint(wheel: zipfile.ZipFile, name: str, *, skip_optimizer: bool = True) -> dict:
    """TF variables of checkpoint ``musicnn/<name>/`` read from the open wheel, in memory."""
    index_member, data_member = f"musicnn/{name}/.index", f"musicnn/{name}/{DATA_SUFFIX}"
    where = wheel.filename or "wheel"
    try:
        index, data = wheel.read(index_member), wheel.read(data_member)
    except KeyError as exc:
        raise FileNotFoundError(f"{where} has no checkpoint {name}: {exc}") from None
    return read_checkpoint_bytes(index, data, skip_optimizer=skip_optimizer,
                                 index_name=f"{where}!{index_member}", data_name=f"{where}!{data_member}")


def _atomic_write(path: Path, payload: bytes) -> None:
    """Temp file in the same folder + os.replace: readers never see a partial file, and two
    processes converting at once just replace one complete file with an identical one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(payload)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; the cache may be shared
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def convert_from_wheel(wheel: str | os.PathLike, out_dir: str | os.PathLike) -> list[str]:
    """Write ``<out_dir>/<name>.safetensors`` for every model in MODEL_NAMES; returns the paths."""
    import safetensors.torch

    from pipelines.tag.musicnn.model import state_dict_from_tf

    wheel, out_dir = Path(wheel), Path(out_dir)
    sha = sha256_file(wheel)
    if sha != WHEEL_SHA256:
        log.warning("%s has sha256 %s, not the PyPI musicnn 0.1.0 wheel's %s", wheel, sha, WHEEL_SHA256)
    written = []
    with zipfile.ZipFile(wheel) as zf:
        licence = zf.read("musicnn-0.1.0.dist-info/LICENSE.md").decode("utf-8", "replace") \
            if "musicnn-0.1.0.dist-info/LICENSE.md" in zf.namelist() else "ISC, (c) MTG-UPF 2019"
        for name in MODEL_NAMES:
            state = state_dict_from_tf(read_wheel_checkpoint(zf, name), len(MODEL_TAGS[name]))
            metadata = {"format": FORMAT, "model": name, "tags": json.dumps(MODEL_TAGS[name]),
                        "source": "musicnn 0.1.0 (PyPI)", "source_wheel": wheel.name,
                        "source_wheel_sha256": sha, "license": licence}
            path = out_dir / f"{name}.safetensors"
            _atomic_write(path, safetensors.torch.save({k: v.contiguous() for k, v in state.items()}, metadata))
            written.append(str(path))
    return written


def _read_uri(uri: str) -> bytes:
    """Local paths directly; anything else (gs://, s3://, ...) through Beam's FileSystems."""
    if "://" not in uri or uri.startswith("file://"):
        with open(uri.removeprefix("file://"), "rb") as f:
            return f.read()
    from apache_beam.io.filesystems import FileSystems  # lazy: heavy import, only for remote URIs

    with FileSystems.open(uri) as f:
        return f.read()


def _metadata(payload: bytes) -> dict[str, str]:
    (header_len,) = struct.unpack_from("<Q", payload)
    return json.loads(payload[8:8 + header_len]).get("__metadata__", {}) or {}


def _model_from_bytes(payload: bytes, name: str, where: str) -> Musicnn:
    import safetensors.torch

    from pipelines.tag.musicnn.model import Musicnn

    try:
        meta = _metadata(payload)
        state = safetensors.torch.load(payload)
    except Exception as exc:  # safetensors raises its own error types
        raise ValueError(f"{where}: not a readable safetensors file ({exc})") from exc
    if meta.get("model", name) != name:
        raise ValueError(f"{where} holds {meta['model']}, not {name}")
    model = Musicnn(n_tags=len(MODEL_TAGS[name]))
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise ValueError(f"{where}: weights do not fit musicnn: {exc}") from exc
    model.name, model.tags = name, list(MODEL_TAGS[name])
    return model.eval()


def load_musicnn(name: str, weights_dir: str | None = None) -> Musicnn:
    """Eval-mode Musicnn ``name`` from ``weights_dir`` (local folder or any Beam URI), else from the
    cache, converting the wheel there on first use."""
    if name not in MODEL_NAMES:
        raise ValueError(f"unknown musicnn model {name!r}; choose from {MODEL_NAMES}")
    if weights_dir:
        uri = weights_dir.rstrip("/") + f"/{name}.safetensors"
        try:
            payload = _read_uri(uri)
        except FileNotFoundError as exc:
            raise FileNotFoundError(f"musicnn weights not found: {uri} ({exc})") from exc
        except Exception as exc:  # Beam raises BeamIOError / ValueError (no filesystem for scheme)
            raise OSError(f"cannot read musicnn weights {uri}: {exc}") from exc
        return _model_from_bytes(payload, name, uri)
    path = cache_dir() / "musicnn" / f"{name}.safetensors"
    if not path.is_file():
        log.info("converting musicnn weights from the wheel into %s", path.parent)
        convert_from_wheel(find_wheel(), path.parent)
    return _model_from_bytes(path.read_bytes(), name, str(path))
