"""The data2text fast paths give exactly what the general code they shortcut gives.

The template environment calls our tests, select/reject and template macros directly, and remembers the
results of a bank's own macros; tidy replaces literally; mention checks search from the tag's first word;
candidate templates are shuffled without Random.shuffle. Each is compared here with the general path:
Jinja's own sandbox with the same filters and tests, the regex forms tidy used, a plain regex search,
Random.shuffle.
"""
import random
import re

import jinja2
import pytest
from jinja2.sandbox import ImmutableSandboxedEnvironment

from pipelines.synthesize.data2text.grammar import mention_pattern, mentions, missing
from pipelines.synthesize.data2text.rewriter import _dedupe
from pipelines.synthesize.data2text.templates import (
    MACRO_PREFIX,
    TemplateBank,
    _TemplateBlocks,
    make_environment,
    tidy,
)
from pipelines.synthesize.draws import shuffle


def jinja_reference(env) -> ImmutableSandboxedEnvironment:
    """Jinja's own sandbox with our filters and tests, but Jinja's select, reject and call paths."""
    ref = ImmutableSandboxedEnvironment(undefined=jinja2.StrictUndefined, autoescape=False, trim_blocks=True,
                                        lstrip_blocks=True)
    ref.filters.update({k: v for k, v in env.filters.items() if k not in ("select", "reject")})
    ref.tests.update(env.tests)
    return ref


SOURCES = [
    # our tests through select/reject, with and without arguments, lazily (a generator is truthy)
    "{{ tags|select('adjective')|list }} {{ tags|reject('adjective')|join_and }}",
    "{{ tags|reject('negated')|select('matching', '(music|song)$')|list|length }}",
    "{% if tags|select('plural') %}gen{% endif %} {{ tags|select('mass')|list }}",
    # Jinja's own tests and no test at all: the fallback
    "{{ tags|select('equalto', 'rock')|list }} {{ tags|reject('in', ['piano'])|list }} {{ tags|select|list }}",
    "{{ tags|select('matching', rx='rock')|list }}",  # keyword arguments: Jinja's path
    "{{ [0, '', 'x']|select|list }} {{ none|select('adjective')|list }}",
    # macros: nested, inside a loop (Jinja passes scope hints), with a caller, with keyword arguments
    "{% macro two(a, b='B') %}{{ a }}-{{ b }}{% endmacro %}{{ two('x') }} {{ two('y', b='z') }}",
    "{% macro one(t) %}[{{ t|a }}]{% endmacro %}{% for t in tags %}{{ one(t) }}{% endfor %}",
    "{% macro wrap() %}<{{ caller() }}>{% endmacro %}{% call wrap() %}{{ tags|join_and }}{% endcall %}",
    "{% macro first_of(xs) %}{{ xs|first }}{% endmacro %}{{ first_of(tags) }}",  # raises on no tags
]
TAGS = [[], ["rock"], ["happy", "rock music", "no drums", "claps", "piano"], ["groovy", "sad", "Rock"]]


def outcome(env, source: str, tags: list) -> tuple:
    """The rendered text, or the error it raised (type and message)."""
    try:
        return "text", env.from_string(source).render(tags=tags)
    except Exception as exc:  # compared, not hidden: both environments must fail alike
        return "error", type(exc).__name__, str(exc)


@pytest.mark.parametrize("source", SOURCES)
def test_our_environment_renders_like_jinjas_own(source):
    env = make_environment()
    ref = jinja_reference(env)
    for tags in TAGS:
        assert outcome(env, source, tags) == outcome(ref, source, tags), (source, tags)


def test_errors_in_our_tests_surface_as_in_jinja():
    env = make_environment()
    with pytest.raises(re.error):
        env.from_string("{{ tags|select('matching', '(')|list }}").render(tags=["rock"])
    with pytest.raises(jinja2.UndefinedError):
        env.from_string("{{ nothing|select('adjective')|list }}").render()
    with pytest.raises(jinja2.exceptions.SecurityError):  # the sandbox still guards everything else
        env.from_string("{{ tags.append('x') }}").render(tags=[])


