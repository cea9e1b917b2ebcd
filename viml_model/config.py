"""Model and training settings: YAML files (data), read into frozen dataclasses and validated.

A config file has up to four sections, ``model``, ``loss``, ``data`` and ``train``; any key it leaves
out keeps the default below. ``extends: other.yaml`` (next to the file, else packaged) starts from another config
(``viml.yaml`` = the paper's settings; ``mvpt.yaml``/``mt.yaml`` only change what the baselines need).
Every error names the file, the line and the dotted key, e.g. ``mvpt.yaml:7: model.fusoin: unknown
key (did you mean 'fusion'?)``.
"""
from __future__ import annotations

import dataclasses
import difflib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import yaml

CONFIG_DIR = Path(__file__).resolve().parent / "configs"

KINDS = ("viml", "mvpt", "mt")
FUSIONS = ("addition", "linear", "mlp", "transformer1", "transformer2")


class ConfigError(ValueError):
    """A config file that cannot be used; the message names the file, line and key."""


@dataclass(frozen=True)
class ModelConfig:
    kind: str = "viml"  # viml: video+text -> music; mvpt: video -> music; mt: text -> music
    d_model: int = 256
    n_heads: int = 4
    ff_dim: int = 2048
    dropout: float = 0.1
    video_layers: int = 2
    music_layers: int = 2
    text_layers: int = 2
    pooling: str = "mean"  # mean (masked mean of the output tokens) | cls (a learned first token)
    input_norm: bool = True  # LayerNorm on the frozen input features before the projection
    max_video_len: int = 64  # longer sequences are subsampled uniformly to this many steps
    max_music_len: int = 64
    fusion: str = "addition"  # addition | linear | mlp | transformer1 | transformer2 (the paper's main results)
    fusion_tokens: str = "pooled"  # pooled: [y_v; y_t] | sequence: [video tokens; y_t]
    mlp_hidden: int = 2048
    fusion_residual: bool = False  # y_vt = y_v + f^vt(y_v, y_t): the video embedding passes through the fusion
    null_text: str = "zero"  # encoded: x^NULL = g^t("") as the paper | learned: a trained vector (starts at g^t(""))
    # | zero: y_t = 0 for a NULL text (f^t's output dropped), so with addition fusion the video-only query is y_v alone

    _choices = {"kind": KINDS, "pooling": ("mean", "cls"), "fusion": FUSIONS,
                "fusion_tokens": ("pooled", "sequence"), "null_text": ("encoded", "learned", "zero")}


@dataclass(frozen=True)
class LossConfig:
    temperature: float = 0.1
    learn_temperature: bool = False
    symmetric: bool = True  # query->music and music->query; False = query->music only

    _choices = {}


@dataclass(frozen=True)
class DataConfig:
    methods: tuple | None = None  # synthesis methods kept from the triplets; None = all
    level: str = "track"  # track | segment (a random aligned window per step, the middle one to evaluate)
    segment_len: int = 4  # music segments per window at segment level
    val_fraction: float = 0.1  # share of VIDEOS held out for validation
    feature_dtype: str = "float32"  # float32 | float16 (features held in memory; computed in float32)

    _choices = {"level": ("track", "segment"), "feature_dtype": ("float32", "float16")}


QUERY_SECTIONS = ("video_only", "video_text", "mean")  # mean: the average of the two query kinds
RETRIEVAL_KEYS = ("R@1", "R@5", "R@10", "median_rank", "mean_rank")
LOWER_IS_BETTER = ("median_rank", "mean_rank", "val_loss")


@dataclass(frozen=True)
class EarlyStoppingConfig:
    # "<video_only|video_text|mean>.<R@1|R@5|R@10|median_rank|mean_rank>" or "val_loss"
    metric: str = "mean.mean_rank"
    patience: int = 5
    min_delta: float = 0.0

    _choices = {}


@dataclass(frozen=True)
class TrainConfig:
    seed: int = 0
    epochs: int = 50
    batch_size: int = 256
    lr: float = 1.0e-4
    weight_decay: float = 0.01
    warmup_steps: int = 500
    schedule: str = "cosine"  # cosine (after warmup, to 0 at the last epoch) | constant
    grad_clip: float = 1.0
    text_dropout: float = 0.5
    text_dropout_mode: str = "sample"  # sample: each text dropped on its own | batch: a whole batch at once
    video_only_weight: float = 1.0  # weight of an extra InfoNCE term on the NULL-text query of every pair
    eval_batch_size: int = 1024
    early_stopping: EarlyStoppingConfig = field(default_factory=EarlyStoppingConfig)

    _choices = {"schedule": ("cosine", "constant"), "text_dropout_mode": ("sample", "batch")}


