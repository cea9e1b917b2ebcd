"""Read a features directory and triplets into memory-efficient arrays.

Features directory (the data contract of the feature extractor):
  video-*.parquet   video_id: string, features: list<list<float32>>  [T, D_v] per video
  music-*.parquet   music_id: string, features: list<list<float32>>  [S, D_m] per track
  text-*.parquet    text: string,     features: list<float32>        [D_t]; the row text == "" is the
                    NULL embedding used by text dropout and by video-only queries
  encoders.json     {"video": {"name": ..., "dim": D_v}, "music": {...}, "text": {...}}

Sequences are kept as the flat float arrays Arrow hands over (one [rows, D] block per file, no
padding, no concatenation copy), indexed by (block, start, length); only the ids a caller asks for
are read, and ``feature_dtype: float16`` halves the footprint. Padding happens per batch.
"""
from __future__ import annotations

import glob as globlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

MODALITIES = ("video", "music", "text")
ID_COLUMN = {"video": "video_id", "music": "music_id", "text": "text"}
NULL_TEXT = ""
BATCH_ROWS = 2048  # rows per Arrow record batch read (smaller batches, lower reader peak)


class FeaturesError(ValueError):
    """Unreadable or inconsistent features."""


class MissingFeaturesError(FeaturesError):
    """Ids that have no features; the message names the first few and the count."""

    def __init__(self, modality: str, missing: list[str], where: str):
        self.modality, self.missing = modality, list(missing)
        shown = ", ".join(repr(m) for m in self.missing[:5])
        more = f" (+{len(self.missing) - 5} more)" if len(self.missing) > 5 else ""
        super().__init__(f"{len(self.missing)} {modality} id(s) of the triplets have no features in "
                         f"{where}: {shown}{more}")


class NonFiniteFeaturesError(FeaturesError):
    """Feature vectors holding NaN or inf; the message names the file and the ids."""

    def __init__(self, path: Path, modality: str, ids: list[str]):
        self.path, self.modality, self.ids = path, modality, list(ids)
        shown = ", ".join(repr(i) for i in self.ids[:10])
        more = f" (+{len(self.ids) - 10} more)" if len(self.ids) > 10 else ""
        super().__init__(f"{path}: non-finite (NaN or inf) feature values for {len(self.ids)} {modality} id(s): "
                         f"{shown}{more}; fix the features, or skip them explicitly (--skip-nonfinite)")


def _files(features_dir: Path, modality: str) -> list[Path]:
    from pipelines.io.commit_marker import committed_local

    return sorted(Path(p) for p in committed_local(str(features_dir), modality))  # committed files only


def read_encoders(features_dir: str | Path) -> dict:
    from pipelines.io.commit_marker import local_marker

    path = Path(features_dir) / "encoders.json"
    committed = (local_marker(str(features_dir)) or {}).get("sidecars", {}).get("encoders.json")
    try:
        # the committed copy first: encoders.json itself is refreshed just after a commit
        data = committed if isinstance(committed, dict) else json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise FeaturesError(f"cannot read {path}: {exc}") from exc
    except json.JSONDecodeError as exc:
        raise FeaturesError(f"{path}: not valid JSON: {exc}") from exc
    for m in MODALITIES:
        entry = data.get(m)
        if entry is not None and not (isinstance(entry, dict) and isinstance(entry.get("dim"), int)):
            raise FeaturesError(f"{path}: '{m}' needs an integer 'dim', got {entry!r}")
    return data


class _RowsById:
    """Row lookup by id, shared by the feature tables (which declare `ids` and `index`)."""

    def __post_init__(self):
        if not self.index:
            self.index = {k: i for i, k in enumerate(self.ids)}

    def __len__(self) -> int:
        return len(self.ids)


