"""No leaks: a Trace keeps plain records, never the user's tensors, graphs, modules or frames.

- Tracing the same MLP training step 1,000 times (keeping only the last Trace) grows resident
  memory by less than 20 MiB; run with ``-s`` to see the figure.
- Tensors made inside a trace are freed once the user drops them, while the Trace lives.
- A Trace pickles and unpickles to equal records.
"""

from __future__ import annotations

import gc
import itertools
import linecache
import math
import os
import pickle
import textwrap
import weakref
from typing import Any

import pytest
import torch
from hypothesis import given
from test_properties import PROPERTY, Formula, formulas, one_thread, run_traced, same

from gradtrace import Trace, trace

_PAGE = os.sysconf("SC_PAGE_SIZE")
_counter = itertools.count()
ITERATIONS = 1000
LIMIT_MIB = 20


def rss() -> int:
    """Resident memory of this process, in bytes (second field of /proc/self/statm)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * _PAGE


def _mlp_step_setup() -> tuple[torch.nn.Module, torch.optim.Optimizer, torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 4))
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    return model, opt, torch.randn(16, 8), torch.randint(0, 4, (16,))


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="needs /proc/self/statm")
def test_tracing_the_same_step_1000_times_does_not_grow_memory() -> None:
    model, opt, X, y = _mlp_step_setup()

    def step() -> Trace:
        with trace() as t:
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(model(X), y)
            loss.backward()
            opt.step()
        assert t.warnings == []  # the diagnostics run too
        return t

    @trace(show=False)
    def decorated(X: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(X), y)
        loss.backward()
        opt.step()
        return loss

    with one_thread():  # tiny matrices: a busy thread pool would only add waiting
        for _ in range(100):  # warm up: allocator pools, caches of code objects and statements
            last = step()
            decorated(X, y)
        gc.collect()
        before = rss()
        for _ in range(ITERATIONS):
            last = step()
        gc.collect()
        middle = rss()
        for _ in range(ITERATIONS):
            decorated(X, y)
        gc.collect()
        after = rss()
    growth = (middle - before) / 2**20, (after - middle) / 2**20
    print(f"\nRSS growth over {ITERATIONS} traced MLP steps: with trace(): {growth[0]:.2f} MiB; "
          f"@trace: {growth[1]:.2f} MiB (limit {LIMIT_MIB} MiB each)")
    assert len(last.steps) > 5 and len(last.passes) == 1
    assert decorated.last_trace is not None  # type: ignore[attr-defined]
    assert growth[0] < LIMIT_MIB and growth[1] < LIMIT_MIB


def _dies(ref: weakref.ref[Any]) -> bool:
    gc.collect()
    return ref() is None


def run_module(source: str) -> dict[str, Any]:
    """Run ``source`` as module-level code (a script, a notebook cell) in a fresh namespace."""
    source = textwrap.dedent(source)
    filename = f"<gradtrace-leaks-{next(_counter)}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    ns: dict[str, Any] = {"torch": torch, "trace": trace, "pytest": pytest}
    exec(compile(source, filename, "exec"), ns)
    return ns


def drop(ns: dict[str, Any], *names: str) -> list[weakref.ref[Any]]:
    """The user's ``del``: weak references to the named objects, then the names are gone."""
    refs = [weakref.ref(ns.pop(n)) for n in names]
    return refs


def test_tensors_made_in_a_trace_are_freed_when_dropped() -> None:
    ns = run_module("""
        with trace() as t:
            x = torch.randn(3, requires_grad=True)
            h = x.exp()
            big = torch.randn(100, 100, requires_grad=True)  # kept as a summary, not copied
            z = (big @ big).tanh().sum() + (h * h).sum()
            z.backward()
            g = x.grad
            big_grad = big.grad
    """)
    refs = drop(ns, "x", "h", "big", "z", "g", "big_grad")
    for name, ref in zip(["x", "h", "big", "z", "x.grad", "big.grad"], refs, strict=True):
        assert _dies(ref), f"{name} outlived its last reference: the Trace (or gradtrace) holds it"
    t = ns["t"]
    assert len(t.steps) > 5 and t.grad("x") is not None  # the Trace is alive and whole


