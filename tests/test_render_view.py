"""TraceView: a Trace with chosen sections as text, HTML and a MIME bundle (hand-built Traces)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from test_render_html import lab_trace

from gradtrace.model.trace import Trace
from gradtrace.views import display as view_module
from gradtrace.views.display import DEFAULT_SECTIONS, SECTIONS, TraceView, parse_sections
from gradtrace.views.html import to_html
from gradtrace.views.text import to_text


def test_parse_sections() -> None:
    assert parse_sections("graph, forward") == ("forward", "graph")
    assert parse_sections("all") == SECTIONS and parse_sections("none") == ()
    assert parse_sections(["backward"]) == ("backward",)
    with pytest.raises(ValueError, match=r"unknown section.*'tables'.*choose from warnings"):
        parse_sections("forward,tables")


@pytest.mark.parametrize("sections", [SECTIONS, (), ("forward",)])
def test_empty_trace_shows_as_the_renderers_show_it(sections: tuple[str, ...]) -> None:
    v = TraceView(Trace(), sections=sections)
    assert v.to_text() == to_text(Trace()) and v.to_html() == to_html(Trace())


def test_default_sections_are_the_whole_report() -> None:
    t = lab_trace()
    v = TraceView(t, width=100)
    assert v.sections == DEFAULT_SECTIONS
    assert v.to_text() == to_text(t, width=100) and v.to_html() == to_html(t)


def blocks(text: str) -> list[str]:
    return [b.split("\n", 1)[0] for b in text.split("\n\n")]


def test_sections_choose_the_text_blocks() -> None:
    t = lab_trace()
    assert blocks(TraceView(t, sections=["forward"], width=100).to_text()) == [
        "gradtrace: 5 forward steps, 1 backward pass, no warnings", "forward"]
    shown = blocks(TraceView(t, sections=["backward", "tensors", "graph"], width=100).to_text())
    assert shown[1:] == ["backward pass 1: c.backward() at line 4", "tensors", "graph"]
    text = TraceView(t, sections=["tensors"], width=100).to_text()
    assert text.splitlines()[4].split() == ["x_1", "(1,)", "3.0000", "-0.0978"]


def test_sections_choose_the_html_parts() -> None:
    t = lab_trace()
    page = TraceView(t, sections=["tensors", "graph"]).to_html()
    assert "<summary>forward" not in page and "<summary>backward" not in page
    assert page.index("<summary>tensors (5)</summary>") < page.index("<summary>graph</summary>")
    assert page.startswith('<div class="gradtrace" style="') and page.endswith("</div>")
    page = TraceView(t, sections=["forward", "tensors"], max_rows=2).to_html()
    assert page.index("<summary>forward") < page.index("<summary>tensors")
    assert "<summary>graph" not in page
    assert len(re.findall(r'<td style="[^"]*">x_', page)) == 2  # tensors: 2 rows
    assert "… 3 more rows</td>" in page
    text = TraceView(t, sections=["tensors"], max_rows=2, width=100).to_text()
    assert text.endswith("… 3 more rows")


def test_mimebundle_makes_html_only_when_wanted(outside_ipython: None) -> None:
    v = TraceView(lab_trace())
    assert list(v._repr_mimebundle_(include=["text/plain"])) == ["text/plain"]
    assert list(v._repr_mimebundle_(exclude=["text/html"])) == ["text/plain"]
    assert sorted(v._repr_mimebundle_()) == ["text/html", "text/plain"]


def test_a_terminal_front_end_gets_text_only(monkeypatch: pytest.MonkeyPatch) -> None:
    import gradtrace.views.display

    monkeypatch.setattr(gradtrace.views.display, "_active_types", lambda: ["text/plain"])
    monkeypatch.setattr(TraceView, "to_html", lambda self: pytest.fail("HTML made for a terminal"))
    assert list(TraceView(lab_trace())._repr_mimebundle_()) == ["text/plain"]
    assert list(lab_trace()._repr_mimebundle_()) == ["text/plain"]  # a Trace shows as a view


def test_the_view_passes_its_options_to_the_renderers(monkeypatch: pytest.MonkeyPatch,
                                                      outside_ipython: None) -> None:
    seen: list[dict[str, Any]] = []

    def renderer(name: str) -> Any:
        def render(trace: Trace, **options: Any) -> str:
            seen.append({"renderer": name, **options})
            return name

        return render

    monkeypatch.setattr(view_module, "to_text", renderer("text"))
    monkeypatch.setattr(view_module, "to_html", renderer("html"))
    v = TraceView(lab_trace(), sections="forward", max_rows=3, width=70)
    assert v._repr_mimebundle_() == {"text/plain": "text", "text/html": "html"}
    assert seen == [{"renderer": "text", "sections": ("forward",), "max_rows": 3, "width": 70,
                     "brief_error": False},
                    {"renderer": "html", "sections": ("forward",), "max_rows": 3,
                     "explore_above": 40}]
