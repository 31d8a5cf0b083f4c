"""``%%gradtrace`` driven through an in-process IPython shell, and through terminal IPython.

Gradients are checked against plain PyTorch; the outputs by their MIME types and contents.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch

pytest.importorskip("IPython")

from IPython.core.error import UsageError
from IPython.testing import globalipapp
from IPython.utils.capture import capture_output

from gradtrace import Trace
from gradtrace.views.display import TraceView

ROOT = Path(__file__).resolve().parent.parent
COS_LOG = """\
x_1 = torch.tensor([3.0], requires_grad=True)
x_2 = torch.tensor([2.0], requires_grad=True)
c = x_1.cos() * x_2.log()
c.backward()
"""


@pytest.fixture
def ip() -> Iterator[Any]:
    """The test shell with %%gradtrace loaded and notebook display (text and HTML)."""
    shell = globalipapp.get_ipython()  # the module rebinds this name on first use
    shell.run_line_magic("load_ext", "gradtrace")
    shell.run_cell("import torch")
    saved = list(shell.display_formatter.active_types)
    shell.display_formatter.active_types = shell.display_formatter.format_types
    yield shell
    shell.display_formatter.active_types = saved
    shell.run_line_magic("config", "GradtraceMagics.max_rows = 200")  # the defaults again
    shell.run_line_magic("config", "GradtraceMagics.sections = 'warnings,forward,backward,graph'")


def run(ip: Any, line: str, body: str) -> tuple[Any, Any]:
    """Run ``%%gradtrace line`` with ``body``; returns (run_cell result, captured output)."""
    with capture_output() as out:
        result = ip.run_cell(f"%%gradtrace {line}\n{body}")
    return result, out


def views(out: Any, kind: str = "text/plain") -> list[str]:
    return [o.data[kind] for o in out.outputs if kind in o.data]


def plain_cos_log() -> tuple[torch.Tensor, torch.Tensor]:
    x_1 = torch.tensor([3.0], requires_grad=True)
    x_2 = torch.tensor([2.0], requires_grad=True)
    (x_1.cos() * x_2.log()).backward()
    assert x_1.grad is not None and x_2.grad is not None
    return x_1.grad, x_2.grad


def test_notebook_gets_one_html_view_with_text_fallback(ip: Any) -> None:
    result, out = run(ip, "-o t", COS_LOG)
    assert result.success
    assert [sorted(o.data) for o in out.outputs] == [["text/html", "text/plain"]]
    page = views(out, "text/html")[0]
    assert page.startswith('<div class="gradtrace" style="') and "<script" not in page
    assert "forward (5 steps)" in page and "backward pass 1" in page
    assert "x_1.grad: None -&gt; -0.0978" in page and "x_2 &lt;- -0.4950" in page
    assert views(out)[0].startswith("gradtrace: 5 forward steps, 1 backward pass")
    g1, g2 = plain_cos_log()
    t = ip.user_ns["t"]
    assert isinstance(t, Trace)
    assert torch.equal(t.grad("x_1"), g1) and torch.equal(t.grad("x_2"), g2)
    assert torch.equal(ip.user_ns["x_1"].grad, g1)  # the cell's variables stay
    assert t.step("c").line == 3 and t.step("c").source == "c = x_1.cos() * x_2.log()"


def test_terminal_shell_gets_text_only_and_no_html_is_made(ip: Any, monkeypatch: Any) -> None:
    ip.display_formatter.active_types = ["text/plain"]
    monkeypatch.setattr(TraceView, "to_html", lambda self: pytest.fail("HTML made for a terminal"))
    result, out = run(ip, "--width 60", COS_LOG)
    assert result.success and [list(o.data) for o in out.outputs] == [["text/plain"]]
    text = views(out)[0]
    assert max(map(len, text.splitlines())) <= 60 and "x_1 <- -0.0978" in text


def test_last_expression_is_displayed_and_semicolon_hides_it(ip: Any) -> None:
    result, out = run(ip, "", COS_LOG + "x_1.grad")
    assert result.success and torch.equal(ip.user_ns["x_1"].grad, plain_cos_log()[0])
    shown = re.escape(repr(plain_cos_log()[0]))
    assert re.search(r"Out\[\d+\]: " + shown, out.stdout)  # through the displayhook
    assert len(out.outputs) == 1  # and the trace
    result, out = run(ip, "", COS_LOG + "x_1.grad;")
    assert result.success and "Out[" not in out.stdout and len(out.outputs) == 1


def test_accumulation_across_cells_warns_first(ip: Any) -> None:
    run(ip, "", COS_LOG)
    _, out = run(ip, "-o t", "c = x_1.cos() * x_2.log()\nc.backward()")
    g1, _ = plain_cos_log()
    assert torch.equal(ip.user_ns["x_1"].grad, 2 * g1)
    text = views(out)[0]
    assert text.index("! accumulation") < text.index("\nforward\n")
    (w,) = ip.user_ns["t"].warnings  # one cause: both leaves named in one warning
    assert w.kind == "accumulation" and set(w.tensors) == {"x_1", "x_2"}
    page = views(out, "text/html")[0]
    assert page.index("gt-warn") < page.index("forward (")


@pytest.mark.parametrize(("line", "present", "absent"), [
    ("--sections warnings,graph", ["! accumulation", "graph"], ["forward", "backward pass"]),
    ("--sections warnings,forward,backward", ["forward", "backward pass 1"], ["graph"]),
    ("--sections forward", ["forward"], ["backward pass", "! accumulation", "graph"]),
    ("--sections backward,warnings", ["backward pass 1", "! accumulation"],
     ["forward", "graph"]),
    ("--sections tensors", ["tensors", "x_1       (1,)   3.0000   -0.0978"],
     ["forward", "graph"]),
    ("--sections none", ["gradtrace: 5 forward steps"], ["forward", "backward pass", "graph"]),
    ("--ignore accumulation", ["no warnings"], ["! accumulation"]),
    ("--max-rows 2", ["… 3 more rows"], []),
])
def test_each_option_changes_what_is_shown(ip: Any, line: str, present: list[str],
                                           absent: list[str]) -> None:
    ip.run_cell("x_1 = torch.tensor([3.0], requires_grad=True); x_1.grad = torch.ones(1)")
    body = COS_LOG.replace("x_1 = torch.tensor([3.0], requires_grad=True)\n", "")
    result, out = run(ip, line, body)
    assert result.success
    text, page = views(out)[0], views(out, "text/html")[0]
    blocks = [b.split("\n", 1)[0] for b in text.split("\n\n")]
    for word in present:
        assert word in text, (word, text)
    for word in absent:
        assert not any(b.startswith(word) for b in blocks), (word, text)
    html_titles = {"forward": "<summary>forward", "backward pass": "<summary>backward pass",
                   "graph": "<summary>graph", "! accumulation": '<ul class="gt-warn">'}
    for word in absent:
        if word in html_titles:
            assert html_titles[word] not in page, (word, page)
    if "--sections tensors" in line:
        assert "<summary>tensors (5)</summary>" in page


def test_no_retain_leaves_intermediate_grads_alone(ip: Any) -> None:
    body = "x = torch.tensor([0.9460], requires_grad=True)\nz = x.log()\ny = z**2\ny.backward()"
    assert run(ip, "", body)[0].success
    assert ip.user_ns["z"].retains_grad
    assert torch.allclose(ip.user_ns["z"].grad, 2 * torch.tensor([0.9460]).log())
    assert run(ip, "--no-retain -o t", body)[0].success
    assert not ip.user_ns["z"].retains_grad
    x = torch.tensor([0.9460], requires_grad=True)
    (x.log() ** 2).backward()
    assert torch.equal(ip.user_ns["t"].grad("x"), x.grad)


def test_full_values_and_check(ip: Any) -> None:
    body = "w = torch.ones(200, 100, requires_grad=True)\n(w * 3).sum().backward()"
    run(ip, "-o t", body)
    with pytest.raises(KeyError, match='values="full"'):
        ip.user_ns["t"].grad("w")
    run(ip, "--values full --check -o t", body)
    assert torch.equal(ip.user_ns["t"].grad("w"), torch.full((200, 100), 3.0))
    run(ip, "--values none -o t", body)
    assert ip.user_ns["t"].values == "none" and ip.user_ns["t"].steps[0].value.min is None


def test_config_sets_defaults_and_flags_override_them(ip: Any) -> None:
    ip.run_line_magic("config", "GradtraceMagics.max_rows = 2")
    ip.run_line_magic("config", "GradtraceMagics.sections = 'forward'")
    text = views(run(ip, "", COS_LOG)[1])[0]
    assert "… 3 more rows" in text and "\ngraph\n" not in text
    text = views(run(ip, "--max-rows 0 --sections forward,graph", COS_LOG)[1])[0]
    assert "more row" not in text and "\ngraph\n" in text
    with capture_output() as out:
        ip.run_line_magic("config", "GradtraceMagics")
    assert "max_rows" in out.stdout and "sections" in out.stdout


@pytest.mark.parametrize(("line", "instead", "absent"), [
    ("--show forward", "--sections", "\ngraph\n"),
    ("--no-graph", "--sections", "\ngraph\n"),
    ("--no-table", "--sections", "\nforward\n"),
    ("--full-values", "--values full", None),
])
def test_deprecated_spellings_still_work_and_say_what_to_use(ip: Any, line: str, instead: str,
                                                              absent: str | None) -> None:
    with pytest.warns(FutureWarning, match=f"{line.split()[0]} is deprecated; use {instead}"):
        result, out = run(ip, f"-o t {line}", COS_LOG)
    assert result.success
    if absent is not None:
        assert absent not in views(out)[0]
    else:
        assert ip.user_ns["t"].values == "full"


@pytest.mark.parametrize("line", ["--bogus", "--max-rows x", "--max-rows -1", "--sections forwards",
                                  "-o 1bad", "--ignore nope", "extra words",
                                  "--values some", "--values none --full-values"])
def test_wrong_options_are_usage_errors_and_the_cell_does_not_run(ip: Any, line: str) -> None:
    ip.user_ns.pop("ran", None)
    result, out = run(ip, line, "ran = torch.ones(1) * 2")
    assert isinstance(result.error_in_exec, UsageError), result
    assert "ran" not in ip.user_ns and not out.outputs


def test_failing_cell_shows_partial_trace_then_reraises(ip: Any) -> None:
    ip.run_cell("def helper(a):\n    return torch.log(a)\n")
    body = ("x = torch.tensor([3.0], requires_grad=True)\n"
            "y = (x * 2).sum()\ny.backward()\nz = helper('not a tensor')\nafter = 1\n")
    ip.user_ns.pop("after", None)
    result, out = run(ip, "-o t", body)
    assert isinstance(result.error_in_exec, TypeError)  # re-raised: "Run All" stops
    assert "after" not in ip.user_ns and torch.equal(ip.user_ns["x"].grad, torch.full((1,), 2.0))
    t = ip.user_ns["t"]
    assert t.error and t.error.startswith("TypeError") and t.error_line == 4
    assert torch.equal(t.grad("x"), torch.full((1,), 2.0))
    assert views(out)[0].endswith("\n\nstopped at line 4 by TypeError (traceback below)")
    assert "backward pass 1" in views(out)[0]
    shown = out.stdout  # the traceback: the user's lines, none of gradtrace's recorder
    assert "----> 4 z = helper('not a tensor')" in shown and "return torch.log(a)" in shown
    assert "recorder.py" not in shown and "TypeError" in shown
    with capture_output(display=False) as out:  # the terminal prints displays: see the order
        ip.run_cell(f"%%gradtrace\n{body}")
    assert out.stdout.index("stopped at line 4 by TypeError") < out.stdout.index("Traceback")


def test_syntax_error_is_reported_like_a_cell_and_nothing_is_traced(ip: Any) -> None:
    result, out = run(ip, "", "x = (1,\n")
    assert isinstance(result.error_in_exec, SyntaxError) and not out.outputs


def test_help_reads_like_a_help_page(ip: Any) -> None:
    doc = ip.magics_manager.magics["cell"]["gradtrace"].__doc__
    assert "Usage::" in doc and "%config GradtraceMagics.max_rows" in doc
    for option in ("-o NAME", "--sections SECTIONS", "--values MODE", "--no-retain",
                   "--max-rows N", "--ignore KINDS"):
        assert option in doc, option


def test_load_twice_unload_and_reload(ip: Any) -> None:
    cell_magics = ip.magics_manager.magics["cell"]
    count = len(ip.configurables)
    ip.run_line_magic("load_ext", "gradtrace")
    import gradtrace

    gradtrace.load_ipython_extension(ip)  # loading again changes nothing
    assert len(ip.configurables) == count and "gradtrace" in cell_magics
    ip.run_line_magic("unload_ext", "gradtrace")
    assert "gradtrace" not in cell_magics and len(ip.configurables) == count - 1
    with capture_output():
        result = ip.run_cell("%%gradtrace\nx = 1")
    assert not result.success
    gradtrace.unload_ipython_extension(ip)  # unloading again is harmless
    ip.run_line_magic("load_ext", "gradtrace")
    ip.run_line_magic("reload_ext", "gradtrace")
    assert "gradtrace" in cell_magics and len(ip.configurables) == count
    assert run(ip, "", COS_LOG)[0].success


def test_import_gradtrace_does_not_import_ipython() -> None:
    code = ("import sys, gradtrace; print('IPython' in sys.modules,"
            " 'gradtrace.frontends.magics' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                         timeout=120, check=True).stdout
    assert out.split() == ["False", "False"]


def test_terminal_ipython_prints_text_tables_that_fit(tmp_path: Path) -> None:
    session = ("%load_ext gradtrace\nimport torch\n%%gradtrace\n" + COS_LOG +
               "c = x_1.cos() * x_2.log()\nc.backward()\nx_1.grad\n\n\nexit\n")
    env = {**os.environ, "COLUMNS": "80", "PYTHONPATH": str(ROOT), "TERM": "dumb"}
    proc = subprocess.run(
        [sys.executable, "-m", "IPython", "--simple-prompt", "--no-banner", "--colors=NoColor",
         "--HistoryManager.enabled=False", "--TerminalInteractiveShell.confirm_exit=False"],
        input=session, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=180)
    out = proc.stdout
    assert proc.returncode == 0, proc.stderr
    assert "Out[3]: tensor([-0.1956])" in out
    report = out[out.index("gradtrace: 8 forward steps"):]
    assert max(map(len, report.splitlines())) <= 80, report
    assert report.index("! accumulation") < report.index("\nforward\n") < report.index(
        "\nbackward pass 2: ")
    assert "x_1.grad: -0.0978 -> -0.1956" in report
    assert "<svg" not in out and "<div" not in out and "Error" not in out


def test_stepper_option_adds_the_walk(ip: Any) -> None:
    result, out = run(ip, "--stepper -o t", COS_LOG)
    assert result.success
    assert len(out.outputs) == 2
    walk = out.outputs[1].data
    t = ip.user_ns["t"]
    steps = len(t.steps) + len(t.backward_steps)
    assert "text/html" in walk and "<script" in walk["text/html"]
    assert f"{steps}" in walk["text/plain"]
    _, plain = run(ip, "", COS_LOG)
    assert len(plain.outputs) == 1  # off by default


INPLACE_CELL = """\
x = torch.tensor([3.0], requires_grad=True)
y = x.exp()
y.add_(1)
y.backward()
"""
INPLACE_MESSAGE = "one of the variables needed for gradient computation has been modified"


@pytest.mark.parametrize("width", [80, 120])
def test_terminal_ipython_prints_an_error_once(tmp_path: Path, width: int) -> None:
    session = ("%load_ext gradtrace\nimport torch\n"
               f"%%gradtrace --width {width}\n{INPLACE_CELL}\n\nexit\n")
    env = {**os.environ, "COLUMNS": str(width), "PYTHONPATH": str(ROOT), "TERM": "dumb"}
    proc = subprocess.run(
        [sys.executable, "-m", "IPython", "--simple-prompt", "--no-banner", "--colors=NoColor",
         "--HistoryManager.enabled=False", "--TerminalInteractiveShell.confirm_exit=False"],
        input=session, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
        cwd=tmp_path, timeout=180)
    out = proc.stdout
    assert out.count(INPLACE_MESSAGE) == 1, out  # the traceback's, not the report's too
    report = out[out.index("gradtrace: 3 forward steps"):out.index("RuntimeError  ")]
    assert "\nstopped here by RuntimeError\n\ngraph\n" in report
    assert "\n\nstopped at line 4 by RuntimeError (traceback below)\n" in report
    assert max(map(len, report.splitlines())) <= width
    shown = out[out.index("RuntimeError  "):]
    assert "----> 4 y.backward()" in shown and "torch/autograd/graph.py" in shown
    for hidden in ("overrides.py", "_device.py", "__torch_function__", str(ROOT / "gradtrace")):
        assert hidden not in shown, hidden


def test_an_error_in_a_cell_is_shown_once(ip: Any) -> None:
    with capture_output(display=False) as out:  # the terminal prints displays and tracebacks
        ip.run_cell(f"%%gradtrace --width 80\n{INPLACE_CELL}")
    assert out.stdout.count(INPLACE_MESSAGE) == 1
    assert "overrides.py" not in out.stdout and "_tensor.py" in out.stdout


WATCH_CELL = """\
torch.manual_seed(0)
model = torch.nn.Sequential(torch.nn.Linear(6, 16), torch.nn.Tanh(), torch.nn.Linear(16, 4))
opt = torch.optim.SGD(model.parameters(), lr=0.5)
x, y = torch.randn(32, 6), torch.randint(0, 4, (32,))
seen = []
for it in range(7):
    opt.zero_grad()
    loss = torch.nn.functional.cross_entropy(model(x), y)
    loss.backward()
    seen.append((loss.item(), model[0].weight.grad.std().item()))
    opt.step()
