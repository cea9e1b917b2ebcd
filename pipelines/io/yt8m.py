"""Loaders for the paper's data: YT8M-MusicVideo style video lists and YouTube8M-MusicTextClips annotations.

Both turn a CSV plus a folder of downloaded media into the inputs of the other stages:
  videos.csv   video manifest for `viml-synth features --videos` (video_id, video_path, start_s, end_s)
  music.csv    music manifest for `viml-synth tag --manifest` / `features --music`
               (music_id, audio_path, start_s, end_s, video_id)
  triplets-00000-of-00001.parquet   MusicTextClips only: the human texts, triplets schema, method "human"
  missing.csv  every id whose media file is absent (or empty), with what was looked for
  report.json  counts (rows = usable + missing + invalid) and the files written
YouTube ids decay, so missing media are reported, never fatal; a malformed CSV row is reported too.

Media lookup: a row's own path column if given (relative to the CSV), else `<media_dir>/<youtube id>.<ext>`
for the first of VIDEO_EXTENSIONS found. Audio comes from the same file (YouTube downloads carry
their soundtrack) unless `audio_dir` is given: then `<audio_dir>/<youtube id>.<ext>` (AUDIO_EXTENSIONS).
The media folder is listed once (local or any Beam URI), not probed per id.

YT8M-MusicVideo style CSV (defined here; the dataset itself is a list of YouTube-8M ids):
  video_id[,video_path][,audio_path][,start_s][,end_s]
  One music video per row; its music is its own soundtrack, so music_id = video_id (track level, as in
  the paper's Table 1). Without start_s/end_s the whole video is used.

YouTube8M-MusicTextClips CSV (Adobe Research licence, noncommercial research only; keep the licence
file with any copy: it is copied into the output folder when found beside the CSV):
  video_id,start,end,text        (10 s clips; annotators heard the audio only)
  A clip is a segment of a video, so its id is `<youtube id>_<start>_<end>` (e.g. o7BkIkB0YGU_78_88),
  used as both video_id and music_id: features are per segment and several clips of one video stay
  distinct. The YouTube id is kept in the manifests (`youtube_id`) and in each triplet's metadata.
"""
from __future__ import annotations

import csv
import glob
import io
import json
import math
import os
import shutil
from dataclasses import dataclass, field

from pipelines.io.manifest import resolve_path

VIDEO_EXTENSIONS = ("mp4", "webm", "mkv", "mov", "m4v", "avi", "flv")
AUDIO_EXTENSIONS = ("m4a", "mp3", "wav", "flac", "ogg", "opus", "aac", "webm", "mp4")
LICENSE_GLOB = "yt8m_musictextclips_LICENSE*"
SOURCE_MUSICTEXTCLIPS = "YouTube8M-MusicTextClips"


@dataclass
class Yt8mLoad:
    kind: str  # musicvideo | musictextclips
    source: str
    videos: list[dict] = field(default_factory=list)  # video manifest rows
    music: list[dict] = field(default_factory=list)  # music manifest rows
    triplets: list[dict] = field(default_factory=list)  # TRIPLETS_SCHEMA rows (musictextclips)
    missing: list[dict] = field(default_factory=list)  # {row, id, youtube_id, reason, looked_for}
    invalid: list[dict] = field(default_factory=list)  # {row, reason, raw}
    n_rows: int = 0
    usable_rows: int = 0
    license_file: str | None = None

    def counts(self) -> dict:
        """Rows = usable + missing media + invalid; clips = distinct videos with media."""
        return {"rows": self.n_rows, "usable": self.usable_rows, "missing_media": len(self.missing),
                "invalid_rows": len(self.invalid),
                "adds_up": self.usable_rows + len(self.missing) + len(self.invalid) == self.n_rows,
                "clips": len(self.videos), "clips_missing": len({m["id"] for m in self.missing}),
                "triplets": len(self.triplets)}

    def write(self, out_dir: str) -> dict:
        """Writes the manifests, triplets (if any), missing.csv and report.json; returns the report."""
        os.makedirs(out_dir, exist_ok=True)
        files = {"videos": os.path.join(out_dir, "videos.csv"), "music": os.path.join(out_dir, "music.csv"),
                 "missing": os.path.join(out_dir, "missing.csv")}
        _write_csv(files["videos"], self.videos, ["video_id", "video_path", "start_s", "end_s", "youtube_id"])
        _write_csv(files["music"], self.music, ["music_id", "audio_path", "start_s", "end_s", "video_id", "youtube_id"])
        _write_csv(files["missing"], self.missing, ["row", "id", "youtube_id", "reason", "looked_for"])
        if self.kind == "musictextclips":
            import pyarrow as pa
            import pyarrow.parquet as pq

            from pipelines.io.schemas import TRIPLETS_SCHEMA

            files["triplets"] = os.path.join(out_dir, "triplets-00000-of-00001.parquet")
            pq.write_table(pa.Table.from_pylist(self.triplets, schema=TRIPLETS_SCHEMA), files["triplets"])
        if self.license_file:
            files["license"] = os.path.join(out_dir, os.path.basename(self.license_file))
            shutil.copyfile(self.license_file, files["license"])
        report = {"kind": self.kind, "source": self.source, "counts": self.counts(), "files": files,
                  "invalid": self.invalid,
                  "license": (os.path.basename(self.license_file) if self.license_file else
                              "not found beside the CSV: keep the dataset's licence with any copy")}
        files["report"] = os.path.join(out_dir, "report.json")
        with open(files["report"], "w", encoding="utf-8") as fh:
            json.dump(report, fh, indent=2)
            fh.write("\n")
        return report


