"""Isolation: a trace records its own thread only, refuses to nest, and lets torch.compile run."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
import torch

from gradtrace import Trace, trace
from gradtrace.capture import process


class Double(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: torch.Tensor) -> torch.Tensor:
        return x * 2

    @staticmethod
    def backward(ctx: Any, g: torch.Tensor) -> torch.Tensor:
        return g * 2


def worker_math(seed: int) -> dict[str, torch.Tensor]:
    """Forward ops, a module, a custom Function and a backward pass: everything a trace hooks."""
    g = torch.Generator().manual_seed(seed)
    lin = torch.nn.Linear(3, 2)
    with torch.no_grad():
        lin.weight.copy_(torch.randn(2, 3, generator=g))
        lin.bias.zero_()
    u = torch.randn(4, 3, generator=g, requires_grad=True)
    v = Double.apply(lin(u).tanh())
    loss = (v * v).sum()
    loss.backward()
    return {"loss": loss.detach(), "u.grad": u.grad, "w.grad": lin.weight.grad}


def run_in_thread(target: Callable[[], Any]) -> tuple[threading.Thread, dict[str, Any]]:
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["result"] = target()
        except BaseException as e:  # reported by the main thread
            box["error"] = e

    thread = threading.Thread(target=run)
    thread.start()
    return thread, box


def test_other_threads_ops_hooks_functions_and_backward_are_not_recorded() -> None:
    expected = worker_math(7)
    started, main_done = threading.Event(), threading.Event()

    def work() -> list[dict[str, torch.Tensor]]:
        out = []
        started.set()
        while not main_done.is_set():  # keep working for as long as the main trace runs
            out.append(worker_math(7))
        out.append(worker_math(7))
        return out

    with trace() as t:
        thread, box = run_in_thread(work)
        started.wait(10)
        for _ in range(20):
            x = torch.tensor([1.0, 2.0], requires_grad=True)
            y = Double.apply(x.exp()).sum()
            y.backward()
        main_done.set()
        thread.join(30)
    assert "error" not in box, box.get("error")
    assert len(box["result"]) >= 1
    for result in box["result"]:
        for k in expected:
            assert torch.equal(result[k], expected[k]), k
    # only the main thread's own steps: x, exp(x), Double, y, per iteration
    assert {s.op for s in t.steps} <= {"tensor", "exp", "Double", "sum"}
    assert [s.name for s in t.steps[:4]] == ["x", "exp(x)", "Double(exp(x))", "y"]
    assert len(t.steps) == 4 * 20 and len(t.passes) == 20
    assert {b.node for b in t.backward_steps} == {"SumBackward0", "DoubleBackward",
                                                  "ExpBackward0", "AccumulateGrad"}
    assert not process.installed()


def test_two_threads_tracing_at_once_each_get_their_own_trace() -> None:
    barrier = threading.Barrier(2, timeout=30)

    def traced(seed: int) -> Trace:
        barrier.wait()  # both traces are open from here on
        with trace() as t:
            barrier.wait()
            result = worker_math(seed)
            barrier.wait()
        assert torch.equal(t.grad("u"), result["u.grad"])
        return t

    (t1, b1), (t2, b2) = run_in_thread(lambda: traced(1)), run_in_thread(lambda: traced(2))
    t1.join(60)
    t2.join(60)
    assert "error" not in b1 and "error" not in b2, (b1.get("error"), b2.get("error"))
    first, second = b1["result"], b2["result"]
    ops = [s.op for s in first.steps]
    assert ops == [s.op for s in second.steps]
    assert ops.count("linear") == 1 and ops.count("Double") == 1  # not each other's steps
    assert len(first.passes) == len(second.passes) == 1
    assert not torch.equal(first.value("u"), second.value("u"))
    assert not process.installed()


def test_a_trace_in_another_thread_is_not_nested() -> None:
    with trace() as outer:
        a = torch.ones(2) * 3
        thread, box = run_in_thread(lambda: _trace_simple())
        thread.join(30)
    assert "error" not in box, box.get("error")
    assert [s.name for s in box["result"].steps] == ["ones(2)", "b"]
    assert [s.name for s in outer.steps] == ["ones(2)", "a"]


def _trace_simple() -> Trace:
    with trace() as t:
        b = torch.ones(2) + 1
    return t


def test_nested_traces_each_record_their_part() -> None:
    ctx = trace(values="full")
    with trace() as outer:
        a = torch.tensor([1.0], requires_grad=True)
        with ctx as inner:
            c = a * 3
            with ctx as innermost:  # the same context, entered again while it runs
                d = c.exp()
        b = (c * 4 + d).sum()
        b.backward()
    a_plain = torch.tensor([1.0], requires_grad=True)
    ((a_plain * 3) * 4 + (a_plain * 3).exp()).sum().backward()
    assert [s.name for s in outer.steps] == ["a", "c", "d", "mul(c, 4)", "add(mul(c, 4), d)",
                                             "b"]
    assert [s.name for s in inner.steps] == ["a", "c", "d"]
    assert [s.name for s in innermost.steps] == ["c", "d"]
    assert torch.equal(outer.grad("a"), a_plain.grad) and torch.equal(a.grad, a_plain.grad)
    assert torch.equal(inner.value("d"), torch.exp(torch.tensor([3.0])))
    assert inner.passes == () and len(outer.passes) == 1


def test_with_inside_a_decorated_function_records_in_both() -> None:
    @trace(show=False)
    def f(x: torch.Tensor) -> torch.Tensor:
        with trace() as t:
            y = x * 2
        inner.append(t)
        return y.sum()

    inner: list[Any] = []
    x = torch.ones(2, requires_grad=True)
    f(x).backward()
    assert [s.name for s in inner[0].steps] == ["x", "y"]
    assert [s.name for s in f.last_trace.steps] == ["x", "y", "sum(y)"]  # type: ignore[attr-defined]
    assert f.last_trace.error is None  # type: ignore[attr-defined]


def test_decorated_function_inside_a_trace_is_recorded_by_both() -> None:
    @trace(show=False)
    def f(x: torch.Tensor) -> torch.Tensor:
        return x.sin()

    with trace() as t:
        x = torch.tensor([0.5], requires_grad=True)
        y = f(x)
        y.backward()
    assert [s.op for s in t.steps] == ["tensor", "sin"]
    assert [s.op for s in f.last_trace.steps] == ["input", "sin"]  # type: ignore[attr-defined]
    assert torch.equal(t.grad("x"), torch.cos(torch.tensor([0.5])))


def test_a_trace_context_can_be_used_again_after_it_ended() -> None:
    ctx = trace()
    with ctx as first:
        a = torch.ones(1) * 2
    with ctx as second:
        b = torch.ones(1) * 3
    assert first is not second
    assert [s.name for s in first.steps] == ["ones(1)", "a"]
    assert [s.name for s in second.steps] == ["ones(1)", "b"]


# -- torch.compile -------------------------------------------------------------------------------
def _loss(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    return torch.tanh(x @ w).sum()


@pytest.fixture(scope="module")
def compile_works() -> None:
    """torch.compile needs a working dynamo (and, for inductor, a C compiler): check it once
    without gradtrace, with the light backends only."""
    try:
        import torch._dynamo

        f = torch.compile(_loss, backend="eager")
        f(torch.ones(2, 3), torch.ones(3, 1, requires_grad=True)).backward()
    except Exception as e:  # any environmental failure
        pytest.skip(f"torch.compile does not work here even without gradtrace: {e!r}")
    finally:
        if "torch._dynamo" in __import__("sys").modules:
            torch._dynamo.reset()


@pytest.mark.parametrize("backend", ["eager", "aot_eager"])
@pytest.mark.parametrize("compiled_before", [True, False])
def test_compiled_functions_run_inside_a_trace(compile_works: None, backend: str,
                                               compiled_before: bool) -> None:
    import torch._dynamo

    torch._dynamo.reset()
    try:
        torch.manual_seed(0)
        x, w = torch.randn(3, 4), torch.randn(4, 2, requires_grad=True)
        expected = _loss(x, w)
        expected.backward()
        grad, w.grad = w.grad, None
        f = torch.compile(_loss, backend=backend)
        if compiled_before:  # already compiled, or first compiled inside the trace
            f(x, w)
        model = torch.compile(torch.nn.Linear(4, 1), backend=backend)
        with trace() as t:
            y = f(x, w)
            z = model(x).sum() * 0
            (y + z).backward()
        assert torch.equal(y, expected)
        assert torch.equal(w.grad, grad)
        assert torch.equal(t.grad("w"), grad)
        assert "y" in t.names and len(t.passes) == 1
        assert not process.installed()
    finally:
        torch._dynamo.reset()


def test_a_patch_of_function_apply_made_after_import_survives_a_trace(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Another library wraps Function.apply after gradtrace was imported: gradtrace wraps that
    wrapper while tracing and puts exactly it back afterwards."""
    from torch.autograd.function import Function

    before = Function.__dict__["apply"]
    calls: list[str] = []

    def patched(cls: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(cls.__name__)
        return before.__get__(None, cls)(*args, **kwargs)

    theirs = classmethod(patched)
    monkeypatch.setattr(Function, "apply", theirs)
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    with trace() as t:
        y = Double.apply(x)
        y.sum().backward()
    assert Function.__dict__["apply"] is theirs
    assert calls == ["Double"]  # their patch still ran, under gradtrace's
    assert "Double" in [s.op for s in t.steps]
    assert torch.equal(x.grad, torch.tensor([2.0, 2.0]))
    assert not process.installed()


def test_a_failing_install_leaves_nothing_active(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch.nn.modules.module as module

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("no hooks today")

    with monkeypatch.context() as m:
        m.setattr(module, "register_module_forward_hook", refuse)
        with pytest.raises(RuntimeError, match="no hooks today"), trace():
            pass
        assert process.current() is None
        assert not process.installed()
    with trace() as t:  # not "already running"
        x = torch.tensor([3.0], requires_grad=True)
        (x * x).backward()
    assert [s.name for s in t.steps] == ["x", "mul(x, x)"]
    assert torch.equal(t.grad("x"), x.grad)
    assert not process.installed()
