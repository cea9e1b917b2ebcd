"""Any transformers audio-classification model (hub id or local path) as a tagger.

Clips are cut into windows of `window_s` seconds; a label's clip score is the mean over windows,
like musicnn's mean over patches. Multi-label models score with a sigmoid, others with a softmax.
"""
from __future__ import annotations

import os

import numpy as np

from pipelines.io.manifest import ClipRequest
from pipelines.tag.backends.base import Prepared, TaggerBackend
from pipelines.tag.vocabulary import LabelMapping, ScoredLabel, Vocabulary

DEFAULT_LABEL_MAP = "audioset"
MIN_LAST_WINDOW_S = 1.0  # a shorter tail window adds noise rather than evidence


class HFAudioBackend(TaggerBackend):
    def __init__(self, model: str, label_map: str | None = None, window_s: float | None = 10.0):
        self.model = model
        self.label_map = label_map
        self.window_s = float(window_s or 10.0)
        self.name = f"hf:{model}"

    def load(self) -> dict:
        from transformers import AutoFeatureExtractor, AutoModelForAudioClassification

        extractor = AutoFeatureExtractor.from_pretrained(self.model)
        net = AutoModelForAudioClassification.from_pretrained(self.model).eval()
        labels = [net.config.id2label[i] for i in range(net.config.num_labels)]
        multi_label = getattr(net.config, "problem_type", None) == "multi_label_classification"
        return {"extractor": extractor, "model": net, "labels": labels, "multi_label": multi_label,
                "sample_rate": int(extractor.sampling_rate)}

    def prepare_needs_state(self) -> bool:
        return True  # the model's feature extractor fixes the sample rate to decode at

    def prepare(self, clip: ClipRequest, state=None) -> Prepared:
        from pipelines.tag.audio import decode_audio

        audio = decode_audio(clip.audio_path, state["sample_rate"], clip.start_s, clip.end_s,
                             min_duration_s=MIN_LAST_WINDOW_S)
        return Prepared(clip, self._windows(audio.samples, state["sample_rate"]), audio.duration_s,
                        audio=audio)

    def _windows(self, samples: np.ndarray, sr: int) -> list[np.ndarray]:
        size = max(1, int(round(self.window_s * sr)))
        windows = [samples[i:i + size] for i in range(0, len(samples), size)]
        if len(windows) > 1 and len(windows[-1]) < MIN_LAST_WINDOW_S * sr:
            windows.pop()
        return windows

    def predict(self, state, batch: list[Prepared]) -> list[list[ScoredLabel]]:
        import torch

        windows = [w for p in batch for w in p.features]
        inputs = state["extractor"](windows, sampling_rate=state["sample_rate"], return_tensors="pt", padding=True)
        with torch.inference_mode():
            logits = state["model"](**inputs).logits.float()
        probs = (torch.sigmoid(logits) if state["multi_label"] else torch.softmax(logits, dim=-1)).numpy()
        model_name = self._model_name()
        results, start = [], 0
        for prepared in batch:
            n = len(prepared.features)
            prepared.n_patches = n
            mean = probs[start:start + n].mean(axis=0)
            start += n
            results.append([ScoredLabel(model_name, label, float(s))
                            for label, s in zip(state["labels"], mean, strict=True)])
        return results

    def label_mapping(self, vocabulary: Vocabulary) -> LabelMapping:
        # default: AudioSet's label names (pipelines/data/mappings/audioset.yaml), and any label that is a
        # vocabulary tag's name maps to it, so models with vocabulary labels need no file either
        return LabelMapping.load(vocabulary, self.label_map or DEFAULT_LABEL_MAP)

    def model_names(self) -> set[str]:
        return {self._model_name()}

    def _model_name(self) -> str:
        return os.path.basename(self.model.rstrip("/")) or self.model

    def labels(self) -> list[tuple[str, str]]:
        """(model, label) pairs from the model's config alone (no weights loaded)."""
        from transformers import AutoConfig

        config = AutoConfig.from_pretrained(self.model)
        return [(self._model_name(), config.id2label[i]) for i in range(config.num_labels)]

    def describe(self) -> dict:
        return {"name": self.name, "model": self.model, "label_map": self.label_map, "window_s": self.window_s}
