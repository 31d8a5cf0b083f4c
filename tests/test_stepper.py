"""The stepper: its stops in the order autograd ran, the static HTML, and the page in Chromium.

The browser test loads the report ``Trace.save`` writes into headless Chromium with a test-only
script appended: it moves the slider to the first step, clicks Next through every step and
writes what was highlighted at each into the DOM, which ``--dump-dom`` prints.
"""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from gradtrace import Trace
from gradtrace.teaching.walk import walk
from gradtrace.views.files import report_page
from gradtrace.views.pictures import find_binary
from gradtrace.views.stepper import NEEDS_TRUST, stepper_html
from tests.lab_cases import formula_trace


def lab_formula() -> Trace:
    return formula_trace()[1]


def expected_stops(t: Trace) -> list[tuple[str, int, str]]:
    """(phase, step, graph node that must light up), from the Trace's own tables."""
    forward = [("forward", int(s), f"t{s}") for s in t.forward["step"]]
    by_step = {b.step: b for b in t.backward_steps}
    backward = []
    for s in t.backward["step"]:
        b = by_step[int(s)]
        node = f"t{b.forward_step}" if b.kind == "accumulate" else f"o{b.forward_step}"
        backward.append((f"backward {b.backward_pass}", int(s), node))
    return forward + backward


def test_walk_follows_forward_then_backward() -> None:
    t = lab_formula()
    views = walk(t)
    assert [(v.phase, v.step) for v in views] == \
        [(p.split()[0], s) for p, s, _ in expected_stops(t)]
    assert all(node in v.nodes for v, (_, _, node) in zip(views, expected_stops(t)))
    mul = next(v for v in views if v.phase == "backward" and v.step == 3)
    assert mul.value == "∂y/∂v7 = 0.0173"
    assert "∂y/∂x_5 += ∂y/∂v7 · ∂v7/∂x_5 = 0.0173 · 0.6570 = 0.0114" in mul.lines[1]
    assert mul.edges == ("t11->o12", "t5->o12")


def test_text_walk() -> None:
    text = str(lab_formula().stepper())
    assert text.startswith("step by step: 14 forward steps, then 14 backward steps\n")
    assert " 8/28  forward step 8, line " in text and "v3 = v2^2 = 54.5982" in text
    assert "received ∂y/∂v3 = 0.0173" in text and "∂v3/∂v2 = 2·v2 = 14.7781" in text


def test_static_html_shows_everything_without_javascript() -> None:
    page = stepper_html(lab_formula())
    assert page.count("<tr data-gt-k=") == 28
    # hidden by inline styles, which JupyterLab's sanitizer keeps (it drops ``hidden``)
    assert '<div class="gt-controls" style="display:none">' in page
    assert '<div class="gt-card" style="display:none">' in page and NEEDS_TRUST in page
    assert "<template" not in page and " hidden" not in page
    assert "∂y/∂x<sub>5</sub> += ∂y/∂v7 · ∂v7/∂x<sub>5</sub> = 0.0173 · 0.6570 = 0.0114" in page
    for banned in ("http://", "https://", "<link", "onclick", "@import"):
        assert banned not in page
    style = "".join(re.findall(r"<style>(.*?)</style>", page, re.S))
    for rule in re.findall(r"([^{}]+)\{", style):
        for selector in rule.split(","):
            assert selector.strip().startswith(".gradtrace"), selector
    assert "nothing traced" in stepper_html(Trace())


def test_saved_report_ends_with_the_stepper(tmp_path: Path) -> None:
    t = lab_formula()
    page = t.save(tmp_path / "report.html").read_text(encoding="utf-8")
    assert page.startswith("<!doctype html><meta charset=utf-8><title>gradtrace</title>")
    assert page.index("backward pass 1") < page.index('class="gradtrace gt-stepper"')
    assert report_page(t, "a <b>").count("<title>a &lt;b&gt;</title>") == 1


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return shutil.which(name)
    return None


