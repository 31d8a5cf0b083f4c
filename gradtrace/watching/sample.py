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
    Scratch,
    activation_block,
    fetch,
    fetch_counts,
    histogram,
    row_moments,
    row_stats,
    stacked,
)

__all__ = ["Sample", "Item", "Update", "resolve_updates"]

WIDTH = 6  # mean, std, saturated, dead, grad_mean, grad_std: what a sample measures


class Item(NamedTuple):
    """One tensor of a sample: who it is (until named) and where its statistics are."""

    key: torch.Tensor  # the tensor, to look up its name in the trace
    fallback: str
    kind: str  # "parameter" or "activation"
    op: str | None
    row: int  # its row in the sample's statistics


class Drawn(NamedTuple):
    """One histogram on the host: the tensor's name and op, its bins, counts, mean and std."""

    name: str
    op: str | None
    hist: Histogram
    counts: list[float]
    mean: float
    std: float


class Update(NamedTuple):
    """Parameters of one shape before the update, to compare with what the update leaves."""

    names: list[str]
    params: list[torch.Tensor]
    before: torch.Tensor  # one row per parameter
    norm: torch.Tensor  # ‖p‖ before the update, per parameter
    after: torch.Tensor | None  # buffers like ``before`` to reuse (see :class:`Scratch`)
    scratch: torch.Tensor | None
    delta: bool = False  # ``before`` was lent to the trace, which left ``-Δp`` in it


class _Group(NamedTuple):
    rows: list[int]  # the items' rows
    update: Update  # with no names yet
    versions: list[int]  # each parameter's version counter when ``before`` was taken