# --------------------------------------------------------------------------- media lookup

class MediaIndex:
    """`<stem>.<ext>` files of one folder (listed once), to find an id's media by extension priority."""

    def __init__(self, folder: str | None):
        self.folder = folder
        self.by_stem: dict[str, dict[str, int]] = {}  # stem -> {ext: size}
        if folder:
            for path, size in _list(folder):
                stem, ext = os.path.splitext(path.rstrip("/").rsplit("/", 1)[-1])
                self.by_stem.setdefault(stem, {})[ext.lstrip(".").lower()] = size

    def find(self, stem: str, extensions: tuple[str, ...]) -> tuple[str | None, str]:
        """(path or None, reason when None)."""
        if not self.folder:
            return None, "no media folder given and no path in the row"
        found = self.by_stem.get(stem, {})
        for ext in extensions:
            if ext in found:
                if found[ext] == 0:
                    return None, f"empty file {stem}.{ext}"
                return _join(self.folder, f"{stem}.{ext}"), ""
        return None, f"no {stem}.{{{','.join(extensions)}}} in {self.folder}"


def _join(folder: str, name: str) -> str:
    if "://" in folder:
        from apache_beam.io.filesystems import FileSystems

        return FileSystems.join(folder, name)
    return os.path.join(folder, name)


def _list(folder: str) -> list[tuple[str, int]]:
    if "://" not in folder:
        if not os.path.isdir(folder):
            raise FileNotFoundError(f"media folder does not exist: {folder}")
        return [(p, os.path.getsize(p)) for p in glob.glob(os.path.join(glob.escape(folder), "*")) if os.path.isfile(p)]
    from apache_beam.io.filesystems import FileSystems

    from pipelines.io.fs import matched

    return [(m.path, m.size_in_bytes) for m in matched(FileSystems.join(folder, "*"))]


def _exists(path: str) -> bool:
    if "://" not in path:
        return os.path.isfile(path) and os.path.getsize(path) > 0
    from apache_beam.io.filesystems import FileSystems

    return FileSystems.exists(path)


# --------------------------------------------------------------------------- CSV

def _read_csv(path: str) -> list[tuple[int, dict | str]]:
    """(1-based data row, row dict or the reason it is unreadable)."""
    if "://" in path:
        from apache_beam.io.filesystems import FileSystems

        with FileSystems.open(path) as fh:
            text = fh.read().decode("utf-8-sig")
    else:
        with open(path, encoding="utf-8-sig") as fh:
            text = fh.read()
    reader = csv.reader(io.StringIO(text, newline=""))
    header = [h.strip() for h in next(reader, [])]
    if not header:
        raise ValueError(f"{path}: the CSV is empty (no header row)")
    rows: list[tuple[int, dict | str]] = []
    for i, values in enumerate(reader, start=1):
        if not any(v.strip() for v in values):
            continue
        rows.append((i, dict(zip(header, values, strict=True)) if len(values) == len(header)
                     else f"expected {len(header)} fields, found {len(values)}"))
    return rows


