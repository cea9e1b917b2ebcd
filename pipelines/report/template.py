"""The report page: a Jinja template with its CSS inline (the page must open from disk, offline, alone).
Kept as a Python string so it ships with the package without package-data entries."""

CSS = """
:root { --fg: #1d2430; --muted: #5b6575; --line: #dde2ea; --bg: #f6f8fb; --a: #3b6ea8; --b: #e08a2c; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif;
       color: var(--fg); background: #fff; }
header { background: #1f3a5f; color: #fff; padding: 18px 28px 14px; }
header h1 { margin: 0 0 4px; font-size: 22px; }
header .meta { color: #c9d6e8; font-size: 13px; }
nav { position: sticky; top: 0; background: #fff; border-bottom: 1px solid var(--line); padding: 8px 28px; z-index: 2; }
nav a { margin-right: 16px; color: var(--a); text-decoration: none; font-weight: 600; }
main { padding: 8px 28px 40px; max-width: 1400px; }
section { margin-top: 26px; }
h2 { font-size: 19px; border-bottom: 2px solid var(--line); padding-bottom: 4px; }
h3 { font-size: 15px; margin: 18px 0 6px; }
p.note { color: var(--muted); margin: 4px 0 10px; max-width: 900px; }
.cards { display: flex; flex-wrap: wrap; gap: 10px; margin: 10px 0; }
.card { background: var(--bg); border: 1px solid var(--line); border-radius: 8px; padding: 8px 14px; min-width: 120px; }
.card .v { font-size: 20px; font-weight: 700; }
.card .k { color: var(--muted); font-size: 12px; }
.card.bad .v { color: #b0413e; }
table { border-collapse: collapse; margin: 6px 0 12px; }
th, td { border-bottom: 1px solid var(--line); padding: 4px 10px; text-align: left; vertical-align: top; }
th { background: var(--bg); font-weight: 600; white-space: nowrap; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; }
td.up { color: #2e7d32; } td.down { color: #b0413e; }
.grid { display: flex; flex-wrap: wrap; gap: 14px; align-items: flex-start; }
.grid > div { flex: 0 1 auto; max-width: 100%; }
svg { max-width: 100%; height: auto; }
.tag { display: inline-block; border-radius: 10px; padding: 0 8px; margin: 1px 2px; font-size: 12px;
       background: #eef1f5; }
.tag.genre { background: #dbe7f6; } .tag.mood { background: #fbe7d2; } .tag.instrument { background: #dcefdf; }
.example { border: 1px solid var(--line); border-radius: 8px; padding: 10px 14px; margin: 10px 0; }
.example .id { font-weight: 700; }
.texts { display: grid; grid-template-columns: 130px 1fr; gap: 4px 12px; margin-top: 8px; }
.texts .m { color: var(--muted); font-weight: 600; }
.texts .t { white-space: pre-wrap; }
.pair { display: grid; grid-template-columns: 1fr 1fr; gap: 12px; }
.pair > div { background: var(--bg); border-radius: 6px; padding: 6px 10px; white-space: pre-wrap; }
details { margin: 6px 0; } summary { cursor: pointer; color: var(--a); }
pre { background: var(--bg); padding: 8px; overflow-x: auto; font-size: 12px; }
"""

TEMPLATE = r"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>viml-synth report: {{ title }}</title>
<style>{{ css }}</style>
</head>
<body>
{% macro tags(list) -%}
{% for t in list %}<span class="tag {{ t.category }}" title="{{ t.category }}
    {%- if t.confidence is not none %} {{ '%.2f'|format(t.confidence) }}{% endif %}">{{ t.tag }}</span>{% endfor %}
{%- endmacro %}
{% macro card(value, key, bad=false) -%}
<div class="card{% if bad %} bad{% endif %}"><div class="v">{{ value }}</div><div class="k">{{ key }}</div></div>
{%- endmacro %}
<header>
  <h1>viml-synth report</h1>
  <div class="meta">{{ title }} &middot; made {{ made_at }} by viml-synth {{ version }}</div>