"""


def png_size(data: bytes) -> tuple[int, int]:
    """The width and height a PNG's header gives (after checking that it is a PNG)."""
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and data[12:16] == b"IHDR"
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def test_watch_updates_one_status_in_place_then_shows_the_figure_and_the_table(ip: Any) -> None:
    pytest.importorskip("matplotlib")
    import base64

    result, out = run(ip, "--watch 3 -o w", WATCH_CELL)
    assert result.success, result
    outputs = out.outputs
    status = [o for o in outputs if "display_id" in o.transient]
    ids = {o.transient["display_id"] for o in status}
    # one output made, then updated in place: at each of the 3 samples and once at the end
    assert len(ids) == 1 and [o.update for o in status] == [False, True, True, True, True]
    assert status[0].data["text/plain"] == "gradtrace watch: starting"
    assert [o.data["text/plain"].split(",")[:2] for o in status[1:4]] == [
        ["gradtrace watch: iteration 0", " 1 sampled (every 3)"],
        ["gradtrace watch: iteration 3", " 2 sampled (every 3)"],
        ["gradtrace watch: iteration 6", " 3 sampled (every 3)"]]
    seen = ip.user_ns["seen"]
    final = status[-1].data
    assert final["text/plain"] == ("gradtrace watch: iteration 7, 3 sampled (every 3), "
                                   f"loss {seen[6][0]:.4g} at iteration 6, 0 warnings")
    assert final["text/html"] == f"<pre>{final['text/plain']}</pre>"
    # below it, the figure (a PNG, which untrusted notebooks keep) and then the latest sample
    rest = [o for o in outputs if "display_id" not in o.transient]
    assert ["image/png" in o.data for o in rest] == [True, False]
    png = rest[0].data["image/png"]
    width, height = png_size(png if isinstance(png, bytes) else base64.b64decode(png))
    assert width > 500 and height > 300
    table = rest[1].data["text/html"]
    assert "model.0.weight" in table and "model.1" in table and "update_data_ratio" in table
    # the numbers are the cell's own
    w = ip.user_ns["w"]
    h = w.history[w.history.name == "model.0.weight"].set_index("iteration")
    assert list(h.index) == [0, 3, 6]
    for it in (0, 3, 6):
        assert h.loss[it] == seen[it][0]
        assert h.grad_std[it] == pytest.approx(seen[it][1], rel=1e-6)
    assert w.last.tensors.value_mean.isna().all()  # the sampled Traces keep shapes only