@dataclass
class SequenceTable(_RowsById):
    """Variable-length [L, D] feature sequences, one per id."""

    ids: list[str]
    dim: int
    blocks: list[np.ndarray]  # [rows, D] each
    block: np.ndarray  # int32 per id
    start: np.ndarray  # int64 per id (row inside its block)
    length: np.ndarray  # int32 per id
    index: dict[str, int] = field(default_factory=dict)

    @property
    def nbytes(self) -> int:
        return sum(b.nbytes for b in self.blocks)

    def get(self, i: int) -> np.ndarray:
        s = int(self.start[i])
        return self.blocks[self.block[i]][s:s + int(self.length[i])]

    def batch(self, rows: np.ndarray, max_len: int, windows: np.ndarray | None = None
              ) -> tuple[np.ndarray, np.ndarray]:
        """Padded float32 [B, L, D] and lengths [B]; `windows` [B, 2] = (first step, steps) crops each
        sequence first; sequences longer than max_len are subsampled uniformly (first and last kept)."""
        seqs = []
        for j, i in enumerate(rows):
            seq = self.get(int(i))
            if windows is not None:
                a, n = int(windows[j, 0]), int(windows[j, 1])
                seq = seq[a:a + n]
            if len(seq) > max_len:
                seq = seq[np.linspace(0, len(seq) - 1, max_len).round().astype(np.int64)]
            seqs.append(seq)
        lengths = np.array([len(s) for s in seqs], dtype=np.int64)
        out = np.zeros((len(seqs), int(lengths.max(initial=1)), self.dim), dtype=np.float32)
        for j, s in enumerate(seqs):
            out[j, :len(s)] = s
        return out, lengths


@dataclass
class VectorTable(_RowsById):
    """One [D] vector per id (the text embeddings)."""

    ids: list[str]
    dim: int
    matrix: np.ndarray  # [N, D]
    index: dict[str, int] = field(default_factory=dict)

    @property
    def nbytes(self) -> int:
        return self.matrix.nbytes

    def batch(self, rows: np.ndarray) -> np.ndarray:
        return self.matrix[np.asarray(rows, dtype=np.int64)].astype(np.float32, copy=False)


def _list_values(col: pa.Array, ids: list[str], path: Path, dim: int | None, nested: bool
                 ) -> tuple[np.ndarray, np.ndarray, int]:
    """Flat [rows, D] values and per-id row counts of a (list<)list<float> column."""
    if col.null_count:
        bad = [ids[i] for i in np.flatnonzero(col.is_null().to_numpy(zero_copy_only=False))]
        raise FeaturesError(f"{path}: null features for {len(bad)} id(s): {', '.join(map(repr, bad[:5]))}")
    if nested:
        lengths = col.value_lengths().to_numpy(zero_copy_only=False).astype(np.int32)
        empty = np.flatnonzero(lengths == 0)
        if len(empty):
            raise FeaturesError(f"{path}: empty feature sequence for {len(empty)} id(s): "
                                f"{', '.join(repr(ids[i]) for i in empty[:5])}")
        inner = col.flatten()
    else:
        lengths = np.ones(len(col), dtype=np.int32)
        inner = col
    inner_len = inner.value_lengths().to_numpy(zero_copy_only=False)
    d = dim if dim is not None else (int(inner_len[0]) if len(inner_len) else 0)
    wrong = np.flatnonzero(inner_len != d)
    if len(wrong):
        owner = np.searchsorted(np.cumsum(lengths), wrong[0], side="right")
        raise FeaturesError(f"{path}: feature vectors of {ids[owner]!r} have {inner_len[wrong[0]]} values, "
                            f"expected {d} (encoders.json dim)")
    values = inner.flatten()
    if values.null_count:
        raise FeaturesError(f"{path}: null values inside feature vectors")
    values = values.to_numpy(zero_copy_only=False).reshape(-1, d)
    return values, lengths, d


