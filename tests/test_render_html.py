"""HTML report: self-contained, escaped, tables present, on hand-built Traces."""

from __future__ import annotations

import re

import torch

from gradtrace.model import (
    BackwardPass,
    BackwardStep,
    ForwardStep,
    GradientEdge,
    TensorSummary,
    Trace,
)
from gradtrace.render.html import to_html

EVIL = "<script>alert(1)</script>"
EVIL_ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"


def lab_trace(name: str = "c", source: str = "c = x_1.cos() * x_2.log()") -> Trace:
    """The lab example (one backward pass) recorded by hand from plain torch autograd."""
    S = TensorSummary.of
    x_1 = torch.tensor([3.0], requires_grad=True)
    x_2 = torch.tensor([2.0], requires_grad=True)
    a, b = x_1.cos(), x_2.log()
    c = a * b
    for kept in (a, b, c):
        kept.retain_grad()
    c.backward()
    steps = (ForwardStep(1, "x_1", "tensor", (), S(x_1), requires_grad=True, line=1),
             ForwardStep(2, "x_2", "tensor", (), S(x_2), requires_grad=True, line=2),
             ForwardStep(3, "cos(x_1)", "cos", (1,), S(a), "CosBackward0", True, False, line=3,
                         source=source),
             ForwardStep(4, "log(x_2)", "log", (2,), S(b), "LogBackward0", True, False, line=3,
                         source=source),
             ForwardStep(5, name, "mul", (3, 4), S(c), "MulBackward0", True, False, line=3,
                         source=source))
    backward = (
        BackwardStep(1, 1, "MulBackward0", 5, name, S(c.grad),
                     (GradientEdge(3, "cos(x_1)", S(a.grad)),
                      GradientEdge(4, "log(x_2)", S(b.grad)))),
        BackwardStep(2, 1, "LogBackward0", 4, "log(x_2)", S(b.grad),
                     (GradientEdge(2, "x_2", S(x_2.grad)),)),
        BackwardStep(3, 1, "AccumulateGrad", 2, "x_2", S(x_2.grad), kind="accumulate",
                     grad_after=S(x_2.grad)),
        BackwardStep(4, 1, "CosBackward0", 3, "cos(x_1)", S(a.grad),
                     (GradientEdge(1, "x_1", S(x_1.grad)),)),
        BackwardStep(5, 1, "AccumulateGrad", 1, "x_1", S(x_1.grad), kind="accumulate",
                     grad_after=S(x_1.grad)),
    )
    return Trace(steps, backward, (BackwardPass(1, "backward", (5,), line=4,
                                                source=f"{name}.backward()"),))


def assert_self_contained(html: str) -> None:
    assert html.startswith('<div class="gradtrace">') and html.rstrip().endswith("</div>")
    assert "<script" not in html.lower()
    for banned in ("http://", "https://", "@import", "url(", "<link", "<img", "onclick"):
        assert banned not in html
    style = re.search(r"<style>(.*?)</style>", html, re.S)
    assert style is not None
    for rule in re.findall(r"([^{}]+)\{", style.group(1)):  # every rule is scoped
        for selector in rule.split(","):
            assert selector.strip().startswith(".gradtrace"), selector
    assert "color-scheme:light dark" in style.group(1)


def test_empty_trace() -> None:
    html = to_html(Trace())
    assert_self_contained(html)
    assert "nothing traced" in html and "<table" not in html


def test_lab_example_tables() -> None:
    html = to_html(lab_trace())
    assert_self_contained(html)
    assert html.count("<table") == 2  # forward, backward pass 1
    assert "forward (5 steps)" in html and "backward pass 1: c.backward() at line 4" in html
    assert "<td>-0.9900</td>" in html  # cos(3)
    assert "<td>x_2.grad: None -&gt; -0.4950</td>" in html
    assert "<td>cos(x_1) &lt;- 0.6931, log(x_2) &lt;- -0.9900</td>" in html
    assert 'class="gt-scroll"' in html and "max-height" in html
    assert html.count("<code>c = x_1.cos() * x_2.log()</code>") == 1  # first row of the line


def test_user_text_is_escaped() -> None:
    t = lab_trace(name=EVIL, source=f"{EVIL} = x_1.cos()")
    t = Trace(t.steps, t.backward_steps, t.passes, error=EVIL, error_line=3, notes=(EVIL,))
    html = to_html(t)
    assert_self_contained(html)
    assert EVIL not in html
    assert html.count(EVIL_ESCAPED) >= 6  # name, inputs, source, tensor, pass, note, error


def test_max_rows_and_no_backward() -> None:
    t = lab_trace()
    html = to_html(t, max_rows=2)
    assert "… 3 more rows" in html
    html = to_html(Trace(steps=t.steps))
    assert html.count("<table") == 1 and "no backward pass ran" in html


def test_mimebundle_has_both_types(outside_ipython: None) -> None:
    bundle = lab_trace()._repr_mimebundle_()
    assert set(bundle) == {"text/plain", "text/html"}
    assert "text/html" not in lab_trace()._repr_mimebundle_(include={"text/plain"})
