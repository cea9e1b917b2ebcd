"""data2text sentence templates: files of Jinja blocks, one file per tag category.

File format (``templates/data2text/<category>.j2``; the file name is the category)::

    {# comments are Jinja comments #}
    {% template sentence.features %}
      The song features {{ tags|map('a')|join_and }}.
    {% endtemplate %}

    {% template predicate.contains %}contains {{ tags|map('a')|join_and }}{% endtemplate %}

Each ``{% template ROLE.NAME %} ... {% endtemplate %}`` block is one template; its id is
``CATEGORY.ROLE.NAME`` (e.g. ``instrument.sentence.features``) and its hash is a digest of the
block's text, so a row's metadata says exactly which wording produced it. ROLE says how the
rewriter may use the text (see rewriter.py): ``sentence`` (a standalone sentence; every category
needs at least one), ``also`` (a sentence continuing a long list), ``subject`` (a noun phrase
that can start a sentence), ``clause`` (a clause that modifiers can follow), ``np`` (a noun
phrase that modifiers can follow, for a verbless sentence: "A rock song with ..."), ``predicate`` (a
verb phrase), ``modifier`` (a phrase that can follow a clause), ``over`` / ``with_over`` (a
predicate / modifier relating the tags to ``rest``). The ``frame`` category holds
subjects that name no tag ("the song") and receives no tags.

Inside a block: ``tags`` (list of the category's tag texts), ``category``, ``n`` (number of
tags) and ``rest`` (tags of a second category for roles that relate two, e.g. ``over`` in
vocals.j2: "a male vocal singing over a piano and drums"; an empty list otherwise). Filters: ``join_and``,
``join_or``, ``a`` (add "a"/"an" where English needs one), ``a_list`` (the same for a list, but only on
its first item from three items on: "a piano, claps and drums"), ``article``, ``capfirst``, ``with_head('song')``
("rock" -> "rock song", "folk music" unchanged), ``prefix('of ')``/``suffix`` (add words to each item),
``be`` ("is"/"are" for a list as subject: "a piano and claps are"), ``there_be`` ("is"/"are" after
"there": "there is a piano and claps").
Tests: ``adjective``, ``plural``, ``mass``, ``negated``, ``matching(regex)``. Whitespace runs
collapse to one space, so blocks may span lines. A block that renders to an empty string says
"not applicable to these tags" and another one is tried; so is one that leaves out tags.

Users add templates by dropping ``.j2`` files in a folder (``TemplateBank.load(folder)`` or
``TemplateBank.load(folder, extend_default=True)``), no code involved. Rendering happens in a
Jinja sandbox with ``StrictUndefined``: a broken template raises ``TemplateError`` naming the file
and line (at load time for syntax errors, and for runtime errors found by a trial render).
Files whose name starts with ``_`` are ignored (drafts, notes).
"""
from __future__ import annotations

import functools
import hashlib
import random
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import jinja2
from jinja2 import nodes
from jinja2.ext import Extension
from jinja2.runtime import Macro
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.utils import missing as jinja_missing

from pipelines.resources import data_dir
from pipelines.synthesize.data2text.grammar import Grammar, capfirst, default_grammar, join_and, missing
from pipelines.synthesize.draws import shuffle
from pipelines.synthesize.tagset import InputTag

MACRO_PREFIX = "tpl__"
WRITTEN_CACHE = 1 << 15  # rendered (template, tags) pairs kept per bank
MACRO_CACHE = 1 << 14  # results of a file's own macros (genres(tags)) kept per bank, emptied when full
FRAME = "frame"
FALLBACK_CATEGORY = "other"
ROLES = ("sentence", "also", "subject", "clause", "np", "predicate", "modifier", "over", "with_over", "anaphor")
_BLOCK = re.compile(
    r"\{%-?\s*template\s+(?P<id>[^\s%]+)\s*-?%\}(?P<body>.*?)\{%-?\s*endtemplate\s*-?%\}", re.DOTALL
)
_ID = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z0-9_]+)*$")
# smoke-test tag lists rendered once per template at load time, to catch runtime errors early
_TRIAL_TAGS = (
    ["rock"],
    ["electric guitar", "groovy bass", "claps"],
    ["low quality", "passionate", "no voices", "slow tempo", "live performance", "male vocal", "pop"],
)
_TRIAL_REST = ["acoustic piano", "drums"]