def _seconds(raw: dict, key: str, required: bool) -> float | None:
    value = (raw.get(key) or "").strip()
    if not value:
        if required:
            raise ValueError(f"missing {key}")
        return None
    try:
        number = float(value)
    except ValueError:
        raise ValueError(f"{key} must be a number of seconds, got {value!r}") from None
    if not math.isfinite(number) or number < 0:
        raise ValueError(f"{key} must be a finite number >= 0, got {value!r}")
    return number


def _segment(raw: dict, start_key: str, end_key: str, required: bool) -> tuple[float | None, float | None]:
    start, end = _seconds(raw, start_key, required), _seconds(raw, end_key, required)
    if start is not None and end is not None and end <= start:
        raise ValueError(f"{end_key} ({end:g}) must be after {start_key} ({start:g})")
    return start, end


def clip_id(youtube_id: str, start: float, end: float) -> str:
    return f"{youtube_id}_{start:g}_{end:g}"


def _write_csv(path: str, rows: list[dict], columns: list[str]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: "" if row.get(k) is None else row.get(k) for k in columns})


def _media(raw: dict, csv_path: str, youtube_id: str, media: MediaIndex, audio: MediaIndex | None):
    """(video_path, audio_path, reason when missing)."""
    own = (raw.get("video_path") or "").strip()
    if own:
        video_path = resolve_path(own, csv_path)
        if not _exists(video_path):
            return None, None, f"video_path {video_path} does not exist or is empty"
    else:
        video_path, why = media.find(youtube_id, VIDEO_EXTENSIONS)
        if video_path is None:
            return None, None, why
    own_audio = (raw.get("audio_path") or "").strip()
    if own_audio:
        audio_path = resolve_path(own_audio, csv_path)
        if not _exists(audio_path):
            return None, None, f"audio_path {audio_path} does not exist or is empty"
    elif audio is not None:
        audio_path, why = audio.find(youtube_id, AUDIO_EXTENSIONS)
        if audio_path is None:
            return None, None, f"audio: {why}"
    else:
        audio_path = video_path  # the video's own soundtrack
    return video_path, audio_path, ""


def _license_beside(csv_path: str) -> str | None:
    if "://" in csv_path:
        return None
    found = sorted(glob.glob(os.path.join(glob.escape(os.path.dirname(os.path.abspath(csv_path))), LICENSE_GLOB)))
    return found[0] if found else None


# --------------------------------------------------------------------------- loaders

def _youtube_id(raw: dict | str) -> str:
    """The row's video_id; raises ValueError with the reason the row is unusable (`raw` is a str when
    the CSV reader could not parse the row: the reason itself)."""
    if isinstance(raw, str):
        raise ValueError(raw)
    youtube_id = (raw.get("video_id") or "").strip()
    if not youtube_id:
        raise ValueError("missing video_id")
    return youtube_id


def load_musicvideo(csv_path: str, media_dir: str | None = None, audio_dir: str | None = None) -> Yt8mLoad:
    """YT8M-MusicVideo style list -> video and music manifests (music_id = video_id), missing media reported."""
    result = Yt8mLoad("musicvideo", csv_path)
    media, audio = MediaIndex(media_dir), MediaIndex(audio_dir) if audio_dir else None
    seen: dict[str, int] = {}
    for row, raw in _read_csv(csv_path):
        result.n_rows += 1
        try:
            youtube_id = _youtube_id(raw)
            if youtube_id in seen:
                raise ValueError(f"video_id {youtube_id} already used by row {seen[youtube_id]}")
            start, end = _segment(raw, "start_s", "end_s", required=False)
        except ValueError as exc:
            result.invalid.append({"row": row, "reason": str(exc), "raw": raw})
            continue
        seen[youtube_id] = row
        video_path, audio_path, why = _media(raw, csv_path, youtube_id, media, audio)
        if video_path is None:
            result.missing.append({"row": row, "id": youtube_id, "youtube_id": youtube_id, "reason": why,
                                   "looked_for": media_dir or ""})
            continue
        result.videos.append({"video_id": youtube_id, "video_path": video_path, "start_s": start, "end_s": end,
                              "youtube_id": youtube_id})
        result.music.append({"music_id": youtube_id, "audio_path": audio_path, "start_s": start, "end_s": end,
                             "video_id": youtube_id, "youtube_id": youtube_id})
        result.usable_rows += 1
    return result


