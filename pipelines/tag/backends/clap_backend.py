"""Zero-shot tagging with a CLAP model (`--tagger clap:<model id or path>`, transformers ClapModel and
ClapProcessor, e.g. laion/clap-htsat-unfused): every vocabulary tag is a text prompt, so all of them are
reachable by construction.

Prompts: each tag's display name and its surface forms (vocabulary.yaml), in a sentence per category
("rock music", "music with a drum kit", "calm music"); a tag's text embedding is the normalised mean of its
prompts' embeddings. The clip's audio embedding is the normalised mean over windows of the processor's
length (10 s for LAION's CLAP).

Calibration: cosine similarities are not probabilities, and their level differs between tags. A tag's
confidence is the softmax, WITHIN ITS CATEGORY, of the similarities times the model's own audio logit
scale (the temperature CLAP was trained with): the confidences of a category's tags sum to 1, so the best
genre of a clip scores high whatever the absolute similarity. Consequence for selection: with 20-41 tags
per category a tag at chance level gets 1/20-1/41, below the default --threshold 0.1.
"""
from __future__ import annotations

import os

import numpy as np

from pipelines.io.manifest import ClipRequest
from pipelines.tag.backends.base import Prepared, TaggerBackend
from pipelines.tag.vocabulary import LabelMapping, ScoredLabel, Vocabulary

PROMPTS = {"genre": "{} music", "mood": "{} music", "instrument": "music with {}"}
MIN_LAST_WINDOW_S = 1.0


def tag_prompts(vocabulary: Vocabulary) -> dict[str, list[str]]:
    """tag name -> its text prompts (display name and surface forms, in the category's sentence)."""
    out = {}
    for tag in vocabulary.tags:
        pattern = PROMPTS.get(tag.category, "{}")
        forms = dict.fromkeys([tag.display.lower(), *tag.surface])
        out[tag.name] = [pattern.format(f) for f in forms]
    return out


class ClapBackend(TaggerBackend):
    def __init__(self, model: str, window_s: float | None = None, vocabulary: str | None = None):
        self.model, self.window_s, self.vocabulary_path = model, window_s, vocabulary
        self.name = f"clap:{model}"

    def _model_name(self) -> str:
        return os.path.basename(self.model.rstrip("/")) or self.model

    def load(self) -> dict:
        import torch
        from transformers import ClapModel, ClapProcessor

        processor = ClapProcessor.from_pretrained(self.model)
        net = ClapModel.from_pretrained(self.model).eval()
        vocabulary = Vocabulary.load(self.vocabulary_path)
        prompts = tag_prompts(vocabulary)
        texts = [p for name in prompts for p in prompts[name]]
        with torch.inference_mode():
            tokens = processor(text=texts, return_tensors="pt", padding=True)
            embeds = _features(net.get_text_features(**tokens))
        tag_embeds, start = [], 0
        for name in prompts:
            n = len(prompts[name])
            mean = embeds[start:start + n].mean(0)
            tag_embeds.append(mean / mean.norm())
            start += n
        extractor = processor.feature_extractor
        return {"processor": processor, "model": net, "tags": [t.name for t in vocabulary.tags],
                "categories": [t.category for t in vocabulary.tags], "text": torch.stack(tag_embeds),
                "sample_rate": int(extractor.sampling_rate),
                "window": int(extractor.nb_max_samples), "scale": float(net.logit_scale_a.detach().exp())}

    def prepare_needs_state(self) -> bool:
        return True  # the processor fixes the sample rate and the window length

    def prepare(self, clip: ClipRequest, state=None) -> Prepared:
        from pipelines.tag.audio import decode_audio

        sr = state["sample_rate"]
        audio = decode_audio(clip.audio_path, sr, clip.start_s, clip.end_s, min_duration_s=MIN_LAST_WINDOW_S)
        size = int(round(self.window_s * sr)) if self.window_s else state["window"]
        size = min(size, state["window"])  # longer windows would be cut by the processor
        windows = [audio.samples[i:i + size] for i in range(0, len(audio.samples), size)]
        if len(windows) > 1 and len(windows[-1]) < MIN_LAST_WINDOW_S * sr:
            windows.pop()
        return Prepared(clip, windows, audio.duration_s, len(windows), audio=audio)

    def predict(self, state, batch: list[Prepared]) -> list[list[ScoredLabel]]:
        import torch

        windows = [w for p in batch for w in p.features]
        # windows are at most the processor's length, so nothing is cut ("rand_trunc" never draws)
        inputs = state["processor"](audio=windows, sampling_rate=state["sample_rate"], return_tensors="pt",
                                    truncation="rand_trunc", padding="repeatpad")
        with torch.inference_mode():
            audio = _features(state["model"].get_audio_features(**inputs))
        results, start = [], 0
        model_name = self._model_name()
        for p in batch:
            n = len(p.features)
            clip = audio[start:start + n].mean(0)
            start += n
            sims = (state["text"] @ (clip / clip.norm())).numpy() * state["scale"]
            results.append([ScoredLabel(model_name, name, float(c))
                            for name, c in zip(state["tags"], _softmax_within(sims, state["categories"]), strict=True)])
        return results

    def label_mapping(self, vocabulary: Vocabulary) -> LabelMapping:
        return LabelMapping.identity(vocabulary)  # its labels are the vocabulary's tags

    def model_names(self) -> set[str]:
        return {self._model_name()}

    def labels(self) -> list[tuple[str, str]]:
        return [(self._model_name(), t.name) for t in Vocabulary.load(self.vocabulary_path).tags]

    def describe(self) -> dict:
        return {"name": self.name, "model": self.model, "window_s": self.window_s,
                "calibration": "softmax within category of logit_scale_a * cosine similarity",
                "prompts": PROMPTS}


def _features(out):
    """transformers 5 returns a model output whose pooler_output is the normalised embedding."""
    return out.pooler_output if hasattr(out, "pooler_output") else out


def _softmax_within(sims: np.ndarray, categories: list[str]) -> np.ndarray:
    out = np.zeros_like(sims, dtype=np.float64)
    cats = np.array(categories)
    for c in dict.fromkeys(categories):
        idx = np.flatnonzero(cats == c)
        z = sims[idx] - sims[idx].max()
        e = np.exp(z)
        out[idx] = e / e.sum()
    return out
