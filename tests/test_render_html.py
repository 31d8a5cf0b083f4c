"""HTML report: self-contained, escaped, tables present, on hand-built Traces."""

from __future__ import annotations

import html
import re

import pytest
import torch
from test_render_text import lab_trace as two_passes

from gradtrace import trace
from gradtrace.model.trace import (
    BackwardPass,
    BackwardStep,
    ForwardStep,
    GradientEdge,
    TensorSummary,
    Trace,
)
from gradtrace.views import pictures
from gradtrace.views.html import to_html as styled_html
from gradtrace.views.sections import DEFAULT_SECTIONS, SECTIONS

EVIL = "<script>alert(1)</script>"
EVIL_ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"


def unstyled(page: str) -> str:
    """``page`` without its inline ``style`` attributes, to compare structure and values."""
    return re.sub(r' style="[^"]*"', "", page)


def to_html(trace: Trace, **options: object) -> str:
    return unstyled(styled_html(trace, **options))  # type: ignore[arg-type]


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
    for banned in ("http://", "https://", "@import", "url(", "<link", "onclick"):
        assert banned not in html
    for img in re.findall(r"<img[^>]*>", html):  # only the graph, as a data: URL
        assert img.startswith('<img class="gt-pic" src="data:image/svg+xml;base64,'), img
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
    # the table has room: the cell is whole, not cut with the rest in a tooltip
    assert ">cos(x_1) &lt;- 0.6931, log(x_2) &lt;- -0.9900</td>" in html
    assert 'title="cos(x_1)' not in html
    assert 'class="gt-scroll"' in html and "max-height" in html
    assert html.count("<code>c = x_1.cos() * x_2.log()</code>") == 1  # first row of the line


def test_user_text_is_escaped() -> None:
    t = lab_trace(name=EVIL, source=f"{EVIL} = x_1.cos()")
    t = Trace(t.steps, t.backward_steps, t.passes, error=EVIL, error_line=3)
    html = to_html(t)
    assert_self_contained(html)
    assert EVIL not in html
    assert html.count(EVIL_ESCAPED) >= 5  # name, inputs, source, tensor, pass, error


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


# -- sections: the renderer shows only the parts asked for ----------------------------------
MARKS = {"warnings": '<ul class="gt-warn">', "forward": "<summary>forward (",
         "backward": "<summary>backward pass ", "updates": "<summary>updates (",
         "tensors": "<summary>tensors (",
         "graph": "<summary>graph</summary>"}


def shown(page: str) -> list[str]:
    """The sections in ``page``, in the order they appear."""
    return sorted((s for s in MARKS if MARKS[s] in page), key=lambda s: page.index(MARKS[s]))


@pytest.mark.parametrize("section", SECTIONS)
def test_each_section_on_and_off(section: str) -> None:
    t = two_passes(2)  # the real rules warn about accumulation
    assert t.warnings
    page = to_html(t, sections=[section])
    assert_self_contained(page)
    assert shown(page) == ([] if section == "updates" else [section])  # no optimizer step ran
    rest = [s for s in SECTIONS if s != section]
    assert shown(to_html(t, sections=rest)) == [s for s in rest if s != "updates"]


def test_sections_default_order_and_names() -> None:
    t = lab_trace()
    assert to_html(t) == to_html(t, sections=DEFAULT_SECTIONS)
    assert shown(to_html(t)) == ["forward", "backward", "graph"]
    assert shown(to_html(t, sections="graph,tensors,forward")) == ["forward", "tensors", "graph"]
    page = to_html(Trace(t.steps, error=EVIL), sections=())
    assert shown(page) == [] and "no backward pass ran" not in page
    assert "5 forward steps" in page
    assert f"stopped by {EVIL_ESCAPED}" in page
    with pytest.raises(ValueError, match=r"unknown section.*'table'"):
        to_html(t, sections=["table"])


def test_tensors_section_matches_torch() -> None:
    x_1 = torch.tensor([3.0], requires_grad=True)
    x_2 = torch.tensor([2.0], requires_grad=True)
    a, b = x_1.cos(), x_2.log()
    c = a * b
    for kept in (a, b, c):
        kept.retain_grad()
    c.backward()
    page = to_html(lab_trace(), sections=["tensors"])
    assert "<th>name</th><th>shape</th><th>value</th><th>grad</th>" in page
    for name, v in [("x_1", x_1), ("x_2", x_2), ("cos(x_1)", a), ("log(x_2)", b), ("c", c)]:
        assert v.grad is not None
        cells = [name, "(1,)", f"{v.item():.4f}", f"{v.grad.item():.4f}"]
        assert "<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>" in page
    page = to_html(lab_trace(name=EVIL), sections=["tensors"], max_rows=2)
    assert page.count("<td>x_") == 2 and "… 3 more rows</td>" in page and EVIL not in page


def test_no_graph_section_runs_no_graphviz(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[object] = []

    def refuse(*args: object, **kwargs: object) -> None:
        calls.append(args)
        raise pictures.PictureError("gradtrace: no Graphviz in this test")

    monkeypatch.setattr(pictures, "render", refuse)
    monkeypatch.setattr(pictures, "find_binary", refuse)
    page = to_html(lab_trace(), sections=[s for s in SECTIONS if s != "graph"])
    assert calls == [] and "graph" not in shown(page)
    page = to_html(lab_trace())  # the graph asks for Graphviz, which fails: the text tree shows
    assert calls and '<pre class="gt-tree">' in page


def test_an_error_message_is_shown_once() -> None:
    with pytest.raises(RuntimeError, match="second time") as info, trace() as t:
        x = torch.tensor([1.0], requires_grad=True)
        y = x.exp()
        y.backward()
        y.backward()
    message = str(info.value).splitlines()[0]
    page = to_html(t)
    assert page.count(html.escape(message)) == 1
    assert "stopped here by RuntimeError" in page
