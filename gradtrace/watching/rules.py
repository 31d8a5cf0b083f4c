"""Warnings from trends over a watch's samples, as :class:`~gradtrace.diagnostics.Diagnostic`.

# NOTE [trend thresholds]
# A single sample says little about training; these rules read the samples as a series.
# - ``exploding``: the parameters' gradient norm grew more than ``10x`` from the first sample to
#   the last, rising at most of the steps between (3 of 4): a single spike, or the drop of the
#   first iterations, is not a trend.
# - ``update_ratio``: a weight matrix whose ``update_data_ratio`` stayed more than 10x away from
#   1e-3 (makemore part 3's guide line) in the median of the last half of the samples, with at
#   least 3 samples: learning rates an order of magnitude off. makemore's network at lr 0.1
#   sits at 1e-3.3 to 1e-2.9 after its fix. That guide is for SGD and updates by hand, whose
#   step follows the gradient's size. An adaptive optimizer (Adam, AdamW, RMSprop, Adagrad,
#   anything with ``betas``) moves each weight by about the learning rate whatever the
#   gradient, so its ratio is about lr / std(p): nanoGPT's GPT-2 settings (lr 6e-4, weights of
#   std 0.02) give about 3e-2, and the nanoGPT-shaped loop in tests/test_watch.py (AdamW, lr
#   1e-3 with warmup and cosine decay) measured 2e-3 to 4.9e-2 on weights that trained well.
#   For those the band is 100x either side of 1e-3 (``UD_ADAPTIVE_FACTOR``): 1e-1 means each
#   step moves a weight by a tenth of its spread.
# - ``saturated``: a tanh or sigmoid layer with more than 5% of its outputs in the flat tails in
#   most of the last samples (makemore part 3 aims for about 5%; its first initialisation gives
#   over 50%).
# - ``dead_relu``: a ReLU layer with more than half of its units zero for the whole batch in most
#   of the last samples.
# - ``nan`` / ``inf``: the first iteration whose loss was not finite, and the sampled trace
#   nearest to it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from gradtrace.diagnostics.diagnostic import KINDS, Diagnostic, Warnings

if TYPE_CHECKING:
    from gradtrace.watching.watcher import Watch

__all__ = ["watch_warnings"]

GROWTH, RISING = 10.0, 0.75
UD_TARGET, UD_FACTOR, UD_ADAPTIVE_FACTOR, UD_MIN_SAMPLES = 1e-3, 10.0, 100.0, 3
_ADAPTIVE = {"Adam", "AdamW", "Adamax", "NAdam", "RAdam", "SparseAdam", "RMSprop", "Adagrad",
             "Adadelta", "Adafactor"}
SATURATED, DEAD = 0.05, 0.5


def watch_warnings(w: Watch) -> Warnings:
    """Every trend warning of ``w``, most severe kind first."""
    found = _nonfinite(w) + _exploding(w) + _update_ratio(w) + _layers(w)
    return Warnings(sorted(found, key=lambda d: KINDS.index(d.kind)))


def _recent(values: Any) -> Any:
    values = values[~np.isnan(values)]
    return values[len(values) // 2:]


def _nonfinite(w: Watch) -> list[Diagnostic]:
    if w.first_nonfinite is None:
        return []
    it = w.first_nonfinite
    sampled = w.stats.iterations()
    near = int(sampled[np.argmin(np.abs(sampled - it))]) if sampled.size else None
    where = f"; the nearest sampled iteration is {near}" if near is not None else ""
    if w.values == "none":  # the sampled Traces hold no values to read
        fix = ("Watch with every=1 and values=\"summary\" around that iteration, or trace it "
               "with gradtrace.trace(), to see the first op that made it.")
    else:
        fix = ("Read w.traces (the latest sampled Traces) or watch with every=1 around that "
               "iteration to see the first op that made it.")
    return [Diagnostic("nan", f"the loss was first NaN or Inf at iteration {it}{where}.", fix)]


def _exploding(w: Watch) -> list[Diagnostic]:
    iterations, norms = w.stats.sample_column("grad_norm")
    ok = ~np.isnan(norms)
    iterations, norms = iterations[ok], norms[ok]
    if norms.size < 4 or norms[0] <= 0:
        return []
    growth = norms[-1] / norms[0]
    rising = np.mean(np.diff(norms) > 0)
    if growth <= GROWTH or rising < RISING:
        return []
    return [Diagnostic(
        "exploding", f"the parameters' gradient norm grew {growth:.3g}x, from {norms[0]:.3g} at "
        f"iteration {iterations[0]} to {norms[-1]:.3g} at iteration {iterations[-1]}.",
        "Lower the learning rate, clip gradients (torch.nn.utils.clip_grad_norm_) or check the "
        "initialisation.")]


def _update_ratio(w: Watch) -> list[Diagnostic]:
    h = w.stats
    out = []
    factor = UD_ADAPTIVE_FACTOR if _adaptive(w.optimizer) else UD_FACTOR
    frame = h.frame()[["name", "kind"]]
    for name in frame.name[frame.kind == "parameter"].unique():
        if h.ndims.get(name) != 2:  # weight matrices: norm gains and biases move differently
            continue
        _, ud = h.column(name, "update_data_ratio")
        recent = _recent(ud)
        if recent.size < UD_MIN_SAMPLES:
            continue
        med = float(np.median(recent))
        if med <= 0 or UD_TARGET / factor <= med <= UD_TARGET * factor:
            continue
        out.append(Diagnostic(
            "update_ratio", f"{name}'s update-to-data ratio std(Δp)/std(p) stayed near "
            f"{med:.2g} (10^{np.log10(med):.1f}), far from 1e-3, over the last {recent.size} "
            "samples.", "Raise the learning rate" if med < UD_TARGET else
            "Lower the learning rate", tensor=name))
    return out


def _adaptive(optimizer: Any) -> bool:
    """Whether ``optimizer`` scales each weight's step by its own gradients' history."""
    if optimizer is None:
        return False
    defaults = getattr(optimizer, "defaults", None)
    return type(optimizer).__name__ in _ADAPTIVE or (
        isinstance(defaults, dict) and "betas" in defaults)


def _layers(w: Watch) -> list[Diagnostic]:
    h = w.stats
    out = []
    for name, op in h.ops.items():
        if op is None:
            continue
        for kind, column, limit, what in (("saturated", "saturated", SATURATED, "saturated"),
                                          ("dead_relu", "dead", DEAD, "dead")):
            _, values = h.column(name, column)
            recent = _recent(values)
            if recent.size == 0 or np.mean(recent > limit) <= 0.5:
                continue
            share = float(np.median(recent))
            fix = ("Scale the layer's input down (smaller initial weights, a gain of 5/3 for "
                   "tanh, or batch normalisation)." if kind == "saturated" else
                   "Lower the learning rate, use a smaller negative bias or a LeakyReLU.")
            out.append(Diagnostic(
                kind, f"{name} ({op}) is {what} for {share:.0%} of its units over the last "
                f"{recent.size} samples.", fix, tensor=name))
    return out