class Sample:
    """The statistics of one sampled iteration.

    Args:
        iteration: the iteration's number, from 0.
        probe: the activations the iteration made.
        params: the watched parameters and a name for each if the trace has none.
        loss: the loss the iteration backpropagated (a 0-d tensor), if known.
        scratch: buffers kept from one sample to the next.
        most: the most activations, and the most weight gradients, to draw histograms of (the
            first ones; None for all). A transformer's 594 weight matrices made 594 gradient
            histograms, 28 ms a sample, for a figure that draws 12.
    """

    def __init__(self, iteration: int, probe: Probe,
                 params: list[tuple[str, torch.Tensor]], loss: torch.Tensor | None,
                 scratch: Scratch | None = None, most: int | None = None) -> None:
        self.iteration = iteration
        self._most = most
        self._scratch = scratch or Scratch()
        self.items: list[Item] = []
        self.histograms: list[tuple[int, Histogram, bool]] = []  # (item, counts, of the grad)
        self._drawn = {False: 0, True: 0}  # histograms of activations, and of gradients
        self._blocks: list[torch.Tensor] = []  # WIDTH columns each, in the items' order
        self._rows = 0
        self._groups: list[_Group] = []
        self._lent: set[int] = set()  # groups whose ``before`` the trace took as its copies
        with torch._C.DisableTorchFunction(), torch.no_grad():
            # the figure draws the tanh, sigmoid, ReLU and GELU layers, else every module output
            acts = list(probe.activations.values())
            drawn = any(a.op is not None for a in acts)
            by_device: dict[torch.device, list[int]] = {}
            for k, a in enumerate(acts):
                by_device.setdefault(a.tensor.device, []).append(k)
            at: dict[int, tuple[torch.Tensor, int, int]] = {}  # its block, row there, row
            for members in by_device.values():
                block, rows = activation_block([acts[k].tensor for k in members],
                                               [acts[k].op for k in members],
                                               [acts[k].grad for k in members], self._scratch)
                first = self._block(block)
                at.update((k, (block, j, first + j)) for k, j in zip(members, rows))
            probe.measured()
            for k, a in enumerate(acts):
                block, j, row = at[k]
                self.items.append(Item(a.tensor, a.module or a.op or "activation", "activation",
                                       a.op, row))
                if (a.op is not None or not drawn) and self._room(False):
                    stats = block[j]
                    self.histograms.append((len(self.items) - 1,
                                            histogram(a.tensor, a.op, stats[0], stats[1]), False))
            norms = self._parameters(params)
            nan = torch.full((), math.nan)
            self.extra = [loss.detach().float().reshape(()) if loss is not None else nan,
                          torch.cat([n.to(norms[0].device) for n in norms]).norm()
                          if norms else nan]

    def _room(self, grad: bool) -> bool:
        """Whether another histogram of activations (of gradients) is wanted; if so, it is
        counted."""
        if self._most is not None and self._drawn[grad] >= self._most:
            return False
        self._drawn[grad] += 1  # asked only right before one is drawn
        return True

    def _block(self, block: torch.Tensor) -> int:
        """Keep ``block`` (WIDTH columns, or one row of them); the number of its first row."""
        self._blocks.append(block.reshape(-1, WIDTH))
        first, self._rows = self._rows, self._rows + self._blocks[-1].shape[0]
        return first

    def _parameters(self, params: list[tuple[str, torch.Tensor]]) -> list[torch.Tensor]:
        """Statistics of every parameter, its gradient and a copy to measure the update from,
        parameters of one shape at once (see NOTE [the standard deviation of parameters,
        gradients and updates]); the norms of the gradients."""
        groups: dict[tuple[object, ...], list[tuple[str, torch.Tensor]]] = {}
        for fallback, p in params:
            grad = p.grad
            key = (p.device, p.dtype, p.numel(),
                   None if grad is None else (grad.dtype, grad.layout))
            groups.setdefault(key, []).append((fallback, p))
        norms: list[torch.Tensor] = []
        for number, members in enumerate(groups.values()):
            tensors = [p for _, p in members]
            p = tensors[0]
            shape = (len(tensors), p.numel())
            dtype = p.dtype if p.dtype in (torch.float32, torch.float64) else torch.float32

            def buffer(role: str, p: torch.Tensor = p, shape: tuple[int, int] = shape,
                       dtype: torch.dtype = dtype, number: int = number) -> torch.Tensor:
                return self._scratch.get(f"{role} {number}", p, shape, dtype)

            cpu = p.device.type == "cpu"
            before = stacked(tensors, buffer("before"))
            scratch = buffer("scratch")
            mean, std, before_norm = row_moments(before, scratch)
            nan = torch.full_like(mean, math.nan)
            grads = [p.grad for p in tensors]
            g: torch.Tensor | None = None
            if grads[0] is not None:
                g = stacked([x.to_dense() if x.is_sparse else x for x in grads if x is not None],
                            buffer("rows") if grads[0].dtype == dtype else None)
                grad_mean, grad_std, grad_norm = row_moments(g, scratch)
                norms.append(grad_norm)
            else:
                grad_mean = grad_std = nan
            first = self._block(torch.stack([mean, std, nan, nan, grad_mean, grad_std], dim=1))
            rows = list(range(first, first + len(members)))
            for (fallback, p), row in zip(members, rows):
                self.items.append(Item(p, fallback, "parameter", None, row))
            if tensors[0].dim() == 2 and g is not None:
                for k in range(len(rows)):  # gradient histograms of the weights
                    if not self._room(True):
                        break
                    self.histograms.append((len(self.items) - len(rows) + k, histogram(
                        g[k], None, grad_mean[k], grad_std[k]), True))
            self._groups.append(_Group(rows, Update(
                [], tensors, before, before_norm,
                buffer("rows") if cpu else None, scratch if cpu else None),
                [t._version for t in tensors]))
        return norms

    def lend(self, params: list[torch.Tensor]) -> dict[int, torch.Tensor]:
        """The copies of ``params`` this sample took before the optimizer step, by ``id``, for
        the trace to measure the step against instead of copying them again (see NOTE
        [seeing optimizer steps]): only whole groups the step updates, of the parameters' own
        dtype, and not changed since. The trace leaves ``-Δp`` in them."""
        stepped = {id(p) for p in params}
        copies: dict[int, torch.Tensor] = {}
        for number, g in enumerate(self._groups):
            u = g.update
            if number in self._lent or u.before.dtype != u.params[0].dtype \
                    or not all(id(p) in stepped for p in u.params) \
                    or [p._version for p in u.params] != g.versions:
                continue
            self._lent.add(number)
            copies.update((id(p), row.view_as(p)) for p, row in zip(u.params, u.before))
        return copies

    def finish(self, name_of: Callable[[torch.Tensor], str | None]
               ) -> tuple[list[str], list[str], list[list[float]], list[Update]]:
        """Names, kinds and rows (``stats.COLUMNS``) once the trace has stopped; the updates to
        compare after the optimizer (or the code) has changed the parameters."""
        names = _distinct([name_of(i.key) or i.fallback for i in self.items])
        values = fetch([*self._blocks, *self.extra])
        self.loss, self.grad_norm = values[-2], values[-1]
        rows = []
        for i in self.items:
            mean, std, saturated, dead, grad_mean, grad_std = values[i.row * WIDTH:
                                                                    (i.row + 1) * WIDTH]
            rows.append([mean, std, saturated, dead, grad_mean, grad_std,
                         _ratio(grad_std, std), math.nan, math.nan, self.loss])
        at = [4 if grad else 0 for _, _, grad in self.histograms]  # grad_mean or mean
        counts = fetch_counts([h for _, h, _ in self.histograms])
        self.counts = [Drawn(names[i], self.items[i].op, h, c, rows[i][a], rows[i][a + 1])
                       for (i, h, _), c, a in zip(self.histograms, counts, at)]
        by_row = {i.row: n for i, n in zip(self.items, names)}
        updates = [g.update._replace(names=[by_row[r] for r in g.rows], delta=k in self._lent)
                   for k, g in enumerate(self._groups)]
        kinds = [i.kind for i in self.items]
        self.ndims = {name: i.key.dim() for name, i in zip(names, self.items)}
        self._groups, self._blocks, self.items, self.histograms = [], [], [], []  # no tensors
        return names, kinds, rows, updates


