"""``python -m gradtrace``: ``main`` runs a script under tracing and prints the report."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from gradtrace.frontends.cli import main

ROOT = Path(__file__).resolve().parent.parent


def write(tmp_path: Path, source: str, name: str = "script.py") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(source), encoding="utf-8")
    return path


def test_traces_the_accumulation_example(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)  # a relative path, as a user types it
    assert main(["examples/04_accumulation.py"]) == 0
    out = capsys.readouterr().out
    report = out[out.index("gradtrace:"):]  # the script's own prints come first
    for name in ("x_1", "x_2", "c"):
        assert f" {name} " in report
    assert "accumulation" in report
    assert "x_1.grad: tensor([-0.1956])" in out[: out.index("gradtrace:")]


def test_html_writes_a_standalone_page(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    script = write(tmp_path, """\
        import torch
        w = torch.tensor([2.0], requires_grad=True)
        loss = (w * 3).sum()
        loss.backward()
    """)
    page = tmp_path / "report.html"
    assert main(["--html", str(page), str(script)]) == 0
    text = page.read_text(encoding="utf-8")
    assert text.startswith("<!doctype html><meta charset=utf-8><title>gradtrace: script.py</title>")
    assert "<table" in text
    assert "loss" in text
    assert "gradtrace:" in capsys.readouterr().out  # the text report is printed as well


def test_width_is_passed_to_the_text_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    script = write(tmp_path, """\
        import torch
        a_rather_long_variable_name = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
        total_of_the_squares = (a_rather_long_variable_name ** 2).sum()
        total_of_the_squares.backward()
    """)
    assert main(["--width", "60", str(script)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines and max(map(len, lines)) <= 60


def test_script_gets_its_own_argv_and_path(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(tmp_path, "VALUE = 'imported from the script folder'\n", name="helper_mod_gt.py")
    script = write(tmp_path, """\
        import sys
        import helper_mod_gt
        print("argv:", sys.argv)
        print("name:", __name__)
        print(helper_mod_gt.VALUE)
    """)
    argv_before, path_before = sys.argv[:], sys.path[:]
    try:
        assert main([str(script), "a", "--html", "x", "-v"]) == 0
        out = capsys.readouterr().out
        assert f"argv: {[str(script), 'a', '--html', 'x', '-v']}" in out
        assert "name: __main__" in out
        assert "imported from the script folder" in out
        assert not (tmp_path / "x").exists()  # --html after the script belongs to the script
        assert main([str(script), "--", "b"]) == 0
        assert f"argv: {[str(script), '--', 'b']}" in capsys.readouterr().out
    finally:
        sys.modules.pop("helper_mod_gt", None)
    assert sys.argv == argv_before and sys.path == path_before  # restored


def test_sys_exit_in_the_script_sets_the_status(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([str(write(tmp_path, "import sys\nsys.exit(3)\n"))]) == 3
    assert main([str(write(tmp_path, "import sys\nsys.exit()\n"))]) == 0
    assert "gradtrace:" in capsys.readouterr().out


def test_missing_script_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["no_such_script_gt.py"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "no_such_script_gt.py" in err and "Traceback" not in err


def test_bad_width_is_a_usage_error(tmp_path: Path) -> None:
    script = write(tmp_path, "pass\n")
    with pytest.raises(SystemExit) as info:
        main(["--width", "0", str(script)])
    assert info.value.code == 2


def test_no_arguments_prints_usage(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert capsys.readouterr().out.startswith("usage: python -m gradtrace")


def test_script_that_raises_still_gets_its_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    script = write(tmp_path, """\
        import torch
        x = torch.tensor([3.0], requires_grad=True)
        y = x * 2
        raise ValueError("boom in the script")
    """)
    argv_before = sys.argv[:]
    assert main([str(script)]) == 1
    captured = capsys.readouterr()
    assert "gradtrace:" in captured.out
    assert " y " in captured.out
    assert "ValueError: boom in the script" in captured.err
    assert "runpy" not in captured.err  # the traceback starts at the script
    assert str(script) in captured.err
    assert sys.argv == argv_before


def test_traceback_leaves_out_the_tracers_own_frames(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    script = write(tmp_path, """\
        import torch
        x = torch.tensor([3.0], requires_grad=True)
        y = x.exp()
        y.add_(1)
        y.backward()
    """)
    assert main([str(script)]) == 1
    err = capsys.readouterr().err
    assert "modified by an inplace operation" in err
    assert 'line 5, in <module>' in err
    assert str(ROOT / "gradtrace") not in err


def test_python_dash_m_end_to_end(tmp_path: Path) -> None:
    script = write(tmp_path, """\
        import torch
        x = torch.tensor([1.0, -2.0], requires_grad=True)
        y = (x ** 2).sum()
        y.backward()
        print("grad", x.grad.tolist())
        raise SystemExit(0)
    """)
    # the package from this checkout, whether or not it is installed
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    proc = subprocess.run([sys.executable, "-m", "gradtrace", str(script)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("grad [2.0, -4.0]\n")
    assert "gradtrace:" in proc.stdout and " y " in proc.stdout

    proc = subprocess.run([sys.executable, "-m", "gradtrace"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "usage:" in proc.stdout


# -- the options of %%gradtrace -------------------------------------------------------------
WRONG_DOUBLE = """\
    import torch

    class Double(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, grad):
            return grad * 3  # wrong: 2 is right

    x = torch.tensor([1.0, 2.0], requires_grad=True)
    z = Double.apply(x)
    y = (z * z).sum()
    y.backward()
    y = (z * z).sum()
    y.backward()
    print("z.grad:", z.grad)
