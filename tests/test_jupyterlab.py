"""The view in JupyterLab itself, trusted and untrusted, light and dark, measured in Chromium.

An untrusted notebook (saved outputs without a valid signature: any notebook someone shared) runs
its HTML through JupyterLab's sanitizer; the view must still show monospace tables whose rows do
not wrap, warnings in colour, the graph as a picture whose text is at least 9 px, and a height
cap (see NOTE [HTML that works everywhere] in gradtrace.views.html). Set GRADTRACE_SCREENSHOTS to
a folder (``docs``) to save the README's screenshots there.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from notebook_tools import chromium, jupyterlab

pytestmark = pytest.mark.slow

CELLS = {
    "setup": "import torch\n%load_ext gradtrace",
    # the lab's backprop exercise: y = log(exp(x1·x2)² + sin(x3 + x4 + x5)·x5)
    "exercise": """%%gradtrace -o formula
x_1 = torch.tensor(1.0, requires_grad=True)
x_2 = torch.tensor(2.0, requires_grad=True)
x_3 = torch.tensor(-1.0, requires_grad=True)
x_4 = torch.tensor(3.0, requires_grad=True)
x_5 = torch.tensor(5.0, requires_grad=True)
y = torch.log(torch.exp(x_1 * x_2) ** 2 + torch.sin(x_3 + x_4 + x_5) * x_5)
y.backward()
y""",
    "ops37": """%%gradtrace
x = torch.linspace(-1, 1, 6, requires_grad=True)
h = x
for i in range(11):
    h = torch.tanh(h * 1.1 + x[4])
loss = (h + h.sum() * x[2]).sum()
loss.backward(retain_graph=True)
loss.backward()""",
    "mlp": """%%gradtrace