def _tidy_with_groups(text: str) -> str:
    """tidy as first written: the same edits with group references in the replacements."""
    text = " ".join(str(text).split())
    text = re.sub(r"\s+([,.;:!?])", r"\1", text)
    text = re.sub(r",(\s*,)+", ",", text)
    text = re.sub(r"([.!?])\.+", r"\1", text)
    return text.strip()


def test_tidy_matches_its_group_form_and_is_idempotent():
    rng = random.Random(0)
    alphabet = "ab ,.;:!?\t\n\u00a0\u2003\x1c\x85\u2028"
    for _ in range(20_000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 14)))
        assert tidy(text) == _tidy_with_groups(text), repr(text)
        assert tidy(tidy(text)) == tidy(text), repr(text)


def test_mention_checks_match_a_plain_regex_search():
    def searched(text, tag):
        return not str(tag).strip() or mention_pattern(tag).search(text) is not None

    rng = random.Random(1)
    # case, plurals, punctuation inside tags, word boundaries, non-ASCII case folding (Kelvin sign, long s)
    words = ["rock", "Rock", "ROCKS", "pop", "hip", "hop", "hip-hop", "r&b", "R&B", "a", "s", "es", "(live)", ",",
             ".", "k", "\u212a", "\u017f", "\u00e9", "x_y", "8", "80s"]
    separators = [" ", "  ", ", ", "-", "", "\t", ". ", "_"]
    for _ in range(20_000):
        text = "".join(rng.choice(words) + rng.choice(separators) for _ in range(rng.randint(0, 8)))
        tag = " ".join(rng.choice(words) for _ in range(rng.randint(0, 3))) + rng.choice(["", " ", "s"])
        assert mentions(text, tag) == searched(text, tag), (text, tag)
        tags = [tag, rng.choice(words)]
        assert missing(text, tags) == [t for t in tags if not searched(text, t)], (text, tags)


def test_shuffle_draws_and_orders_like_random_shuffle():
    class Doubled(random.Random):  # a subclass with its own draws: shuffled by its own shuffle
        def random(self):
            return super().random() ** 2

    for seed in range(300):
        for kind in (random.Random, Doubled):
            ours, theirs = kind(seed), kind(seed)
            for length in (0, 1, 2, 3, 7, 8, 9, 16, 17, 40):
                mine, ref = list(range(length)), list(range(length))
                shuffle(mine, ours)
                theirs.shuffle(ref)
                assert mine == ref, (seed, kind, length)
            assert ours.getstate() == theirs.getstate()


# a bank file whose templates call the file's own macros: with lists, tuples, ints, defaults, keywords, a
# caller, a top-level variable set after the macro, and a macro defined inside a template (a new one per call)
MACRO_FILE = """
{% macro genres(tags) %}{{ tags|select('adjective')|list|join_and }}/{{ tags|reject('adjective')|join_and }}
{% endmacro %}
{% macro shown(x, sep='+') %}{{ x }}{{ sep }}{{ suffix }}{{ x is string }}{% endmacro %}
{% macro framed() %}<{{ caller() }}>{% endmacro %}
{% macro many() %}{{ varargs|length }}{{ kwargs|length }}{% endmacro %}
{% set suffix = 'first' %}{{ shown('top') }}{% set suffix = 'final' %}
{% template sentence.a %}
A {{ genres(tags) }} {{ genres(tags) }} {{ shown(tags) }} {{ shown(n) }} {{ shown(n|string) }}.
{% endtemplate %}
{% template sentence.b %}B {{ shown(tags|first, sep='-') }} {{ shown([tags|first]) }} {{ shown((tags|first,)) }}.
{% endtemplate %}
{% template sentence.c %}C {% call framed() %}{{ genres(rest) }}{% endcall %} {{ many(1, 2, k=3) }}.{% endtemplate %}
{% template sentence.d %}
D {% for t in tags %}{% macro one(u) %}[{{ u }}{{ t }}]{% endmacro %}{{ one(n) }}{% endfor %}.
{% endtemplate %}
{% template sentence.e %}
E {{ shown('top') }} {{ shown(none) }} {{ shown(tags|map('upper')|list) }} {{ shown(tags|length > 1) }}.
{% endtemplate %}
"""


