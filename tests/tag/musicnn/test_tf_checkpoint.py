"""The TF checkpoint reader: all four wheel checkpoints, CRC verification, clear errors."""
import re
import zipfile

import numpy as np
import pytest

from pipelines.tag.musicnn.tf_checkpoint import (
    DATA_SUFFIX,
    CheckpointError,
    crc32c,
    masked_crc32c,
    read_checkpoint,
    read_checkpoint_bytes,
    read_index,
)

CHECKPOINTS = {  # name -> (variables without optimizer state, numbers, with optimizer state)
    "MSD_musicnn": (64, 792_079, 150),
    "MTT_musicnn": (64, 792_079, 150),
    "MSD_vgg": (36, 607_030, 86),
    "MTT_vgg": (36, 607_030, 86),
}


def _files(zf: zipfile.ZipFile, name: str) -> tuple[bytes, bytes]:
    return zf.read(f"musicnn/{name}/.index"), zf.read(f"musicnn/{name}/{DATA_SUFFIX}")


def test_crc32c_known_vectors():
    assert crc32c(b"123456789") == 0xE3069283
    assert crc32c(bytes(32)) == 0x8A9136AA  # RFC 3720 B.4
    assert crc32c(b"\xff" * 32) == 0x62A8AB43
    assert crc32c(bytes(range(32))) == 0x46DD794E
    assert masked_crc32c(b"") == 0xA282EAD8  # crc 0 -> just the mask delta


def test_crc32c_parallel_lanes_match_bytewise():
    from pipelines.tag.musicnn.tf_checkpoint import _crc_scalar

    data = np.random.default_rng(0).integers(0, 256, 100_003, dtype=np.uint8).tobytes()
    assert crc32c(data) == _crc_scalar(0xFFFFFFFF, data) ^ 0xFFFFFFFF


@pytest.mark.parametrize("name", sorted(CHECKPOINTS))
def test_reads_every_wheel_checkpoint_from_memory(wheel_zip, name):
    n_vars, n_numbers, n_all = CHECKPOINTS[name]
    index, data = _files(wheel_zip, name)
    weights = read_checkpoint_bytes(index, data)
    assert len(weights) == n_vars
    assert sum(v.size for v in weights.values()) == n_numbers
    assert all(v.dtype == np.float32 and np.isfinite(v).all() for v in weights.values())
    assert not any("Adam" in k or k.endswith("_power") for k in weights)
    everything = read_checkpoint_bytes(index, data, skip_optimizer=False)
    assert len(everything) == n_all
    assert any(k.endswith("/Adam_1") for k in everything) and "beta1_power" in everything
    for key, value in weights.items():
        np.testing.assert_array_equal(everything[key], value)


def test_musicnn_variable_shapes(wheel_zip):
    weights = read_checkpoint_bytes(*_files(wheel_zip, "MSD_musicnn"))
    assert weights["conv2d/kernel"].shape == (7, 38, 1, 204)
    assert weights["conv2d_1/kernel"].shape == (7, 67, 1, 204)
    assert weights["conv2d_2/kernel"].shape == (128, 1, 1, 51)
    assert weights["conv2d_5/kernel"].shape == (7, 561, 1, 64)
    assert weights["batch_normalization_9/gamma"].shape == (1506,)
    assert weights["dense/kernel"].shape == (1506, 200)
    assert weights["dense_1/kernel"].shape == (200, 50)


def test_index_entries_are_sorted_and_inside_the_data(wheel_zip):
    index, data = _files(wheel_zip, "MTT_musicnn")
    entries = read_index(index)
    assert [e.name for e in entries] == sorted(e.name for e in entries)
    assert max(e.offset + e.size for e in entries) == len(data)


def test_reads_a_directory_the_same_way(wheel_zip, tmp_path):
    index, data = _files(wheel_zip, "MSD_vgg")
    (tmp_path / ".index").write_bytes(index)
    (tmp_path / DATA_SUFFIX).write_bytes(data)  # musicnn bundles have an empty prefix
    from_dir = read_checkpoint(tmp_path)
    from_bytes = read_checkpoint_bytes(index, data)
    assert from_dir.keys() == from_bytes.keys()
    assert all(np.array_equal(from_dir[k], from_bytes[k]) for k in from_bytes)


# ---------------------------------------------------------------- corrupted input
@pytest.fixture(scope="module")
def msd_files(wheel_zip):
    return _files(wheel_zip, "MSD_musicnn")


def _on_disk(tmp_path, index, data):
    (tmp_path / "model.index").write_bytes(index)
    (tmp_path / f"model{DATA_SUFFIX}").write_bytes(data)
    return tmp_path / "model"


def test_flipped_byte_in_data_names_the_tensor_and_file(msd_files, tmp_path):
    index, data = msd_files
    entry = next(e for e in read_index(index) if e.name == "conv2d/kernel")
    bad = bytearray(data)
    bad[entry.offset + 100] ^= 0x01
    prefix = _on_disk(tmp_path, index, bytes(bad))
    with pytest.raises(CheckpointError, match=re.escape("crc mismatch in tensor 'conv2d/kernel'")) as err:
        read_checkpoint(prefix)
    assert str(prefix) + DATA_SUFFIX in str(err.value)


def test_flipped_byte_in_optimizer_slot_is_ignored_when_skipped(msd_files):
    index, data = msd_files
    entry = next(e for e in read_index(index) if e.name.endswith("/Adam"))
    bad = bytearray(data)
    bad[entry.offset] ^= 0xFF
    read_checkpoint_bytes(index, bytes(bad))  # skipped, not read
    with pytest.raises(CheckpointError, match="crc mismatch"):
        read_checkpoint_bytes(index, bytes(bad), skip_optimizer=False)


def test_truncated_index(msd_files, tmp_path):
    index, data = msd_files
    prefix = _on_disk(tmp_path, index[: len(index) // 2], data)
    with pytest.raises(CheckpointError, match="magic|truncated") as err:
        read_checkpoint(prefix)
    assert str(prefix) + ".index" in str(err.value)


def test_tiny_index_and_wrong_magic(msd_files):
    index, data = msd_files
    with pytest.raises(CheckpointError, match="shorter than a table footer"):
        read_checkpoint_bytes(index[:20], data, index_name="x.index")
    with pytest.raises(CheckpointError, match="x.index: bad table magic"):
        read_checkpoint_bytes(index[:-1] + b"\x00", data, index_name="x.index")


def test_flipped_byte_in_index_block(msd_files):
    index, data = msd_files
    bad = bytearray(index)
    bad[10] ^= 0x01
    with pytest.raises(CheckpointError, match="crc mismatch in table block"):
        read_checkpoint_bytes(bytes(bad), data)


def test_truncated_data(msd_files):
    index, data = msd_files
    with pytest.raises(CheckpointError, match=r"the data file has \d+ \(truncated\)"):
        read_checkpoint_bytes(index, data[: len(data) // 2], skip_optimizer=False)


def test_missing_files(tmp_path):
    with pytest.raises(CheckpointError, match="cannot read checkpoint"):
        read_checkpoint(tmp_path / "nothing")
    with pytest.raises(CheckpointError, match="expected one"):
        read_checkpoint(tmp_path)