"""

OPTIONS_80 = """\
z.grad: tensor([ 8., 16.])
gradtrace: 6 forward steps, 2 backward passes, 2 warnings

backward pass 1: y.backward() at line 15
step  node          tensor     grad in       grad out
   1  SumBackward0  y          () float32    mul(z, z) <- (2,) float32
   2  MulBackward0  mul(z, z)  (2,) float32  z <- (2,) float32, z <- (2,) float…
… 2 more rows

backward pass 2: y.backward() at line 17
step  node          tensor     grad in       grad out
   5  SumBackward0  y          () float32    mul(z, z) <- (2,) float32
   6  MulBackward0  mul(z, z)  (2,) float32  z <- (2,) float32, z <- (2,) float…
… 2 more rows
"""


def test_sections_max_rows_and_values_exact_at_80(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    script = write(tmp_path, WRONG_DOUBLE)
    argv = ["--width", "80", "--sections", "backward", "--max-rows", "2", "--values", "none"]
    assert main([*argv, str(script)]) == 0
    assert capsys.readouterr().out == OPTIONS_80


def warning_kinds(out: str) -> list[str]:
    return [line.split()[1] for line in out.splitlines() if line.startswith("! ")]


@pytest.mark.filterwarnings("ignore:The .grad attribute of a Tensor that is not a leaf")
def test_check_ignore_and_no_retain(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    script = str(write(tmp_path, WRONG_DOUBLE))
    assert main(["--width", "120", script]) == 0
    out = capsys.readouterr().out
    assert out.startswith("z.grad: tensor([ 8., 16.])\n")  # retained: 2 * z, summed twice
    assert warning_kinds(out) == ["accumulation", "non_leaf_grad"]
    assert main(["--width", "120", "--check", "--ignore", "accumulation", "--no-retain",
                 script]) == 0
    out = capsys.readouterr().out
    assert out.startswith("z.grad: None\n")  # as plain PyTorch gives
    assert warning_kinds(out) == ["function_check", "non_leaf_grad"]
    assert "Double.backward disagrees with finite differences for input 0" in out


@pytest.mark.parametrize(("option", "message"), [
    ("--max-rows=-1", "argument --max-rows: must be 0 or more: '-1'"),
    ("--max-rows=x", "argument --max-rows: not a whole number: 'x'"),
    ("--sections=forwards", "argument --sections: unknown section(s) 'forwards'"),
    ("--values=some", "argument --values: invalid choice: 'some'"),
    ("--ignore=accumulation,nope", "argument --ignore: unknown warning kind(s) 'nope'"),
])
def test_bad_option_values_are_usage_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], option: str, message: str
) -> None:
    script = write(tmp_path, "raise SystemExit('the script ran')\n")
    with pytest.raises(SystemExit) as info:
        main([option, str(script)])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert message in err and "the script ran" not in err


# -- an error: its message once, its traceback as untraced ----------------------------------
INPLACE = """\
    import torch
    def step(y):
        y.backward()
    x = torch.tensor([3.0], requires_grad=True)
    y = x.exp()
    y.add_(1)
    step(y)
"""
MESSAGE = "one of the variables needed for gradient computation has been modified"


def run_python(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    return subprocess.run([sys.executable, *args], cwd=cwd, env=env, text=True, timeout=120,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def frames(output: str) -> list[str]:
    """The traceback's ``File "...", line N, in f`` lines."""
    return [line.strip() for line in output.splitlines() if line.strip().startswith('File "')]


@pytest.mark.parametrize("width", [80, 120])
def test_an_error_is_printed_once_with_the_untraced_traceback(tmp_path: Path,
                                                              width: int) -> None:
    script = write(tmp_path, INPLACE)
    traced = run_python("-m", "gradtrace", "--width", str(width), str(script), cwd=tmp_path)
    plain = run_python(str(script), cwd=tmp_path)
    assert traced.returncode == plain.returncode == 1
    out = traced.stdout
    assert out.count(MESSAGE) == 1  # in the traceback, not in the report as well
    report = out[: out.index("Traceback (most recent call last):")]
    assert "\nstopped here by RuntimeError\n\ngraph\n" in report
    assert report.endswith("\n\nstopped at line 3 by RuntimeError (traceback below)\n")
    assert max(map(len, report.splitlines())) <= width
    assert frames(out) == frames(plain.stdout)  # the user's lines, then torch's own
    assert frames(out)[:2] == [f'File "{script}", line 7, in <module>',
                               f'File "{script}", line 3, in step']
    assert "overrides.py" not in out and str(ROOT / "gradtrace") not in out
    assert out.endswith(plain.stdout.split("Traceback (most recent call last):\n")[1])


