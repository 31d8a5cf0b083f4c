"""``%%gradtrace --watch N`` in JupyterLab itself, measured in Chromium.

Live: a training cell run from the page keeps one output, the status, whose text changes at each
sample (``display_id`` updates, see NOTE [one output area] in gradtrace.watching.live), and ends
with the status, the figure and the table. Saved: the figure is an image the page decodes
(non-zero natural size, shown) in the trusted and the untrusted copy, beside the final status.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from notebook_tools import chromium, jupyterlab, write_kernelspec

pytestmark = pytest.mark.slow

TRAIN = """%%gradtrace --watch 5 -o w
import time
torch.manual_seed(0)
model = torch.nn.Sequential(torch.nn.Linear(8, 32), torch.nn.Tanh(), torch.nn.Linear(32, 4))
opt = torch.optim.SGD(model.parameters(), lr=0.1)
x, y = torch.randn(64, 8), torch.randint(0, 4, (64,))
for it in range(40):
    opt.zero_grad()
    torch.nn.functional.cross_entropy(model(x), y).backward()
    opt.step()
    time.sleep(0.05)  # slow enough for the page to see each sample"""
CELLS = {"setup": "import torch\n%load_ext gradtrace", "train": TRAIN}
FINAL = "gradtrace watch: iteration 40, 8 sampled (every 5)"

# In the page: the training cell's outputs as a reader sees them.
_OUTPUTS = """() => {
var cell = Array.from(document.querySelectorAll(".jp-CodeCell")).find(function (c) {
  var src = c.querySelector(".jp-InputArea .cm-content");
  return src && /--watch/.test(src.textContent); });
if (!cell) return null;
var children = cell.querySelectorAll(".jp-OutputArea > .jp-OutputArea-child");
var imgs = Array.from(cell.querySelectorAll(".jp-OutputArea img")).map(function (img) {
  var r = img.getBoundingClientRect();
  return {complete: img.complete, natural: [img.naturalWidth, img.naturalHeight],
          shown: [Math.round(r.width), Math.round(r.height)]}; });
var pre = cell.querySelector(".jp-OutputArea pre");
return {outputs: children.length, status: pre ? pre.textContent : null, images: imgs,
        table: !!cell.querySelector(".jp-OutputArea table.dataframe"),
        rows: cell.querySelectorAll(".jp-OutputArea table.dataframe tbody tr").length};
}"""

# Polled while the cell runs: each distinct status and the most outputs seen at once.
_POLL = """() => {
window.__gtWatch = {statuses: [], most: 0, polls: 0};
window.__gtTimer = setInterval(function () {
  var found = (OUTPUTS)();
  if (!found) return;
  var seen = window.__gtWatch;
  seen.polls += 1;
  seen.most = Math.max(seen.most, found.images.length ? 0 : found.outputs);
  if (found.status && seen.statuses[seen.statuses.length - 1] !== found.status)
    seen.statuses.push(found.status);
}, 50);
}""".replace("OUTPUTS", _OUTPUTS)
# Whether the figure is in the page.
_DONE = "() => { var f = (OUTPUTS)(); return !!f && f.images.length > 0; }".replace(
    "OUTPUTS", _OUTPUTS)


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The cells run and saved signed and unsigned, served by JupyterLab on a localhost port,
    with a kernel the page can start for a notebook of the same cells not yet run."""
    import nbformat

    with jupyterlab(tmp_path_factory.mktemp("watchlab"), CELLS) as served:
        spec = write_kernelspec(served["data"])
        nb = nbformat.v4.new_notebook(cells=[
            nbformat.v4.new_code_cell(source, id=cid) for cid, source in CELLS.items()])
        nb.metadata["kernelspec"] = spec
        nbformat.write(nb, served["root"] / "live.ipynb")
        yield served


def _open(pw: Any, lab: dict[str, Any], name: str) -> tuple[Any, Any]:
    settings = lab["settings"] / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True, exist_ok=True)
    (settings / "notification.jupyterlab-settings").write_text('{"fetchNews": "false"}')
    browser = pw.chromium.launch(executable_path=chromium(), args=["--no-sandbox"])
    page = browser.new_page(viewport={"width": 1280, "height": 2000})
    page.goto(f"{lab['url']}/lab/tree/{name}.ipynb?token={lab['token']}&reset")
    return browser, page


def test_live_status_updates_in_one_output_then_the_figure_and_table(lab: dict[str, Any]) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser, page = _open(pw, lab, "live")
        try:
            page.wait_for_selector(".jp-Notebook .jp-CodeCell", timeout=90_000)
            page.wait_for_function(  # the status bar: the kernel the notebook names is idle
                "document.body.innerText.includes('gradtrace tests | Idle')", timeout=90_000)
            page.evaluate(_POLL)
            page.locator(".jp-CodeCell").first.click()
            page.keyboard.press("Shift+Enter")  # the setup cell
            page.keyboard.press("Shift+Enter")  # the training cell
            page.wait_for_function(_DONE, timeout=120_000)
            page.wait_for_timeout(500)
            page.evaluate("clearInterval(window.__gtTimer)")
            seen = page.evaluate("window.__gtWatch")
            found = page.evaluate(_OUTPUTS)
        finally:
            browser.close()
    print(json.dumps({"seen": seen, "found": found}))  # the numbers, with -s
    # while it trained: one output, whose text went through the samples in order
    assert seen["most"] == 1, seen
    samples = [s for s in seen["statuses"] if s.startswith("gradtrace watch: iteration")]
    assert len(samples) >= 3, seen["statuses"]
    numbers = [int(s.split()[3].rstrip(",")) for s in samples]
    assert numbers == sorted(numbers) and len(set(numbers)) == len(numbers), numbers
    # at the end: that output holds the final status, then the figure and the table
    assert found["outputs"] == 3, found
    assert found["status"].startswith(FINAL), found["status"]
    _figure_shown(found)


@pytest.mark.parametrize("trust", ["trusted", "untrusted"])
def test_saved_notebook_shows_the_final_status_figure_and_table(lab: dict[str, Any],
                                                                 trust: str) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser, page = _open(pw, lab, trust)
        try:
            page.wait_for_function(_DONE, timeout=90_000)
            page.wait_for_timeout(1000)  # the picture decoded
            found = page.evaluate(_OUTPUTS)
        finally:
            browser.close()
    print(json.dumps({"trust": trust, **found}))
    assert found["outputs"] == 3, found  # nbclient kept the updated status as one output
    assert found["status"].startswith(FINAL), found["status"]
    _figure_shown(found)


def _figure_shown(found: dict[str, Any]) -> None:
    (img,) = found["images"]
    assert img["complete"] and img["natural"][0] >= 500 and img["natural"][1] >= 300, img
    assert img["shown"][0] >= 300 and img["shown"][1] >= 150, img
    assert found["table"] and found["rows"] >= 7, found  # 3 module outputs and 4 parameters


def test_the_figure_is_a_png_in_the_saved_notebook(lab: dict[str, Any]) -> None:
    import nbformat

    nb = nbformat.read(Path(lab["run"]) / "views.ipynb", as_version=4)
    outputs = nb.cells[1].outputs
    assert [sorted(o.get("data", {})) for o in outputs] == [
        ["text/html", "text/plain"], ["image/png", "text/plain"], ["text/html", "text/plain"]]
    assert outputs[0]["data"]["text/plain"].startswith(FINAL)
