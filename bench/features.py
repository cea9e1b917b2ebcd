"""Features stage throughput on this CPU, per encoder (model only, after warm-up; median of timed runs):

  efficientnet-lite0   frames/s on 224 x 224 frames (channels_last; also without, for comparison)
  frame sampling       frames/s decoding a generated 1280x720 H.264 video at 1 fps (PyAV, centre crop)
  musicnn              patches/s (3 s log-mel patches) for the penultimate and pooled layers
  minilm               texts/s on caption-like sentences

    .venv/bin/python bench/features.py [--threads 2] [--seconds 3] [--skip-decode]
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from functools import partial
from pathlib import Path

import numpy as np
import torch


def per_second(fn, units: int, seconds: float) -> float:
    """Units per second: median over runs of one call handling `units` items (2 warm-up calls)."""
    for _ in range(2):
        fn()
    runs, started = [], time.perf_counter()
    while len(runs) < 3 or (time.perf_counter() - started < seconds and len(runs) < 100):
        t = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - t)
    return units / statistics.median(runs)


def bench_efficientnet(seconds: float) -> None:
    from pipelines.features.encoders import efficientnet_lite0 as E

    for channels_last in (True, False):
        model = E.load_efficientnet_lite0(channels_last=channels_last)
        for batch in (1, 16, 32):
            frames = torch.randint(0, 256, (batch, 224, 224, 3), dtype=torch.uint8)
            x = E.preprocess(frames) if channels_last else E.preprocess(frames).contiguous()
            with torch.inference_mode():
                rate = per_second(partial(model.features, x), batch, seconds)
            print(f"  efficientnet-lite0  batch {batch:2d}  channels_last={channels_last!s:5}  "
                  f"{rate:7.1f} frames/s  ({1e3 / rate:5.1f} ms/frame)", flush=True)


def bench_decode(seconds: float) -> None:
    import av

    from pipelines.features.video import FrameGeometry, sample_frames

    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "hd.mp4"
        # 20 s of 1280x720 at 25 fps: a textured colour field panning sideways, with grain, so the
        # bitrate is in the range of web video (white noise would cost the decoder far more)
        with av.open(str(path), "w", format="mp4") as out:
            stream = out.add_stream("libx264", rate=25, options={"preset": "veryfast", "crf": "23"})
            stream.width, stream.height, stream.pix_fmt = 1280, 720, "yuv420p"
            rng = np.random.default_rng(0)
            from PIL import Image

            def field(h: int, w: int) -> np.ndarray:  # random colours, bicubic-upsampled to 720 x 1780
                small = rng.integers(0, 255, (h, w, 3)).astype(np.uint8)
                return np.asarray(Image.fromarray(small).resize((1780, 720), Image.BICUBIC)).astype(np.int16)

            base = np.clip(field(9, 23) // 2 + field(90, 222) // 2, 0, 255)  # broad shapes + texture
            for i in range(500):
                grain = rng.integers(-6, 7, (720, 1280, 1), dtype=np.int16)  # film grain: residual to code
                image = np.clip(base[:, i:i + 1280] + grain, 0, 255).astype(np.uint8)
                frame = av.VideoFrame.from_ndarray(image, format="rgb24")
                frame.pts = i
                out.mux(stream.encode(frame))
            out.mux(stream.encode())
        for start, end in ((None, None), (10.0, 20.0)):
            n = len(sample_frames(str(path), 1.0, start, end, FrameGeometry()).frames)
            decode = partial(sample_frames, str(path), 1.0, start, end, FrameGeometry())
            rate = per_second(decode, n, seconds)
            what = "whole 20 s video" if start is None else "10 s segment after a seek"
            print(f"  frame sampling      1 fps, {what:26} {rate:7.1f} frames/s  "
                  f"(= s of 25 fps 720p video per s; {path.stat().st_size * 8 / 20e6:.1f} Mbit/s)", flush=True)


def bench_musicnn(seconds: float) -> None:
    from pipelines.features.encoders.music import musicnn_pooled
    from pipelines.tag.musicnn.weights import load_musicnn

    model = load_musicnn("MSD_musicnn")
    x = torch.rand(64, 187, 96) * 4
    with torch.inference_mode():
        rate = per_second(lambda: model(x), 64, seconds)
        print(f"  musicnn penultimate batch 64                          {rate:7.1f} patches/s "
              f"({rate * 3:.0f} s of audio per s, model only)", flush=True)
        rate = per_second(lambda: musicnn_pooled(model, x), 64, seconds)
        print(f"  musicnn pooled      batch 64                          {rate:7.1f} patches/s", flush=True)


def bench_minilm(seconds: float) -> None:
    from pipelines.features.encoders.text import MiniLMEncoder

    enc = MiniLMEncoder()
    state = enc.load()
    words = "energetic rock song with distorted electric guitars driving drums and a male vocalist".split()
    rng = np.random.default_rng(0)
    texts = [" ".join(rng.choice(words, size=int(rng.integers(8, 30)))) for _ in range(256)]
    rate = per_second(lambda: enc.encode(state, texts), len(texts), seconds)
    print(f"  minilm              batch 256, 8-30 words             {rate:7.1f} texts/s", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=3.0, help="timing budget per measurement")
    parser.add_argument("--skip-decode", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    bench_efficientnet(args.seconds)
    if not args.skip_decode:
        bench_decode(args.seconds)
    bench_musicnn(args.seconds)
    bench_minilm(args.seconds)


if __name__ == "__main__":
    main()