def _distinct(names: list[str]) -> list[str]:
    """``names`` with a repeated one numbered from its second use (``model.0 #2``): a module
    called twice in an iteration makes two outputs of one name."""
    seen: dict[str, int] = {}
    out = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        out.append(name if seen[name] == 1 else f"{name} #{seen[name]}")
    return out


def _ratio(a: float, b: float) -> float:
    """``a / b`` as the device divides: NaN or ±inf where ``b`` is 0 (numpy's ``errstate`` per
    call took 20 ms for the 1,500 rows of a transformer's sample)."""
    if b != 0:
        return a / b
    if a == 0 or math.isnan(a):
        return math.nan
    return math.copysign(math.inf, a) * math.copysign(1.0, b)


def resolve_updates(updates: list[Update]) -> dict[str, tuple[float, float]]:
    """``update_data_ratio`` (std(Δp) / std(p after)) and ``update_ratio`` (‖Δp‖ / ‖p before‖)
    of each parameter, now that it was updated (``before`` is left as it was: an update that
    has not happened yet can be measured again later)."""
    if not updates:
        return {}
    blocks = []
    with torch._C.DisableTorchFunction(), torch.no_grad():
        for u in updates:
            after = stacked(u.params, u.after)
            _, after_std = row_stats(after, u.scratch)
            # -Δp (the same spread and norm); then ``after``'s memory holds the deviations
            if u.delta:
                delta = u.before
            else:
                delta = torch.sub(u.before, after, out=u.scratch) if u.scratch is not None \
                    else u.before - after
            _, delta_std, delta_norm = row_moments(delta, after)
            blocks.append(torch.stack([delta_std / after_std, delta_norm / u.norm], dim=1))
    values = fetch(blocks)
    names = [n for u in updates for n in u.names]
    return {n: (values[2 * k], values[2 * k + 1]) for k, n in enumerate(names)}
