"""Reading the features directory and triplets; the training set; the video split."""
import json

import numpy as np
import pytest
from conftest import DIMS, make_dataset, write_triplets

from viml_model.data import FeaturesError, FeatureStore, MissingFeaturesError, read_triplets
from viml_model.dataset import build_pairs, draw_epoch, make_batch, segment_windows, split_by_video


def test_load_features_pads_batches_and_maps_ids(dataset):
    store = FeatureStore.load(dataset.features)
    assert store.dims() == DIMS
    assert len(store.video) == 48 and len(store.music) == 48
    assert store.null_text_index() == store.text.index[""]
    rows = np.array([store.video.index["v005"], store.video.index["v000"]])
    x, lengths = store.video.batch(rows, max_len=64)
    assert x.shape == (2, lengths.max(), DIMS["video"]) and x.dtype == np.float32
    assert np.allclose(x[0, :lengths[0]], store.video.get(rows[0]))
    assert (x[0, lengths[0]:] == 0).all() if lengths[0] < x.shape[1] else True
    # sequences longer than max_len are subsampled uniformly, first and last step kept
    y, ly = store.video.batch(rows[:1], max_len=2)
    seq = store.video.get(rows[0])
    assert ly[0] == 2 and np.allclose(y[0, 0], seq[0]) and np.allclose(y[0, 1], seq[-1])


def test_load_only_requested_ids_and_float16(dataset):
    store = FeatureStore.load(dataset.features, video_ids={"v001", "v002", "nope"}, music_ids={"m003"},
                              texts={"tags text of m003"}, dtype="float16")
    assert sorted(store.video.ids) == ["v001", "v002"] and store.music.ids == ["m003"]
    assert set(store.text.ids) == {"tags text of m003", ""}  # NULL text always comes along
    assert store.video.blocks[0].dtype == np.float16
    assert store.video.batch(np.array([0]), 8)[0].dtype == np.float32
    assert store.missing("video", ["v001", "nope", "nope", "gone"]) == ["nope", "gone"]


def test_missing_ids_error_names_them(tmp_path):
    ds = make_dataset(tmp_path, n=20, drop_video=7)
    store = FeatureStore.load(ds.features)
    with pytest.raises(MissingFeaturesError) as err:
        store.require("video", ds.video_ids)
    msg = str(err.value)
    assert "7 video id(s)" in msg and "'v013'" in msg and "(+2 more)" in msg
    assert err.value.missing == [f"v{i:03d}" for i in range(13, 20)]


def test_inconsistent_dims_and_missing_null_text(tmp_path):
    ds = make_dataset(tmp_path, n=6, null_text=False)
    store = FeatureStore.load(ds.features)
    with pytest.raises(FeaturesError, match='text ""'):
        store.null_text_index()
    enc = json.loads((ds.features / "encoders.json").read_text())
    enc["music"]["dim"] = 11
    (ds.features / "encoders.json").write_text(json.dumps(enc))
    with pytest.raises(FeaturesError, match="expected 11"):
        FeatureStore.load(ds.features)
    with pytest.raises(FeaturesError, match="not found"):
        FeatureStore.load(tmp_path / "nowhere")


def test_read_triplets_filters_methods(dataset, tmp_path):
    t = read_triplets(str(dataset.triplets))
    assert len(t) == 96
    p = read_triplets(str(dataset.triplets), ["prompt2text"])
    assert len(p) == 48 and set(p.method) == {"prompt2text"}
    with pytest.raises(ValueError, match="found: prompt2text, tags"):
        read_triplets(str(dataset.triplets), ["data2text"])
    with pytest.raises(ValueError, match="no triplet files"):
        read_triplets(str(tmp_path / "none-*.parquet"))
    # a directory works too
    assert len(read_triplets(str(dataset.triplets.parent))) == 96


def test_pairs_group_the_texts_of_a_pair(dataset):
    store = FeatureStore.load(dataset.features)
    pairs = build_pairs(read_triplets(str(dataset.triplets)), store)
    assert len(pairs) == 48
    assert (np.diff(pairs.text_offsets) == 2).all()
    i = list(pairs.video_id).index("v004")
    texts = {store.text.ids[r] for r in pairs.text_rows[pairs.text_offsets[i]:pairs.text_offsets[i + 1]]}
    assert texts == {"tags text of m004", "prompt2text text of m004"}
    ep = draw_epoch(pairs, seed=1, epoch=1, p_drop=0.0, null_row=None, segment=False)
    assert sorted(ep.order) == list(range(48))
    batch = make_batch(store, pairs, ep.order[:5], ep.text_rows[ep.order[:5]], 8, 8)
    assert batch["video"].shape[0] == 5 and batch["text"].shape == (5, DIMS["text"])
    assert batch["video_mask"].dtype.is_floating_point is False
    # same seed and epoch -> same draws; another epoch -> another order
    again = draw_epoch(pairs, seed=1, epoch=1, p_drop=0.0, null_row=None, segment=False)
    assert (again.order == ep.order).all() and (again.text_rows == ep.text_rows).all()
    assert not (draw_epoch(pairs, 1, 2, 0.0, None, False).order == ep.order).all()
    # text dropout in the epoch draws: p=1 -> every text is the NULL text
    null = store.null_text_index()
    assert (draw_epoch(pairs, 1, 1, 1.0, null, False).text_rows == null).all()
    assert (ep.text_rows != null).all()


def test_video_split_is_disjoint_and_deterministic():
    videos = [f"v{i}" for i in range(100)] * 3  # each video several times (several texts)
    train, val = split_by_video(videos, 0.2, seed=3)
    assert not train & val and len(val) == 20 and len(train | val) == 100
    assert split_by_video(list(reversed(videos)), 0.2, seed=3) == (train, val)
    assert split_by_video(videos, 0.2, seed=4)[1] != val
    assert split_by_video(videos, 0.0, seed=3)[1] == set()


def test_segment_windows_align_video_and_music():
    m_win, v_win = segment_windows(np.array([8, 2]), np.array([32, 10]), 4, None)
    assert m_win.tolist() == [[2, 4], [0, 2]]
    assert v_win.tolist() == [[8, 16], [0, 10]]
    m_win, v_win = segment_windows(np.array([8]), np.array([32]), 4, np.array([0.999]))
    assert m_win.tolist() == [[4, 4]] and v_win.tolist() == [[16, 16]]


def test_null_ids_in_triplets_are_an_error(tmp_path):
    write_triplets(tmp_path / "triplets-0.parquet", [{"video_id": "a", "music_id": None, "text": "x"}])
    with pytest.raises(ValueError, match="null music_id"):
        read_triplets(str(tmp_path / "triplets-*.parquet"))