class TemplateError(Exception):
    """A data2text template is broken. ``file``/``line`` locate it; ``template_id`` names the block."""

    def __init__(self, message: str, *, file: str | None = None, line: int | None = None,
                 template_id: str | None = None, kind: str = "error"):
        self.file, self.line, self.template_id, self.kind = file, line, template_id, kind
        where = file or "<template>"
        if line:
            where += f", line {line}"
        if template_id:
            where += f" (template '{template_id}')"
        super().__init__(f"{where}: {kind}: {message}")


@dataclass(frozen=True)
class Template:
    id: str
    category: str
    role: str
    file: str
    line: int
    hash: str
    source: str = field(repr=False)
    macro: Callable = field(repr=False, compare=False)
    jinja_name: str = field(repr=False, compare=False, default="")
    # the macro's own function when calling it is what Macro.__call__ does with four positional arguments
    call: Callable | None = field(repr=False, compare=False, default=None)


class RenderedSentence(NamedTuple):
    """A category's tags written by one template (the "simple sentence" of Kasner & Dusek).

    A NamedTuple, not a frozen dataclass: a row makes ~8 of them, and a frozen dataclass's __init__
    sets each field through object.__setattr__ (twice the cost)."""

    text: str
    category: str
    tags: tuple[str, ...]
    template_id: str
    template_hash: str


def text_hash(text: str, length: int = 12) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:length]


# Written as lookarounds with an empty replacement (not r"\1"): re then replaces literally, without
# expanding a template on every call; they remove exactly what the group forms did.
_SPACE_BEFORE_PUNCT = re.compile(r"\s+(?=[,.;:!?])")
_REPEATED_COMMAS = re.compile(r",(\s*,)+")
_REPEATED_STOPS = re.compile(r"(?<=[.!?])\.+")


def tidy(text: str) -> str:
    """Collapse whitespace and fix spacing around punctuation in rendered template text.

    Each regex runs only on text it can change: once whitespace runs are single spaces (str.split and
    the regexes' \\s agree on what whitespace is), a space before punctuation or a full stop after one
    is found by a few substring tests far faster than by a regex scan of every position."""
    text = " ".join(str(text).split())
    if " ," in text or " ." in text or " ;" in text or " :" in text or " !" in text or " ?" in text:
        text = _SPACE_BEFORE_PUNCT.sub("", text)
    if ",," in text:  # once spaces before commas are gone, the only way _REPEATED_COMMAS can match
        text = _REPEATED_COMMAS.sub(",", text)
    if ".." in text or "!." in text or "?." in text:
        text = _REPEATED_STOPS.sub("", text)
    return text.strip()


def finish_sentence(text: str) -> str:
    return end_sentence(tidy(text))


def end_sentence(text: str) -> str:
    """``finish_sentence`` for text that is already tidy (rendered text: tidying it again changes nothing)."""
    if not text:
        return text
    text = capfirst(text)
    return text if text[-1] in ".!?" else text + "."


# ---------------------------------------------------------------------------- Jinja plumbing
class _TemplateBlocks(Extension):
    """``{% template role.name %}body{% endtemplate %}`` -> a macro ``tpl__role__name(tags, category, n, rest)``."""

    tags = {"template"}

    def parse(self, parser):
        lineno = next(parser.stream).lineno
        parts = [parser.stream.expect("name").value]
        while parser.stream.skip_if("dot"):
            tok = parser.stream.current
            if tok.type not in ("name", "integer"):
                parser.fail("template id parts must be names, like 'sentence.plain'", tok.lineno)
            parts.append(str(tok.value))
            next(parser.stream)
        body = parser.parse_statements(("name:endtemplate",), drop_needle=True)
        args = [nodes.Name(a, "param", lineno=lineno) for a in ("tags", "category", "n", "rest")]
        defaults = [nodes.Const(None, lineno=lineno)] * 3
        return nodes.Macro(MACRO_PREFIX + "__".join(parts), args, defaults, body, lineno=lineno)


class _Sources(jinja2.BaseLoader):
    def __init__(self):
        self.files: dict[str, tuple[str, str]] = {}

    def get_source(self, environment, template):
        if template not in self.files:
            raise jinja2.TemplateNotFound(template)
        source, filename = self.files[template]
        return source, filename, lambda: True


