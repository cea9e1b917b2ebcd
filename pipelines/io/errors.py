"""Error records: every input that does not reach the output ends here, with its reason."""
from __future__ import annotations

import json
from typing import Any


def error_record(id_: str | None, stage: str, error_type: str, message: str, input_ref: Any) -> dict:
    ref = input_ref if isinstance(input_ref, str) else json.dumps(input_ref, default=str, sort_keys=True)
    return {"id": id_, "stage": stage, "error_type": error_type, "message": message, "input_ref": ref}


def error_from_exception(id_: str | None, stage: str, exc: BaseException, input_ref: Any) -> dict:
    """Uses the exception's `reason` code when it has one (e.g. AudioDecodeError), else its class name."""
    error_type = getattr(exc, "reason", None) or type(exc).__name__
    return error_record(id_, stage, error_type, str(exc) or type(exc).__name__, input_ref)
