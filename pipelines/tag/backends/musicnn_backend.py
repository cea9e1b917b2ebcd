"""musicnn (MSD_musicnn + MTT_musicnn), ported to PyTorch, both run and merged onto the vocabulary."""
from __future__ import annotations

import numpy as np

from pipelines.io.manifest import ClipRequest
from pipelines.tag.backends.base import Prepared, TaggerBackend
from pipelines.tag.vocabulary import LabelMapping, ScoredLabel, Vocabulary


class MusicnnBackend(TaggerBackend):
    name = "musicnn"

    def __init__(self, weights_dir: str | None = None, models: tuple[str, ...] | None = None):
        from pipelines.tag.musicnn.weights import MODEL_NAMES

        self.weights_dir = weights_dir
        self.models = tuple(models or MODEL_NAMES)
        unknown = set(self.models) - set(MODEL_NAMES)
        if unknown:
            raise ValueError(f"unknown musicnn model(s) {sorted(unknown)}; choose from {MODEL_NAMES}")

    def load(self):
        from pipelines.tag.musicnn.weights import load_musicnn

        # no global torch.set_grad_enabled(False) here: it would leak into whatever else runs in the
        # process (a trainer, a test); predict() runs under inference_mode instead
        return {name: load_musicnn(name, self.weights_dir) for name in self.models}

    def prepare(self, clip: ClipRequest, state=None) -> Prepared:
        from pipelines.tag.audio import decode_audio
        from pipelines.tag.musicnn import frontend

        audio = decode_audio(clip.audio_path, frontend.SAMPLE_RATE, clip.start_s, clip.end_s,
                             min_duration_s=frontend.min_patch_seconds())
        patches = frontend.to_patches(frontend.log_mel(audio.samples))
        if len(patches) == 0:  # decode_audio's duration check is approximate at the edge
            from pipelines.tag.audio import AudioDecodeError

            raise AudioDecodeError("too_short", f"audio is shorter than one 3 s patch: {clip.audio_path} "
                                                f"({audio.duration_s:.3f} s)")
        return Prepared(clip, patches, audio.duration_s, len(patches), audio=audio)

    def prepare_blocks(self, clip: ClipRequest, state=None, max_units: int = 48):
        """Streams the file: decode, resample and cut patches block by block (memory stays that of one
        block however long the file); the patches are exactly `prepare()`'s."""
        from pipelines.tag.audio import AudioDecodeError, stream_audio
        from pipelines.tag.backends.base import EXCERPT_S
        from pipelines.tag.musicnn import frontend

        sr = frontend.SAMPLE_RATE
        stream = stream_audio(clip.audio_path, sr, clip.start_s, clip.end_s,
                              min_duration_s=frontend.min_patch_seconds())
        tap = _Tap(stream, int(EXCERPT_S * sr))
        blocks = frontend.stream_patches(tap, max(1, int(max_units)))
        held, index, covered = next(blocks, None), 0, 0
        for patches in blocks:  # one block held back: only the final one is marked `last`
            span = len(held) * frontend.PATCH_FRAMES * frontend.HOP
            yield Prepared(clip, held, span / sr, len(held), index, False, tap.excerpt(stream) if index == 0 else None)
            held, index, covered = patches, index + 1, covered + span
        if held is None:  # the stream's duration check is approximate at the edge
            raise AudioDecodeError("too_short", f"audio is shorter than one 3 s patch: {clip.audio_path} "
                                                f"({tap.n / sr:.3f} s)")
        yield Prepared(clip, held, (tap.n - covered) / sr, len(held), index, True,
                       tap.excerpt(stream) if index == 0 else None)

    def predict(self, state, batch: list[Prepared]) -> list[list[ScoredLabel]]:
        import torch

        from pipelines.tag.musicnn.weights import MODEL_TAGS

        counts = [len(p.features) for p in batch]
        x = torch.from_numpy(np.concatenate([p.features for p in batch]).astype(np.float32, copy=False))
        results: list[list[ScoredLabel]] = [[] for _ in batch]
        with torch.inference_mode():
            for name, model in state.items():
                probs = torch.sigmoid(model(x)[0]).numpy()
                start = 0
                for i, n in enumerate(counts):
                    clip_mean = probs[start:start + n].mean(axis=0)  # the original's clip score
                    start += n
                    results[i].extend(ScoredLabel(name, label, float(s))
                                      for label, s in zip(MODEL_TAGS[name], clip_mean, strict=True))
        return results

    def label_mapping(self, vocabulary: Vocabulary) -> LabelMapping:
        return LabelMapping.load(vocabulary, "musicnn")

    def model_names(self) -> set[str]:
        return set(self.models)

    def labels(self) -> list[tuple[str, str]]:
        from pipelines.tag.musicnn.weights import MODEL_TAGS

        return [(m, label) for m in self.models for label in MODEL_TAGS[m]]

    def describe(self) -> dict:
        return {"name": self.name, "models": list(self.models), "weights_dir": self.weights_dir,
                "weights": "musicnn 0.1.0 (ISC, MTG-UPF), read from the PyPI wheel without TensorFlow"}


class _Tap:
    """Passes a stream's blocks through, counting samples and keeping the first `keep` of them."""

    def __init__(self, blocks, keep: int):
        self.blocks, self.keep, self.n, self.kept = blocks, keep, 0, []

    def __iter__(self):
        for block in self.blocks:
            if self.n < self.keep:
                self.kept.append(block[: self.keep - self.n].copy())
            self.n += len(block)
            yield block

    def excerpt(self, stream):
        from pipelines.tag.audio import DecodedAudio

        samples = np.concatenate(self.kept) if self.kept else np.zeros(0, np.float32)
        self.kept, self.keep = [], 0  # handed over once: block 0 carries it
        return DecodedAudio(samples, stream.sample_rate, stream.source_sample_rate, stream.source_channels,
                            len(samples) / stream.sample_rate, stream.decoder)
