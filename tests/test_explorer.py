"""The explorer's data and HTML, and the gradient printed on each edge, against plain PyTorch.

The browser checks are in ``test_explorer_lab.py``; these build the data from real traces and
compare every per-use gradient with what torch computes for that use alone.
"""

from __future__ import annotations

import html
import json
import re
from importlib import resources

import torch

from gradtrace import trace
from gradtrace.views.explorer import EXPLORE_ABOVE, Explorer
from gradtrace.views.explorer.payload import explorer_data
from gradtrace.views.graph import build_graph
from gradtrace.views.html import to_html


def _formula() -> tuple[object, dict[str, float]]:
    """The lab's formula traced, and x_5's gradient along each of its two uses by torch."""
    with trace() as t:
        x_1 = torch.tensor(1.0, requires_grad=True)
        x_2 = torch.tensor(2.0, requires_grad=True)
        x_3 = torch.tensor(-1.0, requires_grad=True)
        x_4 = torch.tensor(3.0, requires_grad=True)
        x_5 = torch.tensor(5.0, requires_grad=True)
        y = torch.log(torch.exp(x_1 * x_2) ** 2 + torch.sin(x_3 + x_4 + x_5) * x_5)
        y.backward()
    # x_5 as two separate leaves: one per use
    a, b = torch.tensor(5.0, requires_grad=True), torch.tensor(5.0, requires_grad=True)
    out = torch.log(torch.exp(x_1.detach() * x_2.detach()) ** 2
                    + torch.sin(x_3.detach() + x_4.detach() + a) * b)
    out.backward()
    return t, {"add": a.grad.item(), "mul": b.grad.item()}


def test_each_edge_of_a_small_graph_prints_the_gradient_torch_sends_along_it() -> None:
    t, oracle = _formula()
    source = t.graph().source  # type: ignore[attr-defined]
    step = {s.name: s.step for s in t.steps}  # type: ignore[attr-defined]
    x5 = f"t{step['x_5']}"
    labels = dict(re.findall(rf"\t{x5} -> (o\d+) \[label=([-\d.]+)", source))
    ops = {f"o{s.step}": s.op for s in t.steps}  # type: ignore[attr-defined]
    shown = {ops[o]: float(v) for o, v in labels.items()}
    assert set(shown) == {"add", "mul"}
    for op, value in shown.items():
        assert abs(value - oracle[op]) < 5e-5, (op, value, oracle[op])
    assert abs(oracle["add"] - oracle["mul"]) > 0.05  # the two uses differ: the test can tell


def test_explorer_data_lists_each_use_with_its_gradient() -> None:
    t, oracle = _formula()
    data = explorer_data(t, build_graph(t))  # type: ignore[arg-type]
    step = next(s.step for s in t.steps if s.name == "x_5")  # type: ignore[attr-defined]
    uses = data["steps"][str(step)]["uses"]
    assert [u[1] for u in uses] == [1, 1]
    got = sorted(float(u[2]) for u in uses)
    assert got == sorted(round(v, 4) for v in oracle.values())
    edges = {k: v for k, v in data["edges"].items() if k.startswith(f"t{step}->")}
    assert sorted(float(v[0][0][1]) for v in edges.values()) == got


def test_a_big_graph_in_the_report_is_the_explorer_with_its_fallback() -> None:
    with trace() as t:
        h = torch.linspace(-1, 1, 6, requires_grad=True)
        for _ in range(12):
            h = torch.tanh(h * 1.1)
        h.sum().backward()
    graph = build_graph(t)
    assert graph.size > EXPLORE_ABOVE
    page = to_html(t)
    assert page.count('class="gradtrace gt-explorer"') == 1
    assert 'aria-label="search tensors"' in page and 'aria-label="tensor details"' in page
    script = page[page.index("<script>") + 8: page.index("</script>")]
    assert "</" not in script  # no user text can end the script early
    assert "gt-explorer" not in to_html(t, explore_above=None)
    assert "gt-explorer" not in to_html(t, explore_above=graph.size)
    attribute = page[page.index('data-gt-x="') + 11:]
    data = json.loads(html.unescape(attribute[:attribute.index('"')]))
    assert {n["name"] for n in data["nodes"].values()} >= {"h"}


def test_names_cannot_break_out_of_the_script() -> None:
    from gradtrace.model.trace import ForwardStep, TensorSummary, Trace

    x = ForwardStep(1, "</script><b>x", "tensor", (), TensorSummary.of(torch.tensor([3.0])),
                    requires_grad=True)
    html = Explorer(Trace(steps=(x,))).to_html()
    assert html.count("</script>") == 1 and "<b>" not in html
    assert "&lt;/script&gt;&lt;b&gt;x" in html  # in the data attribute, escaped


def test_the_vendored_library_ships_with_its_licence(tmp_path) -> None:  # type: ignore[no-untyped-def]
    static = resources.files("gradtrace.views.explorer") / "static"
    assert "MIT License" in (static / "panzoom.LICENSE").read_text("utf-8")
    assert (static / "panzoom.min.js").read_text("utf-8").startswith("(function(f)")
    with trace() as t:
        x = torch.ones(3, requires_grad=True)
        (x * x).sum().backward()
    page = Explorer(t).save(tmp_path / "graph.html").read_text("utf-8")
    assert "<svg" in page and "http" not in page.replace("http://www.w3.org", "")


def test_keepdims_has_its_local_derivative() -> None:
    with trace() as t:
        a = torch.randn(4, 3, requires_grad=True)
        s = a.sum(1, keepdims=True)
        (s * s).sum().backward()
    assert "they agree" in str(t.explain("a"))
