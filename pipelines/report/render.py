"""Aggregates -> one self-contained HTML page (charts inline as SVG, CSS inline, no external resource)."""
from __future__ import annotations

import time

import jinja2
from markupsafe import Markup

from pipelines.report import charts
from pipelines.report.template import CSS, TEMPLATE

# (label, key in a method's text aggregates, digits, higher is better?) for the comparison table
COMPARED = (
    ("texts", "texts", 0, None),
    ("mean words", "mean_length", 2, None),
    ("vocabulary", "vocab_size", 0, True),
    ("distinct-1", "distinct1", 3, True),
    ("distinct-2", "distinct2", 3, True),
    ("mean coverage", "mean_coverage", 3, True),
    ("share with a hallucination", "share_with_hallucination", 3, False),
)
DESCRIPTOR_TITLES = {"bpm": ("Tempo", "BPM"), "bpm_confidence": ("Tempo confidence", "confidence"),
                     "key_strength": ("Key strength", "strength"), "loudness_lufs": ("Loudness", "LUFS"),
                     "danceability": ("Danceability", "danceability")}


def _missing(value) -> bool:
    return value is None or isinstance(value, jinja2.Undefined)


def _num(value) -> str:
    return "–" if _missing(value) else f"{value:,}"


def _fmt(value, digits: int = 3, sign: bool = False) -> str:
    if _missing(value):
        return "–"
    if isinstance(value, int) or digits == 0:
        return f"{value:+,.0f}" if sign else f"{value:,.0f}"
    return f"{value:+,.{digits}f}" if sign else f"{value:,.{digits}f}"


def _pct(part, whole=None) -> str:
    if part is None:
        return "–"
    share = part if whole is None else (part / whole if whole else 0.0)
    return f"{100 * share:.1f} %"


def _tag_charts(run: dict) -> dict:
    cats = run["tags"]["by_category"]
    out = {}
    for category, rows in cats.items():
        shown = rows[:charts.MAX_BARS]
        more = f" (top {len(shown)} of {len(rows)})" if len(rows) > len(shown) else ""
        out[category] = Markup(charts.bars([t for t, _ in shown], {"tracks": [n for _, n in shown]},
                                           f"{category}: tracks per tag{more}", xlabel="tracks",
                                           horizontal=True, width=4.2))
    return out


def _method_charts(texts: dict[str, dict], share: bool) -> dict:
    return {
        "lengths": Markup(charts.counts_histogram({m: t["length"] for m, t in texts.items()},
                                                  "Words per text", "words", share=share)),
        "coverage": Markup(charts.histogram({m: t["coverage"] for m, t in texts.items()},
                                            "Tag coverage per text", "coverage", share=share)),
        "hallucinations": Markup(charts.counts_histogram(
            {m: t["hallucinations_per_text"] for m, t in texts.items()},
            "Hallucinated tags per text", "hallucinated tags", share=share)),
    }


def _tagger_charts(tagger: dict) -> dict:
    out = {"top1": Markup(charts.histogram(tagger["top1_confidence"], "Top tag confidence per clip",
                                           "confidence", ylabel="clips"))}
    desc = tagger.get("descriptors") or {}
    svgs = []
    for name, hist in (desc.get("histograms") or {}).items():
        title, unit = DESCRIPTOR_TITLES.get(name, (name, name))
        svgs.append(Markup(charts.histogram({name: hist}, f"{title} (mean {hist['mean']:g})", unit, ylabel="clips")))
    if desc.get("keys"):
        keys = desc["keys"]
        svgs.append(Markup(charts.bars([k for k, _ in keys], {"clips": [n for _, n in keys]}, "Key", ylabel="clips")))
    out["descriptors"] = svgs
    return out


def _cell(va, vb, digits: int, higher_better: bool | None) -> dict:
    delta = None if va is None or vb is None else round(vb - va, digits) + 0.0  # + 0.0: no "-0.000"
    trend = ""
    if delta and higher_better is not None:
        trend = "up" if (delta > 0) == higher_better else "down"
    return {"a": va, "b": vb, "delta": delta, "digits": digits, "trend": trend}