def test_modules_and_graphs_made_in_a_trace_are_freed() -> None:
    ns = run_module("""
        with trace(values="full") as t:
            model = torch.nn.Sequential(torch.nn.Linear(64, 64), torch.nn.Tanh(),
                                        torch.nn.Linear(64, 1))
            X = torch.randn(32, 64)
            out = model(X)
            loss = out.pow(2).mean()
            loss.backward(retain_graph=True)  # a graph that lives on after the trace
        params = list(model.parameters())
    """)
    refs = [weakref.ref(p) for p in ns.pop("params")]
    refs += drop(ns, "model", "X", "out", "loss")
    assert all(_dies(r) for r in refs)
    assert ns["t"].value("model.0.weight").shape == (64, 64)


def test_tensors_are_freed_after_a_failing_trace() -> None:
    ns = run_module("""
        with pytest.raises(RuntimeError) as info:
            with trace() as t:
                a = torch.randn(10, requires_grad=True)
                b = a.exp()
                b.sum().backward()
                b.sum().backward()  # backward twice: RuntimeError
        del info  # the traceback holds the frames
    """)
    refs = drop(ns, "a", "b")
    assert all(_dies(r) for r in refs)
    assert ns["t"].error is not None and len(ns["t"].passes) == 2


def test_decorated_function_does_not_keep_its_arguments() -> None:
    ns = run_module("""
        @trace(show=False)
        def step(w, x):
            loss = (x @ w).relu().sum()
            loss.backward()
            return loss

        w, x = torch.randn(3, 2, requires_grad=True), torch.randn(4, 3)
        loss = step(x=x, w=w)
    """)
    refs = drop(ns, "w", "x", "loss")
    assert all(_dies(r) for r in refs)
    assert ns["step"].last_trace.grad("w") is not None


def test_tensors_dropped_in_the_tracing_function_are_freed() -> None:
    with trace() as t:
        x = torch.randn(3, requires_grad=True)
        h = x.exp()
        h.sum().backward()
    refs = [weakref.ref(x), weakref.ref(h)]
    del x, h
    assert all(_dies(r) for r in refs)
    assert t.grad("x") is not None


def test_trace_holds_no_live_tensors() -> None:
    """Every tensor a Trace holds is its own small CPU copy, sharing no memory with the user's."""
    with trace() as t:
        x = torch.tensor([1.0, 2.0], requires_grad=True)
        y = (x * x).sum()
        y.backward()
    held = []

    def walk(obj: Any) -> None:
        if isinstance(obj, torch.Tensor):
            held.append(obj)
        elif isinstance(obj, (tuple, list)):
            for o in obj:
                walk(o)
        elif hasattr(obj, "__dataclass_fields__"):
            for name in obj.__dataclass_fields__:
                walk(getattr(obj, name))

    walk(t.records)
    assert held
    for h in held:
        assert not h.requires_grad and h.grad_fn is None and h.device.type == "cpu"
        assert h.untyped_storage().data_ptr() not in (
            x.untyped_storage().data_ptr(), x.grad.untyped_storage().data_ptr())


# -- pickling ------------------------------------------------------------------------------------
def records_equal(a: Any, b: Any, path: str = "trace") -> None:
    """Field by field, NaN-aware; fails with the path of the first difference."""
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        assert same(a, b), path
    elif isinstance(a, float) and isinstance(b, float) and math.isnan(a):
        assert math.isnan(b), path
    elif isinstance(a, Trace):
        assert type(b) is Trace, path
        records_equal(a.records, b.records, f"{path}.records")
    elif hasattr(a, "__dataclass_fields__"):
        assert type(a) is type(b), path
        for name in a.__dataclass_fields__:
            records_equal(getattr(a, name), getattr(b, name), f"{path}.{name}")
    elif isinstance(a, (tuple, list)):
        assert type(a) is type(b) and len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            records_equal(x, y, f"{path}[{i}]")
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), path
        for k in a:
            records_equal(a[k], b[k], f"{path}[{k!r}]")
    else:
        assert a == b, f"{path}: {a!r} != {b!r}"


