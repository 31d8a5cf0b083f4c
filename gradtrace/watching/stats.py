"""The statistics of one sampled iteration, worked out on each tensor's device.

# NOTE [one host synchronisation per sample]
# Every statistic is a 0-d tensor on the tensor's own device; a sample stacks them all and
# copies them to the host once (:func:`fetch`), so a watch on a GPU waits for the device once
# per sampled iteration, never once per tensor. Statistics are taken in the tensor's dtype, as
# ``torch.std`` and makemore's ``(t.abs() > 0.97).float().mean()`` compute them, so a watched
# value equals what the user's own code would print. Histograms use fixed bins: a bounded
# activation over its range (tanh over [-1, 1], sigmoid over [0, 1]), anything else in units of
# its own standard deviation around its mean (``histc`` needs its range as Python numbers, and
# reading the range first would cost a synchronisation per tensor), over a strided subset of
# at most 4,096 elements: on the 20-layer MLP (CPU) ``histc`` over every element took 21 ms per
# sample, more than the plain iteration, for curves that look the same. ``torch.std_mean``
# (one call) took 216 µs per tensor there against 49 + 10 µs for ``std`` and ``mean``.
#
# NOTE [the standard deviation of parameters, gradients and updates]
# On a CPU ``torch.std`` of a whole tensor runs one scalar loop in double precision: 0.4 ms for a
# 256x256 weight, against 8 µs for its mean and 14 µs for a norm. A sample took it four times per
# parameter (value, gradient, update and the parameter after the update), which made the
# statistics cost more than the traced iteration itself. An activation's ``std`` is still
# ``torch.std`` (what makemore's own code prints, to the last bit); the others are
# ``sqrt(sum((t - mean)²) / (n - 1))`` in float32, on every parameter of one shape at once
# (:func:`row_stats`): within about 1e-7 of ``torch.std`` relative, and cheaper. Parameters are
# stacked once per sample, and that stack is the copy the update is measured against.
#
# NOTE [activations in groups]
# A transformer's sample holds about 800 activations. Taken one by one, their statistics were
# about a dozen small ops each, and their gradients' another six in a hook as the backward pass
# ran: 54 ms of the sample's gradients alone on the transformer of ``benchmarks/watch.py``, a
# fifth of its plain iteration. Activations of one dtype and size (and, for a ReLU, one shape)
# are now stacked and reduced together (:func:`activation_block`), and so are their gradients,
# which the probe holds from its hook until the sample is measured at the end of the backward
# pass: a sampled iteration keeps one more copy of its activations' size for that long, which
# the activations it holds already double. ``std`` is still ``torch.std`` of each tensor (its
# dim-wise form over a stack agreed to the bit but cost five times as much).
# On a CPU the stacks came to cost more than they save, once the gradients were held for the
# end of the backward pass rather than reduced in their hooks: four ops per activation (the
# mean and ``torch.std`` of it and of its gradient) and one stack per column took 2.6 ms of
# the 20-layer MLP's sample and 45 ms of the transformer's, against 3.4 and 61 ms stacked, and
# make the gradients' ``std`` exact too. So a CPU's activations are taken one by one; a GPU's,
# where every op is a kernel launch and a copy is cheap, are still stacked.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch

__all__ = ["COLUMNS", "BINS", "Z_RANGE", "activation_block", "row_stats",
           "row_moments", "stacked", "Scratch", "histogram", "fetch", "fetch_counts", "Histogram"]

#: the numeric columns of one history row, in order
COLUMNS = ("mean", "std", "saturated", "dead", "grad_mean", "grad_std", "grad_data_ratio",
           "update_data_ratio", "update_ratio", "loss")
BINS = 41
HISTOGRAM_ELEMENTS = 4096
Z_RANGE = 4.0  # an unbounded tensor's histogram spans its mean ± 4 standard deviations
_SATURATING = {"tanh": (-1.0, 1.0), "sigmoid": (0.0, 1.0)}


class Histogram(NamedTuple):
    """Counts over fixed bins; ``scaled``: bins in standard deviations around the mean."""

    counts: torch.Tensor
    low: float
    high: float
    scaled: bool


def _float(t: torch.Tensor) -> torch.Tensor:
    return t if t.is_floating_point() else t.float()


def activation_block(tensors: list[torch.Tensor], ops: list[str | None],
                     grads: list[torch.Tensor | None], scratch: Scratch | None = None,
                     grouped: bool | None = None) -> tuple[torch.Tensor, list[int]]:
    """``mean``, ``std``, ``saturated``, ``dead``, ``grad_mean`` and ``grad_std`` of activations
    on one device, one float64 row each (see NOTE [activations in groups]), and the row of each.

    ``ops[k]`` is the activation that made ``tensors[k]`` (``"tanh"``, ``"sigmoid"``,
    ``"relu"``, ``"gelu"``) or None: ``saturated`` is the share of a tanh's ``|t| > 0.97`` or a
    sigmoid's outputs below 0.03 or above 0.97; ``dead`` the share of a ReLU's units zero for the
    whole batch (its first dimension). ``grads[k]`` is its gradient, if it got one.
    ``scratch`` lends the stacks their memory. A group's rows are contiguous, so the block is
    put together without an index tensor (on a GPU, one would be a copy from the host each).
    ``grouped``: stack tensors of one size and reduce them together (by default on any device
    but a CPU, see NOTE [activations in groups]); else each is reduced alone.
    """
    if grouped is None:
        grouped = tensors[0].device.type != "cpu"
    if not grouped:
        return _each_alone(tensors, ops, grads), list(range(len(tensors)))
    scratch = scratch or Scratch()
    # (dtype, size or a ReLU's shape, op, the gradient's dtype) -> the activations
    groups: dict[tuple[torch.dtype, object, str | None, torch.dtype | None], list[int]] = {}
    for k, (t, op, g) in enumerate(zip(tensors, ops, grads)):
        shape = tuple(t.shape) if op == "relu" else t.numel()  # dead: per unit of a batch
        groups.setdefault((t.dtype, shape, op, None if g is None else g.dtype), []).append(k)
    device = tensors[0].device
    parts: list[torch.Tensor] = []
    row = [0] * len(tensors)
    at = 0
    for (_, _, op, _), members in groups.items():
        for j, k in enumerate(members):
            row[k] = at + j
        at += len(members)
        like, g = tensors[members[0]], grads[members[0]]
        nan = torch.full((len(members),), math.nan, dtype=torch.float64, device=device)
        if not like.numel():  # nothing to measure
            parts.append(nan[:, None].expand(-1, 6))
            continue
        rows = stacked([tensors[k] for k in members],
                       _rows(scratch, "activations", like, len(members)))
        mean = rows.mean(1).double()
        # torch.std of each tensor itself: what the user's code prints
        std = torch.stack([_float(tensors[k].detach()).std() for k in members]).double() \
            if like.numel() > 1 else nan
        share = _saturated(rows, op, dim=1)
        saturated = nan if share is None else share.double()
        dead = nan
        if op == "relu":
            # (tensor, batch, unit); a tensor of one dimension is one unit, dead if all zero
            units = rows.reshape(len(members), like.shape[0] if like.dim() >= 2
                                 else like.numel(), -1)
            dead = _dead(units, batch=1).double()
        grad_mean = grad_std = nan
        if g is not None:
            rows = stacked([grads[k] for k in members],  # type: ignore[misc]
                           _rows(scratch, "gradients", g, len(members)))
            grad_mean, grad_std = (x.double() for x in row_stats(
                rows, _rows(scratch, "deviations", g, len(members))))
        parts.append(torch.stack([mean, std, saturated, dead, grad_mean, grad_std], dim=1))
    return torch.cat(parts), row


def _each_alone(tensors: list[torch.Tensor], ops: list[str | None],
                grads: list[torch.Tensor | None]) -> torch.Tensor:
    """:func:`activation_block`'s rows, in order, each tensor reduced by itself (a statistic of
    half values in float32, as the stacks take them)."""
    nan = torch.full((), math.nan, dtype=torch.float64, device=tensors[0].device)
    columns: list[list[torch.Tensor]] = [[], [], [], [], [], []]
    mean, std, saturated, dead, grad_mean, grad_std = columns
    for t, op, g in zip(tensors, ops, grads):
        n = t.numel()
        if not n:  # nothing to measure
            for column in columns:
                column.append(nan)
            continue
        x = t.detach() if t.dtype in (torch.float32, torch.float64) else t.detach().float()
        mean.append(x.mean())
        std.append(_float(t.detach()).std() if n > 1 else nan)  # what the user's code prints
        share = _saturated(x, op)
        saturated.append(nan if share is None else share)
        if op == "relu":  # (batch, unit); a tensor of one dimension is one unit
            dead.append(_dead(x.reshape(x.shape[0] if x.dim() >= 2 else n, -1), batch=0))
        else:
            dead.append(nan)
        if g is None:
            grad_mean.append(nan)
            grad_std.append(nan)
            continue
        gx = g if g.dtype in (torch.float32, torch.float64) else g.float()
        grad_mean.append(gx.mean())
        grad_std.append(gx.std() if gx.numel() > 1 else nan)
    return torch.stack([torch.stack(column) for column in columns], dim=1).double()


def _saturated(x: torch.Tensor, op: str | None, dim: int | None = None) -> torch.Tensor | None:
    """The share of a tanh's ``|t| > 0.97``, or of a sigmoid's outputs below 0.03 or above
    0.97, over ``dim`` (all of ``x`` if None); None for any other op."""
    if op == "tanh":
        hit = x.abs() > 0.97
    elif op == "sigmoid":
        hit = (x < 0.03) | (x > 0.97)
    else:
        return None
    return hit.float().mean() if dim is None else hit.float().mean(dim)


def _dead(units: torch.Tensor, batch: int) -> torch.Tensor:
    """The share of units (the last dimension) zero all along ``batch``: no ``|t|`` above 0
    (NaN is not 0 either way), a third of the time of ``(units == 0).all(batch)``, which
    reduces booleans one by one."""
    return (units.abs().amax(dim=batch) == 0).float().mean(-1)


def _rows(scratch: Scratch, role: str, like: torch.Tensor, count: int) -> torch.Tensor:
    """A float buffer for ``count`` rows the size of ``like``."""
    dtype = like.dtype if like.dtype in (torch.float32, torch.float64) else torch.float32
    return scratch.get(role, like, (count, like.numel()), dtype)


class Scratch:
    """Buffers a watch reuses from one sample to the next, by role and shape, for tensors on a
    CPU: a fresh buffer of a few MB costs more in page faults than the arithmetic on it (a
    CUDA tensor's memory comes from torch's cache, so it is taken new each time)."""

    def __init__(self) -> None:
        self._held: dict[tuple[object, ...], torch.Tensor] = {}

    def get(self, role: str, like: torch.Tensor, shape: tuple[int, ...],
            dtype: torch.dtype) -> torch.Tensor:
        if like.device.type != "cpu":
            return torch.empty(shape, dtype=dtype, device=like.device)
        key = (role, shape, dtype)
        found = self._held.get(key)
        if found is None:
            found = self._held[key] = torch.empty(shape, dtype=dtype)
        return found


def stacked(tensors: list[torch.Tensor], into: torch.Tensor | None = None) -> torch.Tensor:
    """Tensors of one device, dtype and size as the rows of one float tensor (``into`` if given:
    float32 or float64, of the right shape)."""
    rows = [t.detach().reshape(-1) for t in tensors]
    if into is not None:
        if rows[0].dtype == into.dtype:
            return torch.stack(rows, out=into)
        for k, r in enumerate(rows):
            into[k].copy_(r)
        return into
    out = torch.stack(rows)
    return out if out.dtype in (torch.float32, torch.float64) else out.float()


def row_stats(rows: torch.Tensor, scratch: torch.Tensor | None = None
              ) -> tuple[torch.Tensor, torch.Tensor]:
    """The mean and the standard deviation (``torch.std``'s, to 1e-6 relative) of each row;
    ``scratch``, a tensor like ``rows``, holds the deviations if given."""
    mean, std, _ = _moments(rows, scratch)
    return mean, std


def row_moments(rows: torch.Tensor, scratch: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """:func:`row_stats` and the 2-norm of each row, from the same sum of squared deviations:
    ``‖x‖² = Σ(x - mean)² + n·mean²``, two non-negative terms, so no pass of its own."""
    mean, std, squares = _moments(rows, scratch)
    return mean, std, squares.add_(mean.square() * rows.shape[1]).sqrt_()


def _moments(rows: torch.Tensor, scratch: torch.Tensor | None
             ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    n = rows.shape[1]
    mean = rows.mean(1)
    deviations = torch.sub(rows, mean[:, None], out=scratch) if scratch is not None \
        else rows - mean[:, None]
    squares = deviations.square_().sum(1)
    std = (squares / (n - 1)).sqrt_() if n >= 2 else torch.full_like(mean, math.nan)
    return mean, std, squares


def histogram(t: torch.Tensor, op: str | None, mean: torch.Tensor, std: torch.Tensor
              ) -> Histogram:
    """Fixed-bin counts of ``t`` (see NOTE [one host synchronisation per sample])."""
    t = _float(t.detach()).flatten()
    if t.numel() > HISTOGRAM_ELEMENTS:  # a strided subset: enough for a curve, and cheap
        t = t[:: t.numel() // HISTOGRAM_ELEMENTS]
    if op in _SATURATING:
        low, high = _SATURATING[op]
        return Histogram(torch.histc(t, BINS, low, high), low, high, False)
    z = (t - mean) / std.clamp_min(torch.finfo(t.dtype).tiny)
    return Histogram(torch.histc(z.nan_to_num(0.0), BINS, -Z_RANGE, Z_RANGE),
                     -Z_RANGE, Z_RANGE, True)


def fetch(values: list[torch.Tensor]) -> list[float]:
    """Every element of ``values``, in order, to the host: one copy per device."""
    by_device: dict[torch.device, list[int]] = {}
    for i, v in enumerate(values):
        by_device.setdefault(v.device, []).append(i)
    parts: list[list[float]] = [[] for _ in values]
    with torch._C.DisableTorchFunction(), torch.no_grad():  # not the user's math: not traced
        for indices in by_device.values():
            flat = torch.cat([values[i].reshape(-1) for i in indices]).to(torch.float64)
            got = flat.cpu().tolist()
            at = 0
            for i in indices:
                n = values[i].numel()
                parts[i], at = got[at:at + n], at + n
    return [x for part in parts for x in part]


def fetch_counts(histograms: list[Histogram]) -> list[list[float]]:
    """The counts of every histogram on the host, one copy per device."""
    out: list[list[float]] = [[] for _ in histograms]
    by_device: dict[torch.device, list[int]] = {}
    for i, h in enumerate(histograms):
        by_device.setdefault(h.counts.device, []).append(i)
    with torch._C.DisableTorchFunction(), torch.no_grad():
        for indices in by_device.values():
            rows = torch.stack([histograms[i].counts.float() for i in indices]).cpu().tolist()
            for i, row in zip(indices, rows):
                out[i] = row
    return out
