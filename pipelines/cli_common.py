"""What every `viml-synth` subcommand shares: exit codes, the usage error, the common option groups, and
config files applied with exactly the checks a command-line flag gets (type, choices), so a bad value in
YAML is reported with its file, section and key instead of failing later inside a stage or inside Beam.

Stage CLIs (pipelines/cli.py, pipelines/features/cli.py, pipelines/run_config.py, viml_model/cli.py)
import from here; this module imports none of them.
"""
from __future__ import annotations

import argparse
from typing import Any

import yaml

EXIT_OK, EXIT_NOTHING_DONE, EXIT_BAD_INPUT = 0, 1, 2
LOG_LEVELS = ["DEBUG", "INFO", "WARNING", "ERROR"]


class UsageError(ValueError):
    """Bad options or unreadable inputs: reported in one line, exit status 2."""


def add_runner_args(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("runner (any other --flag is passed to Beam, e.g. --project, --region)")
    group.add_argument("--runner", default="local",
                       help="local (Beam's embedded FnApiRunner, default), DataflowRunner, FlinkRunner, "
                            "SparkRunner or PortableRunner")
    group.add_argument("--workers", type=int, default=1,
                       help="local runner only: worker processes (each loads its own model copy)")


def add_common_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", help="YAML file of options (keys as the long flags, with _); flags override it")
    parser.add_argument("--log-level", default="INFO", choices=LOG_LEVELS)


def subcommand_parser(parser: argparse.ArgumentParser, command: str) -> argparse.ArgumentParser:
    # argparse has no public way to reach a subcommand's parser once built
    return parser._subparsers._group_actions[0].choices[command]  # noqa: SLF001


def load_config(path: str) -> dict:
    """A YAML file that must hold a mapping; UsageError naming the file otherwise."""
    try:
        with open(path, encoding="utf-8") as fh:
            config = yaml.safe_load(fh) or {}
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise UsageError(f"cannot read config {path}: {exc}") from exc
    if not isinstance(config, dict):
        raise UsageError(f"{path}: expected a mapping of option -> value, got {_kind(config)}")
    return config


def section_of(config: dict, name: str, path: str) -> dict:
    """config[name] as a mapping (an empty section is allowed), or a UsageError saying what it is instead."""
    section = config.get(name)
    if section is None:
        return {}
    if not isinstance(section, dict):
        raise UsageError(f"{path}: section '{name}' must be a mapping of option -> value, got {_kind(section)} "
                         f"{section!r}")
    return section


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return {int: "an int", float: "a float", str: "a string"}.get(type(value), type(value).__name__)


def _type_name(action: argparse.Action) -> str:
    named = {int: "an int", float: "a float", None: "a string"}
    return named.get(action.type, getattr(action.type, "__name__", "a value"))


def _scalar(action: argparse.Action, value: Any, where: str) -> Any:
    """One value converted as argparse would convert the same text on the command line."""
    expected = _type_name(action)
    bad = UsageError(f"{where}: {action.dest}: expected {expected}, got {_kind(value)} {value!r}")
    if action.type is None and isinstance(value, dict) and value:
        # YAML's natural form of a "name=N,name=N" option (top_k: {genre: 3}) is a mapping
        value = ",".join(f"{k}={_scalar(action, v, where)}" for k, v in value.items())
    if isinstance(value, (bool, list, tuple, dict)) or value is None:
        raise bad
    if action.type is None:
        return value if isinstance(value, str) else str(value)
    if action.type is int and isinstance(value, float):
        raise bad  # 2.5 is not an int, and silently truncating 2.0 would hide a typo
    if action.type not in (int, float):
        value = str(value)  # other converters take the text a flag would have given them
    try:
        return action.type(value)
    except (TypeError, ValueError, argparse.ArgumentTypeError):
        raise bad from None


def _check_choices(action: argparse.Action, value: Any, where: str) -> None:
    if action.choices is not None and value not in action.choices:
        raise UsageError(f"{where}: {action.dest}: {value!r} is not one of: "
                         + ", ".join(str(c) for c in action.choices))


def convert_value(action: argparse.Action, value: Any, where: str) -> Any:
    """A config value checked and converted with the rules of the flag it stands for."""
    if action.nargs == 0:  # store_true / store_false: the flag takes no value, the config a boolean
        if not isinstance(value, bool):
            raise UsageError(f"{where}: {action.dest}: expected true or false, got {_kind(value)} {value!r}")
        return value
    if isinstance(action, argparse._AppendAction):  # noqa: SLF001 - repeatable flag: a list (or one value)
        items = value if isinstance(value, list) else [value]
        converted = [_scalar(action, item, where) for item in items]
        for item in converted:
            _check_choices(action, item, where)
        return converted
    converted = _scalar(action, value, where)
    _check_choices(action, converted, where)
    return converted


def validated_defaults(sub: argparse.ArgumentParser, section: dict, where: str,
                       passthrough: tuple[str, ...] = ("beam_args",)) -> dict:
    """The section's values, keyed by dest, each checked as its flag would be; unknown keys are an error."""
    actions = {a.dest: a for a in sub._actions if a.dest != "help"}  # noqa: SLF001 - argparse has no API
    values, unknown = {}, []
    for key, value in section.items():
        dest = str(key).replace("-", "_")
        if dest in passthrough:
            continue
        if dest not in actions:
            unknown.append(str(key))
            continue
        values[dest] = convert_value(actions[dest], value, where)
    if unknown:
        raise UsageError(f"{where}: unknown option(s) for '{sub.prog.split()[-1]}': {', '.join(sorted(unknown))}")
    return values


def apply_section(parser: argparse.ArgumentParser, command: str, section: dict, path: str,
                  argv: list[str] | None = None) -> argparse.Namespace:
    """`command`'s options with the section's values as defaults (flags in argv still win)."""
    sub = subcommand_parser(parser, command)
    sub.set_defaults(**validated_defaults(sub, section, f"{path}, section '{command}'"))
    return sub.parse_args(list(argv or []))