_PROBE = """<script>(function () {
var root = document.querySelector(".gt-stepper"), log = [];
var initial = root.getAttribute("data-gt-current");
var range = root.querySelector(".gt-range");
range.value = "1"; range.dispatchEvent(new Event("input"));
var n = root.querySelectorAll("tr[data-gt-k]").length;
function titles(sel) {
  return Array.prototype.map.call(root.querySelectorAll(sel), function (e) {
    return e.textContent; });
}
for (var i = 0; i < n; i++) {
  var rows = root.querySelectorAll("tr.gt-on");
  log.push({k: root.getAttribute("data-gt-current"), nodes: titles("svg g.node.gt-on > title"),
            edges: titles("svg g.edge.gt-on > title"),
            rows: Array.prototype.map.call(rows, function (r) {
              return [r.cells[1].textContent, r.cells[2].textContent]; }),
            card: root.querySelector(".gt-card").textContent,
            controls: root.querySelector(".gt-controls").style.display === "flex" &&
              root.querySelector(".gt-nojs").style.display === "none" &&
              !root.querySelector("img.gt-pic")});
  root.querySelector(".gt-next").click();
}
root.querySelector(".gt-prev").click();
var out = document.createElement("pre"); out.id = "gt-probe";
out.textContent = JSON.stringify({initial: initial, log: log,
                                  back: root.getAttribute("data-gt-current")});
document.body.appendChild(out);
})();</script>"""


@pytest.mark.skipif(_chromium() is None, reason="chromium is not installed")
@pytest.mark.skipif(find_binary() is None, reason="no Graphviz program to draw the graph")
def test_next_walks_the_graph_and_table_in_chromium(tmp_path: Path) -> None:
    t = lab_formula()
    page = t.save(tmp_path / "report.html")
    probe = tmp_path / "probe.html"
    probe.write_text(page.read_text(encoding="utf-8") + _PROBE, encoding="utf-8")
    with tempfile.TemporaryDirectory() as profile:
        done = subprocess.run(
            [_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
             "--no-first-run", "--disable-background-networking", "--disable-component-update",
             "--disable-sync", f"--user-data-dir={profile}", "--virtual-time-budget=2000",
             "--dump-dom", probe.as_uri() + "#step=20"],
            capture_output=True, text=True, timeout=120)
    found = re.search(r'<pre id="gt-probe">(.*?)</pre>', done.stdout, re.S)
    assert found, done.stderr[-2000:]
    result = json.loads(html.unescape(found.group(1)))
    assert result["initial"] == "20"  # the URL's #step=20 was honoured
    log = result["log"]
    stops = expected_stops(t)
    assert [int(e["k"]) for e in log] == list(range(1, len(stops) + 1))
    assert [tuple(e["rows"][0]) for e in log] == [(p, str(s)) for p, s, _ in stops]
    assert all(len(e["rows"]) == 1 and e["controls"] for e in log)
    for e, (phase, step, node) in zip(log, stops):
        assert node in e["nodes"], (phase, step, e["nodes"])
        if phase == "forward" and step > 5:  # an op: its node and its box, and the edges between
            assert sorted(e["nodes"]) == sorted([f"o{step}", f"t{step}"])
            assert f"o{step}->t{step}" in e["edges"]
    mid = log[18]  # backward step 5: AddBackward0, where x_5 gets its second share
    assert "backward step 5 (pass 1): AddBackward0" in mid["card"]
    assert "0.0651 · 1.0000 = 0.0651" in mid["card"]
    assert result["back"] == str(len(stops) - 1)  # Previous from the last step


def test_user_text_is_escaped() -> None:
    from dataclasses import replace

    evil = "<script>alert(1)</script>"
    t = lab_formula()
    steps = tuple(replace(s, name=evil, named=False) if s.step == 6 else s for s in t.steps)
    back = tuple(replace(b, tensor=evil) if b.forward_step == 6 else b for b in t.backward_steps)
    page = stepper_html(Trace(steps, back, t.passes))
    assert evil not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert page.count("<script") == 1


def test_temporaries_have_the_names_the_tables_give_them() -> None:
    t = lab_formula()
    page = stepper_html(t)
    temporaries = [s for s in t.steps if not s.named]
    assert temporaries
    for s in temporaries:  # the forward table's name, with the formulas' symbol as its alias
        assert re.search(re.escape(html.escape(s.name)) + r' <span class="gt-dim">= ', page), s.name
    assert set(t.forward["name"]) >= {s.name for s in temporaries}
