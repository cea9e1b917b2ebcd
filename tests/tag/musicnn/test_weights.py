"""Locating the wheel, converting it to safetensors, loading models from dirs, URIs and the cache."""
import json
import os
from pathlib import Path

import pytest
import safetensors
import torch

from pipelines.resources import sha256_file
from pipelines.tag.musicnn.weights import (
    MODEL_NAMES,
    MODEL_TAGS,
    cache_dir,
    convert_from_wheel,
    find_wheel,
    load_musicnn,
)


def test_tags_match_the_original(musicnn_reference):
    assert MODEL_NAMES == ("MSD_musicnn", "MTT_musicnn")
    for name in MODEL_NAMES:
        assert MODEL_TAGS[name] == musicnn_reference["tags"][name]
        assert len(MODEL_TAGS[name]) == len(set(MODEL_TAGS[name])) == 50


def test_cache_dir_and_missing_wheel(monkeypatch, tmp_path):
    monkeypatch.setenv("VIML_SYNTH_CACHE", str(tmp_path))
    monkeypatch.delenv("VIML_SYNTH_MUSICNN_WHEEL", raising=False)
    assert cache_dir() == tmp_path
    with pytest.raises(FileNotFoundError, match="make install") as err:
        find_wheel()
    assert "pip download --no-deps musicnn==0.1.0" in str(err.value)
    monkeypatch.setenv("VIML_SYNTH_MUSICNN_WHEEL", str(tmp_path / "nope.whl"))
    with pytest.raises(FileNotFoundError, match="nope.whl"):
        find_wheel()
    monkeypatch.delenv("VIML_SYNTH_CACHE")
    assert cache_dir() == Path.home() / ".cache" / "viml-synth"


def test_converted_files(weights_dir, musicnn_wheel):
    assert sorted(os.listdir(weights_dir)) == [f"{n}.safetensors" for n in MODEL_NAMES]  # no temp files left
    for name in MODEL_NAMES:
        with safetensors.safe_open(str(weights_dir / f"{name}.safetensors"), "pt") as f:
            meta = f.metadata()
            assert all(f.get_tensor(k).dtype == torch.float32 for k in f.keys())
        assert meta["model"] == name
        assert json.loads(meta["tags"]) == MODEL_TAGS[name]
        assert meta["source_wheel_sha256"] == sha256_file(musicnn_wheel)
        assert "Universitat Pompeu Fabra" in meta["license"]


def test_load_from_dir_uri_and_errors(weights_dir, monkeypatch, tmp_path):
    model = load_musicnn("MTT_musicnn", str(weights_dir))
    assert not model.training and model.tags == MODEL_TAGS["MTT_musicnn"]
    same = load_musicnn("MTT_musicnn", "file://" + str(weights_dir) + "/")
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), same.state_dict().values(), strict=True))

    opened = []

    class FakeFileSystems:  # stands in for Beam's FileSystems on e.g. gs:// (no network in tests)
        @staticmethod
        def open(uri):
            opened.append(uri)
            return open(weights_dir / uri.rsplit("/", 1)[1], "rb")

    import apache_beam.io.filesystems

    monkeypatch.setattr(apache_beam.io.filesystems, "FileSystems", FakeFileSystems)
    remote = load_musicnn("MSD_musicnn", "gs://bucket/musicnn")
    assert opened == ["gs://bucket/musicnn/MSD_musicnn.safetensors"] and remote.tags[0] == "rock"

    with pytest.raises(ValueError, match="unknown musicnn model"):
        load_musicnn("MSD_vgg")
    with pytest.raises(FileNotFoundError, match="MSD_musicnn.safetensors"):
        load_musicnn("MSD_musicnn", str(tmp_path))
    (tmp_path / "MSD_musicnn.safetensors").write_bytes((weights_dir / "MTT_musicnn.safetensors").read_bytes())
    with pytest.raises(ValueError, match="holds MTT_musicnn"):
        load_musicnn("MSD_musicnn", str(tmp_path))
    (tmp_path / "MTT_musicnn.safetensors").write_bytes(b"garbage")
    with pytest.raises(ValueError, match="not a readable safetensors"):
        load_musicnn("MTT_musicnn", str(tmp_path))


def test_first_use_converts_into_the_cache(musicnn_wheel, monkeypatch, tmp_path):
    monkeypatch.setenv("VIML_SYNTH_CACHE", str(tmp_path))
    monkeypatch.setenv("VIML_SYNTH_MUSICNN_WHEEL", str(musicnn_wheel))
    model = load_musicnn("MSD_musicnn")
    assert sorted(p.name for p in (tmp_path / "musicnn").iterdir()) == [f"{n}.safetensors" for n in MODEL_NAMES]
    stamp = (tmp_path / "musicnn" / "MSD_musicnn.safetensors").stat().st_mtime_ns
    again = load_musicnn("MSD_musicnn")  # now read from the cache, no reconversion
    assert (tmp_path / "musicnn" / "MSD_musicnn.safetensors").stat().st_mtime_ns == stamp
    x = torch.rand(2, 187, 96)
    torch.testing.assert_close(model(x)[0], again(x)[0])


def test_concurrent_conversions_leave_complete_files(musicnn_wheel, tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(3) as pool:
        list(pool.map(lambda _: convert_from_wheel(musicnn_wheel, tmp_path), range(3)))
    assert sorted(os.listdir(tmp_path)) == [f"{n}.safetensors" for n in MODEL_NAMES]
    assert load_musicnn("MSD_musicnn", str(tmp_path)).tags[0] == "rock"
