"""data2text: tags -> templated sentences per category -> rewritten description (Kasner & Dusek style).

Public API::

    from pipelines.synthesize.data2text import TemplateBank, BuiltinRewriter, data2text
    bank = TemplateBank.load()                 # templates/data2text/*.j2
    text, meta = data2text(tags, random.Random(seed), bank, BuiltinRewriter(bank), vocabulary)
"""
from pipelines.synthesize.data2text.method import data2text, data2text_many, plan
from pipelines.synthesize.data2text.rewriter import (
    BuiltinRewriter,
    JoinRewriter,
    RewriteLossError,
    Rewriter,
    RewriteResult,
    Seq2SeqRewriter,
)
from pipelines.synthesize.data2text.templates import RenderedSentence, TemplateBank, TemplateError

__all__ = [
    "BuiltinRewriter",
    "JoinRewriter",
    "RenderedSentence",
    "RewriteLossError",
    "RewriteResult",
    "Rewriter",
    "Seq2SeqRewriter",
    "TemplateBank",
    "TemplateError",
    "data2text",
    "data2text_many",
    "plan",
]
