"""Clean-up under failure: whatever goes wrong in a traced block, gradtrace leaves nothing behind.

Each scenario first builds a graph inside the trace and runs a backward pass through it with
``retain_graph=True``, so gradtrace has hooked that graph's nodes; then something fails. After
the block: no TorchFunctionMode is active, ``Function.apply`` and the module hooks are restored
(tests/conftest.py checks this again after every test), and no gradtrace hook is left on a node,
shown by behaviour: another backward pass through the retained graph after the trace gives the
right gradients and changes nothing in the Trace, and the recorder's backward bookkeeping (which
every hook references) is freed while that graph is still alive. Then the next trace works.
"""

from __future__ import annotations

import gc
import weakref
from collections.abc import Callable
from typing import Any

import pytest
import torch

from gradtrace import trace
from gradtrace.capture import process


class BrokenForward(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: torch.Tensor) -> torch.Tensor:
        y = x * 2  # an op inside, with the recorder busy
        raise ValueError(f"broken forward {y.shape}")

    @staticmethod
    def backward(ctx: Any, g: torch.Tensor) -> torch.Tensor:
        return g


class BrokenBackward(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: torch.Tensor) -> torch.Tensor:
        return x * 2

    @staticmethod
    def backward(ctx: Any, g: torch.Tensor) -> torch.Tensor:
        raise ValueError("broken backward")


class InterruptedForward(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: torch.Tensor) -> torch.Tensor:
        raise KeyboardInterrupt

    @staticmethod
    def backward(ctx: Any, g: torch.Tensor) -> torch.Tensor:
        return g


