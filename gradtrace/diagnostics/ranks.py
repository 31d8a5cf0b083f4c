"""Rules that read the Traces of every rank of one ``torch.distributed`` run.

``rank_desync``: a parameter's gradient or value differs across ranks, although DDP's
all-reduce should have made them equal. ``unused_parameter``: a parameter that got no gradient
on some ranks. ``no_sync``: gradients accumulated under ``no_sync()`` before the all-reduce,
explained (as each rank's own rule says) rather than warned about.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch

from gradtrace.diagnostics.diagnostic import KINDS, Diagnostic
from gradtrace.model.ranks import Parameter, parameters
from gradtrace.model.records import TensorSummary

if TYPE_CHECKING:
    from gradtrace.model.trace import Trace

__all__ = ["diagnose_ranks", "rank_desync", "unused_parameter", "no_sync", "same"]


def diagnose_ranks(traces: Sequence[Trace]) -> list[Diagnostic]:
    """Every cross-rank rule, most severe kind first."""
    by_name = _by_name(traces)
    found = rank_desync(by_name) + unused_parameter(by_name) + no_sync(traces)
    found.sort(key=lambda d: KINDS.index(d.kind))
    return found


def _by_name(traces: Sequence[Trace]) -> dict[str, list[Parameter]]:
    out: dict[str, list[Parameter]] = {}
    for t in traces:
        for p in parameters(t):
            out.setdefault(p.name, []).append(p)
    return out


def same(a: TensorSummary | None, b: TensorSummary | None) -> bool:
    """Equal to float rounding (values when kept, else the norms); None equals only None."""
    if a is None or b is None:
        return a is b
    if a.values is not None and b.values is not None and a.shape == b.shape:
        return bool(torch.allclose(a.values.double(), b.values.double(), rtol=1e-5, atol=1e-8))
    return bool(abs(a.norm - b.norm) <= 1e-5 * max(abs(a.norm), abs(b.norm)) + 1e-8)


def _norm(s: TensorSummary | None) -> str:
    return "none" if s is None else f"{s.norm:.4g}"


def rank_desync(by_name: dict[str, list[Parameter]]) -> list[Diagnostic]:
    """Parameters whose ``.grad`` (or, failing that, value) differs across ranks: one warning
    per cause (which ranks changed ``.grad`` after the all-reduce)."""
    groups: dict[tuple[str, tuple[int, ...]], list[tuple[str, str]]] = {}
    for name, ps in by_name.items():
        for what, read in (("gradient", _grad), ("value", _value)):
            if all(same(read(ps[0]), read(p)) for p in ps[1:]):
                continue
            norms = ", ".join(f"{_norm(read(p))} on rank {p.rank}" for p in ps)
            changed = tuple(p.rank for p in ps if p.synced is not None
                            and not same(p.synced, p.grad))
            groups.setdefault((what, changed), []).append((name, norms))
            break  # a gradient that differs makes the value differ too: say it once
    found = []
    for (what, changed), hits in groups.items():
        names = [n for n, _ in hits]
        why = (f"DDP's all-reduce gave every rank the same gradient, then rank"
               f"{'s' if len(changed) > 1 else ''} {', '.join(map(str, changed))} changed .grad "
               "after backward" if changed else
               "the ranks did not all-reduce it, or changed it outside backward")
        found.append(Diagnostic(
            kind="rank_desync", tensor=names[0], tensors=tuple(names),
            message=(f"{_names(names)}: the {what} differs across ranks (norms of "
                     f"{names[0]}: {hits[0][1]}): {why}. The replicas of the model drift apart."),
            fix=("Change gradients the same way on every rank (clip, scale), or inside a DDP "
                 "communication hook, never on one rank after backward.")))
    return found


def _grad(p: Parameter) -> TensorSummary | None:
    return p.grad


def _value(p: Parameter) -> TensorSummary | None:
    return p.value


def _names(names: list[str]) -> str:
    shown = ", ".join(names[:4])
    return shown + (f" and {len(names) - 4} more" if len(names) > 4 else "")


def unused_parameter(by_name: dict[str, list[Parameter]]) -> list[Diagnostic]:
    """Parameters that got no gradient on some ranks but did on others."""
    groups: dict[tuple[tuple[int, ...], bool], list[str]] = {}
    for name, ps in by_name.items():
        missing = tuple(p.rank for p in ps if p.local is None)
        if missing and len(missing) < len(ps):
            filled = all(p.grad is not None for p in ps if p.local is None)
            groups.setdefault((missing, filled), []).append(name)
    found = []
    for (missing, filled), names in groups.items():
        what = ("DDP (find_unused_parameters=True) counted those ranks' share as zero, so the "
                "mean it put in .grad is smaller than what the ranks that used it computed"
                if filled else
                "DDP without find_unused_parameters=True waits for it: the next iteration "
                "raises 'Expected to have finished reduction in the prior iteration', or the "
                "ranks hang")
        ranks = f"rank{'s' if len(missing) > 1 else ''} {', '.join(map(str, missing))}"
        found.append(Diagnostic(
            kind="unused_parameter", tensor=names[0], tensors=tuple(names),
            message=(f"{_names(names)} got no gradient on {ranks} (the forward there did not "
                     f"use {'it' if len(names) == 1 else 'them'}) but did on the others: "
                     f"{what}."),
            fix=("Use every parameter on every rank, or pass find_unused_parameters=True to "
                 "DistributedDataParallel (slower), or requires_grad_(False) if it never trains.")))
    return found


def no_sync(traces: Sequence[Trace]) -> list[Diagnostic]:
    """Each rank's ``no_sync`` explanation, said once when every rank has it."""
    notes = [[d for d in t.warnings if d.kind == "no_sync"] for t in traces]
    if notes and all(notes):
        first = notes[0][0]
        return [Diagnostic(kind="no_sync", message=f"on every rank: {first.message}",
                           fix=first.fix, tensor=first.tensor, tensors=first.tensors)]
    return [d for ns in notes for d in ns]