def _map_filter(fn):
    def apply(value, *args):
        if isinstance(value, (list, tuple)):
            return [fn(str(v), *args) for v in value]
        return fn(str(value), *args)

    return apply


@functools.lru_cache(maxsize=256)
def _regex(rx: str) -> re.Pattern:
    """The `matching` test's pattern, compiled once (re.search would look it up in re's cache per call)."""
    return re.compile(rx, re.IGNORECASE)


def plain_macro(macro) -> bool:
    """True when Macro.__call__ with all its arguments given by position, no keywords and no autoescape
    only calls the macro's function: no ``caller``, ``varargs`` or ``kwargs`` to add, no Markup to wrap."""
    return (type(macro) is Macro and not (macro.caller or macro.catch_kwargs or macro.catch_varargs)
            and not macro._default_autoescape and not macro._environment.is_async)


def _macro_key(args: tuple) -> tuple | None:
    """A memo key for a macro's arguments when each is a string, an int or a list/tuple of strings (with its
    type: a macro writes a list and a tuple differently); None for anything else."""
    key = []
    for a in args:
        t = type(a)
        if t is str:
            key.append(a)
        elif t is list or t is tuple:
            for x in a:
                if type(x) is not str:
                    return None
            key.append((t, tuple(a)))
        elif t is int:
            key.append((t, a))
        else:
            return None
    return tuple(key)


class _Environment(ImmutableSandboxedEnvironment):
    """The sandbox, with our own tests called directly, and a bank's own macros called directly and
    remembered.

    Jinja's generic way to call a test (look it up, inspect it for pass_context & co., build an argument
    list) costs more than our tests themselves, and `select`/`reject` call one per item. Our tests are
    plain functions of (value, *args), so calling them directly gives the same result.

    ``memo_macros``: the macros a bank's files define at their top level (``genres(tags)`` in genre.j2),
    collected once the files are loaded. Like the bank's memo of rendered templates, calls to them are
    remembered by argument: a template file's code is a pure function of its arguments (the bank's
    renders are memoized on the same assumption), and the same few tag lists come back through many of a
    file's templates."""

    plain_tests: dict[str, Callable] = {}
    memo_macros: frozenset = frozenset()
    macro_memo: dict | None = None

    def call_test(self, name, value, args=None, kwargs=None, context=None, eval_ctx=None):
        test = self.plain_tests.get(name)
        if test is None or kwargs:
            return super().call_test(name, value, args, kwargs, context, eval_ctx)
        return test(value, *args) if args else test(value)

    def call(__self, __context, __obj, *args, **kwargs):  # the sandbox's own signature
        """A template's own macro (``genres(tags)`` in genre.j2) called as Context.call would call it,
        without the sandbox's attribute probes: a Macro is always safe to call."""
        if type(__obj) is not Macro:
            return super().call(__context, __obj, *args, **kwargs)
        kwargs.pop("_loop_vars", None)  # scope hints for pass_context callables, which a Macro is not
        kwargs.pop("_block_vars", None)
        try:
            unset = __obj._argument_count - len(args)
            if kwargs or unset < 0 or __context.eval_ctx.autoescape or not plain_macro(__obj):
                return __obj(__context.eval_ctx, *args, **kwargs)
            # what Macro.__call__ ends up calling: arguments not given are `missing` (the macro's defaults)
            given = args + (jinja_missing,) * unset if unset else args
            if __obj not in __self.memo_macros:
                return __obj._func(*given)
            key = _macro_key(args)
            if key is None:
                return __obj._func(*given)
            key = (__obj, key)
            memo = __self.macro_memo
            found = memo.get(key)
            if found is None:
                if len(memo) >= MACRO_CACHE:
                    memo.clear()
                found = memo[key] = __obj._func(*given)
            return found
        except StopIteration:
            return __self.undefined("value was undefined because a callable raised a StopIteration exception")


def _selected(value, test: Callable, args: tuple, keep: bool):
    """Jinja's select_or_reject for one of our tests: lazy, and `value` is tested for truth first, as there."""
    if value:
        for item in value:
            if bool(test(item, *args)) is keep:
                yield item


