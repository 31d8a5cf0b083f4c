"""The example notebook: committed clean, run in a real kernel, exported, looked at in Chromium.

One kernel runs the whole notebook once (a module fixture); the expected numbers are computed
here with plain torch, never copied from an output.
"""

from __future__ import annotations

import html
import importlib.util
import json
import math
import re
from pathlib import Path
from typing import Any

import pytest
import torch

nbformat = pytest.importorskip("nbformat")
pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

from notebook_tools import NOTEBOOK, browse, chromium, execute, export_html  # noqa: E402


def _make_notebook() -> Any:
    spec = importlib.util.spec_from_file_location("make_notebook",
                                                  NOTEBOOK.parent / "make_notebook.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def f4(t: torch.Tensor | float) -> str:
    return f"{float(t.detach() if isinstance(t, torch.Tensor) else t):.4f}"


def expected() -> dict[str, list[str]]:
    """What each traced cell's HTML view must show, computed with plain torch."""
    out: dict[str, list[str]] = {}
    torch.manual_seed(0)
    x = torch.rand(1, requires_grad=True)
    (x**2).backward()
    out["square"] = [f"x.grad: None -&gt; {f4(x.grad)}", f4(x)]
    out["sum"] = ["[1.0000, 1.0000, 1.0000, 1.0000, 1.0000]", "<summary>tensors (2)</summary>"]
    x = torch.tensor([0.9460], requires_grad=True)
    z = x.log()
    z.retain_grad()
    (z**2).backward()
    out["chain"] = [f"z &lt;- {f4(z.grad)}", f"x.grad: None -&gt; {f4(x.grad)}"]
    x_1 = torch.tensor([3.0], requires_grad=True)
    x_2 = torch.tensor([2.0], requires_grad=True)
    (x_1.cos() * x_2.log()).backward()
    first = [f"x_1.grad: None -&gt; {f4(x_1.grad)}", f"x_2.grad: None -&gt; {f4(x_2.grad)}"]
    out["cos-log"] = first
    g1, g2 = x_1.grad.clone(), x_2.grad.clone()  # type: ignore[union-attr]
    (x_1.cos() * x_2.log()).backward()
    out["accumulate"] = [f"x_1.grad: {f4(g1)} -&gt; {f4(x_1.grad)}",
                         f"x_2.grad: {f4(g2)} -&gt; {f4(x_2.grad)}", "accumulation"]
    out["leaky"] = ["LeakyReLU_FunBackward", "min=0.01 max=1"]
    out["param-relu"] = ["ParamReLU_FunBackward", "min=0.25 max=1"]
    xs = [torch.tensor(v, requires_grad=True) for v in (1.0, 2.0, -1.0, 3.0, 5.0)]
    y = torch.log(torch.exp(xs[0] * xs[1]) ** 2 + torch.sin(xs[2] + xs[3] + xs[4]) * xs[4])
    y.backward()
    out["formula"] = [f"x_{i}.grad: None -&gt; {f4(v.grad)}" for i, v in enumerate(xs, 1)]
    w = torch.tensor([3, 0, 1, -3, 0.5])
    x = torch.tensor([1, 2, -1, 3, 5], dtype=torch.float32, requires_grad=True)
    y_hat = torch.sigmoid(w @ x)
    gt = torch.tensor([1.0])
    (-(y_hat * gt.log() + (1 - y_hat) * (1 - gt.log())).sum()).backward()
    out["sigmoid"] = ["x.grad: None -&gt; [" + ", ".join(map(f4, x.grad)) + "]",  # type: ignore
                      "model.module1.weight"]
    return out


FAILING = """\
%%gradtrace -o failed
w = torch.ones(2, requires_grad=True)
(w * 3).sum().backward()
v = torch.log("not a tensor")
"""


@pytest.fixture(scope="module")
def run_notebook(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, list[Any]]:
    """The notebook run in one kernel, then a failing traced cell and a check in that kernel."""
    return execute(tmp_path_factory.mktemp("notebook"),
                   then=[FAILING, "print(failed.error_line, w.grad.tolist(), 'v' in dir())"])


@pytest.fixture
def executed(run_notebook: tuple[Any, list[Any]]) -> Any:
    return run_notebook[0]


def cells(nb: Any) -> dict[str, Any]:
    return {c.id: c for c in nb.cells if c.cell_type == "code"}


def test_notebook_is_committed_without_outputs_and_rebuilt_by_its_script() -> None:
    nb = nbformat.read(NOTEBOOK, as_version=4)
    for c in nb.cells:
        if c.cell_type == "code":
            assert c.outputs == [] and c.execution_count is None, c.id
    make = _make_notebook()
    assert NOTEBOOK.read_text(encoding="utf-8") == nbformat.writes(make.build()) + "\n"
    assert set(make.TRACED) == set(expected())


def test_every_traced_cell_shows_the_html_view_with_torch_gradients(executed: Any) -> None:
    by_id = cells(executed)
    for cid, cell in by_id.items():
        errors = [o for o in cell.outputs if o.output_type == "error"]
        assert not errors, (cid, errors)
    for cid, wanted in expected().items():
        views = [o.data["text/html"] for o in by_id[cid].outputs
                 if o.output_type == "display_data" and "text/html" in o.data]
        assert len(views) == 1, cid
        assert views[0].startswith('<div class="gradtrace" style="') and "<script" not in views[0]
        assert "<summary>forward (" in views[0] and "<summary>backward pass 1" in views[0], cid
        for text in wanted:
            assert text in views[0], (cid, text)


def test_cells_run_as_without_the_magic(executed: Any) -> None:
    by_id = cells(executed)
    results = {cid: [o for o in c.outputs if o.output_type == "execute_result"]
               for cid, c in by_id.items()}
    torch.manual_seed(0)
    x = torch.rand(1)
    assert results["square"][0].data["text/plain"] == f"tensor([{f4(2 * x)}])"
    assert results["square-check"][0].data["text/plain"].startswith("(tensor([True]),")
    assert not results["cos-log"]  # a cell ending in a statement shows no value
    printed = "".join(o.text for o in by_id["accumulate"].outputs if o.output_type == "stream")
    assert printed == "tensor([-0.1956]) tensor([-0.9900])\n"
    grads = json.loads(results["formula-grads"][0].data["text/plain"].replace("\n", ""))
    xs = [torch.tensor(v, requires_grad=True) for v in (1.0, 2.0, -1.0, 3.0, 5.0)]
    torch.log(torch.exp(xs[0] * xs[1]) ** 2 + torch.sin(xs[2] + xs[3] + xs[4]) * xs[4]).backward()
    assert all(math.isclose(g, v.grad.item(), rel_tol=1e-6) for g, v in zip(grads, xs, strict=True))


def test_failing_cell_shows_what_ran_then_stops_run_all(run_notebook: tuple[Any, Any]) -> None:
    (failing, error), (check, _) = run_notebook[1]
    assert error is not None  # the kernel replied "error": Jupyter's "Run All" stops here
    kinds = [o.output_type for o in failing.outputs]
    assert kinds == ["display_data", "error"]  # the trace of what ran, then the traceback
    page = failing.outputs[0].data["text/html"]
    assert "stopped by TypeError" in page and "w.grad: None -&gt; [3.0000, 3.0000]" in page
    traceback = "\n".join(failing.outputs[1].traceback)
    assert 'v = torch.log(\x1b' in traceback or 'v = torch.log("not a tensor")' in traceback
    assert "recorder.py" not in traceback
    assert check.outputs[0].text == "3 [3.0, 3.0] False\n"


_PROBE = """<!doctype html><meta charset="utf-8"><title>probe</title>
<script>
function seen(el) {
  var r = el.getBoundingClientRect();
  var shown = el.checkVisibility ? el.checkVisibility({checkOpacity: true,
                                                       checkVisibilityCSS: true}) : true;
  return {w: Math.round(r.width), h: Math.round(r.height), shown: shown};
}
function probe(frame) {
  var out = {views: []};
  try {
    var doc = frame.contentDocument;
    doc.querySelectorAll("div.gradtrace").forEach(function (view) {
      var cell = view.closest(".jp-Cell");
      out.views.push({
        cell: cell ? cell.id.replace("cell-id=", "") : "",
        box: seen(view),
        tables: Array.from(view.querySelectorAll("table.gt")).map(seen),
        svgs: Array.from(view.querySelectorAll("img.gt-pic")).map(seen),
        text: view.innerText
      });
    });
  } catch (e) { out.error = String(e); }
  document.getElementById("result").textContent = JSON.stringify(out);
}
</script>
<iframe src="export.html" onload="probe(this)" style="width:1200px;height:900px"></iframe>
<pre id="result">not loaded</pre>
"""


@pytest.mark.skipif(chromium() is None, reason="chromium is not installed (CI installs it)")
def test_exported_notebook_shows_tables_and_graph_in_chromium(executed: Any,
                                                               tmp_path: Path) -> None:
    pytest.importorskip("nbconvert")
    export_html(executed, tmp_path / "export.html")  # the page _PROBE opens
    (tmp_path / "probe.html").write_text(_PROBE, encoding="utf-8")
    dom = browse((tmp_path / "probe.html").as_uri(), "--allow-file-access-from-files",
                 "--virtual-time-budget=20000", "--window-size=1280,1000", "--dump-dom")
    found = re.search(r'<pre id="result">(.*?)</pre>', dom, re.S)
    assert found, dom[-2000:]
    result = json.loads(html.unescape(found.group(1)))
    assert "error" not in result, result
    views = {v["cell"]: v for v in result["views"]}
    assert set(views) == set(expected())
    for cid, view in views.items():
        assert view["box"]["shown"] and view["box"]["w"] > 300, (cid, view["box"])
        assert view["tables"], cid
        for table in view["tables"]:
            assert table["shown"] and table["w"] > 100 and table["h"] > 20, (cid, table)
    text = views["cos-log"]["text"]  # rendered text: what a reader sees
    assert "x_1.grad: None -> -0.0978" in text and "x_2.grad: None -> -0.4950" in text
    assert "3.7730" in views["formula"]["text"]
    for cid, view in views.items():  # and each traced cell's graph, an SVG picture
        assert any(s["shown"] and s["w"] > 50 and s["h"] > 50 for s in view["svgs"]), cid