@pytest.mark.parametrize(("line", "kept"), [("--values summary", True), ("", False)])
def test_watch_values_pass_to_the_sampled_traces_and_the_config_does_not(
        ip: Any, line: str, kept: bool) -> None:
    """``--values`` on the cell is what the sampled Traces keep; the configured default
    for ``trace()`` cells is not the watch's."""
    ip.run_line_magic("config", "GradtraceMagics.values = 'summary'")
    result, _ = run(ip, f"--watch 3 -o w {line}", WATCH_CELL)
    assert result.success, result
    means = ip.user_ns["w"].last.tensors.set_index("name").value_mean
    assert means.notna().any() == kept
    if kept:
        assert means["model.0.weight"] == pytest.approx(
            ip.user_ns["model"][0].weight.mean().item(), rel=1e-6)


def test_watch_in_a_terminal_shell_prints_the_status_and_the_table(ip: Any) -> None:
    ip.display_formatter.active_types = ["text/plain"]
    result, out = run(ip, "--watch 5", WATCH_CELL)
    assert result.success, result
    texts = views(out)  # no figure: a terminal cannot show one
    assert len(texts) == 5 and not any("image/png" in o.data for o in out.outputs)
    assert texts[-2].startswith("gradtrace watch: iteration 7, 2 sampled (every 5)")
    assert "model.2.bias" in texts[-1] and "grad_data_ratio" in texts[-1]


@pytest.mark.parametrize("line", ["--watch 0", "--watch -2", "--watch x", "--watch"])
def test_a_bad_watch_count_is_a_usage_error_and_the_cell_does_not_run(ip: Any,
                                                                       line: str) -> None:
    ip.user_ns.pop("ran", None)
    result, out = run(ip, line, "ran = torch.ones(1) * 2")
    assert isinstance(result.error_in_exec, UsageError), result
    assert "ran" not in ip.user_ns and not out.outputs
    if line == "--watch 0":
        assert "must be 1 or more" in str(result.error_in_exec)
