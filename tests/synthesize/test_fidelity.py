"""Tag fidelity of generated texts: mentions, omissions, hallucinations; best-of-n selection."""
from importlib import resources

import pytest
import yaml

from pipelines.synthesize.fidelity import Fidelity, TagMatcher, best_of, fidelity, matcher_for, singular, words
from pipelines.synthesize.tagset import InputTag
from pipelines.tag.vocabulary import Vocabulary


@pytest.fixture(scope="module")
def vocab():
    return Vocabulary.load()


def tags(vocab, text):
    out = []
    for name in text.split(","):
        tag = vocab.get(name.strip())
        out.append(InputTag(name.strip(), tag.category if tag else None))
    return out


# The ViML paper's Fig. 1 example 3: prompt2text hallucinated "female vocal and a piano section".
EX3_TAGS = ("pop, hip-hop, synth bass, happy, dance, vocals, electronic, sad, male vocals, synthesizer keyboard, "
            "lead vocals, electronic drumset, dreamy")
EX1_TAGS = ("rock, lead vocals, electric bass, frantic, powerful, vocals, electric guitar, angry, slow, male vocals, "
            "acoustic drumset")


def test_normalization():
    assert words("Hip-Hop drums, VOCALS; melodies") == ["hip", "hop", "drum", ",", "vocal", ";", "melody"]
    assert [singular(w) for w in ("bass", "basses", "chorus", "keys", "beats", "strings")] == [
        "bass", "bass", "chorus", "key", "beat", "string"]


def test_paper_prompt2text_hallucination(vocab):
    f = fidelity("Hip-hop track with a female vocal and a piano section. Great for a sad scene.",
                 tags(vocab, EX3_TAGS), vocab)
    assert isinstance(f, Fidelity)
    assert f.hallucinated == ["female vocals", "piano"]
    assert f.mentioned == ["hip-hop", "vocals", "sad"]  # a female vocal is still a vocal
    assert f.coverage == pytest.approx(3 / 13)
    assert f.text_tags == ["hip-hop", "female vocals", "piano", "sad"]
    assert f.hallucination_rate == pytest.approx(2 / 4)
    # "vocals" is an input tag, but a female vocal does not make the male/lead vocals inputs partial
    assert "male vocals" not in f.partial


def test_paper_prompt2text_faithful(vocab):
    f = fidelity("Rock song with electric guitars, electric bass, drums, and male vocals. "
                 "The track has a powerful and angry vibe.", tags(vocab, EX1_TAGS), vocab)
    assert f.hallucinated == []
    # "male vocals" also mentions the broader input "vocals"; "drums" -> acoustic drumset
    assert set(f.mentioned) == {"rock", "electric bass", "powerful", "vocals", "electric guitar", "angry",
                                "male vocals", "acoustic drumset"}
    assert f.missing == ["lead vocals", "frantic", "slow"]
    assert f.coverage == pytest.approx(8 / 11)


def test_case_hyphen_plural_variants(vocab):
    t = [InputTag("hip-hop", "genre"), InputTag("male vocals", "instrument"), InputTag("strings", "instrument")]
    for text in ("HIP HOP beat with a male vocal and a string.", "Hip-hop with male vocalists and strings",
                 "hiphop; male voice; string section"):
        assert fidelity(text, t, vocab).coverage == 1.0, text


def test_aliases(vocab):
    t = [InputTag("acoustic drumset"), InputTag("synthesizer keyboard"), InputTag("male vocals")]
    f = fidelity("A drum kit, a synthesizer and a male singer.", t, vocab)
    assert f.coverage == 1.0 and f.hallucinated == []
    t = [InputTag("electronic drumset")]
    f = fidelity("Built on a drum machine.", t, vocab)
    assert f.mentioned == ["electronic drumset"]
    # ambiguous "drums": counts for whichever drumset the input has, never as a hallucination then
    f = fidelity("Punchy drums.", t, vocab)
    assert f.mentioned == ["electronic drumset"] and f.hallucinated == []
    # ... and as its most likely reading (acoustic drumset) when the input has neither
    f = fidelity("Punchy drums.", [InputTag("piano")], vocab)
    assert f.hallucinated == ["acoustic drumset"]


def test_overlaps_longest_form_wins(vocab):
    f = fidelity("Distorted electric guitars over male vocals.", [InputTag("electric guitar"), InputTag("male vocals")],
                 vocab)
    assert f.text_tags == ["electric guitar", "male vocals"]  # not also "guitar" / "vocals"
    assert f.hallucinated == []
    # a separate "guitar" later is implied by the electric guitar input: not a hallucination
    f = fidelity("An electric guitar riff, then the guitar solos.", [InputTag("electric guitar")], vocab)
    assert f.hallucinated == [] and f.coverage == 1.0
    # "synth bass" is one tag, not synthesizer keyboard + bass
    f = fidelity("A deep synth bass.", [InputTag("synth bass")], vocab)
    assert f.text_tags == ["synth bass"] and f.hallucinated == []


