"""Wording of the synthetic benchmark's texts.

Two registers, as in the ViML paper (sec. 2.1 and its supplement):

* training texts, written like the synthesized ones: ``tags`` (the track's tags, shuffled, comma separated)
  and ``data2text`` (one templated sentence per tag category, vocabulary names kept verbatim);
* test texts, written like the human annotations of YT8M-MusicTextClips: short captions with other words
  ("upbeat" for happy, "drums" for acoustic drumset, "rap" for hip-hop), that leave attributes out, swap a
  wrong one in now and then, and sometimes add a remark that names no attribute.

Everything takes an explicit ``random.Random``, so a row's text depends only on its own seed.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field

CATEGORIES = ("genre", "mood", "instrument")

# Human wording per vocabulary tag: the first entry is the plain name; the others are what an annotator
# might write instead. Tags missing here are written with their plain name.
SYNONYMS: dict[str, tuple[str, ...]] = {
    # genre
    "rock": ("rock", "hard rock", "alternative rock", "rock n roll"),
    "pop": ("pop", "mainstream pop", "radio pop"),
    "electronic": ("electronic", "EDM", "electronica"),
    "hip-hop": ("hip hop", "rap", "trap"),
    "dance": ("dance", "club", "disco"),
    "jazz": ("jazz", "jazzy", "smooth jazz"),
    "blues": ("blues", "bluesy", "delta blues"),
    "classical": ("classical", "orchestral", "symphonic"),
    "country": ("country", "americana", "country western"),
    "folk": ("folk", "folksy", "singer-songwriter"),
    "metal": ("metal", "heavy metal", "death metal"),
    "punk": ("punk", "punk rock", "pop punk"),
    "soul": ("soul", "soulful", "motown"),
    "r&b": ("R&B", "rnb", "rhythm and blues"),
    "funk": ("funk", "funky", "groove"),
    "ambient": ("ambient", "atmospheric", "drone"),
    "techno": ("techno", "minimal techno", "industrial techno"),
    "house": ("house", "deep house", "tech house"),
    "indie": ("indie", "indie rock", "lo-fi indie"),
    "new age": ("new age", "meditation", "spa"),
    # mood
    "happy": ("happy", "upbeat", "cheerful", "joyful"),
    "sad": ("sad", "sorrowful", "gloomy", "heartbroken"),
    "angry": ("angry", "rebellious", "furious"),
    "powerful": ("powerful", "impactful", "strong"),
    "frantic": ("frantic", "chaotic", "hectic"),
    "dynamic": ("dynamic", "lively", "vibrant"),
    "dreamy": ("dreamy", "ethereal", "floaty"),
    "relaxing": ("relaxing", "soothing", "restful"),
    "nostalgic": ("nostalgic", "wistful", "retro"),
    "quirky": ("quirky", "whimsical", "odd"),
    "romantic": ("romantic", "passionate", "loving"),
    "dark": ("dark", "ominous", "sinister"),
    "epic": ("epic", "grand", "cinematic"),
    "calm": ("calm", "serene", "quiet"),
    "energetic": ("energetic", "high energy", "hyped"),
    "melancholic": ("melancholic", "melancholy", "bittersweet"),
    "uplifting": ("uplifting", "inspiring", "hopeful"),
    "mellow": ("mellow", "laid back", "easygoing"),
    "chill": ("chill", "chilled out", "lounge"),
    "sexy": ("sexy", "sultry", "sensual"),
    "catchy": ("catchy", "hooky", "memorable"),
    "beautiful": ("beautiful", "elegant", "lovely"),
    "aggressive": ("aggressive", "intense", "brutal"),
    "peaceful": ("peaceful", "tranquil", "gentle"),
    "tense": ("tense", "suspenseful", "nervy"),
    "playful": ("playful", "fun", "bouncy"),
    "slow": ("slow", "slow tempo", "downtempo"),
    "fast": ("fast", "fast paced", "up-tempo"),
    # instrument
    "vocals": ("vocals", "singing", "a singer"),
    "lead vocals": ("lead vocals", "a lead singer", "a strong lead voice"),
    "male vocals": ("male vocals", "a male singer", "a male vocalist"),
    "female vocals": ("female vocals", "a female singer", "a female vocalist"),
    "backing vocals": ("backing vocals", "background singers", "vocal harmonies"),
    "choir": ("choir", "choral voices", "a chorus of voices"),
    "guitar": ("guitar", "guitars", "guitar chords"),
    "electric guitar": ("electric guitar", "distorted guitars", "guitar riffs"),
    "acoustic guitar": ("acoustic guitar", "strummed guitar", "fingerpicked guitar"),
    "electric bass": ("electric bass", "bass guitar", "a bass line"),
    "double bass": ("double bass", "upright bass", "walking bass"),
    "synth bass": ("synth bass", "heavy bass", "bass drops"),
    "acoustic drumset": ("acoustic drums", "drums", "a live drum kit"),
    "electronic drumset": ("electronic drums", "a drum machine", "trap beats"),
    "percussion": ("percussion", "hand drums", "shakers"),
    "piano": ("piano", "keys", "a grand piano"),
    "electric piano": ("electric piano", "rhodes", "a keyboard"),
    "organ": ("organ", "hammond organ", "church organ"),
    "synthesizer keyboard": ("synthesizer", "synths", "synth layers"),
    "harpsichord": ("harpsichord", "baroque keys"),
    "strings": ("strings", "a string section", "orchestral strings"),
    "violin": ("violin", "fiddle", "violins"),
    "cello": ("cello", "cellos"),
    "harp": ("harp", "plucked harp"),
    "flute": ("flute", "flutes"),
    "clarinet": ("clarinet",),
    "saxophone": ("saxophone", "sax", "a sax solo"),
    "trumpet": ("trumpet", "a trumpet solo"),
    "trombone": ("trombone",),
    "french horn": ("french horn", "horns"),
    "brass section": ("brass section", "brass", "a horn section"),
    "woodwinds": ("woodwinds", "wind instruments"),
    "sitar": ("sitar",),
    "banjo": ("banjo",),
    "mandolin": ("mandolin",),
    "ukulele": ("ukulele", "uke"),
    "accordion": ("accordion",),
    "harmonica": ("harmonica", "mouth harp"),
    "glockenspiel": ("glockenspiel", "bells"),
    "marimba": ("marimba", "mallets"),
    "turntables": ("turntables", "record scratching", "a DJ"),
}

# Remarks that name no attribute (as annotators add "Great for a party.").
FILLERS = (
    "Great for a party.", "Good for a road trip.", "Perfect for a movie scene.", "Nice background music.",
    "Sounds like something from the radio.", "Would fit a commercial.", "Good for a workout.",
    "Reminds me of the nineties.", "Nice to listen to.", "Feels like a live performance.",
)

TEMPLATE_VERSION = "synthetic-texts-v1"

# --------------------------------------------------------------------------------------------- helpers


def join_and(items: list[str], oxford: bool = True) -> str:
    items = list(items)
    if len(items) <= 1:
        return "".join(items)
    if len(items) == 2:
        return f"{items[0]} and {items[1]}"
    return ", ".join(items[:-1]) + ("," if oxford else "") + f" and {items[-1]}"


def article(phrase: str) -> str:
    word = phrase.lstrip()
    return ("an " if word[:1].lower() in "aeiou" and not word.lower().startswith(("uni", "eu")) else "a ") + phrase


def capitalize(text: str) -> str:
    return text[:1].upper() + text[1:] if text else text


def has_article(phrase: str) -> bool:
    return phrase.startswith(("a ", "an ", "the "))


# ---------------------------------------------------------------------------------- training register

# data2text-style sentences, one per category; {x} is the category's tags joined with "and".
D2T_SENTENCES: dict[str, tuple[tuple[str, str], ...]] = {
    "genre": (
        ("genre.this_is", "This is {a_x} song."),
        ("genre.genre_is", "The genre of this song is {x}."),
        ("genre.music_is", "This music is {x}."),
        ("genre.sounds_like", "This sounds like {x} music."),
        ("genre.here_is", "Here we have {a_x} song."),
    ),
    "mood": (
        ("mood.mood_is", "The mood of the song is {x}."),
        ("mood.sounds", "The song sounds {x}."),
        ("mood.feeling", "The feeling is {x}."),
        ("mood.feel", "The song has {a_x} feel."),
        ("mood.gives", "The music gives {a_x} feel."),
    ),
    "instrument": (
        ("instrument.playing", "{X} are playing in this song."),
        ("instrument.includes", "The instrumentation includes {x}."),
        ("instrument.features", "This song features {x}."),
        ("instrument.has", "The soundtrack has {x}."),
        ("instrument.hear", "You can hear {x} in this track."),
    ),
}


def tags_text(tags: list[str], rng: random.Random) -> tuple[str, list[str]]:
    """The paper's ``tags`` method: the tags in random order, comma separated."""
    tags = list(tags)
    rng.shuffle(tags)
    return ", ".join(tags), ["tags.comma"]


