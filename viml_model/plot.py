"""Loss and validation-recall curves as a PNG (matplotlib, optional: skipped with a warning if absent)."""
from __future__ import annotations

import logging
from pathlib import Path

log = logging.getLogger(__name__)


def plot_history(history: list[dict], path: Path, metric: str) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        log.warning("matplotlib is not installed: %s not written (metrics.json has the numbers)", path)
        return False
    epochs = [h["epoch"] for h in history]
    fig, (ax1, ax2, ax3) = plt.subplots(1, 3, figsize=(15, 4))
    ax1.plot(epochs, [h["train_loss"] for h in history], marker="o", label="train")
    if any(h.get("val_loss") is not None for h in history):
        ax1.plot(epochs, [h.get("val_loss") for h in history], marker="o", label="validation")
    ax1.set_xlabel("epoch")
    ax1.set_ylabel("InfoNCE loss")
    ax1.legend()
    ax1.set_title("loss")
    for key in ("video_only", "video_text"):
        values = [h.get("val", {}).get(key, {}).get("R@10") for h in history]
        if any(v is not None for v in values):
            ax2.plot(epochs, values, marker="o", label=f"{key} R@10")
    pools = [h.get("val", {}).get("video_text", {}).get("pool_size") for h in history if h.get("val")]
    if pools and pools[-1]:
        ax2.axhline(100.0 * min(10, pools[-1]) / pools[-1], color="grey", linestyle="--", label="chance R@10")
    ax2.set_xlabel("epoch")
    ax2.set_ylabel("validation recall (%)")
    ax2.set_title("validation recall")
    ax2.legend()
    # mean rank keeps moving after R@10 saturates; `mean.mean_rank` averages the two query kinds
    ranks = {key: [h.get("val", {}).get(key, {}).get("mean_rank") for h in history]
             for key in ("video_only", "video_text")}
    for key, values in ranks.items():
        if any(v is not None for v in values):
            ax3.plot(epochs, values, marker="o", label=f"{key} mean rank")
    if all(v is not None for vs in ranks.values() for v in vs) and history:
        mean_of_both = [(a + b) / 2 for a, b in zip(*ranks.values(), strict=True)]
        ax3.plot(epochs, mean_of_both, color="black", label="mean of both")
    ax3.set_xlabel("epoch")
    ax3.set_ylabel("validation mean rank (lower is better)")
    ax3.set_title(f"model selection: {metric}")
    ax3.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True
