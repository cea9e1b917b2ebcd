"""TemplateBank: file format, ids and hashes, user folders, sandbox and error reporting."""
import pickle
import random

import pytest

from pipelines.synthesize.data2text.grammar import default_grammar, join_and, missing
from pipelines.synthesize.data2text.templates import TemplateBank, TemplateError, default_template_dir

CATEGORIES = ["genre", "mood", "instrument", "vocals", "tempo", "quality", "production", "other"]


@pytest.fixture(scope="module")
def bank():
    return TemplateBank.load()


def write(folder, name, text):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(text)
    return folder / name


def test_default_bank_has_several_sentence_templates_per_category(bank):
    assert default_template_dir().name == "data2text"
    for c in CATEGORIES:
        assert len(bank.templates(c, "sentence")) >= 3, c
    assert bank.has("frame", "subject") and bank.has("frame", "anaphor")
    assert len(bank.version) == 12


def test_template_ids_and_hashes(bank):
    t = bank.get("genre.sentence.this_is")
    assert (t.category, t.role) == ("genre", "sentence")
    assert t.file.endswith("genre.j2") and t.line >= 1
    assert len(t.hash) == 12
    r = bank.render("genre", ["rock"], random.Random(0))
    assert bank.get(r.template_id).hash == r.template_hash
    assert r.category == "genre" and r.tags == ("rock",)


def test_version_and_hash_follow_the_text(tmp_path):
    write(tmp_path, "genre.j2", "{% template sentence.a %}This is {{ tags|join_and }}.{% endtemplate %}\n"
                                "{% template sentence.b %}It is {{ tags|join_and }}.{% endtemplate %}")
    b1 = TemplateBank.load(tmp_path)
    b2 = TemplateBank.load(tmp_path)
    assert b1.version == b2.version
    write(tmp_path, "genre.j2", "{% template sentence.a %}This is {{ tags|join_and }}.{% endtemplate %}\n"
                                "{% template sentence.b %}It is really {{ tags|join_and }}.{% endtemplate %}")
    b3 = TemplateBank.load(tmp_path)
    assert b3.version != b1.version
    assert b3.get("genre.sentence.a").hash == b1.get("genre.sentence.a").hash
    assert b3.get("genre.sentence.b").hash != b1.get("genre.sentence.b").hash


def test_render_is_deterministic_and_varies_with_the_seed(bank):
    tags = ["electric guitar", "piano", "claps"]
    a = [bank.render("instrument", tags, random.Random(s)).text for s in range(20)]
    b = [bank.render("instrument", tags, random.Random(s)).text for s in range(20)]
    assert a == b
    assert len(set(a)) >= 3


@pytest.mark.parametrize(
    "category,tags",
    [
        ("genre", ["rock"]), ("genre", ["pop", "folk music"]), ("mood", ["passionate", "happy mood"]),
        ("instrument", ["groovy bass", "no percussion"]), ("instrument", ["no other instruments"]),
        ("vocals", ["instrumental", "no voices"]), ("vocals", ["male vocal"]), ("tempo", ["slow"]),
        ("tempo", ["medium to uptempo", "120 bpm"]), ("quality", ["low quality", "noisy", "reverb"]),
        ("production", ["live performance", "live"]), ("other", ["crowd cheering", "exquisite"]),
        ("an_unknown_category", ["1980s"]),
    ],
)
def test_sentences_express_every_tag(bank, category, tags):
    for seed in range(10):
        r = bank.render(category, tags, random.Random(seed))
        assert r is not None
        assert not missing(r.text, tags), (r.template_id, r.text)
        assert not r.text[0].islower() and r.text.endswith(".")


def test_grammar_filters(bank):
    g = default_grammar()
    assert join_and(["a"]) == "a" and join_and(["a", "b"]) == "a and b" and join_and(["a", "b", "c"]) == "a, b and c"
    assert g.with_article("piano") == "a piano"
    assert g.with_article("electric guitar") == "an electric guitar"
    assert g.with_article("e-bass") == "an e-bass"
    assert g.with_article("ukulele") == "a ukulele"
    assert g.with_article("claps") == "claps"
    assert g.with_article("percussion") == "percussion"
    assert g.with_article("shimmering hi hats") == "shimmering hi hats"
    assert g.with_article("male voice singing") == "a male voice singing"
    assert g.with_article("no voices") == "no voices"
    assert g.with_article("two guitars") == "two guitars"
    assert g.with_article("passionate") == "passionate"
    assert g.with_article("bass") == "a bass"
    assert g.with_head("rock", "song") == "rock song"
    assert g.with_head("folk music", "song") == "folk music"
    assert g.with_head("uptempo", "tempo") == "uptempo"
    assert g.display("r&b and dj") == "R&B and DJ"
    assert g.there_be(["piano", "claps"]) == "is" and g.be(["piano", "claps"]) == "are"


def test_user_folder_replaces_or_extends_the_default(tmp_path, bank):
    write(tmp_path, "era.j2", "{# a new category #}\n"
                              "{% template sentence.from %}The music comes from the {{ tags|join_and }}."
                              "{% endtemplate %}")
    write(tmp_path, "genre.j2", "{% template sentence.mine %}My genre: {{ tags|join_and }}.{% endtemplate %}")
    own = TemplateBank.load(tmp_path)
    assert own.categories == ["era", "genre"]
    assert own.render("era", ["1980s"], random.Random(0)).text == "The music comes from the 1980s."
    both = TemplateBank.load(tmp_path, extend_default=True)
    ids = {t.id for t in both.templates("genre", "sentence")}
    assert "genre.sentence.mine" in ids and "genre.sentence.this_is" in ids
    assert both.version != bank.version
    # same id in a later folder replaces the default wording
    write(tmp_path, "genre.j2", "{% template sentence.this_is %}Genre: {{ tags|join_and }}.{% endtemplate %}")
    over = TemplateBank.load(tmp_path, extend_default=True)
    assert over.get("genre.sentence.this_is").file.startswith(str(tmp_path))
    # files starting with "_" are ignored
    write(tmp_path, "_draft.j2", "{% template sentence.x %}{{ broken {% endtemplate %}")
    TemplateBank.load(tmp_path)


