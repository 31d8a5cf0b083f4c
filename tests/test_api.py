"""The public front: trace as decorator and context manager, and what a Trace offers."""

from __future__ import annotations

import math
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
    assert {"step", "name", "version", "op", "inputs", "shape", "numel", "dtype", "value_norm",
            "grad_norm", "grad_fn", "line"} <= set(t.forward.columns)
    assert {"step", "pass", "node", "tensor", "grad_in_norm"} <= set(t.backward.columns)
    assert {"name", "shape", "value_mean", "grad_mean", "is_leaf"} <= set(t.tensors.columns)
    assert {"step", "node", "from", "to", "to_step", "grad_norm"} <= set(t.edges.columns)
    assert list(t.forward["name"]) == ["x", "y"]
    assert list(t.backward["node"]) == ["CosBackward0", "AccumulateGrad"]
    assert list(t.tensors["name"]) == ["x", "y"]
    assert list(t.edges["to"]) == ["x"]


def test_tables_hold_numbers_that_match_torch() -> None:
    with trace() as t:
        x_1 = torch.tensor([3.0], requires_grad=True)
        x_2 = torch.tensor([2.0], requires_grad=True)
        c = x_1.cos() * x_2.log()
        c.backward()
    edges = t.edges.set_index(["node", "to"])
    assert edges.loc[("MulBackward0", "cos(x_1)"), "grad_mean"] == pytest.approx(math.log(2.0))
    assert edges.loc[("MulBackward0", "log(x_2)"), "grad_mean"] == pytest.approx(math.cos(3.0))
    accumulate = t.backward[t.backward["node"] == "AccumulateGrad"].set_index("tensor")
    for name, x in (("x_1", x_1), ("x_2", x_2)):
        assert accumulate.loc[name, "grad_in_norm"] == pytest.approx(x.grad.abs().item())
    tensors = t.tensors.set_index("name")
    assert tensors.loc["c", "value_mean"] == pytest.approx(c.item())
    assert tensors.loc["x_1", "grad_max"] == pytest.approx(x_1.grad.item())
    assert t.tensors["grad_norm"].dtype == "float64" and t.tensors["numel"].dtype == "int64"


def test_trace_pickles_and_compares() -> None:
    with trace() as t:
        x = torch.tensor([3.0], requires_grad=True)
        (x * x).backward()
    again = pickle.loads(pickle.dumps(t))
    assert again.steps[0].name == "x"
    assert torch.equal(again.grad("x"), t.grad("x"))
    assert torch.equal(again.grad("x"), x.grad)


def test_records_are_no_dicts_and_load_as_saved_before() -> None:
    """A Trace's thousands of records have no ``__dict__`` (fewer objects for the collector);
    a record pickled while they had one (a dict of fields, ``_stats`` cached in it) loads."""
    from gradtrace.model.records import BackwardStep, ForwardStep, TensorSummary

    with trace() as t:
        x = torch.tensor([3.0, 4.0], requires_grad=True)
        (x * x).sum().backward()
    records = [*t.steps, *t.backward_steps, *(s.value for s in t.steps)]
    assert records and not any(hasattr(r, "__dict__") for r in records)

    class Saved:  # what pickle wrote for a record with a __dict__
        def __init__(self, cls: type, state: dict[str, object]) -> None:
            self.cls, self.state = cls, state

        def __reduce_ex__(self, protocol: object) -> tuple[object, ...]:
            return object.__new__, (self.cls,), self.state

    step, node = t.steps[0], t.backward_steps[0]
    summary_state = {"shape": (2,), "dtype": "float32", "device": "cpu",
                     "values": x.detach().clone(), "stats": None, "_stats": None}
    loaded = pickle.loads(pickle.dumps([
        Saved(ForwardStep, {f: getattr(step, f) for f in step.__dataclass_fields__}),
        Saved(BackwardStep, {f: getattr(node, f) for f in node.__dataclass_fields__}),
        Saved(TensorSummary, summary_state)]))
    assert loaded[0] == step and loaded[1] == node
    assert (loaded[2].max, loaded[2].norm) == (4.0, 5.0)


def test_mimebundle_has_text_and_html(outside_ipython: None) -> None:
    with trace() as t:
        x = torch.tensor([3.0], requires_grad=True)
        (x * 2).backward()
    bundle = t._repr_mimebundle_()
    assert set(bundle) == {"text/plain", "text/html"}
    assert bundle["text/plain"] == repr(t)  # the HTML is the view; the text its fallback
    assert t._repr_mimebundle_(include={"text/plain"})["text/plain"] == str(t)
    assert set(t._repr_mimebundle_(include={"text/plain"})) == {"text/plain"}


def test_terminal_front_end_gets_text_only(monkeypatch: pytest.MonkeyPatch) -> None:
    import gradtrace.views.display
    import gradtrace.views.html

    with trace() as t:
        (torch.ones(1, requires_grad=True) * 2).sum().backward()
    monkeypatch.setattr(gradtrace.views.display, "_active_types", lambda: ["text/plain"])
    monkeypatch.setattr(gradtrace.views.html, "to_html", lambda *a, **k: pytest.fail("built HTML"))
    assert set(t._repr_mimebundle_()) == {"text/plain"}