def _select_filter(jinja_filter: Callable, keep: bool) -> Callable:
    """`select` (keep=True) or `reject`: our plain tests without Jinja's per-item call chain (four calls
    deep), anything else (no test, a builtin test, keyword arguments) by Jinja's own filter."""

    @jinja2.pass_context
    def apply(context, value, *args, **kwargs):
        test = context.environment.plain_tests.get(args[0]) if args and isinstance(args[0], str) else None
        if test is None or kwargs:
            return jinja_filter(context, value, *args, **kwargs)
        return _selected(value, test, args[1:], keep)

    return apply


def make_environment(grammar: Grammar | None = None) -> ImmutableSandboxedEnvironment:
    g = grammar or default_grammar()
    env = _Environment(
        loader=_Sources(),
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        extensions=[_TemplateBlocks],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        join_and=lambda items, conj="and": join_and(items, conj),
        join_or=lambda items: join_and(items, "or"),
        a=_map_filter(g.with_article),
        a_list=g.list_articles,
        article=lambda t: g.article(str(t)),
        capfirst=capfirst,
        with_head=_map_filter(g.with_head),
        be=g.be,
        prefix=lambda items, p: [p + str(i) for i in items] if isinstance(items, (list, tuple)) else p + str(items),
        suffix=lambda items, x: [str(i) + x for i in items] if isinstance(items, (list, tuple)) else str(items) + x,
        there_be=g.there_be,
        select=_select_filter(env.filters["select"], True),
        reject=_select_filter(env.filters["reject"], False),
        list=list,  # Jinja's `list` is list() behind an async-mode check; this environment is never async
    )
    env.plain_tests = dict(
        adjective=lambda t: g.is_adjective(str(t)),
        plural=lambda t: g.is_plural(str(t)),
        mass=lambda t: g.is_mass(str(t)),
        negated=lambda t: g.is_negated(str(t)),
        matching=lambda t, rx: _regex(rx).search(str(t)) is not None,
    )
    env.tests.update(env.plain_tests)
    env.macro_memo = {}
    return env


def _error_kind(exc: BaseException) -> str:
    if isinstance(exc, jinja2.exceptions.SecurityError):
        return "security violation (sandboxed template tried an unsafe operation)"
    if isinstance(exc, jinja2.UndefinedError):
        return "undefined variable"
    if isinstance(exc, jinja2.TemplateSyntaxError):
        return "syntax error"
    return f"error ({type(exc).__name__})"


def _runtime_line(exc: BaseException, jtemplate: jinja2.Template) -> int | None:
    """Template line of the innermost traceback frame that runs this template's code."""
    line, tb = None, exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == jtemplate.filename:
            line = jtemplate.get_corresponding_lineno(tb.tb_lineno)
        tb = tb.tb_next
    return line


# ---------------------------------------------------------------------------- the bank
def default_template_dir() -> Path:
    """The repository's ``templates/data2text``, or its copy installed as package data (see setup.py)."""
    return data_dir("templates", "data2text")


