"""The per-instance memo behind the lexicon's and grammar's tag questions."""
from pipelines.synthesize import memo
from pipelines.synthesize.memo import memoized


class Counter:
    def __init__(self, offset: int):
        self.offset, self.calls = offset, 0

    @memoized
    def plus(self, x: int) -> int:
        self.calls += 1
        return x + self.offset


def test_each_instance_keeps_its_own_answers():
    a, b = Counter(1), Counter(100)
    assert [a.plus(1), a.plus(1), b.plus(1), a.plus(2)] == [2, 2, 101, 3]
    assert (a.calls, b.calls) == (2, 1)


def test_the_table_is_bounded(monkeypatch):
    monkeypatch.setattr(memo, "MAX_ENTRIES", 4)
    c = Counter(0)
    for x in range(10):
        c.plus(x)
    assert len(c.__dict__["_memo_plus"]) <= 4
    assert c.plus(9) == 9  # still correct after the table was emptied


def test_grammar_answers_repeat_without_recomputing():
    from pipelines.synthesize.data2text.grammar import Grammar

    g = Grammar()
    tags = ("electric guitar", "drums", "orchestra", "happy")
    first = [g.with_article(t) for t in tags]  # the `a` filter's answer (article() itself is not memoized)
    assert first == ["an electric guitar", "drums", "an orchestra", "happy"]
    assert [g.with_article(t) for t in tags] == first
    assert len(g.__dict__["_memo_with_article"]) == 4
    assert [g.article(t) for t in tags] == ["an", "", "an", ""]