def data2text_text(by_cat: dict[str, list[str]], rng: random.Random) -> tuple[str, list[str]]:
    """A data2text-like description: one templated sentence per category present, in random order."""
    cats = [c for c in CATEGORIES if by_cat.get(c)]
    rng.shuffle(cats)
    sentences, ids = [], []
    for cat in cats:
        names = list(by_cat[cat])
        rng.shuffle(names)
        tid, pattern = rng.choice(D2T_SENTENCES[cat])
        x = join_and(names)
        sentences.append(pattern.format(x=x, X=capitalize(x), a_x=article(x)))
        ids.append(tid)
    return " ".join(sentences), ids


# ------------------------------------------------------------------------------------- human register

# Caption templates keyed by the categories they need: g (genre phrase), m (mood adjectives joined),
# i (instruments joined), a_m (mood with an article). Capitalized at the end.
HUMAN_TEMPLATES: dict[frozenset, tuple[tuple[str, str], ...]] = {
    frozenset("gmi"): (
        ("gmi.mood_genre_track_with", "{m} {g} track with {i}."),
        ("gmi.genre_song_vibe", "{g} song with {i}. The track has {a_m} vibe."),
        ("gmi.tune_featuring", "{a_m} {g} tune featuring {i}."),
        ("gmi.music_sounds", "{g} music with {i} that sounds {m}."),
        ("gmi.over_groove", "{i} over {a_m} {g} groove."),
        ("gmi.backed_by", "{m} {g} song backed by {i}."),
    ),
    frozenset("gi"): (
        ("gi.track_with", "{g} track with {i}."),
        ("gi.song_featuring", "{a_g} song featuring {i}."),
        ("gi.bare", "{g} with {i}."),
        ("gi.lead_by", "{g} tune led by {i}."),
    ),
    frozenset("gm"): (
        ("gm.mood_genre_song", "{m} {g} song."),
        ("gm.a_track", "{a_m} {g} track."),
        ("gm.feel", "{g} music with {a_m} feel."),
        ("gm.very", "Very {m} {g}."),
    ),
    frozenset("mi"): (
        ("mi.track_with", "{m} track with {i}."),
        ("mi.sounds_with", "Sounds {m}, with {i}."),
        ("mi.giving", "{i} giving {a_m} feeling."),
        ("mi.piece", "{a_m} piece with {i}."),
    ),
    frozenset("g"): (
        ("g.track", "{g} track."),
        ("g.sounds_like", "Sounds like {g} music."),
        ("g.typical", "Typical {g} song."),
    ),
    frozenset("m"): (
        ("m.very", "Very {m} music."),
        ("m.song", "{m} song."),
        ("m.piece", "{a_m} piece of music."),
    ),
    frozenset("i"): (
        ("i.track_with", "Track with {i}."),
        ("i.mostly", "Mostly {i}."),
        ("i.featuring", "Song featuring {i}."),
    ),
}