def test_values_option_full_summary_and_none() -> None:
    def run() -> tuple[torch.Tensor, torch.Tensor]:
        w = torch.randn(200, 100, requires_grad=True)  # past what is kept whole at the end
        h = (w * 3).tanh()
        h.sum().backward()
        return w, h

    with trace(values="full") as full:
        w, h = run()
    assert torch.equal(full.grad("w"), w.grad) and torch.equal(full.value("h"), h.detach())

    with trace() as summary:
        w, h = run()
    got = summary.steps[-2].value if summary.steps[-2].name == "h" else None
    assert got is not None and got.values is None
    assert got.max == h.max().item() and got.mean == pytest.approx(h.mean().item(), abs=1e-6)
    with pytest.raises(KeyError, match='values="full"'):
        summary.value("h")

    with trace(values="none") as none:
        w, h = run()
    assert [s.name for s in none.steps] == [s.name for s in summary.steps]
    assert [b.node for b in none.backward_steps] == [b.node for b in summary.backward_steps]
    assert [s.value.shape for s in none.steps] == [s.value.shape for s in summary.steps]
    assert all(s.value.values is None and s.value.min is None for s in none.steps)
    assert none.steps[-2].value.shape == (200, 100)
    with pytest.raises(KeyError, match='values="none"'):
        none.value("h")


def test_values_option_rejects_nonsense() -> None:
    with pytest.raises(ValueError, match="summary, full, none"):
        trace(values="some")
    with trace(values="full") as t:
        (torch.ones(5000, requires_grad=True) * 2).sum().backward()
    assert t.values == "full" and t.grad(t.steps[0].name).shape == (5000,)


def test_full_values_still_works_with_a_deprecation_warning() -> None:
    with pytest.warns(FutureWarning, match='use values="full"'):
        ctx = trace(full_values=True)
    with ctx as t:
        (torch.ones(5000, requires_grad=True) * 2).sum().backward()
    assert t.values == "full" and t.grad(t.steps[0].name).shape == (5000,)
    with pytest.warns(FutureWarning, match='Trace.values == "full"'):
        assert t.full_values
    with pytest.warns(FutureWarning), pytest.raises(ValueError, match="contradicts"):
        trace(values="none", full_values=True)


def test_small_tensors_are_copied_up_to_a_budget_the_newest_first() -> None:
    from gradtrace.capture.keeper import FINAL_BUDGET
    from gradtrace.capture.summaries import DEFAULT_KEEP_BUDGET

    torch.manual_seed(0)
    xs = [torch.randn(4000) for _ in range(2 * DEFAULT_KEEP_BUDGET // 4000)]
    with trace(retain_grad=False) as t:
        for x in xs:
            y = x * 2
    copied = sum(s.value.numel for s in t.steps if s.value.values is not None)
    assert DEFAULT_KEEP_BUDGET - 4000 < copied <= DEFAULT_KEEP_BUDGET + FINAL_BUDGET
    assert len(pickle.dumps(t)) < 1.5 * (DEFAULT_KEEP_BUDGET + FINAL_BUDGET) * 4
    products = [s for s in t.steps if s.op == "mul"]
    assert len(products) == len(xs)
    # the oldest were summarised to make room: statistics, equal to torch's
    assert products[0].value.values is None and products[-1].value.values is not None
    for s, x in list(zip(products, xs))[:3]:
        y = x * 2
        assert (s.value.min, s.value.max) == (y.min().item(), y.max().item())
        assert s.value.mean == pytest.approx(y.mean().item(), abs=1e-6)
        assert s.value.norm == pytest.approx(y.norm().item(), rel=1e-5)
    assert torch.equal(t.value("y"), xs[-1] * 2)


def test_a_trace_is_built_when_first_read_and_holds_nothing_live_before() -> None:
    import gc
    import weakref

    x = torch.tensor([2.0, 3.0])
    with trace() as t:
        h = (x * 4).exp()
    watch = weakref.ref(h)
    del h
    gc.collect()
    assert watch() is None  # nothing of the traced code is held by the unbuilt Trace
    x.requires_grad_(True)  # after the trace: not what it recorded
    assert not t.built
    copy = pickle.loads(pickle.dumps(t))  # pickling builds it
    assert t.built and copy == t
    assert [s.name for s in t.steps] == ["x", "mul(x, 4)", "h"]
    assert t.step("x").requires_grad is False
    assert torch.equal(t.value("h"), (torch.tensor([2.0, 3.0]) * 4).exp())


def test_a_trace_that_fails_to_build_raises_on_each_read(monkeypatch: pytest.MonkeyPatch) -> None:
    import gradtrace.capture.build

    with trace() as t:
        torch.ones(2) * 2
    monkeypatch.setattr(gradtrace.capture.build, "_forward_step", lambda *a: 1 / 0)
    for _ in range(2):
        with pytest.raises(ZeroDivisionError):
            _ = t.steps
    monkeypatch.undo()
    assert [s.op for s in t.steps] == ["ones", "mul"]