def _nonfinite_ids(values: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Positions (per id) whose [L, D] block holds a NaN or inf."""
    bad_vectors = ~np.isfinite(values).all(axis=1)
    if not bad_vectors.any():
        return np.zeros(0, dtype=np.int64)
    owner = np.repeat(np.arange(len(lengths)), lengths)
    return np.unique(owner[bad_vectors])


def _read_modality(features_dir: Path, modality: str, wanted: set[str] | None, dim: int | None,
                   dtype: str, skipped: list[str] | None = None) -> SequenceTable | VectorTable:
    """skipped: None = non-finite features are an error; a list = those ids are left out and appended."""
    files = _files(features_dir, modality)
    id_col = ID_COLUMN[modality]
    nested = modality != "text"
    ids: list[str] = []
    blocks, lengths = [], []
    wanted_arr = pa.array(sorted(wanted), type=pa.string()) if wanted is not None else None
    for path in files:
        try:
            # pre_buffer off: it would fetch the whole file's column chunks up front (peak = file size)
            pf = pq.ParquetFile(path, pre_buffer=False)
            names = pf.schema_arrow.names
            if id_col not in names or "features" not in names:
                raise FeaturesError(f"{path}: expected columns {id_col!r} and 'features', found {names}")
            # record batches, not whole files: the peak is one batch, and each batch's values become
            # one block without a concatenation copy
            for rb in pf.iter_batches(batch_size=BATCH_ROWS, columns=[id_col, "features"]):
                if wanted_arr is not None:
                    rb = rb.filter(pc.is_in(rb.column(id_col), value_set=wanted_arr))
                if rb.num_rows == 0:
                    continue
                batch_ids = rb.column(id_col).to_pylist()
                if any(i is None for i in batch_ids):
                    raise FeaturesError(f"{path}: null {id_col}")
                values, lens, dim = _list_values(rb.column("features"), batch_ids, path, dim, nested)
                bad = _nonfinite_ids(values, lens)
                if len(bad):
                    if skipped is None:
                        raise NonFiniteFeaturesError(path, modality, [batch_ids[i] for i in bad])
                    keep = np.ones(len(batch_ids), dtype=bool)
                    keep[bad] = False
                    skipped.extend(batch_ids[i] for i in bad)
                    values, lens = values[np.repeat(keep, lens)], lens[keep]
                    batch_ids = [i for i, k in zip(batch_ids, keep, strict=True) if k]
                    if not batch_ids:
                        continue
                blocks.append(values.astype(dtype, copy=False))
                lengths.append(lens)
                ids.extend(batch_ids)
        except (OSError, pa.ArrowException) as exc:
            raise FeaturesError(f"cannot read {path}: {exc}") from exc
    if dim is None:
        dim = blocks[0].shape[1] if blocks else 0
    if not nested:
        matrix = np.concatenate(blocks) if blocks else np.zeros((0, dim), dtype=dtype)
        # duplicate texts (the same string embedded in two files) are the same text: keep the first
        first = {}
        for i, t in enumerate(ids):
            first.setdefault(t, i)
        keep = np.fromiter(first.values(), dtype=np.int64, count=len(first))
        if len(keep) != len(ids):
            matrix = matrix[keep]
        return VectorTable(ids=list(first), dim=dim, matrix=matrix)
    index: dict[str, int] = {}
    dupes = []
    for i, k in enumerate(ids):
        if index.setdefault(k, i) != i:
            dupes.append(k)
    if dupes:
        raise FeaturesError(f"{features_dir}/{modality}-*.parquet: {len(dupes)} {ID_COLUMN[modality]}(s) appear "
                            f"more than once: {', '.join(map(repr, dupes[:5]))}")
    block = np.concatenate([np.full(len(n), b, dtype=np.int32) for b, n in enumerate(lengths)]) \
        if lengths else np.zeros(0, dtype=np.int32)
    start = np.concatenate([np.cumsum(n, dtype=np.int64) - n for n in lengths]) \
        if lengths else np.zeros(0, dtype=np.int64)
    length = np.concatenate(lengths) if lengths else np.zeros(0, dtype=np.int32)
    return SequenceTable(ids=ids, dim=dim, blocks=blocks, block=block, start=start, length=length, index=index)


@dataclass
class FeatureStore:
    """The features a run needs; `video`, `music`, `text` are None when not loaded."""

    directory: Path
    encoders: dict
    video: SequenceTable | None = None
    music: SequenceTable | None = None
    text: VectorTable | None = None
    skipped: dict = field(default_factory=dict)  # modality -> ids left out for non-finite features

    @classmethod
    def load(cls, features_dir: str | Path, video_ids=None, music_ids=None, texts=None,
             modalities=MODALITIES, dtype: str = "float32", skip_nonfinite: bool = False) -> FeatureStore:
        """Load the given modalities; *_ids/texts (iterables) restrict what is read (None = all).
        The NULL text "" is always read along with the texts. Non-finite feature values are an error
        naming the file and ids (NonFiniteFeaturesError), or with skip_nonfinite those ids are left out
        and listed in `skipped`."""
        features_dir = Path(features_dir)
        if not features_dir.is_dir():
            raise FeaturesError(f"features directory not found: {features_dir}")
        encoders = read_encoders(features_dir)
        store = cls(directory=features_dir, encoders=encoders)
        wanted = {"video": video_ids, "music": music_ids, "text": texts}
        for m in modalities:
            if m not in encoders:
                raise FeaturesError(f"{features_dir}/encoders.json has no '{m}' entry")
            if not _files(features_dir, m):
                raise FeaturesError(f"no {m}-*.parquet files in {features_dir}")
            ids = wanted[m]
            ids = None if ids is None else set(ids)
            if m == "text" and ids is not None:
                ids.add(NULL_TEXT)
            skipped = [] if skip_nonfinite else None
            setattr(store, m, _read_modality(features_dir, m, ids, encoders[m]["dim"], dtype, skipped))
            if skipped:
                store.skipped[m] = sorted(skipped)
        return store

    def dims(self) -> dict[str, int]:
        return {m: int(self.encoders[m]["dim"]) for m in MODALITIES if m in self.encoders}

    def null_text_index(self) -> int:
        if self.text is None or NULL_TEXT not in self.text.index:
            raise FeaturesError(f"{self.directory}/text-*.parquet has no row with text \"\": the NULL "
                                "embedding (g^t of the empty string) is needed for text dropout and "
                                "video-only queries")
        return self.text.index[NULL_TEXT]

    def missing(self, modality: str, ids) -> list[str]:
        table = getattr(self, modality)
        index = table.index if table is not None else {}
        seen, out = set(), []
        for i in ids:
            if i not in index and i not in seen:
                seen.add(i)
                out.append(i)
        return out

    def require(self, modality: str, ids) -> None:
        missing = self.missing(modality, ids)
        if missing:
            raise MissingFeaturesError(modality, missing, f"{self.directory}/{modality}-*.parquet")


def list_ids(features_dir: str | Path, modality: str) -> list[str]:
    """Every id of a modality in the directory (reads only the id column)."""
    out = []
    for path in _files(Path(features_dir), modality):
        out.extend(pq.read_table(path, columns=[ID_COLUMN[modality]]).column(0).to_pylist())
    return out


# --- triplets -----------------------------------------------------------------------------------

TRIPLET_COLUMNS = ("video_id", "music_id", "method", "text")


@dataclass
class Triplets:
    """The triplet rows a run uses, as parallel object arrays."""

    video_id: np.ndarray
    music_id: np.ndarray
    method: np.ndarray
    text: np.ndarray
    files: list[str]

    def __len__(self) -> int:
        return len(self.video_id)

    def take(self, rows: np.ndarray) -> Triplets:
        return Triplets(self.video_id[rows], self.music_id[rows], self.method[rows], self.text[rows], self.files)


def read_triplets(pattern: str, methods=None) -> Triplets:
    """Rows of triplets-*.parquet (schema pipelines.io.schemas.TRIPLETS_SCHEMA) matching `pattern`
    (a glob, a file, or a directory holding triplets-*.parquet), keeping `methods` (None = all)."""
    path = Path(pattern)
    from pipelines.io.commit_marker import committed_local, filter_committed_local

    # committed files only: a glob could also match files of a run killed mid-commit
    files = (committed_local(str(path), "triplets") if path.is_dir()
             else filter_committed_local(sorted(globlib.glob(pattern))))
    if not files:
        raise ValueError(f"no triplet files match {pattern!r}")
    tables = []
    for f in files:
        try:
            names = pq.ParquetFile(f).schema_arrow.names
            missing = [c for c in TRIPLET_COLUMNS if c not in names]
            if missing:
                raise ValueError(f"{f}: missing column(s) {', '.join(missing)} (TRIPLETS_SCHEMA)")
            tables.append(pq.read_table(f, columns=list(TRIPLET_COLUMNS)))
        except (OSError, pa.ArrowException) as exc:
            raise ValueError(f"cannot read triplets {f}: {exc}") from exc
    table = pa.concat_tables(tables, promote_options="permissive")
    if table.num_rows == 0:
        raise ValueError(f"{', '.join(files)}: the triplets file(s) hold no rows")
    cols = {c: np.array(table.column(c).to_pylist(), dtype=object) for c in TRIPLET_COLUMNS}
    for c in ("video_id", "music_id", "text"):
        nulls = np.flatnonzero(np.array([v is None for v in cols[c]], dtype=bool))
        if len(nulls):
            raise ValueError(f"{pattern}: {len(nulls)} triplet row(s) have a null {c} (first row {nulls[0]})")
    triplets = Triplets(cols["video_id"], cols["music_id"], cols["method"], cols["text"], files)
    if methods:
        methods = [methods] if isinstance(methods, str) else list(methods)
        keep = np.isin(triplets.method.astype(str), methods)
        if not keep.any():
            found = sorted({str(m) for m in triplets.method})
            raise ValueError(f"{pattern}: no triplets with method(s) {', '.join(methods)} "
                             f"(found: {', '.join(found)})")
        triplets = triplets.take(np.flatnonzero(keep))
    return triplets
