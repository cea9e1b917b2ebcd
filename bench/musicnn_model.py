"""musicnn forward speed: ms per 3 s patch (187 x 96 log-mel) at several batch sizes.

Model only (no decoding or mel). Median of several timed runs after warm-up, fp32, inference mode.
Speed does not depend on the weights, so a randomly initialised model is used unless --real.

    .venv/bin/python bench/musicnn_model.py [--threads 2] [--batches 1,16,64] [--real] [--reference]
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch

from pipelines.tag.musicnn.frontend import N_MELS, PATCH_FRAMES
from pipelines.tag.musicnn.model import Musicnn


def ms_per_patch(fn, batch: int, seconds: float = 3.0) -> tuple[float, float]:
    """(median, best) ms per patch; on a shared machine the best run shows the uncontended speed."""
    x = torch.rand(batch, PATCH_FRAMES, N_MELS) * 4  # the log-mel range is about 0..5
    with torch.inference_mode():
        for _ in range(2):
            fn(x)
        runs, started = [], time.perf_counter()
        while len(runs) < 5 or (time.perf_counter() - started < seconds and len(runs) < 200):
            t = time.perf_counter()
            fn(x)
            runs.append(time.perf_counter() - t)
    return statistics.median(runs) * 1e3 / batch, min(runs) * 1e3 / batch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batches", default="1,16,64")
    parser.add_argument("--real", action="store_true", help="load MSD_musicnn weights (converts on first use)")
    parser.add_argument("--reference", action="store_true", help="also time the plain layer-by-layer port")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.real:
        from pipelines.tag.musicnn.weights import load_musicnn

        model = load_musicnn("MSD_musicnn")
    else:
        model = Musicnn().eval()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    for batch in (int(b) for b in args.batches.split(",")):
        line = "batch {:3d}: {:6.1f} ms/patch median ({:.1f} best)".format(batch, *ms_per_patch(model, batch))
        if args.reference:
            line += "   plain port {:6.1f} ms/patch median ({:.1f} best)".format(
                *ms_per_patch(model.reference_forward, batch))
        print(line, flush=True)


if __name__ == "__main__":
    main()