def test_syntax_error_names_file_and_line(tmp_path):
    write(tmp_path, "genre.j2", "{# ok #}\n{% template sentence.a %}This is {{ tags|join_and }}.{% endtemplate %}\n"
                                "\n{% template sentence.b %}It is {{ tags|join_and( }}.{% endtemplate %}\n")
    with pytest.raises(TemplateError) as e:
        TemplateBank.load(tmp_path)
    assert e.value.file.endswith("genre.j2") and e.value.line == 4
    assert "genre.j2, line 4" in str(e.value) and "syntax error" in str(e.value)


def test_undefined_variable_names_file_and_line(tmp_path):
    write(tmp_path, "mood.j2", "{% template sentence.a %}\nIt sounds\n {{ tags|join_and }} and {{ colour }}.\n"
                               "{% endtemplate %}")
    with pytest.raises(TemplateError) as e:
        TemplateBank.load(tmp_path)
    assert e.value.kind == "undefined variable"
    assert e.value.line == 3 and e.value.template_id == "mood.sentence.a"
    assert "mood.j2, line 3 (template 'mood.sentence.a')" in str(e.value) and "colour" in str(e.value)


@pytest.mark.parametrize(
    "expr",
    ["''.__class__", "''.__class__.__mro__[1].__subclasses__()", "tags.__class__.__base__", "tags.append('x')",
     "range.__globals__"],
)
def test_sandbox_escapes_are_security_errors(tmp_path, expr):
    write(tmp_path, "genre.j2", "{% template sentence.a %}This is {{ tags|join_and }}.{% endtemplate %}\n"
                                f"{{% template sentence.evil %}}\n{{{{ {expr} }}}}{{% endtemplate %}}\n")
    with pytest.raises(TemplateError) as e:
        TemplateBank.load(tmp_path)
    assert e.value.file.endswith("genre.j2") and e.value.line == 3
    assert e.value.kind.startswith(("security violation", "undefined variable"))
    if "__" in expr:
        assert e.value.kind.startswith("security violation"), str(e.value)


def test_runtime_error_on_a_rare_path_is_reported_at_render(tmp_path):
    write(tmp_path, "genre.j2", "{% template sentence.a %}\n{% if 'zydeco' in tags %}{{ nope }}{% endif %}"
                                "This is {{ tags|join_and }}.{% endtemplate %}")
    b = TemplateBank.load(tmp_path)
    assert b.render("genre", ["rock"], random.Random(0)).text == "This is rock."
    with pytest.raises(TemplateError, match=r"genre\.j2, line 2 .*undefined variable.*nope"):
        b.render("genre", ["zydeco"], random.Random(0))


def test_structural_errors(tmp_path):
    write(tmp_path / "a", "genre.j2", "{% template sentence.a %}x{% endtemplate %}\n"
                                      "{% template sentence.a %}y{% endtemplate %}")
    with pytest.raises(TemplateError, match=r"line 2.*also defined on line 1"):
        TemplateBank.load(tmp_path / "a")
    write(tmp_path / "b", "genre.j2", "{% template subject.a %}x{% endtemplate %}")
    with pytest.raises(TemplateError, match="at least one 'sentence' template"):
        TemplateBank.load(tmp_path / "b")
    (tmp_path / "c").mkdir()
    with pytest.raises(TemplateError, match="no .j2 template files"):
        TemplateBank.load(tmp_path / "c")
    with pytest.raises(FileNotFoundError):
        TemplateBank.load(tmp_path / "missing")


def test_an_empty_rendering_means_not_applicable(tmp_path):
    write(tmp_path, "mood.j2", "{% template sentence.adj %}{% if tags|select('adjective')|list|length == n %}"
                               "It sounds {{ tags|join_and }}.{% endif %}{% endtemplate %}\n"
                               "{% template sentence.any %}The mood: {{ tags|join_and }}.{% endtemplate %}")
    b = TemplateBank.load(tmp_path)
    assert {b.render("mood", ["happy mood"], random.Random(s)).template_id for s in range(10)} == {"mood.sentence.any"}


def test_bank_pickles(bank):
    again = pickle.loads(pickle.dumps(bank))
    assert again.version == bank.version
    assert again.render("genre", ["rock"], random.Random(3)) == bank.render("genre", ["rock"], random.Random(3))


def test_a_template_is_rendered_once_per_tag_list(monkeypatch):
    """Rendering is memoized per (template, tags): the same (template, tags) pair recurs across rows,
    and a Jinja macro call is the costliest step of data2text."""
    import random

    from pipelines.synthesize.data2text.templates import TemplateBank

    bank = TemplateBank.load()
    calls = []
    real = TemplateBank.render_template

    def counting(self, template, tags, rest=()):
        calls.append((template.id, tuple(tags)))
        return real(self, template, tags, rest)

    monkeypatch.setattr(TemplateBank, "render_template", counting)
    first = [bank.render("instrument", ["piano", "drums"], random.Random(s)).text for s in range(20)]
    n = len(calls)
    again = [bank.render("instrument", ["piano", "drums"], random.Random(s)).text for s in range(20)]
    assert again == first
    assert len(calls) == n  # every (template, tags) pair came from the memo the second time
    assert len(set(calls)) == len(calls)