</header>
<nav>
  <a href="#run">Run</a><a href="#tags">Tags</a>{% if tagger %}<a href="#tagger">Tagger</a>
      {%- endif %}<a href="#texts">Texts</a>
  <a href="#examples">Examples</a>{% if references %}<a href="#references">References</a>{% endif %}
      {%- if compare %}<a href="#compare">Comparison</a>{% endif %}
</nav>
<main>
<section id="run">
  <h2>The run</h2>
  <p class="note">Triplets in <code>{{ run.folder }}</code>
      {%- if s and s.finished_at %}, finished {{ s.finished_at }}{% endif %}.</p>
  <div class="cards">
    {% for value, key, bad in cards %}{{ card(value, key, bad) }}{% endfor %}
  </div>
  {% if s and s.per_method %}
  <table>
    <tr><th>method</th><th class="n">texts</th><th class="n">failed</th><th class="n">texts / busy s</th>
      <th>details</th></tr>
    {% for m, pm in s.per_method.items() %}
    <tr><td>{{ m }}</td><td class="n">{{ pm.texts|num }}</td><td class="n">{{ pm.failed|num }}</td>
      <td class="n">{{ pm.rows_per_busy_s|num }}</td>
      <td>{% if pm.cache_hits is defined %}cache {{ pm.cache_hits|num }} hits / {{ pm.cache_misses|num }} misses,
        {{ pm.llm_attempts|num }} LLM requests ({{ pm.llm_retries|num }} retries); {% endif %}
        {% for k, v in (pm.config or {}).items() if k != "method" and v is not none and v is not mapping %}
            {{- k }}={{ v }}{% if not loop.last %}, {% endif %}{% endfor %}</td></tr>
    {% endfor %}
  </table>
  {% endif %}
  <h3>Failures by reason</h3>
  {% if run.errors.by_kind %}
  <table>
    <tr><th>stage</th><th>reason</th><th class="n">rows</th><th>for example</th></tr>
    {% for e in run.errors.by_kind %}
    <tr><td>{{ e.stage }}</td><td>{{ e.error_type }}</td><td class="n">{{ e.count|num }}</td>
      <td>{% for x in e.examples %}<div><code>{{ x.id }}</code>: {{ x.message }}</div>{% endfor %}</td></tr>
    {% endfor %}
  </table>
  {% else %}<p class="note">None: every input row has its texts.</p>{% endif %}
  {% if s %}
  <details><summary>Options, tag selection, versions</summary>
    <table>
      {% for k in ("selection", "inputs", "runner") if s[k] is defined %}
      <tr><th>{{ k }}</th><td><code>{{ s[k] if s[k] is string else s[k]|tojson }}</code></td></tr>
      {% endfor %}
      {% for k, v in (s.options or {}).items() if v is not none and k not in ("log_level", "func") %}
      <tr><th>{{ k }}</th><td><code>{{ v }}</code></td></tr>
      {% endfor %}
      {% for k, v in (s.versions or {}).items() %}<tr><th>{{ k }}</th><td><code>{{ v }}</code></td></tr>{% endfor %}
    </table>
  </details>
  {% endif %}
</section>

<section id="tags">
  <h2>Tags</h2>
  <p class="note">The tags selected for each track (what every method was given), counted once per track over
    {{ run.tracks|num }} tracks (those with a <code>{{ run.reference_method }}</code> text).
    {{ run.tags.selection_fallbacks|num }} tracks ({{ pct(run.tags.selection_fallbacks, run.tracks) }}) had too few
    tags over the threshold and took their most confident ones instead (selection fallback).</p>
  <div class="grid">
    <div>{{ charts.per_track }}</div>
    {% for c, svg in charts.categories.items() %}<div>{{ svg }}</div>{% endfor %}
  </div>
</section>