SCRIPTS = sorted(p.name for p in (ROOT / "examples").glob("[0-9]*.py"))


@pytest.mark.parametrize("name", SCRIPTS)
def test_every_example_runs_under_the_command(name: str, capsys: pytest.CaptureFixture[str],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """Examples that open their own trace nest inside the command's; what gradtrace does to
    read a Trace (``print(t.updates)``) is not recorded as the script's."""
    monkeypatch.chdir(ROOT)
    assert main(["--width", "100", f"examples/{name}"]) == 0
    out = capsys.readouterr().out
    report = out[out.index("gradtrace:"):]
    assert "error" not in report.splitlines()[0]
    assert "tensor_" not in report


WATCHED = """\
    import torch
    import torch.nn.functional as F

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(6, 16), torch.nn.Tanh(), torch.nn.Linear(16, 4))
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    x, y = torch.randn(32, 6), torch.randint(0, 4, (32,))
    for it in range(7):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        print("seen", it, repr(loss.item()), repr(model[0].weight.grad.std().item()))
        opt.step()
"""


def table_rows(out: str) -> dict[str, dict[str, str]]:
    """The watch's table (after the status line and a blank line) by name, then column."""
    lines = out[out.index("gradtrace watch:"):].split("\n\n", 1)[1].splitlines()
    header = lines[0].split()
    return {(row := dict(zip(header, line.split())))["name"]: row
            for line in lines[1:] if line.strip() and not line.startswith("gradtrace:")}


def test_watch_prints_the_table_and_plot_writes_a_png(tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("matplotlib")
    script = write(tmp_path, WATCHED, name="train.py")
    png = tmp_path / "out.png"
    assert main(["--watch", "3", "--plot", str(png), str(script)]) == 0
    out = capsys.readouterr().out
    seen = {int(it): (float(loss), float(std)) for _, it, loss, std in
            (line.split() for line in out.splitlines() if line.startswith("seen "))}
    assert sorted(seen) == list(range(7))  # the script ran whole, its prints first
    assert out.index("seen 6") < out.index("gradtrace watch:")
    assert ("gradtrace watch: iteration 7, 3 sampled (every 3), "
            f"loss {seen[6][0]:.4g} at iteration 6, 0 warnings\n") in out
    rows = table_rows(out)
    assert set(rows) == {"model.0", "model.1", "model.2", "model.0.weight", "model.0.bias",
                         "model.2.weight", "model.2.bias"}
    assert rows["model.0.weight"]["kind"] == "parameter"
    assert rows["model.0.weight"]["grad_std"] == f"{seen[6][1]:.4g}"  # the latest sample's
    assert rows["model.1"]["saturated"] != "NaN" and rows["model.0"]["saturated"] == "NaN"
    assert out.rstrip().endswith(f"gradtrace: figure saved to {png}")
    data = png.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and data[12:16] == b"IHDR"
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert width > 500 and height > 300


def test_watch_of_a_script_that_raises_prints_the_table_then_the_traceback(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    script = write(tmp_path, WATCHED + "    raise ValueError('after training')\n", name="train.py")
    assert main(["--watch", "5", str(script)]) == 1
    captured = capsys.readouterr()
    assert "gradtrace watch: iteration 7, 2 sampled (every 5)" in captured.out
    assert "model.2.bias" in captured.out
    assert captured.err.rstrip().endswith("ValueError: after training")


@pytest.mark.parametrize(("argv", "kept"), [(["--values", "summary"], True), ([], False)])
def test_watch_values_are_what_the_sampled_traces_keep(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        argv: list[str], kept: bool) -> None:
    import gradtrace.watching

    made: list[gradtrace.Watch] = []
    original = gradtrace.watching.watch
    monkeypatch.setattr(gradtrace.watching, "watch",
                        lambda *a, **k: made.append(original(*a, **k)) or made[-1])
    script = write(tmp_path, WATCHED, name="train.py")
    assert main(["--watch", "3", *argv, str(script)]) == 0
    capsys.readouterr()
    assert len(made) == 1 and made[0].last is not None
    assert made[0].last.tensors.value_mean.notna().any() == kept


@pytest.mark.parametrize(("argv", "message"), [
    (["--plot", "out.png"], "--plot needs --watch N"),
    (["--watch", "0"], "argument --watch: must be positive: '0'"),
    (["--watch", "-1"], "argument --watch: must be positive: '-1'"),
    (["--watch", "often"], "argument --watch: not a whole number: 'often'"),
    (["--watch", "3", "--html", "r.html"], "--html writes a trace of the whole script"),
    (["--watch", "3", "--save", "runs"], "--save writes a trace of the whole script"),
])
def test_bad_watch_options_are_usage_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                            argv: list[str], message: str) -> None:
    script = write(tmp_path, "raise SystemExit('the script must not run')\n", name="train.py")
    with pytest.raises(SystemExit) as exc:
        main([*argv, str(script)])
    assert exc.value.code == 2
    captured = capsys.readouterr()
    assert message in captured.err and "must not run" not in captured.err + captured.out
    assert not (tmp_path / "out.png").exists()