def load_musictextclips(csv_path: str, media_dir: str | None = None, audio_dir: str | None = None,
                        keep_missing_triplets: bool = False) -> Yt8mLoad:
    """MusicTextClips annotations -> manifests of the clips whose media exist + their human texts as
    triplets (method "human"); clips without media are reported in `missing` (and their texts dropped
    unless keep_missing_triplets)."""
    result = Yt8mLoad("musictextclips", csv_path, license_file=_license_beside(csv_path))
    media, audio = MediaIndex(media_dir), MediaIndex(audio_dir) if audio_dir else None
    clips: dict[str, dict] = {}  # clip id -> manifest entry (None when its media are missing)
    samples: dict[str, int] = {}
    for row, raw in _read_csv(csv_path):
        result.n_rows += 1
        try:
            youtube_id = _youtube_id(raw)
            text = (raw.get("text") or "").strip()
            if not text:
                raise ValueError("missing text")
            start, end = _segment(raw, "start", "end", required=True)
        except ValueError as exc:
            result.invalid.append({"row": row, "reason": str(exc), "raw": raw})
            continue
        cid = clip_id(youtube_id, start, end)
        if cid not in clips:
            video_path, audio_path, why = _media(raw, csv_path, youtube_id, media, audio)
            if video_path is None:
                clips[cid] = {"missing": why}
            else:
                clips[cid] = {"video_path": video_path, "audio_path": audio_path}
                result.videos.append({"video_id": cid, "video_path": video_path, "start_s": start, "end_s": end,
                                      "youtube_id": youtube_id})
                result.music.append({"music_id": cid, "audio_path": audio_path, "start_s": start, "end_s": end,
                                     "video_id": cid, "youtube_id": youtube_id})
        missing = clips[cid].get("missing")
        if missing:
            result.missing.append({"row": row, "id": cid, "youtube_id": youtube_id, "reason": missing,
                                   "looked_for": media_dir or ""})
            if not keep_missing_triplets:
                continue
        sample = samples.get(cid, 0)
        samples[cid] = sample + 1
        result.triplets.append(_triplet(cid, sample, text, csv_path, row, youtube_id, start, end, bool(missing)))
        if not missing:
            result.usable_rows += 1
    return result


def _triplet(cid: str, sample: int, text: str, csv_path: str, row: int, youtube_id: str, start: float, end: float,
             media_missing: bool) -> dict:
    details = {"source": SOURCE_MUSICTEXTCLIPS, "csv": csv_path, "row": row, "youtube_id": youtube_id,
               "start_s": start, "end_s": end, "media_missing": media_missing,
               "license": "Adobe Research License: noncommercial research only"}
    return {"video_id": cid, "music_id": cid, "method": "human", "sample": sample, "text": text, "tags": [],
            "metadata": {"details": json.dumps(details, sort_keys=True)}}


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m pipelines.io.yt8m", description=__doc__.split("\n")[0])
    parser.add_argument("kind", choices=["musicvideo", "musictextclips"])
    parser.add_argument("csv", help="the list / annotation CSV")
    parser.add_argument("--media-dir", help="folder of <youtube id>.<ext> media files (local or Beam URI)")
    parser.add_argument("--audio-dir", help="separate folder of <youtube id>.<ext> audio files")
    parser.add_argument("--out", required=True,
                        help="folder for videos.csv, music.csv, [triplets], missing.csv, report.json")
    parser.add_argument("--keep-missing-triplets", action="store_true",
                        help="musictextclips: keep the texts of clips whose media are missing")
    args = parser.parse_args(argv)
    try:
        if args.kind == "musicvideo":
            loaded = load_musicvideo(args.csv, args.media_dir, args.audio_dir)
        else:
            loaded = load_musictextclips(args.csv, args.media_dir, args.audio_dir, args.keep_missing_triplets)
    except (OSError, ValueError) as exc:
        parser.exit(2, f"{parser.prog}: error: {exc}\n")
    report = loaded.write(args.out)
    c = report["counts"]
    print(f"{c['rows']} rows: {c['usable']} usable, {c['missing_media']} with missing media, "
          f"{c['invalid_rows']} invalid -> {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
