"""Symbols of the chain-rule lines: names, v1..., and version marks that stay short in loops."""

from __future__ import annotations

import torch

from gradtrace import trace
from gradtrace.teaching.symbols import symbols, version_mark


def test_version_marks_are_primes_then_superscript_numbers() -> None:
    marks = [version_mark(k) for k in range(1001)]
    assert marks[:6] == ["", "′", "″", "‴", "⁽⁴⁾", "⁽⁵⁾"]
    assert marks[12] == "⁽¹²⁾" and marks[1000] == "⁽¹⁰⁰⁰⁾"
    assert len(set(marks)) == len(marks)  # every version its own mark
    assert max(map(len, marks)) == 6


def test_a_long_rebinding_loop_keeps_symbols_short_and_distinct() -> None:
    with trace() as t:
        h = torch.tensor([1.0], requires_grad=True)
        for _ in range(1000):
            h = h * 1.001 + 0.001
    syms = symbols(t)
    named = [syms[s.step] for s in t.steps if s.name == "h"]
    assert len(named) == 1001 and len(set(named)) == 1001
    assert named[:5] == ["h", "h′", "h″", "h‴", "h⁽⁴⁾"] and named[-1] == "h⁽¹⁰⁰⁰⁾"
    assert max(len(v) for v in syms.values()) <= 7
