"""The report's charts: matplotlib figures saved as inline SVG (text kept as text, so they stay small
and the page's search finds their labels). Only figure layout here; matplotlib draws."""
from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")  # no display: figures are only ever written to SVG

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

COLORS = ("#3b6ea8", "#e08a2c", "#4c9a5b", "#b0413e", "#7a5ea8", "#8c6d4f")
STYLE = {
    "svg.fonttype": "none",  # text as <text>, not paths: a fraction of the size
    "svg.hashsalt": "viml-synth-report",  # stable element ids: the same data gives the same file
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.titlesize": 10,
    "axes.titleweight": "bold",
}
MAX_BARS = 40  # longer tag lists show their most frequent tags (the table below lists all)


def _svg(fig) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
    plt.close(fig)
    text = buf.getvalue()
    return text[text.index("<svg"):]  # drop the XML prolog and doctype: the SVG sits inside HTML


def bars(labels: list[str], series: dict[str, list[float]], title: str, xlabel: str = "", ylabel: str = "",
         horizontal: bool = False, width: float = 6.0, integer: bool | None = None) -> str:
    """One bar per label, one colour per series (several series: grouped bars, e.g. run A vs run B)."""
    labels = [str(x) for x in labels][:MAX_BARS]
    n = max(len(series), 1)
    with plt.rc_context(STYLE):
        height = max(1.6, 0.22 * len(labels) * (1 + 0.3 * (n - 1)) + 0.8) if horizontal else 2.6
        fig, ax = plt.subplots(figsize=(width, height))
        step = 0.8 / n
        positions = range(len(labels))
        for i, (name, values) in enumerate(series.items()):
            offsets = [p - 0.4 + step * (i + 0.5) for p in positions]
            values = list(values)[:len(labels)]
            if horizontal:
                ax.barh(offsets, values, height=step, color=COLORS[i % len(COLORS)], label=name)
            else:
                ax.bar(offsets, values, width=step, color=COLORS[i % len(COLORS)], label=name)
        if horizontal:
            ax.set_yticks(list(positions), labels)
            ax.invert_yaxis()  # most frequent on top
            ax.set_xlabel(xlabel or ylabel)
        else:
            ax.set_xticks(list(positions), labels, rotation=90 if max(map(len, labels), default=0) > 4 else 0)
            ax.set_xlabel(xlabel)
            ax.set_ylabel(ylabel)
        if integer is None:
            integer = all(float(v).is_integer() for values in series.values() for v in values)
        (ax.xaxis if horizontal else ax.yaxis).set_major_locator(MaxNLocator(integer=integer))
        ax.set_title(title, loc="left")
        if n > 1:
            ax.legend(frameon=False, loc="best")
        return _svg(fig)


def histogram(hists: dict[str, dict], title: str, xlabel: str, ylabel: str = "texts", share: bool = False) -> str:
    """Pre-binned histograms ({"edges", "counts"}) with the same edges, one colour each; `share` plots
    each as a share of its total so runs of different sizes compare."""
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(4.6, 2.5))
        for i, (name, h) in enumerate(hists.items()):
            counts = h["counts"]
            total = sum(counts) or 1
            values = [c / total for c in counts] if share else counts
            ax.stairs(values, h["edges"], fill=len(hists) == 1, alpha=0.85 if len(hists) == 1 else 1.0,
                      color=COLORS[i % len(COLORS)], label=name, linewidth=1.6)
        ax.set_title(title, loc="left")
        ax.set_xlabel(xlabel)
        ax.set_ylabel(f"share of {ylabel}" if share else ylabel)
        if not share:
            ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        if len(hists) > 1:
            ax.legend(frameon=False, loc="best")
        return _svg(fig)


def counts_histogram(counts: dict[str, dict[str, int]], title: str, xlabel: str, ylabel: str = "texts",
                     max_bins: int = 40, share: bool = False) -> str:
    """Integer-valued distributions ({value: count}, e.g. words per text): a bar per value when they fit,
    else binned to at most `max_bins`."""
    values = [int(k) for c in counts.values() for k in c]
    lo, hi = (min(values), max(values)) if values else (0, 1)
    width = max(1, -(-(hi - lo + 1) // max_bins))
    if hi - lo < 12:  # few distinct values: plain bars, one per value
        labels = list(range(lo, hi + 1))
        series = {}
        for name, c in counts.items():
            total = sum(c.values()) or 1
            series[name] = [c.get(str(v), 0) / (total if share else 1) for v in labels]
        return bars(labels, series, title, xlabel=xlabel, ylabel=f"share of {ylabel}" if share else ylabel,
                    width=4.6, integer=not share)
    edges = list(range(lo, hi + width + 1, width))
    binned = {}
    for name, c in counts.items():
        bins = [0] * (len(edges) - 1)
        for k, n in c.items():
            bins[(int(k) - lo) // width] += n
        binned[name] = {"edges": [e - 0.5 for e in edges], "counts": bins}
    return histogram(binned, title, xlabel, ylabel, share)
