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