class TemplateBank:
    """All data2text templates by category and role, compiled in a sandbox."""

    def __init__(self, files: Sequence[tuple[str, str, str]], grammar: Grammar | None = None, *, check: bool = True):
        """`files`: (category, filename, source) in load order; later templates with the same id win."""
        self._files = [tuple(f) for f in files]
        self._written_lru = functools.lru_cache(maxsize=WRITTEN_CACHE)(self._write)
        self.grammar = grammar or default_grammar()
        self.env = make_environment(self.grammar)
        self._by_id: dict[str, Template] = {}
        for category, filename, source in self._files:
            for t in self._compile(category, filename, source):
                self._by_id[t.id] = t
        # the files' top-level macros, their modules built: from now on a call's result depends only on
        # its arguments (a module's top-level variables no longer change)
        self.env.memo_macros = frozenset(
            m for name in self.env.loader.files for m in vars(self.env.get_template(name).module).values()
            if type(m) is Macro and not m.name.startswith(MACRO_PREFIX)
        )
        self._index: dict[tuple[str, str], list[Template]] = {}
        self._resolved: dict[str, str] = {}
        self._candidates: dict[tuple[str, str], tuple[Template, ...]] = {}
        for t in self._by_id.values():
            self._index.setdefault((t.category, t.role), []).append(t)
        digest = hashlib.sha256()
        for t in sorted(self._by_id.values(), key=lambda t: t.id):
            digest.update(f"{t.id}\0{t.source}\0".encode())
        self.version = digest.hexdigest()[:12]
        self.categories = sorted({t.category for t in self._by_id.values()})
        for category in self.categories:
            if category != FRAME and not self._index.get((category, "sentence")):
                files_of = sorted({t.file for t in self._by_id.values() if t.category == category})
                raise TemplateError(
                    "a category needs at least one 'sentence' template", file=", ".join(files_of),
                    kind="missing template",
                )
        if check:
            self._trial_render()

    # ---------------------------------------------------------------- loading
    @classmethod
    def load(cls, folder: str | Path | Iterable[str | Path] | None = None, *,
             extend_default: bool = False) -> TemplateBank:
        """Templates from a folder of ``<category>.j2`` files (default: the repo's templates/data2text).

        `folder` may be a list of folders; with ``extend_default=True`` the default folder comes first,
        so user files add templates to it (and replace ones with the same id)."""
        if folder is None:
            folders = [default_template_dir()]
        elif isinstance(folder, (str, Path)):
            folders = [Path(folder)]
        else:
            folders = [Path(f) for f in folder]
        if extend_default and folder is not None:
            folders.insert(0, default_template_dir())
        files = []
        for d in folders:
            if not d.is_dir():
                raise FileNotFoundError(f"template folder not found: {d}")
            for path in sorted(d.glob("*.j2")):
                if path.name.startswith("_"):
                    continue
                files.append((path.stem, str(path), path.read_text(encoding="utf-8")))
        if not files:
            raise TemplateError("no .j2 template files", file=", ".join(map(str, folders)), kind="missing template")
        return cls(files)

    def __getstate__(self):
        return {"files": self._files}

    def __setstate__(self, state):
        self.__init__(state["files"], check=False)

    def _compile(self, category: str, filename: str, source: str) -> list[Template]:
        name = f"{len(self.env.loader.files)}/{Path(filename).name}"
        self.env.loader.files[name] = (source, filename)
        try:
            jt = self.env.get_template(name)
            module = jt.module
        except jinja2.TemplateSyntaxError as exc:
            raise TemplateError(exc.message or str(exc), file=filename, line=exc.lineno, kind="syntax error") from exc
        except Exception as exc:  # top-level code outside blocks failed
            raise TemplateError(str(exc), file=filename, line=_runtime_line(exc, jt), kind=_error_kind(exc)) from exc
        out, seen = [], {}
        for m in _BLOCK.finditer(source):
            local_id = m.group("id")
            line = source.count("\n", 0, m.start()) + 1
            if not _ID.match(local_id):
                raise TemplateError(f"bad template id '{local_id}' (use role.name)", file=filename, line=line,
                                    kind="syntax error")
            if local_id in seen:
                raise TemplateError(f"template id '{local_id}' also defined on line {seen[local_id]}",
                                    file=filename, line=line, kind="duplicate template")
            seen[local_id] = line
            role = local_id.split(".")[0]
            macro = getattr(module, MACRO_PREFIX + local_id.replace(".", "__"), None)
            if macro is None:  # e.g. a block nested inside an {% if %}
                raise TemplateError("template blocks must be at the top level of the file", file=filename,
                                    line=line, template_id=f"{category}.{local_id}", kind="syntax error")
            body = m.group("body").strip()
            direct = macro._func if plain_macro(macro) and macro._argument_count == 4 else None
            out.append(Template(f"{category}.{local_id}", category, role, filename, line, text_hash(body), body,
                                macro, name, direct))
        return out

    def _trial_render(self) -> None:
        for t in self._by_id.values():
            for tags in ([[]] if t.category == FRAME else _TRIAL_TAGS):
                self.render_template(t, tags, _TRIAL_REST)

    # ---------------------------------------------------------------- access
    def __len__(self) -> int:
        return len(self._by_id)

    def get(self, template_id: str) -> Template:
        return self._by_id[template_id]

    def templates(self, category: str, role: str | None = None) -> list[Template]:
        if role is None:
            return [t for t in self._by_id.values() if t.category == category]
        return list(self._index.get((category, role), ()))

    def has(self, category: str, role: str) -> bool:
        return bool(self._index.get((category, role)))

    def resolve(self, category: str) -> str:
        """The category whose templates write `category` (unknown categories use 'other')."""
        found = self._resolved.get(category)
        if found is None:
            if self.has(category, "sentence") or category == FRAME:
                found = category
            else:
                found = FALLBACK_CATEGORY if self.has(FALLBACK_CATEGORY, "sentence") else self.categories[0]
            if len(self._resolved) < 1024:  # a bounded memo: categories are few, but user input may invent some
                self._resolved[category] = found
        return found

    # ---------------------------------------------------------------- rendering
    def render_template(self, template: Template, tags: Sequence[str], rest: Sequence[str] = ()) -> str:
        tags = [self.grammar.display(t) for t in tags]
        rest = [self.grammar.display(t) for t in rest]
        try:
            if template.call is not None:
                out = template.call(tags, template.category, len(tags), rest)  # what the Macro would call
            else:
                out = template.macro(tags, template.category, len(tags), rest)  # positional: Jinja binds them fastest
        except Exception as exc:
            jt = self.env.get_template(template.jinja_name)
            raise TemplateError(str(getattr(exc, "message", None) or exc), file=template.file,
                                line=_runtime_line(exc, jt) or template.line, template_id=template.id,
                                kind=_error_kind(exc)) from exc
        return tidy(out)

    def _write(self, template_id: str, texts: tuple[str, ...], rest: tuple[str, ...],
               role: str) -> tuple[str, str, tuple[str, ...]]:
        """(rendered text, finished text, the tags of `texts + rest` it leaves out) of one template.

        Called through ``_written_lru`` (least recently used out first): rendering is a pure function of
        the template and its tags (the random choice of a template happens outside), a Jinja macro call
        costs ~10 us, and the same (template, tags) pairs come back across rows. The entries hold strings
        only, which the garbage collector stops tracking (a RenderedSentence per entry, saving its
        construction on a hit, made full collections cost more than it saved)."""
        raw = self.render_template(self._by_id[template_id], texts, rest)
        text = end_sentence(raw) if raw and role in ("sentence", "also") else raw
        return raw, text, tuple(missing(text, texts + rest)) if raw else ()

    def _candidates_for(self, category: str, role: str) -> tuple[Template, ...]:
        """The templates that write `category` in `role` (``resolve``d), remembered per (category, role)."""
        found = self._candidates.get((category, role))
        if found is None:
            found = tuple(self._index.get((self.resolve(category), role), ()))
            if len(self._candidates) < 4096:  # bounded, as resolve's memo
                self._candidates[(category, role)] = found
        return found

    def render(self, category: str, tags: Sequence[str | InputTag], rng: random.Random,
               role: str = "sentence", accept: Callable[[str], bool] | None = None,
               rest: Sequence[str] = ()) -> RenderedSentence | None:
        """One of the category's `role` templates, picked with `rng`, written with `tags`.

        Templates are tried in a random order until one expresses every tag; if none does, the one
        that expresses most wins. None if the category has no template for the role (or all render
        empty, or `accept` refuses them all). ``sentence`` results are capitalised and end with a
        full stop."""
        texts = [t.tag if isinstance(t, InputTag) else str(t) for t in tags]
        rest = [t.tag if isinstance(t, InputTag) else str(t) for t in rest]
        found = self.render_with_lost(category, texts, rng, role, accept, rest)
        return found[0] if found is not None else None

    def render_with_lost(self, category: str, tags: Sequence[str], rng: random.Random,
                         role: str = "sentence", accept: Callable[[str], bool] | None = None,
                         rest: Sequence[str] = ()) -> tuple[RenderedSentence, tuple[str, ...]] | None:
        """``render`` for tag texts (strings), and the tags of `tags + rest` its text leaves out (known from
        the memo: callers need not search the text for each tag again)."""
        texts, rest = tuple(tags), tuple(rest)
        candidates = self._candidates_for(category, role)
        if not candidates:
            return None
        order = list(candidates)
        shuffle(order, rng)
        best = None
        written = self._written_lru
        for t in order:
            raw, text, lost = written(t.id, texts, rest, role)
            if not raw or (accept is not None and not accept(raw)):
                continue
            if best is None or len(lost) < len(best[0]):
                best = (lost, text, t)
            if not lost:
                break
        if best is None:
            return None
        lost, text, t = best
        return RenderedSentence(text, category, texts, t.id, t.hash), lost