def human_phrase(tag: str, rng: random.Random, synonym_rate: float) -> str:
    words = SYNONYMS.get(tag, (tag,))
    if len(words) > 1 and rng.random() < synonym_rate:
        return rng.choice(words[1:])
    return words[0]


def _strip_article(phrase: str) -> str:
    for a in ("a ", "an "):
        if phrase.startswith(a):
            return phrase[len(a):]
    return phrase


def human_text(named: dict[str, list[str]], rng: random.Random, synonym_rate: float,
               filler_rate: float) -> tuple[str, list[str]]:
    """A short caption naming the given tags (already chosen, possibly wrong), in human wording."""
    g = [human_phrase(t, rng, synonym_rate) for t in named.get("genre", [])]
    m = [human_phrase(t, rng, synonym_rate) for t in named.get("mood", [])]
    i = [human_phrase(t, rng, synonym_rate) for t in named.get("instrument", [])]
    rng.shuffle(m)
    rng.shuffle(i)
    key = frozenset(k for k, v in (("g", g), ("m", m), ("i", i)) if v)
    tid, pattern = rng.choice(HUMAN_TEMPLATES[key])
    m_txt = join_and(m, oxford=False)
    i_txt = join_and(i if len(i) == 1 else [_strip_article(x) for x in i], oxford=False)
    g_txt = " ".join(g)
    text = pattern.format(g=g_txt, a_g=article(g_txt) if g else "", m=m_txt, a_m=article(m_txt) if m else "", i=i_txt)
    # Capitalize each sentence's first letter.
    text = ". ".join(capitalize(s) for s in text.split(". "))
    ids = [f"human.{tid}"]
    if rng.random() < filler_rate:
        text = f"{text} {rng.choice(FILLERS)}"
        ids.append("human.filler")
    return text, ids


