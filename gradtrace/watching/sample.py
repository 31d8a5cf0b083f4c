"""One sampled iteration: its statistics taken on the device, then named and fetched.

A :class:`Sample` is measured while the tensors live (the activations the probe kept, the
parameters and their ``.grad``), named once the trace has stopped (names are found when a
trace stops), and fetched to the host in one copy per device.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import torch

from gradtrace.watching.probe import Probe
from gradtrace.watching.stats import (
    Histogram,
    fetch,
    fetch_counts,
    grad_stats,
    histogram,
    update_stats,
    value_stats,
)

__all__ = ["Sample", "Item", "Update", "resolve_updates"]


class Item(NamedTuple):
    """One tensor of a sample: who it is (until named) and its statistics on the device."""

    key: torch.Tensor  # the tensor, to look up its name in the trace
    fallback: str
    kind: str  # "parameter" or "activation"
    op: str | None
    stats: list[torch.Tensor]  # mean, std, saturated, dead, grad_mean, grad_std, ratio


class Drawn(NamedTuple):
    """One histogram on the host: the tensor's name and op, its bins, counts, mean and std."""

    name: str
    op: str | None
    hist: Histogram
    counts: list[float]
    mean: float
    std: float


class Update(NamedTuple):
    """A parameter before the update, to compare with what the update leaves."""

    name: str
    param: torch.Tensor
    before: torch.Tensor


class Sample:
    """The statistics of one sampled iteration.

    Args:
        iteration: the iteration's number, from 0.
        probe: the activations the iteration made.
        params: the watched parameters and a name for each if the trace has none.
        loss: the loss the iteration backpropagated (a 0-d tensor), if known.
    """

    def __init__(self, iteration: int, probe: Probe,
                 params: list[tuple[str, torch.Tensor]], loss: torch.Tensor | None) -> None:
        self.iteration = iteration
        self.items: list[Item] = []
        self.histograms: list[tuple[int, Histogram, bool]] = []  # (item, counts, of the grad)
        self.extra: list[torch.Tensor] = []  # loss, gradient norm
        with torch._C.DisableTorchFunction(), torch.no_grad():
            # the figure draws the tanh, sigmoid, ReLU and GELU layers, else every module output
            drawn = any(a.op is not None for a in probe.activations.values())
            for a in probe.activations.values():
                stats = value_stats(a.tensor, a.op)
                self._add(Item(a.tensor, a.module or a.op or "activation", "activation", a.op,
                               stats + (a.grad or grad_stats(None, a.tensor))))
                if a.op is not None or not drawn:
                    self.histograms.append((len(self.items) - 1,
                                            histogram(a.tensor, a.op, stats[0], stats[1]), False))
            norms = []
            self._before: list[tuple[int, torch.Tensor, torch.Tensor]] = []
            for fallback, p in params:
                g = p.grad
                grads = grad_stats(g, p)
                self._add(Item(p, fallback, "parameter", None, value_stats(p, None) + grads))
                if g is not None:
                    norms.append(g.detach().float().norm().to(p.device))
                    if p.dim() == 2:
                        self.histograms.append((len(self.items) - 1,
                                                histogram(g, None, grads[0], grads[1]), True))
                self._before.append((len(self.items) - 1, p, p.detach().float().clone()))
            nan = torch.full((), math.nan)
            self.extra = [loss.detach().float().reshape(()) if loss is not None else nan,
                          torch.stack([n.to(norms[0].device) for n in norms]).norm()
                          if norms else nan]

    def _add(self, item: Item) -> None:
        s = item.stats
        ratio = s[5] / s[1]  # std(grad) / std(value)
        self.items.append(item._replace(stats=[*s, ratio]))

    def finish(self, name_of: Callable[[torch.Tensor], str | None]
               ) -> tuple[list[str], list[str], list[list[float]], list[Update]]:
        """Names, kinds and rows (``stats.COLUMNS``) once the trace has stopped; the updates to
        compare after the optimizer (or the code) has changed the parameters."""
        names = [name_of(i.key) or i.fallback for i in self.items]
        flat = [*(s for i in self.items for s in i.stats), *self.extra]
        values = fetch(flat)
        loss = values[-2]
        width = len(self.items[0].stats) if self.items else 0
        rows = [[*values[k * width:(k + 1) * width], math.nan, math.nan, loss]
                for k in range(len(self.items))]
        self.loss, self.grad_norm = values[-2], values[-1]
        counts = fetch_counts([h for _, h, _ in self.histograms])
        at = [4 if grad else 0 for _, _, grad in self.histograms]  # grad_mean or mean
        self.counts = [Drawn(names[i], self.items[i].op, h, c, rows[i][a], rows[i][a + 1])
                       for (i, h, _), c, a in zip(self.histograms, counts, at)]
        updates = [Update(names[i], p, before) for i, p, before in self._before]
        kinds = [i.kind for i in self.items]
        self.ndims = {name: i.key.dim() for name, i in zip(names, self.items)}
        self._before, self.items, self.histograms = [], [], []  # hold no tensor any longer
        return names, kinds, rows, updates


def resolve_updates(updates: list[Update]) -> dict[str, tuple[float, float]]:
    """``update_data_ratio`` and ``update_ratio`` of each parameter, now that it was updated."""
    if not updates:
        return {}
    with torch._C.DisableTorchFunction(), torch.no_grad():
        stats = [s for u in updates for s in update_stats(u.before, u.param)]
    values = fetch(stats)
    return {u.name: (values[2 * k], values[2 * k + 1]) for k, u in enumerate(updates)}
