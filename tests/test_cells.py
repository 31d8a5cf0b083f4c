"""Running a cell's code: the semicolon that hides its value, and the traceback users see."""

from __future__ import annotations

import traceback
from types import TracebackType

import pytest

from gradtrace.frontends.cells import ends_with_semicolon, user_traceback

CELL = "<cell-test>"


@pytest.mark.parametrize(("source", "quiet"), [
    ("x", False), ("x;", True), ("x;  # quiet\n\n", True), ("x = 1\nx", False),
    ("s = 'a;'", False), ("for i in y:\n    f(i);\n", True), ("(1,", False), ("", False),
])
def test_ends_with_semicolon(source: str, quiet: bool) -> None:
    assert ends_with_semicolon(source) is quiet


def _caught(source: str) -> TracebackType | None:
    code = compile(source, CELL, "exec")
    try:
        exec(code, {})
    except Exception as exc:  # the frame of this function comes first, as the magic's would
        return exc.__traceback__
    raise AssertionError("the code did not raise")


def _files(tb: TracebackType | None) -> list[str]:
    return [f.filename for f in traceback.extract_tb(tb)]


def test_traceback_starts_at_the_cell_and_drops_gradtrace_frames_in_between() -> None:
    tb = _caught("from gradtrace import trace\n"
                 "def f():\n    raise ValueError('mine')\n"
                 "trace(show=False)(f)()\n")
    assert any("gradtrace" in name for name in _files(tb))  # api.py ran the call
    assert _files(user_traceback(tb, CELL)) == [CELL, CELL]  # the call line, then f's raise


def test_an_error_raised_inside_gradtrace_keeps_its_frames() -> None:
    tb = _caught("from gradtrace import trace\ntrace(1)\n")
    files = _files(user_traceback(tb, CELL))
    assert files[0] == CELL and files[-1].endswith("api.py")


def test_a_traceback_without_the_cell_is_left_alone() -> None:
    tb = _caught("raise KeyError('x')\n")
    assert user_traceback(tb, "<elsewhere>") is tb