@dataclass
class NamedAttributes:
    """What a text names, against the track's true attributes."""

    by_cat: dict[str, list[str]] = field(default_factory=dict)  # what the text names (may include wrong)
    mentioned: list[str] = field(default_factory=list)  # true attributes named
    missing: list[str] = field(default_factory=list)  # true attributes left out
    wrong: list[str] = field(default_factory=list)  # named but not attributes of the track

    @property
    def coverage(self) -> float:
        total = len(self.mentioned) + len(self.missing)
        return len(self.mentioned) / total if total else 0.0


def choose_named(true: dict[str, list[str]], pools: dict[str, list[str]], rng: random.Random, *,
                 keep: dict[str, float], error_rate: float, hallucination_rate: float) -> NamedAttributes:
    """Which attributes a text names: each true one kept with keep[category]; a kept one replaced by a
    wrong one of its category with error_rate; with hallucination_rate one extra wrong mood or instrument.
    At least one attribute is always named."""
    out = NamedAttributes(by_cat={c: [] for c in CATEGORIES})
    owned = {t for c in CATEGORIES for t in true.get(c, [])}
    kept = [(c, t) for c in CATEGORIES for t in true.get(c, []) if rng.random() < keep.get(c, 1.0)]
    if not kept:
        everything = [(c, t) for c in CATEGORIES for t in true.get(c, [])]
        kept = [rng.choice(everything)]
    kept_set = {t for _, t in kept}
    out.missing = [t for c in CATEGORIES for t in true.get(c, []) if t not in kept_set]
    used = set(owned)
    for cat, tag in kept:
        if error_rate > 0 and rng.random() < error_rate:
            choices = [x for x in pools[cat] if x not in used]
            if choices:
                wrong = rng.choice(choices)
                used.add(wrong)
                out.by_cat[cat].append(wrong)
                out.wrong.append(wrong)
                out.missing.append(tag)
                continue
        out.by_cat[cat].append(tag)
        out.mentioned.append(tag)
    if hallucination_rate > 0 and rng.random() < hallucination_rate:
        cat = rng.choice(("mood", "instrument"))
        choices = [x for x in pools[cat] if x not in used]
        if choices:
            wrong = rng.choice(choices)
            out.by_cat[cat].append(wrong)
            out.wrong.append(wrong)
    return out
