"""Turning a raw completion into a description, or rejecting it with a reason."""
from __future__ import annotations

import functools
import re
from collections.abc import Callable

MIN_WORDS = 3


class RejectedCompletion(ValueError):
    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


def cut_completion(text: str, stop: tuple[str, ...]) -> str:
    """Keep what precedes the first stop sequence (servers may ignore `stop`), trimmed.

    Leading whitespace goes first: a model may open with a blank line before the description.
    """
    text = text.lstrip()
    end = min((i for i in (text.find(s) for s in stop if s) if i != -1), default=len(text))
    return text[:end].strip().strip('"').strip()


def check_completion(text: str, examples: list[str]) -> str:
    """Rejects empty, too short, degenerate (looping) text and verbatim copies of an example."""
    words = re.findall(r"[\w'-]+", text.lower())
    if not words:
        raise RejectedCompletion("empty_completion", "the model returned no text")
    if len(words) < MIN_WORDS:
        raise RejectedCompletion("degenerate_completion", f"completion too short: {text!r}")
    if len(words) >= 8 and len(set(words)) / len(words) < 0.35:
        raise RejectedCompletion("degenerate_completion", f"completion repeats itself: {text[:120]!r}")
    normalized = _norm(text)
    if any(normalized == _example_norm(e) for e in examples):
        raise RejectedCompletion("copied_example", "completion copies one of the prompt's examples verbatim")
    return text


def _norm(text: str) -> str:
    return " ".join(re.findall(r"\w+", text.lower()))


_example_norm = functools.lru_cache(maxsize=4096)(_norm)  # the pool's few descriptions, on every row


def completion_check(stop: tuple[str, ...], examples: list[str]) -> Callable[[str], str]:
    """`check` for an LLMRequest: cut, then reject as `check_completion` does, so that the backend draws a
    rejected completion again with a new seed (bounded by its attempts) instead of losing the row."""
    return functools.partial(_cut_and_check, tuple(stop), list(examples))


def _cut_and_check(stop: tuple[str, ...], examples: list[str], text: str) -> str:
    return check_completion(cut_completion(text, stop), examples)
