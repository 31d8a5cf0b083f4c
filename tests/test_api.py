"""The public front: trace as decorator and context manager, and what a Trace offers."""

from __future__ import annotations

import pickle

import pytest
import torch

from gradtrace import Trace, trace


def test_decorator_returns_result_and_keeps_last_trace(capsys: pytest.CaptureFixture[str]) -> None:
    @trace(show=False)
    def step(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        loss = (x * w).sum()
        loss.backward()
        return loss

    w = torch.tensor([1.0, -1.0], requires_grad=True)
    out = step(torch.tensor([2.0, 3.0]), w)
    assert out.item() == -1.0
    assert capsys.readouterr().out == ""
    t = step.last_trace
    assert isinstance(t, Trace)
    assert torch.equal(t.grad("w"), torch.tensor([2.0, 3.0]))
    assert [s.name for s in t.steps] == ["x", "w", "mul(x, w)", "loss"]
    step(torch.tensor([1.0, 1.0]), w)
    assert step.last_trace is not t and torch.equal(step.last_trace.grad("w"), torch.ones(2))


def test_bare_decorator_prints_the_report(capsys: pytest.CaptureFixture[str]) -> None:
    @trace
    def square(x: torch.Tensor) -> torch.Tensor:
        y = x**2
        return y

    square(torch.tensor([3.0]))
    out = capsys.readouterr().out
    assert "pow" in out and "9.0" in out
    assert square.__name__ == "square"


def test_decorated_function_that_raises_keeps_partial_trace() -> None:
    @trace(show=False)
    def bad(x: torch.Tensor) -> torch.Tensor:
        y = x + 1
        return y @ x.T @ torch.ones(5)

    with pytest.raises(RuntimeError):
        bad(torch.ones(2, 3))
    assert bad.last_trace.step("y").op == "add"
    assert bad.last_trace.error is not None


def test_with_block_displays_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    with trace() as t:
        torch.ones(1) * 2
    assert capsys.readouterr().out == ""
    assert len(t.steps) == 2


def test_trace_rejects_a_non_function() -> None:
    with pytest.raises(TypeError, match="expected a function"):
        trace(3)  # type: ignore[call-overload]


def test_tables_have_the_documented_columns() -> None:
    with trace() as t:
        x = torch.tensor([3.0], requires_grad=True)
        y = x.cos()
        y.backward()
    assert {"step", "name", "op", "inputs", "shape", "value", "grad_fn",
            "line"} <= set(t.forward.columns)
    assert {"step", "node", "tensor", "grad_in", "grad_out"} <= set(t.backward.columns)
    assert {"name", "shape", "value", "grad", "is_leaf"} <= set(t.tensors.columns)
    assert list(t.forward["name"]) == ["x", "y"]
    assert list(t.backward["node"]) == ["CosBackward0", "AccumulateGrad"]
    assert list(t.tensors["name"]) == ["x", "y"]


def test_trace_pickles_and_compares() -> None:
    with trace() as t:
        x = torch.tensor([3.0], requires_grad=True)
        (x * x).backward()
    again = pickle.loads(pickle.dumps(t))
    assert again.steps[0].name == "x"
    assert torch.equal(again.grad("x"), t.grad("x"))
    assert torch.equal(again.grad("x"), x.grad)


def test_mimebundle_has_text_and_html(outside_ipython: None) -> None:
    with trace() as t:
        x = torch.tensor([3.0], requires_grad=True)
        (x * 2).backward()
    bundle = t._repr_mimebundle_()
    assert set(bundle) == {"text/plain", "text/html"}
    assert bundle["text/plain"] == str(t)
    assert set(t._repr_mimebundle_(include={"text/plain"})) == {"text/plain"}


def test_terminal_front_end_gets_text_only(monkeypatch: pytest.MonkeyPatch) -> None:
    import gradtrace.model
    import gradtrace.render.html

    with trace() as t:
        (torch.ones(1, requires_grad=True) * 2).sum().backward()
    monkeypatch.setattr(gradtrace.model, "_active_types", lambda: ["text/plain"])
    monkeypatch.setattr(gradtrace.render.html, "to_html", lambda *a, **k: pytest.fail("built HTML"))
    assert set(t._repr_mimebundle_()) == {"text/plain"}
