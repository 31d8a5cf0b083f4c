"""makemore part 3's panels from a watch's history, as a matplotlib Figure.

Four panels: the activation distribution of each layer and the gradient distribution of each
weight matrix (both at the latest sample), the update-to-data ratio of each weight matrix over
the samples as log10 with the 1e-3 guide line, and the loss. The Figure is not managed by
pyplot (no window opens, nothing is shown twice in a notebook) and shows itself as a PNG image,
which untrusted notebooks keep.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from gradtrace.watching.history import History

__all__ = ["figure", "require_matplotlib", "MOST_CURVES"]

MOST_CURVES = 12  # per panel: more lines than this cannot be told apart


def require_matplotlib() -> Any:
    """The ``matplotlib.figure`` module, or an error that says what to install."""
    try:
        import matplotlib.figure
    except ImportError as e:
        raise ImportError("gradtrace.watch: plotting needs matplotlib: "
                          "pip install 'gradtrace[watch]' (or pip install matplotlib)") from e
    return matplotlib.figure


def figure(h: History) -> Any:
    """The Figure of ``h`` (see the module's docstring)."""
    mpl = require_matplotlib()

    class WatchFigure(mpl.Figure):  # type: ignore[misc,name-defined]
        def _repr_png_(self) -> bytes:
            buffer = io.BytesIO()
            self.savefig(buffer, format="png", dpi=80)
            return buffer.getvalue()

    fig = WatchFigure(figsize=(14, 8), layout="constrained")
    axes = fig.subplots(2, 2)
    kept = [n for n in h.histograms if h.kind_of.get(n) == "activation"]
    activations = [n for n in kept if h.ops.get(n) is not None] or kept  # else module outputs
    _distributions(axes[0, 0], h, activations[:MOST_CURVES], "activation distribution", False)
    weights = [n for n in h.histograms if h.kind_of.get(n) == "parameter" and h.ndims.get(n) == 2]
    _distributions(axes[0, 1], h, weights[:MOST_CURVES], "gradient distribution", True)
    _update_ratios(axes[1, 0], h, weights[:MOST_CURVES])
    iterations, loss = h.sample_column("loss")
    ax = axes[1, 1]
    ax.plot(iterations, loss, marker="." if len(loss) < 50 else None)
    ax.set_title("loss")
    ax.set_xlabel("iteration")
    return fig


def _distributions(ax: Any, h: History, names: list[str], title: str, grad: bool) -> None:
    iteration = int(h.sample_iteration[h.samples - 1]) if h.samples else 0
    legend = []
    for name in names:
        counts, low, high, scaled, mean, std = h.histograms[name]
        edges = np.linspace(low, high, len(counts) + 1)
        centres = (edges[:-1] + edges[1:]) / 2
        x = mean + centres * std if scaled else centres
        total = max(sum(counts), 1.0)
        ax.plot(x, np.asarray(counts) / total)
        _, sat = h.column(name, "saturated")
        extra = f", saturated {sat[-1]:.1%}" if sat.size and not np.isnan(sat[-1]) else ""
        legend.append(f"{name}: mean {mean:+.2g}, std {std:.2g}{extra}")
    ax.legend(legend, fontsize=7)
    ax.set_title(f"{title} (iteration {iteration})")
    ax.set_ylabel("share of " + ("gradients" if grad else "values"))


def _update_ratios(ax: Any, h: History, names: list[str]) -> None:
    for name in names:
        iterations, ud = h.column(name, "update_data_ratio")
        with np.errstate(divide="ignore", invalid="ignore"):
            ax.plot(iterations, np.log10(ud), label=name)
    ax.axhline(-3, color="k", linestyle="--", linewidth=1)  # makemore's guide: about 1e-3
    ax.set_title("update-to-data ratio, log10 std(Δp)/std(p)")
    ax.set_xlabel("iteration")
    if names:
        ax.legend(fontsize=7)
