"""Test and benchmark helpers that ship with the package: a loopback LLM server (`llm_server`).

Names are imported lazily so that `python -m pipelines.testing.llm_server` does not import the
module twice.
"""
_EXPORTS = ("Fault", "FaultSchedule", "LLMServer", "ReceivedRequest", "default_responder")
__all__ = list(_EXPORTS)


def __getattr__(name):
    if name in _EXPORTS:
        from pipelines.testing import llm_server

        return getattr(llm_server, name)
    raise AttributeError(name)