class Failing(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = torch.nn.Linear(2, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.fc(x)
        raise ValueError("module forward failed")


def _raise(error: type[BaseException], *message: str) -> Callable[..., None]:
    def hook(*args: Any) -> None:
        raise error(*message)  # a new exception per call: a kept one would keep its traceback

    return hook


def fail_forward(w: torch.Tensor) -> None:
    torch.ones(2, 3) @ (w * torch.ones(2, 3))


def fail_backward_twice(w: torch.Tensor) -> None:
    y = w.exp().sum()
    y.backward()
    y.backward()


def fail_in_place(w: torch.Tensor) -> None:
    y = w.exp()
    y.add_(1)
    y.sum().backward()


def fail_function_forward(w: torch.Tensor) -> None:
    BrokenForward.apply(w)


def fail_function_backward(w: torch.Tensor) -> None:
    BrokenBackward.apply(w).sum().backward()


def fail_tensor_hook(w: torch.Tensor) -> None:
    y = w * 3
    y.register_hook(_raise(ValueError, "user hook"))
    y.sum().backward()


def fail_node_prehook(w: torch.Tensor) -> None:
    y = w.sin()
    y.grad_fn.register_prehook(_raise(ValueError, "node pre-hook"))  # type: ignore[union-attr]
    (y * 2).sum().backward()


def fail_post_accumulate_hook(w: torch.Tensor) -> None:
    v = torch.tensor([0.5], requires_grad=True)
    v.register_post_accumulate_grad_hook(_raise(ValueError, "post-accumulate hook"))
    (v * w).sum().backward()


def fail_autograd_grad(w: torch.Tensor) -> None:
    unused = torch.ones(1, requires_grad=True)
    torch.autograd.grad((w * 2).sum(), [unused])


def fail_module_forward(w: torch.Tensor) -> None:
    model = torch.nn.Sequential(torch.nn.Tanh(), Failing())
    model(w)


def fail_module_hook(w: torch.Tensor) -> None:
    model = torch.nn.Linear(2, 1)
    model.register_forward_hook(_raise(ValueError, "module hook"))
    model(w)


def interrupt_forward(w: torch.Tensor) -> None:
    y = w * 2
    raise KeyboardInterrupt


def interrupt_in_function(w: torch.Tensor) -> None:
    InterruptedForward.apply(w)


def interrupt_backward(w: torch.Tensor) -> None:
    y = w.cos()
    y.register_hook(_raise(KeyboardInterrupt))
    y.sum().backward()


def system_exit(w: torch.Tensor) -> None:
    (w * 2).sum().backward()
    raise SystemExit(3)


SCENARIOS = {
    "forward": (fail_forward, RuntimeError),
    "backward twice": (fail_backward_twice, RuntimeError),
    "in place": (fail_in_place, RuntimeError),
    "custom Function forward": (fail_function_forward, ValueError),
    "custom Function backward": (fail_function_backward, ValueError),
    "tensor hook": (fail_tensor_hook, ValueError),
    "node pre-hook": (fail_node_prehook, ValueError),
    "post-accumulate hook": (fail_post_accumulate_hook, ValueError),
    "autograd.grad": (fail_autograd_grad, RuntimeError),
    "module forward": (fail_module_forward, ValueError),
    "module hook": (fail_module_hook, ValueError),
    "KeyboardInterrupt in forward": (interrupt_forward, KeyboardInterrupt),
    "KeyboardInterrupt in a custom Function": (interrupt_in_function, KeyboardInterrupt),
    "KeyboardInterrupt in backward": (interrupt_backward, KeyboardInterrupt),
    "SystemExit": (system_exit, SystemExit),
}


def assert_nothing_installed() -> None:
    assert torch._C._len_torch_function_stack() == 0, "a TorchFunctionMode is still active"
    assert not process.installed(), "Function.apply or a module hook is still patched"
    assert process.current() is None, "a recorder is still registered"
    assert torch.is_grad_enabled()


def assert_next_trace_works() -> None:
    with trace() as t:
        x = torch.tensor([3.0], requires_grad=True)
        y = x.cos() * 2
        y.backward()
    assert [s.name for s in t.steps] == ["x", "cos(x)", "y"]
    assert len(t.passes) == 1 and t.passes[0].error is None
    assert torch.equal(t.grad("x"), x.grad)
    assert torch.equal(x.grad, -2 * torch.tensor([3.0]).sin())
    assert_nothing_installed()


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_failure_leaves_nothing_behind(scenario: str) -> None:
    fail, expected = SCENARIOS[scenario]
    w = torch.tensor([1.0, -2.0], requires_grad=True)
    t = recorder = None
    caught: BaseException | None = None
    try:
        with trace() as t:
            recorder = weakref.ref(process.current().backward)  # type: ignore[union-attr]
            r = (w * w).sum()
            r.backward(retain_graph=True)  # gradtrace hooks r's nodes now
            fail(w)
    except BaseException as e:  # KeyboardInterrupt and SystemExit too
        caught = e
    assert type(caught) is expected, caught
    del caught  # its traceback holds the frames that ran the trace
    assert_nothing_installed()

    assert t is not None and t.error is not None and t.error.startswith(expected.__name__)
    assert [s.name for s in t.steps][:3] == ["w", "mul(w, w)", "r"]
    records = (t.steps, t.backward_steps, t.passes, t.events)
    lengths = tuple(map(len, records))
    w.grad = None
    r.backward(retain_graph=True)  # through the nodes gradtrace hooked during the trace
    assert torch.equal(w.grad, 2 * w.detach())
    assert (t.steps, t.backward_steps, t.passes, t.events) == records
    assert tuple(map(len, records)) == lengths

    gc.collect()
    assert recorder() is None, "something still holds the recorder's backward hooks"
    r.backward()  # the graph is still usable, and still right
    assert torch.equal(w.grad, 4 * w.detach())
    assert_next_trace_works()


def test_failing_decorated_function_keeps_its_partial_trace() -> None:
    @trace(show=False)
    def step(w: torch.Tensor) -> torch.Tensor:
        y = (w * 2).sum()
        y.backward()
        raise KeyError("late")

    w = torch.tensor([1.5], requires_grad=True)
    with pytest.raises(KeyError):
        step(w)
    assert_nothing_installed()
    t = step.last_trace  # type: ignore[attr-defined]
    assert t is not None and t.error == "KeyError: 'late'"
    assert torch.equal(t.grad("w"), torch.tensor([2.0]))
    assert_next_trace_works()


def test_failure_while_building_the_trace(monkeypatch: pytest.MonkeyPatch) -> None:
    """An error inside gradtrace itself (here: while summarising at the end) still removes
    every mode, hook and patch first."""
    import gradtrace.capture.recorder

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise MemoryError("simulated failure while building the Trace")

    monkeypatch.setattr(gradtrace.capture.recorder, "finish", broken)
    w = torch.tensor([1.0], requires_grad=True)
    with pytest.raises(MemoryError, match="simulated"), trace():
        r = (w * 3).sum()
        r.backward(retain_graph=True)
    assert_nothing_installed()
    monkeypatch.undo()
    w.grad = None
    r.backward()
    assert torch.equal(w.grad, torch.tensor([3.0]))
    assert_next_trace_works()


def test_an_error_in_a_nested_trace_leaves_the_outer_trace_working() -> None:
    with trace() as outer:
        a = torch.tensor([2.0], requires_grad=True)
        with pytest.raises(RuntimeError, match="inner"), trace() as inner:
            raise RuntimeError("inner")
        b = a * a
        b.backward()
    assert inner.error == "RuntimeError: inner"
    assert_nothing_installed()
    assert [s.name for s in outer.steps] == ["a", "b"]
    assert torch.equal(outer.grad("a"), torch.tensor([4.0]))
    assert_next_trace_works()


def test_many_failures_in_a_row() -> None:
    """Failures do not pile up state: 50 failing traces, then a working one."""
    for _ in range(50):
        with pytest.raises(RuntimeError), trace():
            x = torch.ones(2, requires_grad=True)
            y = x.exp().sum()
            y.backward()
            y.backward()
        assert_nothing_installed()
    assert_next_trace_works()


def test_the_collector_threshold_is_raised_only_while_tracing() -> None:
    before = gc.get_threshold()
    with pytest.raises(ZeroDivisionError), trace():
        assert gc.get_threshold()[0] >= 100_000
        assert gc.get_threshold()[1:] == before[1:]
        (torch.ones(2, requires_grad=True) * 2).sum().backward()
        raise ZeroDivisionError
    assert gc.get_threshold() == before
    assert not process.installed()