@dataclass(frozen=True)
class Config:
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    source: str = "<defaults>"

    def to_dict(self) -> dict:
        out = _asdict(self)
        out.pop("source")
        return out

    def with_overrides(self, **sections: dict) -> Config:
        """e.g. cfg.with_overrides(train={"epochs": 3}, data={"methods": ["prompt2text"]})."""
        merged = self.to_dict()
        for name, values in sections.items():
            _deep_update(merged.setdefault(name, {}), values)
        return from_dict(merged, source=f"{self.source} (+overrides)")


_SECTIONS = {"model": ModelConfig, "loss": LossConfig, "data": DataConfig, "train": TrainConfig}


def _asdict(obj) -> Any:
    if dataclasses.is_dataclass(obj):
        return {f.name: _asdict(getattr(obj, f.name)) for f in fields(obj) if not f.name.startswith("_")}
    if isinstance(obj, tuple):
        return list(obj)
    return obj


def _deep_update(base: dict, new: dict) -> None:
    for k, v in new.items():
        if isinstance(v, dict) and isinstance(base.get(k), dict):
            _deep_update(base[k], v)
        else:
            base[k] = v


def _fail(source: str, line: int | None, key: str, msg: str) -> ConfigError:
    where = f"{source}:{line}" if line else source
    return ConfigError(f"{where}: {key}: {msg}")


def _line_map(node, prefix: str = "", out: dict | None = None) -> dict:
    """Dotted key -> 1-based line, from a composed YAML node tree."""
    out = {} if out is None else out
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            key = f"{prefix}{k.value}"
            out[key] = k.start_mark.line + 1
            _line_map(v, key + ".", out)
    return out


def _coerce(value: Any, default: Any, annotation: str, where: tuple[str, int | None, str]) -> Any:
    source, line, key = where
    if "tuple" in annotation:
        if value is None:
            return None
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise _fail(source, line, key, f"expected a list of names, got {value!r}")
        return tuple(value)
    kind = type(default)
    if kind is bool:
        if not isinstance(value, bool):
            raise _fail(source, line, key, f"expected true or false, got {value!r}")
        return value
    if kind is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _fail(source, line, key, f"expected an integer, got {value!r}")
        return value
    if kind is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _fail(source, line, key, f"expected a number, got {value!r}")
        return float(value)
    if kind is str:
        if not isinstance(value, str):
            raise _fail(source, line, key, f"expected a string, got {value!r}")
        return value
    return value