def _compare_table(compare: dict) -> dict:
    """Metrics as rows, each method's A / B / delta as columns; then the run-wide numbers."""
    a, b = compare["a"]["texts"], compare["b"]["texts"]
    methods = [m for m in a if m in b] + [m for m in a if m not in b] + [m for m in b if m not in a]
    rows = [{"metric": label, "cells": [_cell((a.get(m) or {}).get(key), (b.get(m) or {}).get(key), digits, better)
                                        for m in methods]}
            for label, key, digits, better in COMPARED]
    refs = compare.get("references")
    if refs:
        ra, rb = refs["a"]["methods"], refs["b"]["methods"]
        for key, header in refs["a"]["columns"]:
            better = {"hallucination_rate": False, "rows_with_hallucination": False, "n": None,
                      "mean_length": None}.get(key, True)
            rows.append({"metric": f"vs references: {header}", "cells": [
                _cell((ra.get(m) or {}).get(key), (rb.get(m) or {}).get(key), 0 if key in ("n", "vocab_size") else 3,
                      better) for m in methods]})
    run_wide = [("tracks", compare["a"]["tracks"], compare["b"]["tracks"]),
                ("selection fallbacks", compare["a"]["tags"]["selection_fallbacks"],
                 compare["b"]["tags"]["selection_fallbacks"])]
    return {"methods": methods, "rows": rows,
            "run_wide": [{"metric": label, **_cell(va, vb, 0, None)} for label, va, vb in run_wide]}


def _compare_charts(compare: dict) -> dict:
    a, b = compare["a"]["texts"], compare["b"]["texts"]
    methods = [m for m in a if m in b]
    lengths = {f"{run} {m}": compare[run]["texts"][m]["length"] for m in methods for run in ("a", "b")}
    coverage = {f"{run} {m}": compare[run]["texts"][m]["coverage"] for m in methods for run in ("a", "b")}
    tag_svgs = []
    ca, cb = compare["a"]["tags"]["by_category"], compare["b"]["tags"]["by_category"]
    for category in sorted(set(ca) | set(cb)):
        na, nb = dict(ca.get(category, [])), dict(cb.get(category, []))
        top = sorted(set(na) | set(nb), key=lambda t: -(na.get(t, 0) + nb.get(t, 0)))[:20]
        tag_svgs.append(Markup(charts.bars(top, {"A": [na.get(t, 0) for t in top], "B": [nb.get(t, 0) for t in top]},
                                           f"{category}: tracks per tag, A vs B", xlabel="tracks",
                                           horizontal=True, width=4.2)))
    return {
        "compare_lengths": Markup(charts.counts_histogram(lengths, "Words per text, A vs B", "words", share=True)),
        "compare_coverage": Markup(charts.histogram(coverage, "Tag coverage, A vs B", "coverage", share=True)),
        "compare_tags": tag_svgs,
    }


def _cards(run: dict) -> list[tuple]:
    """(value, label, is it bad) for the run's headline numbers; summary.json fields may be missing
    (an older run, a hand-made folder), so each card shows only when its number is there."""
    s = run.get("summary") or {}
    counts, timing = s.get("counts") or {}, s.get("timing") or {}
    cards = [(_num(counts.get("tracks", run["tracks"])), "tracks", False),
             (_num(sum(t["texts"] for t in run["texts"].values())), "texts", False)]
    for key, label in (("failed", "texts failed"), ("bad_input_rows", "unreadable input rows")):
        if counts.get(key) is not None:
            cards.append((_num(counts[key]), label, counts[key] > 0))
    if s.get("seed") is not None:
        cards.append((s["seed"], "seed", False))
    if timing.get("wall_s") is not None:
        cards.append((f"{timing['wall_s']:.1f} s", "wall time", False))
    cards.append((len(run["methods"]), "methods", False))
    return cards


def render(run: dict, *, tagger: dict | None = None, references: dict | None = None,
           compare: dict | None = None, seed: int = 0, text_sample: int = 0) -> str:
    from pipelines import __version__

    texts = run["texts"]
    chart_set = {"per_track": Markup(charts.counts_histogram({"tracks": run["tags"]["per_track"]},
                                                             "Selected tags per track", "tags", ylabel="tracks")),
                 "categories": _tag_charts(run),
                 **_method_charts(texts, share=len(texts) > 1)}
    if tagger:
        chart_set.update(_tagger_charts(tagger))
    if compare:
        chart_set.update(_compare_charts(compare))
    env = jinja2.Environment(autoescape=True)
    env.filters.update(num=_num, fmt=_fmt)
    page = env.from_string(TEMPLATE)
    return page.render(
        title=run["folder"], made_at=time.strftime("%Y-%m-%d %H:%M"), version=__version__, css=Markup(CSS),
        run=run, s=run.get("summary"), cards=_cards(run), tagger=tagger,
        references=references, compare=compare, compare_table=_compare_table(compare) if compare else None,
        charts=chart_set, pct=_pct, seed=seed, text_sample=text_sample)
