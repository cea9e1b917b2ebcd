"""Credentials written into an endpoint URL are used for requests but never recorded.

Users put secrets in URLs (`https://user:password@host/v1`, `...?api_key=...`); every record a run writes
(summary.json, the dataset card, row metadata, the copied run config) goes through these helpers, so such a
secret cannot end up in a dataset that is later shared.
"""
from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

MASK = "***"
# query parameters whose value is a credential in the APIs users point us at
SECRET_PARAMS = re.compile(r"(?i)(key|token|secret|password|passwd|pwd|auth|signature|sig|credential)")
_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>]+")


def redact_url(url: str | None) -> str | None:
    """The URL with its user:password and secret-looking query values masked; anything else unchanged."""
    if not url or "://" not in url:
        return url
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    netloc = parts.netloc
    if "@" in netloc:
        netloc = f"{MASK}@{netloc.rsplit('@', 1)[1]}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        if any(SECRET_PARAMS.search(k) for k, _ in pairs):
            query = urlencode([(k, MASK if SECRET_PARAMS.search(k) else v) for k, v in pairs], safe="*")
    if netloc == parts.netloc and query == parts.query:
        return url
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def redact_text(text: str) -> str:
    """Every URL inside free text (a config file, a log line) redacted."""
    return _URL.sub(lambda m: redact_url(m.group(0)) or "", text) if "://" in text else text


def redact_values(obj: Any) -> Any:
    """A copy of a JSON-like structure with every string redacted as text."""
    if isinstance(obj, str):
        return redact_text(obj)
    if isinstance(obj, dict):
        return {k: redact_values(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [redact_values(v) for v in obj]
    return obj