def test_implication_and_partial_mentions(vocab):
    # text names the narrower tag: the broader input is mentioned
    f = fidelity("A song with female vocals.", [InputTag("vocals")], vocab)
    assert f.mentioned == ["vocals"] and f.hallucinated == ["female vocals"]
    # text names only the broader tag: the narrower input is a partial mention
    f = fidelity("A song with a guitar.", [InputTag("electric guitar")], vocab)
    assert f.missing == ["electric guitar"] and f.partial == {"electric guitar": 0.5}
    assert f.hallucinated == [] and f.soft_coverage == pytest.approx(0.5)


def test_negation(vocab):
    f = fidelity("An instrumental piece with no vocals, just a piano.", [InputTag("piano")], vocab)
    assert f.hallucinated == [] and f.text_tags == ["piano"]
    f = fidelity("There are no drums or bass. A piano plays.", [InputTag("piano")], vocab)
    assert f.hallucinated == []
    f = fidelity("This song doesn't have vocals.", [InputTag("vocals"), InputTag("rock")], vocab)
    assert f.negated == ["vocals"] and f.missing == ["vocals", "rock"]
    # a comma continues the negation only into an "or" list
    f = fidelity("No percussion, male vocals, guitar.", [InputTag("male vocals")], vocab)
    assert f.mentioned == ["male vocals"] and f.negated == []
    f = fidelity("There are no drums, bass or vocals here.", [InputTag("vocals")], vocab)
    assert f.negated == ["vocals"] and f.text_tags == []
    # negation ends at the sentence
    f = fidelity("No drums. Female vocals lead.", [InputTag("piano")], vocab)
    assert f.hallucinated == ["female vocals"]


def test_free_form_tags(vocab):
    t = [InputTag("mellow piano melody"), InputTag("relaxing melody"), InputTag("country feel"),
         InputTag("no voice")]
    f = fidelity("A mellow melody on the piano, relaxed and calm. There are no voices.", t, vocab)
    assert f.mentioned == ["mellow piano melody", "relaxing melody", "no voice"]
    assert f.missing == ["country feel"]
    f = fidelity("A mellow piano.", t, vocab)
    assert f.mentioned == []
    assert f.partial["mellow piano melody"] == pytest.approx(2 / 3)
    assert "country feel" not in f.partial


def test_free_form_inputs_support_vocabulary_mentions(vocab):
    # MusicCaps-style aspects: "soft female vocal" supports female vocals, "bass" the bass tags
    t = [InputTag("pop"), InputTag("soft female vocal"), InputTag("bass")]
    f = fidelity("A pop song with soft female vocals and a bass line.", t, vocab)
    assert f.hallucinated == [] and f.coverage == 1.0
    assert f.text_tags == ["pop", "female vocals", "electric bass"]


def test_no_input_tags_and_no_mentions(vocab):
    f = fidelity("Nothing to see here.", [], vocab)
    assert f.coverage == 1.0 and f.hallucination_rate == 0.0 and f.text_tags == []
    f = fidelity("", [InputTag("rock")], vocab)
    assert f.coverage == 0.0 and f.missing == ["rock"]
    # duplicate input tags count once
    assert fidelity("rock", [InputTag("rock"), InputTag("Rock")], vocab).coverage == 1.0


def test_to_dict_is_plain(vocab):
    d = fidelity("Rock.", [InputTag("rock")], vocab).to_dict()
    assert d["mentioned"] == ["rock"] and isinstance(d["partial"], dict)


def test_best_of(vocab):
    t = tags(vocab, EX3_TAGS)
    candidates = [
        "Hip-hop track with a female vocal and a piano section. Great for a sad scene.",
        "Electronic hip-hop with male vocals, synth bass and a drum machine; dreamy and sad.",
        "Electronic hip-hop with male vocals, synth bass and a drum machine; dreamy and sad, with a piano.",
    ]
    assert best_of(candidates, t, vocab) == 1  # same coverage as 2, fewer hallucinations
    assert best_of([candidates[0], candidates[0]], t, vocab) == 0  # ties: first
    assert best_of(["rock", "hip-hop"], t, vocab) == 1
    with pytest.raises(ValueError):
        best_of([], t, vocab)


def test_alias_file_names_only_vocabulary_tags(vocab):
    data = yaml.safe_load(resources.files("pipelines.data").joinpath("tag_aliases.yaml").read_text())
    names = set(data["aliases"]) | set(data["implies"]) | {b for v in data["implies"].values() for b in v}
    names |= {t for v in data["compounds"].values() for t in v}
    assert {n for n in names if vocab.get(n) is None} == set()
    assert all(isinstance(c, str) for c in data["negation_cues"] + data["negation_breaks"])
    matcher = matcher_for(vocab)
    assert "no" in matcher.negation_cues


