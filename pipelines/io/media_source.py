"""Opening a media file named by a manifest, shared by the audio and video decoders.

A local path stays a path (decoders stream from disk); any other scheme (gs://, s3://, ...) is read
into memory through Beam's FileSystems. Problems raise the caller's error type, built as
`error(reason, message, uri)`, with the reasons missing_file / empty_file / bad_segment.
"""
from __future__ import annotations

import errno
import math
import os
import re
from collections.abc import Callable


class MediaDecodeError(ValueError):
    """A file that cannot be used as media; `reason` is a short machine-readable code."""

    def __init__(self, reason: str, message: str, uri: str | None = None):
        super().__init__(message)
        self.reason = reason
        self.uri = uri

    def __reduce__(self):  # keep reason/uri when Beam pickles the exception (dead letters)
        return (type(self), (self.reason, str(self), self.uri))


Source = str | bytes  # a local path, or the whole file for non-local URIs
URI_SCHEME = re.compile(r"^[a-zA-Z][-a-zA-Z0-9+.]*://")  # what Beam's FileSystems.get_scheme uses
ErrorFactory = Callable[[str, str, str], Exception]


def check_segment(uri: str, start_s: float | None, end_s: float | None, kind: str,
                  error: ErrorFactory) -> None:
    """Reject segments that are wrong whatever the file holds (beyond-the-end is checked later)."""
    for name, value in (("start_s", start_s), ("end_s", end_s)):
        if value is not None and (math.isnan(value) or value < 0):
            raise error("bad_segment", f"bad {kind} segment for {uri}: {name}={value} must be a number >= 0", uri)
    if start_s is not None and math.isinf(start_s):
        raise error("bad_segment", f"bad {kind} segment for {uri}: start_s must be finite", uri)
    if end_s is not None and end_s <= (start_s or 0.0):
        raise error("bad_segment", f"bad {kind} segment for {uri}: end_s={end_s} must be after "
                                   f"start_s={start_s or 0.0}", uri)


def load_source(uri: str, kind: str, error: ErrorFactory) -> Source:
    path = uri[len("file://"):] if uri.startswith("file://") else uri
    if not URI_SCHEME.match(path):
        if not os.path.isfile(path):
            raise error("missing_file", f"{kind} file {_why_not_a_file(path)}: {uri}", uri)
        if os.path.getsize(path) == 0:
            raise error("empty_file", f"{kind} file is empty (0 bytes): {uri}", uri)
        return path
    return read_remote(uri, kind, error)


def _why_not_a_file(path: str) -> str:
    if os.path.isdir(path):
        return "is a directory, not a file"
    if os.path.islink(path):
        try:
            os.stat(path)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                return "is a symbolic link loop (the link points back to itself)"
        return f"is a symbolic link to something that does not exist ({os.readlink(path)})"
    return "does not exist"


def read_remote(uri: str, kind: str, error: ErrorFactory, filesystems=None) -> bytes:
    from apache_beam.io.filesystem import CompressionTypes

    if filesystems is None:
        from apache_beam.io.filesystems import FileSystems as filesystems
    try:
        # UNCOMPRESSED: never let a ".gz"-looking name trigger transparent decompression.
        with filesystems.open(uri, compression_type=CompressionTypes.UNCOMPRESSED) as handle:
            data = handle.read()
    except Exception:
        if not filesystems.exists(uri):
            raise error("missing_file", f"{kind} file does not exist: {uri}", uri) from None
        raise  # a real I/O problem (permissions, network): let the runner retry it
    if not data:
        raise error("empty_file", f"{kind} file is empty (0 bytes): {uri}", uri)
    return data
