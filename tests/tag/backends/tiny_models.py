"""Tiny transformers models built from a config and saved locally (no Hub): an audio classifier with
AudioSet label names, and a CLAP with a byte-level tokenizer."""
from __future__ import annotations

import json
from pathlib import Path

AUDIOSET_LABELS = ["Electric guitar", "Male singing", "Angry music", "Bass guitar", "Reggae", "Speech", "Jazz"]


def audioset_classifier(path: Path, labels=AUDIOSET_LABELS) -> str:
    import torch
    from transformers import Wav2Vec2Config, Wav2Vec2FeatureExtractor, Wav2Vec2ForSequenceClassification

    torch.manual_seed(0)
    config = Wav2Vec2Config(
        hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32, conv_dim=(8, 8),
        conv_stride=(5, 4), conv_kernel=(10, 8), num_feat_extract_layers=2, num_conv_pos_embeddings=8,
        num_conv_pos_embedding_groups=2, classifier_proj_size=8, id2label=dict(enumerate(labels)),
        label2id={label: i for i, label in enumerate(labels)}, problem_type="multi_label_classification")
    Wav2Vec2ForSequenceClassification(config).save_pretrained(path)
    Wav2Vec2FeatureExtractor(sampling_rate=8000, return_attention_mask=True).save_pretrained(path)
    return str(path)


def _byte_level_alphabet() -> list[str]:
    """The 256 characters byte-level BPE (GPT-2, RoBERTa) uses for the 256 byte values."""
    keep = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    chars, extra = list(keep), 0
    for b in range(256):
        if b not in keep:
            chars.append(256 + extra)
            extra += 1
    return [chr(c) for c in chars]


def tiny_clap(path: Path) -> str:
    import torch
    from transformers import ClapConfig, ClapFeatureExtractor, ClapModel, ClapProcessor, RobertaTokenizer
    from transformers.models.clap.configuration_clap import ClapAudioConfig, ClapTextConfig

    path.mkdir(parents=True, exist_ok=True)
    vocab = {t: i for i, t in enumerate(["<s>", "<pad>", "</s>", "<unk>", *_byte_level_alphabet(), "<mask>"])}
    (path / "vocab.json").write_text(json.dumps(vocab))
    (path / "merges.txt").write_text("#version: 0.2\n")  # no merges: one token per byte
    tokenizer = RobertaTokenizer(str(path / "vocab.json"), str(path / "merges.txt"))
    text = ClapTextConfig(vocab_size=len(vocab), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                          intermediate_size=32, max_position_embeddings=80, projection_dim=8)
    # a 1 s window at 16 kHz with hop 320 is 51 frames: the Swin input (spec 32 x freq ratio 2) holds 64
    audio = ClapAudioConfig(window_size=4, num_mel_bins=16, spec_size=32, patch_size=4, patch_stride=(4, 4),
                            hidden_size=16, depths=[1, 1], num_attention_heads=[2, 2], enable_fusion=False,
                            projection_dim=8, patch_embeds_hidden_size=8)
    torch.manual_seed(0)
    config = ClapConfig(text_config=text.to_dict(), audio_config=audio.to_dict(), projection_dim=8)
    ClapModel(config).save_pretrained(path)
    extractor = ClapFeatureExtractor(feature_size=16, sampling_rate=16000, hop_length=320, fft_window_size=400,
                                     max_length_s=1, frequency_min=50, frequency_max=8000)
    ClapProcessor(feature_extractor=extractor, tokenizer=tokenizer).save_pretrained(path)
    return str(path)
