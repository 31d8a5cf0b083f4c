"""Long loops: a 1,000-iteration rebinding loop's report stays small, and ``explain`` follows a
10,000-op chain; the gradients are checked against torch's own ``.grad``."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from gradtrace import Trace, trace
from gradtrace.views.stepper import MAX_STOPS, stepper_html, stepper_text

MB = 1_000_000


def _loop(n: int) -> torch.Tensor:
    """The first ``h``'s gradient, in plain PyTorch (the oracle)."""
    h0 = torch.tensor([1.0], requires_grad=True)
    h = h0
    for _ in range(n):
        h = h * 1.001 + 0.001
    h.sum().backward()
    assert h0.grad is not None
    return h0.grad


def _rebinding_loop(n: int) -> Trace:
    with trace() as t:
        h = torch.tensor([1.0], requires_grad=True)
        for _ in range(n):
            h = h * 1.001 + 0.001
        h.sum().backward()
    return t


@pytest.mark.usefixtures("outside_ipython")
def test_a_thousand_iteration_loop_reports_in_under_four_megabytes(tmp_path: Path) -> None:
    t = _rebinding_loop(1000)
    first = next(s for s in t.steps if s.name == "h")
    torch.testing.assert_close(t.explain(first.step).expected, _loop(1000))
    text = str(t)
    page = t.save(tmp_path / "r.html").read_bytes()
    bundle = t._repr_mimebundle_()
    sizes = {"text": len(text.encode()), "page": len(page),
             "mime html": len(bundle["text/html"].encode())}
    # the saved page carries the graph twice: the picture, and the explorer's data (3.3 MB)
    assert all(size < 4 * MB for size in sizes.values()), sizes
    assert "h⁽¹⁰⁰⁾" in page.decode() and "′′" not in page.decode()


def test_the_html_stepper_shows_the_first_and_last_stops_and_says_what_it_left_out() -> None:
    t = _rebinding_loop(1000)
    stops = len(t.steps) + len(t.backward_steps)
    assert stops > MAX_STOPS
    page = stepper_html(t)
    half = MAX_STOPS // 2
    assert page.count("<tr data-gt-k=") == 2 * half
    assert f"{stops - 2 * half} steps left out ({half + 1} to {stops - half} of {stops})" in page
    assert f'max="{2 * half}"' in page
    assert f'data-gt-k="{stops}"' in page and f'data-gt-k="{half + 1}"' not in page
    assert stepper_text(t).count(f"/{stops}  ") == stops  # the text lists every stop
    small = stepper_html(t, max_stops=stops)
    assert small.count("<tr data-gt-k=") == stops and "left out" not in small


def test_explain_follows_a_ten_thousand_op_chain() -> None:
    with trace() as t:
        x0 = torch.tensor([1.0], requires_grad=True)
        x = x0
        for _ in range(10_000):
            x = x * 1.0001
        x.sum().backward()
    assert x0.grad is not None
    e = t.explain("x0")
    torch.testing.assert_close(e.total, x0.grad)
    torch.testing.assert_close(e.total, torch.tensor([1.0001]) ** 10_000)
    (path,) = e.paths
    assert e.count == 1 and len(path.factors) == 10_001 and path.symbols[-1] == "x0"
    torch.testing.assert_close(path.product, x0.grad)
    text, page = str(e), e._repr_html_()
    assert "… 9977 more factors" in text and "∂x/∂x0 = 1.0001" in text
    assert len(text) < 10_000 and len(page) < 30_000


def test_explain_lists_the_first_paths_of_a_graph_with_very_many() -> None:
    with trace() as t:
        a = torch.tensor(1.1, requires_grad=True)
        b = a
        for _ in range(40):  # b is used three times a step: 3**40 paths back to a
            b = b * b * 0.5 + b
        b.backward()
    assert a.grad is not None
    e = t.explain("a")
    assert e.count == 3**40 and len(e.paths) == 32
    assert all(p.symbols[0] == "b⁽³⁹⁾" and p.symbols[-1] == "a" for p in e.paths)
    torch.testing.assert_close(e.total, a.grad)