torch.manual_seed(0)
model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 1))
loss = model(torch.randn(5, 4)).pow(2).mean()
loss.backward()""",
    "stepper": "formula.stepper()",
}

# In the page: per output of a cell, what a reader sees. The graph is an <img> (or, where the
# stepper's script ran, the same SVG inline); its text is at least 8 pt (Graphviz's smallest),
# so the rendered size is 8 * 4/3 px times the rendered width over the SVG's own width.
_MEASURE = """() => {
function lum(c) {
  var m = c.match(/[\\d.]+/g).map(Number);
  var v = m.slice(0, 3).map(function (x) { x /= 255;
    return x <= 0.03928 ? x / 12.92 : Math.pow((x + 0.055) / 1.055, 2.4); });
  return 0.2126 * v[0] + 0.7152 * v[1] + 0.0722 * v[2];
}
function contrast(a, b) { var x = lum(a), y = lum(b);
  return (Math.max(x, y) + 0.05) / (Math.min(x, y) + 0.05); }
function shown(el) { var r = el.getBoundingClientRect();
  return r.width > 0 && r.height > 0 && getComputedStyle(el).visibility !== "hidden"; }
var out = {};
document.querySelectorAll(".jp-CodeCell").forEach(function (cell) {
  var view = cell.querySelector(".jp-OutputArea .gradtrace");
  var src = cell.querySelector(".jp-InputArea .cm-content");
  if (!view || !src) return;
  var id = /-o formula/.test(src.textContent) ? "exercise" : /range\\(11\\)/.test(src.textContent)
    ? "ops37" : /Sequential/.test(src.textContent) ? "mlp" : "stepper";
  var area = cell.querySelector(".jp-OutputArea");
  var pics = [];
  view.querySelectorAll("img.gt-pic, .gt-graph > svg").forEach(function (p) {
    if (p.closest(".gt-x-static") && !shown(p)) return;  // the explorer runs in its place
    var own = p.tagName === "IMG" ? p.naturalWidth : parseFloat(p.getAttribute("width")) * 4 / 3;
    var w = p.getBoundingClientRect().width;
    pics.push({w: Math.round(w), shown: shown(p), text_px: +(w / own * 8 * 4 / 3).toFixed(2)});
  });
  var fonts = [], rows = [], loose = [];
  view.querySelectorAll("table.gt td").forEach(function (td) {
    fonts.push(/monospace/.test(getComputedStyle(td).fontFamily)); });
  var first = view.querySelector("table.gt");
  if (first && !view.classList.contains("gt-stepper")) first.querySelectorAll("tbody tr")
    .forEach(function (tr) { rows.push(tr.getBoundingClientRect().height); });
  view.querySelectorAll("*").forEach(function (el) {
    if (el instanceof SVGElement) return;  // inside the picture
    var o = getComputedStyle(el).overflowX;
    if (el.scrollWidth > el.clientWidth + 1 && o !== "auto" && o !== "scroll" &&
        el.clientWidth > 0 && el.tagName !== "TD" && el.tagName !== "TR" &&
        el.tagName !== "TBODY" && el.tagName !== "THEAD" && el.tagName !== "TABLE")
      loose.push(el.tagName + "." + el.className);
  });
  if (area.scrollWidth > area.clientWidth + 1) loose.push("output area");
  var kinds = Array.from(view.querySelectorAll(".gt-kind")).map(function (k) {
    var s = getComputedStyle(k);
    return {shown: shown(k), contrast: +contrast(s.color, s.backgroundColor).toFixed(2)}; });
  var nojs = view.querySelector(".gt-nojs"), bar = view.querySelector(".gt-controls");
  out[id] = {height: Math.round(area.getBoundingClientRect().height), pics: pics,
    monospace: fonts.length > 0 && fonts.every(Boolean), cells: fonts.length,
    row_ratio: rows.length ? +(Math.max.apply(null, rows) / Math.min.apply(null, rows)).toFixed(2)
      : null,
    overflow: loose, kinds: kinds, width: Math.round(area.getBoundingClientRect().width),
    note: nojs ? shown(nojs) : null, controls: bar ? shown(bar) : null,
    explorer: Array.from(view.querySelectorAll(".gt-x-stage svg")).some(shown)};
});
return out;
}"""


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """Executed notebooks (one signed, one not) served by JupyterLab on a localhost port."""
    with jupyterlab(tmp_path_factory.mktemp("lab"), CELLS) as served:
        yield served


def _look(lab: dict[str, Any], theme: str, trust: str) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    themes = lab["settings"] / "@jupyterlab" / "apputils-extension"
    themes.mkdir(parents=True, exist_ok=True)
    (themes / "notification.jupyterlab-settings").write_text('{"fetchNews": "false"}')
    (themes / "themes.jupyterlab-settings").write_text(json.dumps(
        {"theme": "JupyterLab Dark" if theme == "dark" else "JupyterLab Light"}))
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium(), args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 2200})
            page.goto(f"{lab['url']}/lab/tree/{trust}.ipynb?token={lab['token']}&reset")
            page.wait_for_function("document.querySelectorAll('.jp-OutputArea .gradtrace')"
                                   ".length >= 4", timeout=90_000)
            page.wait_for_timeout(1500)  # pictures decoded, the stepper's script run
            found: dict[str, Any] = page.evaluate(_MEASURE)
            found["dark"] = page.evaluate("document.body.dataset.jpThemeLight === 'false'")
            folder = os.environ.get("GRADTRACE_SCREENSHOTS")
            if folder:  # the backprop exercise: both tables and the graph
                cell = page.locator(".jp-CodeCell").nth(1)
                cell.scroll_into_view_if_needed()
                name = "notebook-untrusted" if trust == "untrusted" else f"notebook-{theme}"
                if trust == "trusted" or theme == "light":
                    cell.screenshot(path=str(Path(folder) / f"{name}.png"))
            return found
        finally:
            browser.close()


@pytest.mark.parametrize("theme", ["light", "dark"])
@pytest.mark.parametrize("trust", ["trusted", "untrusted"])
def test_view_in_jupyterlab(lab: dict[str, Any], theme: str, trust: str) -> None:
    found = _look(lab, theme, trust)
    print(json.dumps({"theme": theme, "trust": trust, **found}))  # the numbers, with -s
    assert found.pop("dark") == (theme == "dark")
    assert set(found) == {"exercise", "ops37", "mlp", "stepper"}, found.keys()
    for cell, view in found.items():
        assert view["pics"] or view["explorer"], (cell, "no graph picture")
        for pic in view["pics"]:
            assert pic["shown"] and pic["w"] >= 150 and pic["text_px"] >= 9, (cell, pic)
        assert view["monospace"], cell
        assert view["overflow"] == [], (cell, view["overflow"])
        if view["row_ratio"] is not None:
            assert view["row_ratio"] <= 1.5, (cell, view["row_ratio"])
        for kind in view["kinds"]:
            assert kind["shown"] and kind["contrast"] >= 4.5, (cell, kind)
    assert found["exercise"]["height"] <= 2000, found["exercise"]["height"]
    assert found["ops37"]["kinds"], "the 37-op cell warns (two backward passes)"
    stepper = found["stepper"]
    assert stepper["note"] == (trust == "untrusted")  # says why there are no buttons
    assert stepper["controls"] == (trust == "trusted")