def test_synthesis_does_not_import_nltk():
    """NLTK's package import pulls in scipy (1.5-2 s per synthesize worker); fidelity stems with PyStemmer."""
    import subprocess
    import sys

    code = ("import sys; from pipelines.synthesize.methods import TagsMethod; m = TagsMethod(); m.setup(); "
            "from pipelines.synthesize.fidelity import porter_stem; "
            "assert porter_stem('relaxing') == porter_stem('relaxed') == 'relax'; "
            "print(sorted(k for k in sys.modules if k.split('.')[0] in ('nltk', 'scipy')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_fidelity_of_a_comma_joined_list_equals_scanning_the_joined_text(vocab):
    """The `tags` method's fast path: for 4,000 random lists (vocabulary names, aliases, compounds,
    free phrases, negations that reach past commas, odd punctuation and case), the result is the one
    a full scan of the joined text gives."""
    import random

    from pipelines.synthesize.fidelity import fidelity_of_list

    aliases = yaml.safe_load(resources.files("pipelines.data").joinpath("tag_aliases.yaml").read_text())
    pool = [t.name for t in vocab.tags] + [t.display for t in vocab.tags]
    pool += [form for forms in aliases["aliases"].values() for form in forms or ()]
    pool += list(aliases.get("compounds") or ()) + list(aliases.get("not_tags") or ())
    pool += ["low quality", "mellow piano melody", "no vocals", "without drums", "drums or bass", "isn't loud",
             "or vocals", "nor guitar", "Drums!", "rock.", "r&b", "ROCK'S", "it\u2019s jazz", "!!!", "a;b",
             "guitar solo but no bass", "not", "ΣΑΣ", "İstanbul pop", "key of A minor", "80s", "  spaced  "]
    matcher = matcher_for(vocab)
    rng = random.Random(0)
    slow_paths = 0
    for _ in range(4000):
        parts = rng.sample(pool, rng.randint(1, 9))
        selected = [InputTag(p.strip() or "x") for p in rng.sample(parts, rng.randint(1, len(parts)))]
        slow_paths += any(matcher.has_negation_cue(p) for p in parts)
        expected = fidelity(", ".join(parts), selected, matcher=matcher)
        assert fidelity_of_list(parts, selected, matcher) == expected, parts
    assert 200 < slow_paths < 3800  # both paths were exercised


def test_fidelity_of_own_tags_equals_scanning_the_joined_text(vocab, tmp_path):
    """The `tags` method's text is its own tags shuffled and joined: for 6,000 random tag lists (vocabulary
    names with their categories, aliases, compounds, phrases that name no tag, free phrases, negations,
    duplicates in other case or spacing, odd punctuation) the fast path gives what a full scan gives."""
    import random

    from pipelines.synthesize.fidelity import fidelity_of_own_tags

    aliases = yaml.safe_load(resources.files("pipelines.data").joinpath("tag_aliases.yaml").read_text())
    pool = [InputTag(t.name, t.category) for t in vocab.tags] + [InputTag(t.display) for t in vocab.tags]
    texts = [form for forms in aliases["aliases"].values() for form in forms or ()]
    texts += list(aliases.get("compounds") or ()) + list(aliases.get("not_tags") or ())
    texts += ["low quality", "mellow piano melody", "no vocals", "without drums", "drums or bass", "isn't loud",
              "Drums!", "rock.", "r&b", "ROCK'S", "it\u2019s jazz", "!!!", "a;b", "the", "of a", "bass", "Bass",
              " male  vocals ", "guitar solo but no bass", "ΣΑΣ", "İstanbul pop", "key of A minor", "80s", "x"]
    pool += [InputTag(t) for t in texts]
    # ambiguous forms ("bass": electric, double or synth bass) next to their candidates
    ambiguous = [InputTag(" ".join(form)) for form, names in matcher_for(vocab).forms.items() if len(names) > 1]
    ambiguous += [InputTag(n) for names in matcher_for(vocab).forms.values() if len(names) > 1 for n in names]
    # an alias table where "rock" is a phrase that names no tag: the input "rock" does not name itself
    table = dict(aliases, not_tags=[*(aliases.get("not_tags") or ()), "rock"])
    path = tmp_path / "aliases.yaml"
    path.write_text(yaml.safe_dump(table))
    odd = TagMatcher(vocab, path)
    assert not odd.own_tag("rock").names_itself
    rng = random.Random(1)
    fast = 0
    for i in range(6000):
        matcher = odd if i % 3 == 2 else matcher_for(vocab)
        tags = rng.sample(ambiguous if i % 3 == 1 else pool, rng.randint(1, 12))
        if i % 3 == 2:
            tags.append(InputTag("rock", "genre"))
        parts = [t.tag for t in tags]
        rng.shuffle(parts)
        expected = fidelity(", ".join(parts), tags, matcher=matcher)
        assert fidelity_of_own_tags(parts, tags, matcher) == expected, parts
        fast += not any(matcher.has_negation_cue(p) for p in parts) and all(
            matcher.own_tag(t.tag).names_itself for t in tags)
    assert 2000 < fast < 4500, fast  # both paths were exercised
    with pytest.raises(ValueError):
        fidelity_of_own_tags(["rock"], [InputTag("jazz")], matcher)