{% if tagger %}
<section id="tagger">
  <h2>Tagger</h2>
  <p class="note">{{ tagger.clips|num }} clips in <code>{{ tagger.folder }}</code>, tagged by
    {% for t, n in tagger.taggers.items() %}<code>{{ t }}</code> ({{ n|num }}){% if not loop.last %}, {% endif %}
        {%- endfor %}.
    Confidence of each clip's most confident tag per category: low values mean the tagger is unsure of that
    category.</p>
  <div class="grid">
    <div>{{ charts.top1 }}</div>
    <div><h3>Highest mean confidence per category</h3><table>
      <tr>{% for c in tagger.mean_confidence %}<th>{{ c }}</th><th class="n"></th>{% endfor %}</tr>
      {% for i in range(tagger.mean_confidence.values()|map("length")|max) %}<tr>
        {% for c, rows in tagger.mean_confidence.items() %}{% if rows[i] is defined %}<td>{{ rows[i][0] }}</td>
        <td class="n">{{ '%.3f'|format(rows[i][1]) }}</td>{% else %}<td></td><td></td>{% endif %}{% endfor %}
      </tr>{% endfor %}
    </table></div>
  </div>
  {% if tagger.descriptors %}
  <h3>Audio descriptors</h3>
  <p class="note">Clips with a value: {% for k, n in tagger.descriptors.clips_with.items() %}{{ k }} {{ n|num }}
      {%- if not loop.last %}, {% endif %}{% endfor %}.</p>
  <div class="grid">{% for svg in charts.descriptors %}<div>{{ svg }}</div>{% endfor %}</div>
  {% else %}<p class="note">This tag run has no audio descriptors (tempo, key, loudness, danceability).</p>{% endif %}
</section>
{% endif %}

<section id="texts">
  <h2>Texts per method</h2>
  <p class="note">Words, coverage and hallucinations are counted over every text. Coverage is the share of its
    input tags a text mentions; a hallucinated tag is a vocabulary tag the text names that no input tag
    supports (both as the method recorded them, <code>pipelines.synthesize.fidelity</code>). Vocabulary and
    distinct-n (unique / all word n-grams) come from <code>pipelines.evaluate</code> over a seeded sample of
    at most {{ text_sample|num }} texts per method: they grow with the number of texts, so compare runs at equal
    samples.</p>
  <table>
    <tr><th>method</th><th class="n">texts</th><th class="n">mean words</th><th class="n">vocabulary</th>
      <th class="n">distinct-1</th><th class="n">distinct-2</th><th class="n">sample</th>
      <th class="n">mean coverage</th>
      <th class="n">texts with a hallucination</th><th>most hallucinated</th></tr>
    {% for m, t in run.texts.items() %}
    <tr><td>{{ m }}</td><td class="n">{{ t.texts|num }}</td><td class="n">{{ t.mean_length|fmt(1) }}</td>
      <td class="n">{{ t.vocab_size|num }}</td><td class="n">{{ t.distinct1|fmt(3) }}</td><td class="n">
          {{- t.distinct2|fmt(3) }}</td>
      <td class="n">{{ t.diversity_sample|num }}</td><td class="n">{{ t.mean_coverage|fmt(3) }}</td>
      <td class="n">{{ pct(t.share_with_hallucination) }}</td>
      <td>{% for tag, n in t.top_hallucinated[:5] %}{{ tag }} ({{ n|num }}){% if not loop.last %}, {% endif %}
          {%- endfor %}</td></tr>
    {% endfor %}
  </table>
  <div class="grid"><div>{{ charts.lengths }}</div><div>{{ charts.coverage }}</div><div>
      {{- charts.hallucinations }}</div></div>
</section>

<section id="examples">
  <h2>Examples</h2>
  <p class="note">{{ run.examples|length }} tracks drawn with seed {{ seed }} (the same tracks for the same run
    and seed), with their selected tags and every method's texts.</p>
  {% for ex in run.examples %}
  <div class="example">
    <div><span class="id">{{ ex.music_id }}</span>{% if ex.video_id %} &middot; video {{ ex.video_id }}{% endif %}</div>
    <div>{{ tags(ex.tags) }}</div>
    <div class="texts">
      {% for m, texts in ex.texts.items() %}{% for text in texts %}
      <div class="m">{{ m }}{% if texts|length > 1 %} #{{ loop.index }}
          {%- endif %}</div><div class="t example-text">{{ text }}</div>
      {% endfor %}{% endfor %}
    </div>
  </div>
  {% endfor %}
