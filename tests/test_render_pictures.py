"""Pictures: SVG and PNG with each Graphviz program found, and the text fallback without one."""

from __future__ import annotations

import base64
import html
import os
import re
import shutil
import stat
import sys
from pathlib import Path

import pytest
import torch
from test_render_dot import evil_trace
from test_render_html import assert_self_contained, unstyled

from gradtrace import Trace, trace
from gradtrace.views import pictures
from gradtrace.views.html import to_html
from gradtrace.views.pictures import (
    INSTALL_HINT,
    PictureError,
    find_binary,
    render,
    svg_size,
)


def programs() -> list[object]:
    """Each Graphviz program on this machine: the system dot, graphviz-pure; skip if none."""
    found = {"dot": shutil.which("dot")}
    pure = [os.path.join(d, "graphviz-pure") for d in pictures._script_folders()]
    found["graphviz-pure"] = next((p for p in pure if os.access(p, os.X_OK)),
                                  shutil.which("graphviz-pure"))
    params = [pytest.param(path, id=name) for name, path in found.items() if path]
    return params or [pytest.param(None, id="none", marks=pytest.mark.skip(
        reason="no Graphviz program (dot or graphviz-pure) installed"))]


@pytest.fixture(params=programs())
def program(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setattr(pictures, "find_binary", lambda: request.param)
    return str(request.param)


@pytest.fixture
def no_program(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No Graphviz anywhere: an empty PATH and no scripts folder to look in."""
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.setattr(pictures, "_script_folders", lambda: [])
    assert find_binary() is None


def cos_log() -> Trace:
    with trace() as t:
        x_1 = torch.tensor([3.0], requires_grad=True)
        x_2 = torch.tensor([2.0], requires_grad=True)
        c = x_1.cos() * x_2.log()
        c.backward()
    return t


def test_save_svg_and_png(program: str, tmp_path: Path) -> None:
    t = cos_log()
    x_1 = torch.tensor([3.0], requires_grad=True)
    (x_1.cos() * torch.tensor([2.0]).log()).backward()
    svg = html.unescape(t.save(tmp_path / "g.svg").read_text())  # dot writes "-" as &#45;
    assert "<svg" in svg and ">x_1</text>" in svg and f">grad {x_1.grad.item():.4f}<" in svg
    png = t.save(tmp_path / "g.png").read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 1000
    assert t.save(tmp_path / "g.dot").read_text() == t.graph().source
    page = t.save(tmp_path / "report.html").read_text()
    assert page.startswith("<!doctype html>") and "data:image/svg+xml;base64," in page
    assert t.save(tmp_path / "report.txt").read_text() == str(t) + "\n"


def test_html_report_inlines_the_svg(program: str) -> None:
    page = unstyled(to_html(cos_log()))
    assert_self_contained(page)  # no scripts, scoped styles, the graph as a data: URL
    assert "<svg" not in page and page.count("<img") == 1  # an <img> survives sanitizers
    assert page.index("<img") > page.rindex("</table>")  # after the tables
    src = re.search(r'src="data:image/svg\+xml;base64,([^"]+)"', page)
    assert src is not None
    svg = base64.b64decode(src.group(1)).decode()
    width, height = svg_size(svg)
    assert f'width="{width}" height="{height}"' in page and ">x_1</text>" in svg
    assert "<script" not in svg and 'rankdir' not in svg


def test_empty_trace_draws(program: str) -> None:
    assert "nothing to draw" in render(Trace().graph().source).decode()


def test_user_text_is_drawn_as_text(program: str) -> None:
    svg = render(evil_trace().graph().source, "svg").decode()
    assert "&lt;b&gt;x&lt;/b&gt;&quot;} \\N &amp; ]</text>" in svg
    assert "<b>x</b>" not in svg


def test_notebook_display_is_svg(program: str) -> None:
    bundle = cos_log().graph()._repr_mimebundle_()
    assert bundle["image/svg+xml"].lstrip().startswith("<?xml")
    assert "x_1  leaf" in bundle["text/plain"]
    assert "image/svg+xml" not in cos_log().graph()._repr_mimebundle_(include={"text/plain"})


def test_without_graphviz_everything_falls_back_to_text(no_program: None, tmp_path: Path
                                                       ) -> None:
    from IPython.core.formatters import DisplayFormatter

    t = cos_log()
    page = to_html(t)
    assert "<svg" not in page and '<pre class="gt-tree">' in page
    assert "pip install graphviz-pure" in page and "x_1  leaf  value 3.0000" in page
    data, _ = DisplayFormatter().format(t.graph())  # what a notebook would show: no traceback
    assert set(data) == {"text/plain"}
    assert data["text/plain"].startswith(INSTALL_HINT + "\n")
    assert "└── x_1  leaf" in data["text/plain"]
    with pytest.raises(PictureError, match="pip install graphviz-pure"):
        t.save(tmp_path / "g.png")
    assert "digraph" in t.save(tmp_path / "g.dot").read_text()
    assert "graph\n" in str(t)  # the text report has the tree anyway


def fake_program(folder: Path, name: str, body: str) -> str:
    """An executable Python script standing in for a Graphviz program."""
    path = folder / name
    path.write_text(f"#!{sys.executable}\nimport sys, time\n{body}\n")
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return str(path)


@pytest.mark.skipif(os.name == "nt", reason="scripts stand in for Graphviz")
def test_finds_dot_first_then_graphviz_pure(monkeypatch: pytest.MonkeyPatch,
                                            tmp_path: Path) -> None:
    (tmp_path / "bin").mkdir()
    (tmp_path / "scripts").mkdir()
    pure = fake_program(tmp_path / "scripts", "graphviz-pure", "pass")
    monkeypatch.setattr(pictures, "_script_folders", lambda: [str(tmp_path / "scripts")])
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    assert find_binary() == pure
    dot = fake_program(tmp_path / "bin", "dot", "pass")
    assert find_binary() == dot


@pytest.mark.skipif(os.name == "nt", reason="scripts stand in for Graphviz")
def test_slow_or_broken_graphviz_never_raises_in_displays(monkeypatch: pytest.MonkeyPatch,
                                                          tmp_path: Path) -> None:
    slow = fake_program(tmp_path, "slow", "time.sleep(5)")
    with pytest.raises(PictureError, match=r"took more than 0\.2 s"):
        render("digraph {}", binary=slow, timeout=0.2)
    broken = fake_program(tmp_path, "broken", "sys.exit('Error: syntax error')")
    with pytest.raises(PictureError, match="broken failed: Error: syntax error"):
        render("digraph {}", binary=broken)
    monkeypatch.setattr(pictures, "find_binary", lambda: broken)
    page = to_html(cos_log())
    assert "broken failed" in page and '<pre class="gt-tree">' in page


def test_save_rejects_unknown_suffixes(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"\.svg, \.png"):
        cos_log().save(tmp_path / "g.jpg")
    with pytest.raises(ValueError, match="graph options"):
        cos_log().save(tmp_path / "r.html", depth=1)


def test_readme_picture_shows_torchs_gradients() -> None:
    """docs/backprop_formula.svg (made by docs/make_pictures.py) holds the lab's numbers."""
    svg = Path(__file__).resolve().parent.parent / "docs" / "backprop_formula.svg"
    text = html.unescape(svg.read_text())
    xs = [torch.tensor(v, requires_grad=True) for v in (1.0, 2.0, -1.0, 3.0, 5.0)]
    y = torch.log(torch.exp(xs[0] * xs[1]) ** 2 + torch.sin(xs[2] + xs[3] + xs[4]) * xs[4])
    y.backward()
    for i, x in enumerate(xs, 1):
        assert f">x_{i}</text>" in text and f">grad {x.grad.item():.4f}</text>" in text
    assert f">value {y.item():.4f}</text>" in text