def _build(cls, values: Any, prefix: str, source: str, lines: dict):
    if values is None:
        values = {}
    if not isinstance(values, dict):
        raise _fail(source, lines.get(prefix.rstrip(".")), prefix.rstrip("."), "expected a mapping")
    known = {f.name: f for f in fields(cls) if not f.name.startswith("_")}
    defaults = cls()
    kwargs = {}
    for key, value in values.items():
        dotted = f"{prefix}{key}"
        if key not in known:
            close = difflib.get_close_matches(str(key), list(known), n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else f" (known: {', '.join(known)})"
            raise _fail(source, lines.get(dotted), dotted, f"unknown key{hint}")
        default = getattr(defaults, key)
        if dataclasses.is_dataclass(default):
            kwargs[key] = _build(type(default), value, dotted + ".", source, lines)
            continue
        value = _coerce(value, default, str(known[key].type), (source, lines.get(dotted), dotted))
        choices = getattr(cls, "_choices", {}) or {}
        if key in choices and value not in choices[key]:
            raise _fail(source, lines.get(dotted), dotted,
                        f"{value!r} is not one of {', '.join(choices[key])}")
        kwargs[key] = value
    return replace(defaults, **kwargs)


def _check(cfg: Config, source: str, lines: dict) -> None:
    def bad(key: str, msg: str):
        return _fail(source, lines.get(key), key, msg)

    m, t, d = cfg.model, cfg.train, cfg.data
    if m.d_model % m.n_heads:
        raise bad("model.n_heads", f"d_model {m.d_model} is not divisible by n_heads {m.n_heads}")
    for key in ("d_model", "n_heads", "ff_dim", "max_video_len", "max_music_len", "mlp_hidden"):
        if getattr(m, key) < 1:
            raise bad(f"model.{key}", "must be >= 1")
    for key in ("video_layers", "music_layers", "text_layers"):
        if getattr(m, key) < 0:
            raise bad(f"model.{key}", "must be >= 0")
    if not 0.0 <= m.dropout < 1.0:
        raise bad("model.dropout", "must be in [0, 1)")
    if cfg.loss.temperature <= 0:
        raise bad("loss.temperature", "must be > 0")
    if not 0.0 <= t.text_dropout <= 1.0:
        raise bad("train.text_dropout", "must be in [0, 1]")
    if not 0.0 <= d.val_fraction < 1.0:
        raise bad("data.val_fraction", "must be in [0, 1)")
    if d.segment_len < 1:
        raise bad("data.segment_len", "must be >= 1")
    for key in ("epochs", "batch_size", "eval_batch_size"):
        if getattr(t, key) < 1:
            raise bad(f"train.{key}", "must be >= 1")
    if t.video_only_weight < 0:
        raise bad("train.video_only_weight", "must be >= 0")
    section, _, name = t.early_stopping.metric.partition(".")
    if t.early_stopping.metric != "val_loss" and (section not in QUERY_SECTIONS or name not in RETRIEVAL_KEYS):
        raise bad("train.early_stopping.metric",
                  f"expected val_loss, or {'|'.join(QUERY_SECTIONS)} followed by "
                  f"{', '.join('.' + k for k in RETRIEVAL_KEYS)}")


def from_dict(data: dict, source: str = "<dict>", lines: dict | None = None) -> Config:
    lines = lines or {}
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping with sections {', '.join(_SECTIONS)}")
    kwargs = {}
    for key, value in data.items():
        if key not in _SECTIONS:
            close = difflib.get_close_matches(str(key), list(_SECTIONS), n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else f" (sections: {', '.join(_SECTIONS)})"
            raise _fail(source, lines.get(key), key, f"unknown section{hint}")
        kwargs[key] = _build(_SECTIONS[key], value, key + ".", source, lines)
    cfg = Config(**kwargs, source=source)
    _check(cfg, source, lines)
    return cfg


def _read_yaml(path: Path, seen: tuple = ()) -> tuple[dict, dict]:
    """(merged data, dotted key -> 'file:line' source label) following `extends`."""
    if path.resolve() in seen:
        raise ConfigError(f"{path}: `extends` loops back to itself")
    try:
        text = path.read_text(encoding="utf-8")
        node = yaml.compose(text)
        data = yaml.safe_load(text) or {}
    except OSError as exc:
        raise ConfigError(f"cannot read config {path}: {exc}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping with sections {', '.join(_SECTIONS)}")
    lines = _line_map(node)
    base = data.pop("extends", None)
    if base is None:
        return data, lines
    if not isinstance(base, str):
        raise _fail(str(path), lines.get("extends"), "extends", "expected a file name")
    # a sibling file first, else the packaged config (so a user's mvpt.yaml can extend the packaged one)
    base_path = (path.parent / base).resolve()
    if (not base_path.is_file() or base_path == path.resolve()) and (CONFIG_DIR / base).is_file():
        base_path = CONFIG_DIR / base
    merged, _ = _read_yaml(base_path, seen + (path.resolve(),))
    _deep_update(merged, data)
    return merged, lines


def parse_key_values(items: list[str], flag: str = "--set") -> dict:
    """Command-line `KEY=VALUE` items -> {KEY: VALUE read as YAML} (numbers, lists [1, 2], mappings
    {genre: 0.5}); an item without "=" ends the program naming `flag`."""
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"{flag} expects key=value, got {item!r}")
        out[key.strip()] = yaml.safe_load(value)
    return out


def load_config(path: str | Path | None = None) -> Config:
    """Read a YAML config; a bare name like 'mvpt' or 'mvpt.yaml' means the packaged one."""
    if path is None:
        path = CONFIG_DIR / "viml.yaml"
    path = Path(path)
    if not path.exists():
        for candidate in (CONFIG_DIR / path.name, CONFIG_DIR / f"{path.name}.yaml"):
            if candidate.is_file():
                path = candidate
                break
        else:
            raise ConfigError(f"config file not found: {path} (packaged: "
                              f"{', '.join(p.name for p in sorted(CONFIG_DIR.glob('*.yaml')))})")
    data, lines = _read_yaml(path)
    return from_dict(data, source=str(path), lines=lines)
