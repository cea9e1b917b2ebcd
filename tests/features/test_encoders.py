"""Encoders one by one: spec strings, CLIP towers (tiny model), musicnn layers, transformers audio."""
import numpy as np
import pytest
import torch

from pipelines.features.encoders import music_encoder, text_encoder, video_encoder
from pipelines.io.manifest import ClipRequest


def test_specs():
    assert video_encoder().name == "efficientnet-lite0"
    assert video_encoder("clip").model == "openai/clip-vit-base-patch32"
    assert video_encoder("clip:/models/clip", fps=2, crop="pad").model == "/models/clip"
    m = music_encoder()
    assert (m.model, m.layer, m.dim()) == ("MSD_musicnn", "penultimate", 200)
    m = music_encoder("musicnn:MTT_musicnn:pooled")
    assert (m.model, m.layer, m.dim()) == ("MTT_musicnn", "pooled", 1506)
    assert music_encoder("musicnn:pooled").model == "MSD_musicnn"
    assert music_encoder("hf:some/model", segment_s=5).segment_s == 5.0
    assert text_encoder().dim() == 384 and text_encoder("clip:x").model == "x"
    for bad in (lambda: video_encoder("resnet"), lambda: video_encoder(fps=0), lambda: video_encoder(crop="zoom"),
                lambda: music_encoder("musicnn:nope"), lambda: music_encoder("hf"), lambda: music_encoder("vggish"),
                lambda: text_encoder("bert"), lambda: music_encoder("hf:x", segment_s=0)):
        with pytest.raises(ValueError):
            bad()


def test_encoders_are_picklable_before_loading(tiny_clip):
    import pickle

    for enc in (video_encoder(), video_encoder(f"clip:{tiny_clip}"), music_encoder(),
                text_encoder(f"clip:{tiny_clip}")):
        assert pickle.loads(pickle.dumps(enc)).name == enc.name


def test_clip_image_encoder_matches_the_model_and_its_processor(tiny_clip):
    from PIL import Image
    from transformers import AutoImageProcessor, CLIPModel

    enc = video_encoder(f"clip:{tiny_clip}")
    state = enc.load()
    g = enc.geometry(state)
    assert (g.crop, g.resize) == (32, 40) and enc.dim() == 8 and enc.prepare_needs_state()
    frames = np.random.default_rng(0).integers(0, 256, (3, 40, 40, 3), dtype=np.uint8)  # already at `resize`
    feats = enc.encode(state, np.ascontiguousarray(frames[:, 4:36, 4:36]))  # what the centre crop gives
    model = CLIPModel.from_pretrained(tiny_clip).eval()
    processor = AutoImageProcessor.from_pretrained(tiny_clip)
    pixels = processor(images=[Image.fromarray(f) for f in frames], return_tensors="pt").pixel_values
    with torch.no_grad():
        ref = model(input_ids=torch.tensor([[0, 1]]), pixel_values=pixels).image_embeds
    assert feats.shape == (3, 8)
    np.testing.assert_allclose(feats / np.linalg.norm(feats, axis=1, keepdims=True), ref.numpy(), atol=1e-4)


def test_clip_image_encoder_prepares_frames_at_the_processor_size(tiny_clip, media):
    from pipelines.features.manifests import VideoRequest

    enc = video_encoder(f"clip:{tiny_clip}", fps=2.0)
    state = enc.load()
    prepared = enc.prepare(VideoRequest("v", str(media["clip"]), 1.0, 3.0), state)
    assert prepared.units.shape == (4, 32, 32, 3) and prepared.key == "v"
    assert prepared.meta["timestamps"] == [1.25, 1.75, 2.25, 2.75]


def test_clip_text_encoder_batches_like_single_texts_and_encodes_empty(tiny_clip):
    from transformers import AutoTokenizer, CLIPModel

    enc = text_encoder(f"clip:{tiny_clip}")
    state = enc.load()
    texts = ["a calm piano song", "", "loud rock with electric guitars " * 10]  # the last is cut at 16 tokens
    batch = enc.encode(state, texts)
    singles = np.concatenate([enc.encode(state, [t]) for t in texts])
    assert batch.shape == (3, 8) and enc.dim() == 8
    np.testing.assert_allclose(batch, singles, atol=1e-5)
    model, tok = CLIPModel.from_pretrained(tiny_clip).eval(), AutoTokenizer.from_pretrained(tiny_clip)
    with torch.no_grad():
        enc_in = tok(texts[:1], return_tensors="pt")
        ref = model(**enc_in, pixel_values=torch.zeros(1, 3, 32, 32)).text_embeds
    np.testing.assert_allclose(batch[:1] / np.linalg.norm(batch[:1]), ref.numpy(), atol=1e-5)
    assert enc.prepare("x").units == ["x"]
    with pytest.raises(TypeError):
        enc.prepare(None)


def test_musicnn_pooled_layer_feeds_the_penultimate_one(media):
    from pipelines.features.encoders.music import musicnn_pooled
    from pipelines.tag.musicnn.weights import load_musicnn

    try:
        model = load_musicnn("MSD_musicnn")
    except FileNotFoundError as exc:
        pytest.skip(str(exc))
    enc = music_encoder("musicnn:pooled")
    prepared = enc.prepare(ClipRequest("m", str(media["clip"]), 0.0, 6.0))
    assert prepared.units.shape == (2, 187, 96) and prepared.meta["duration_s"] == pytest.approx(6.0, abs=0.05)
    x = torch.from_numpy(prepared.units)
    pooled = musicnn_pooled(model, x)
    assert pooled.shape == (2, 1506)
    with torch.no_grad():  # the backend: BN(1506) -> dense -> ReLU -> BN(200) = the penultimate output
        s, b = model.bn_pool.scale_shift()
        hidden = torch.relu(model.dense(pooled * s + b))
        s2, b2 = model.bn_dense.scale_shift()
        np.testing.assert_allclose((hidden * s2 + b2).numpy(), model(x)[1].numpy(), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(enc.encode({"model": model}, prepared.units), pooled.numpy(), rtol=1e-5, atol=1e-5)


def test_musicnn_rejects_audio_shorter_than_a_patch(make_short_wav):
    from pipelines.tag.audio import AudioDecodeError

    with pytest.raises(AudioDecodeError) as err:
        music_encoder().prepare(ClipRequest("short", str(make_short_wav)))
    assert err.value.reason == "too_short"


@pytest.fixture
def make_short_wav(tmp_path):
    import soundfile as sf

    t = np.arange(16000 * 2) / 16000
    sf.write(tmp_path / "short.wav", (0.3 * np.sin(2 * np.pi * 330 * t)).astype(np.float32), 16000)
    return tmp_path / "short.wav"


def test_hf_audio_encoder_windows_and_mean_pools(tiny_audio_model, media):
    enc = music_encoder(f"hf:{tiny_audio_model}", segment_s=2.5)
    state = enc.load()
    assert state["sample_rate"] == 8000 and enc.dim() == 16
    prepared = enc.prepare(ClipRequest("m", str(media["clip"]), 0.0, 6.0), state)
    assert prepared.units.shape == (2, 20000)  # 6 s -> two 2.5 s windows, the 1 s tail dropped
    feats = enc.encode(state, prepared.units)
    assert feats.shape == (2, 16) and np.isfinite(feats).all()
    with torch.no_grad():
        inputs = state["extractor"](list(prepared.units[:1]), sampling_rate=8000, return_tensors="pt")
        ref = state["model"](**inputs).last_hidden_state.mean(1)
    np.testing.assert_allclose(feats[:1], ref.numpy(), atol=1e-5)