def roundtrip(t: Trace) -> Trace:
    u = pickle.loads(pickle.dumps(t))
    assert isinstance(u, Trace)
    records_equal(t, u)
    assert str(u) == str(t)
    assert [(w.kind, w.message) for w in u.warnings] == [(w.kind, w.message) for w in t.warnings]
    for name in t.names:
        for lookup in (Trace.value, Trace.grad):
            try:
                expected = lookup(t, name)
            except KeyError:
                continue
            assert same(lookup(u, name), expected), (lookup.__name__, name)
    return u


def test_pickle_roundtrip_of_lab_traces() -> None:
    class Leaky(torch.autograd.Function):
        @staticmethod
        def forward(ctx: Any, x: torch.Tensor) -> torch.Tensor:
            ctx.save_for_backward(x)
            return torch.max(x, x * 0.01)

        @staticmethod
        def backward(ctx: Any, g: torch.Tensor) -> torch.Tensor:
            (x,) = ctx.saved_tensors
            return torch.where(x < 0, 0.01, 1.0) * g

    torch.manual_seed(0)
    model = torch.nn.Linear(4, 2)
    with trace(check=True) as t:
        x_1 = torch.tensor([3.0], requires_grad=True)
        c = x_1.cos() * Leaky.apply(x_1 - 5)
        c.backward()
        c = x_1.cos() * Leaky.apply(x_1 - 5)
        c.backward()  # accumulation warning
        out = model(torch.randn(3, 4)).log()  # NaN
        loss = out.nansum() + torch.randn(100, 100).sum() * 0  # a big tensor: summary only
        loss.backward()
    assert t.warnings
    u = roundtrip(t)
    assert u.forward.equals(t.forward)
    assert u.backward.equals(t.backward)


def test_pickle_roundtrip_of_a_failed_trace() -> None:
    with pytest.raises(ValueError), trace(values="full") as t:
        w = torch.randn(80, 80, requires_grad=True)
        (w * w).sum().backward()
        raise ValueError("<stopped>")
    u = roundtrip(t)
    assert u.error == "ValueError: <stopped>"
    assert same(u.grad("w"), t.grad("w"))


def test_pickle_roundtrip_of_nan_values_compares_equal() -> None:
    with trace() as t:
        x = torch.tensor([-1.0, 0.0, 1.0], requires_grad=True)
        y = x.log()  # nan, -inf, 0
        y.sum().backward()
    u = roundtrip(t)
    assert u == t, "a Trace holding NaN must equal its unpickled copy"


@PROPERTY
@given(formulas())
def test_pickle_roundtrip_of_random_traces(f: Formula) -> None:
    traced = run_traced(f.lines(), f.make_inputs)
    assert traced.trace is not None
    roundtrip(traced.trace)


def test_a_finished_trace_leaves_no_cycles_for_the_collector() -> None:
    """A recorder freed by reference counting alone: its records never wait for a full
    collection (which walks every object in the process)."""
    w = torch.nn.Linear(4, 3)

    def run() -> None:
        with trace() as t:
            (w(torch.ones(2, 4)) ** 2).sum().backward()
        assert t.steps  # built, then dropped

    assert garbage_after(run) == []


def test_a_trace_that_was_read_leaves_no_cycles_for_the_collector() -> None:
    """Reading a Trace (its tables, warnings, gradients, report) links nothing back to it: a
    training loop that keeps only the last Trace frees each one by reference counting."""
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)

    def run() -> None:
        with trace() as t:
            opt.zero_grad()
            model(torch.ones(2, 4)).pow(2).sum().backward()
            opt.step()
        t.forward, t.backward, t.tensors, t.edges, t.updates, t.warnings  # noqa: B018
        assert str(t) and t.grad("model.0.weight") is not None

    assert garbage_after(run) == []


def garbage_after(run: Any) -> list[str]:
    """The kinds of object that only the cycle collector frees after a second ``run()``."""
    run()
    gc.collect()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        run()
        gc.collect()
        return sorted({type(o).__name__ for o in gc.garbage})
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