</section>

{% if references %}
<section id="references">
  <h2>Against human references</h2>
  <p class="note">The <code>evaluate-text</code> metrics of <code>{{ references.references.path }}</code>
    ({{ references.references.tracks|num }} tracks with a reference, matched on <code>
        {{- references.references.id_column }}</code>);
    scored texts per method: {% for m, c in references.rows.items() %}
        {{- m }} {{ c.scored|num }} of {{ c.matched|num }}{% if not loop.last %}, {% endif %}{% endfor %}
    (a seeded sample when more match). {% if not references.wordnet %}METEOR without the WordNet synonym stage.
        {%- endif %}</p>
  <table>
    <tr><th>method</th>{% for key, header in references.columns %}<th class="n" title="{{ key }}">{{ header }}</th>
        {%- endfor %}</tr>
    {% for m, row in references.methods.items() %}
    <tr><td>{{ m }}</td>{% for key, header in references.columns %}<td class="n">{{ row[key]|fmt(3) }}</td>
        {%- endfor %}</tr>
    {% endfor %}
  </table>
  <details><summary>What the metrics are</summary><table>
    {% for k, v in references.notes.items() %}<tr><th>{{ k }}</th><td>{{ v }}</td></tr>{% endfor %}
  </table></details>
</section>
{% endif %}

{% if compare %}
<section id="compare">
  <h2>Comparison: A vs B</h2>
  <p class="note">A = <code>{{ run.folder }}</code>, B = <code>{{ compare.b.folder }}</code>. Both restricted to the
    {{ compare.shared_tracks|num }} tracks they share (A has {{ compare.tracks_a|num }}, B {{ compare.tracks_b|num }}).
    Δ = B − A.</p>
  <table>
    <tr><th></th>{% for m in compare_table.methods %}<th class="n" colspan="3">{{ m }}</th>{% endfor %}</tr>
    <tr><th>metric</th>
        {%- for m in compare_table.methods %}<th class="n">A</th><th class="n">B</th><th class="n">Δ</th>
        {%- endfor %}</tr>
    {% for row in compare_table.rows %}
    <tr><td>{{ row.metric }}</td>
        {%- for c in row.cells %}<td class="n">{{ c.a|fmt(c.digits) }}</td><td class="n">{{ c.b|fmt(c.digits) }}</td>
      <td class="n {{ c.trend }}">{{ c.delta|fmt(c.digits, sign=true) }}</td>{% endfor %}</tr>
    {% endfor %}
    {% for c in compare_table.run_wide %}
    <tr><td>{{ c.metric }} (all methods)</td><td class="n">{{ c.a|fmt(0) }}</td><td class="n">{{ c.b|fmt(0) }}</td>
      <td class="n">{{ c.delta|fmt(0, sign=true) }}</td></tr>
    {% endfor %}
  </table>
  <div class="grid">
    <div>{{ charts.compare_lengths }}</div><div>{{ charts.compare_coverage }}</div>
    {% for svg in charts.compare_tags %}<div>{{ svg }}</div>{% endfor %}
  </div>
  <h3>Where the texts differ most</h3>
  <p class="note">Same track, method and sample in both runs; difference = 1 − difflib's word-sequence similarity,
    over a seeded sample of shared tracks.</p>
  {% for m, pairs in compare.pairs.items() %}
  <h3>{{ m }}</h3>
  {% for p in pairs %}
  <div class="example">
    <div><span class="id">{{ p.music_id }}</span>{% if p.video_id %} &middot; video {{ p.video_id }}{% endif %}
      &middot; sample {{ p.sample }} &middot; difference {{ '%.2f'|format(p.difference) }}</div>
    <div>{{ tags(p.tags_a) }}</div>
    <div class="pair"><div class="example-text">A: {{ p.text_a }}</div>
      <div class="example-text">B: {{ p.text_b }}</div></div>
  </div>
  {% endfor %}
  {% endfor %}
</section>
{% endif %}
</main>
</body>
</html>
"""