def test_bank_macros_render_as_in_jinjas_own_sandbox(tmp_path):
    (tmp_path / "mood.j2").write_text(MACRO_FILE)
    bank = TemplateBank.load(tmp_path)
    assert {m.name for m in bank.env.memo_macros} == {"genres", "shown", "framed", "many"}
    ref = jinja_reference(bank.env)
    ref.add_extension(_TemplateBlocks)
    module = ref.from_string(MACRO_FILE).module
    tag_lists = [["happy"], ["happy", "rock music", "sad"], ["drums", "happy"], ["happy"], ["sad", "Rock"]]
    for _ in range(2):  # the second round reads the memos
        for t in bank.templates("mood"):
            for tags in tag_lists:
                macro = getattr(module, MACRO_PREFIX + t.id.split(".", 1)[1].replace(".", "__"))
                expected = tidy(macro(list(tags), "mood", len(tags), ["calm", "piano"]))
                assert bank.render_template(t, tags, ["calm", "piano"]) == expected, (t.id, tags)
    assert bank.env.macro_memo  # the memo was used


def _dedupe_by_mentions(tags: tuple) -> tuple:
    """_dedupe as first written: hosts found with mentions() pair by pair."""
    uniq, seen, merged = [], set(), {}
    for t in tags:
        key = " ".join(t.lower().split())
        if key in seen:
            first = next(u for u in uniq if " ".join(u.lower().split()) == key)
            if first != t:
                merged.setdefault(t, first)
            continue
        seen.add(key)
        uniq.append(t)
    kept = []
    for t in uniq:
        host = next((o for o in uniq if o is not t and len(o) > len(t) and mentions(o, t)), None)
        if host is None:
            kept.append(t)
        else:
            merged[t] = host
    for k, v in list(merged.items()):
        while v in merged and merged[v] != v:
            v = merged[v]
        merged[k] = v
    return tuple(kept), tuple(merged.items())


def test_dedupe_merges_as_with_a_mentions_check_per_pair():
    rng = random.Random(2)
    words = ["bass", "Bass", "groovy", "male", "vocal", "vocals", "r&b", "\u00e9l\u00e9ctro", "\u212a", "k", " ", ""]
    for _ in range(5_000):
        tags = tuple(" ".join(rng.choice(words) for _ in range(rng.randint(0, 3))) for _ in range(rng.randint(2, 6)))
        assert _dedupe.__wrapped__(tags) == _dedupe_by_mentions(tags), tags


def test_articles_remembered_by_first_and_head_words_are_the_full_decision():
    """Grammar.article remembers its answer by (first word, last two head words); the full decision
    (`_article`, on a grammar that has seen nothing) must agree for every phrase, including the phrases
    templates build from lists, after many other phrases with the same key were asked first."""
    from pipelines.synthesize.data2text.grammar import Grammar, join_and
    from pipelines.tag.vocabulary import Vocabulary

    words = [t.name for t in Vocabulary.load().tags] + [
        "no drums", "without vocals", "an orchestra", "the drums", "hour-long jam", "8-bit synth", "MC", "DJ",
        "heart-touching", "relaxing", "male voice singing", "people", "choir singing", "melody on a flute",
        "euphoric", "unique sound", "university choir", "honky tonk piano", "percussion", "R&B", "strings"]
    rng = random.Random(3)
    phrases = list(words)
    for _ in range(3000):
        items = rng.sample(words, rng.randint(1, 4))
        phrase = join_and(items) + rng.choice(["", " song", " music piece", " feel", " vibes", " sound"])
        phrases.append(rng.choice(["", "the ", "no ", "a "]) + phrase)
    seen = Grammar()
    for phrase in phrases:
        assert seen.article(phrase) == Grammar()._article(phrase), phrase
        assert seen.with_article(phrase) == Grammar().with_article(phrase), phrase
