"""The recorder's mechanics: steps, names, backward passes, clean-up. Oracle: plain PyTorch."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
import torch

from gradtrace import trace
from gradtrace.model.trace import TraceLookupError

SOURCE = Path(__file__).read_text().splitlines()


def line_of(marker: str) -> int:
    """The line of this file that ends with ``# <marker>``."""
    (line,) = [i for i, text in enumerate(SOURCE, 1) if text.rstrip().endswith(f"# {marker}")]
    return line


def test_rebinding_unpacking_augassign_loops_and_walrus() -> None:
    with trace() as t:
        h = torch.ones(3, requires_grad=True)
        h = h + 1
        h = h * 2
        a, b = h.split([1, 2])
        c = a.sum()
        c += b.sum()
        for k in range(2):
            d = h * k
        if (e := h.mean()) is not None:
            pass
    names = [s.name for s in t.steps]
    assert names[:3] == ["h", "h", "h"]
    assert [s.op for s in t.steps[:3]] == ["ones", "add", "mul"]
    assert names[3:5] == ["a", "b"]
    assert t.step("c").op == "add_" and t.step("c").tensor_id == t.steps[5].tensor_id
    assert [s.name for s in t.steps if s.op == "mul" and s.inputs == (3,)] == ["d", "d"]
    assert t.step("e").op == "mean"
    assert torch.equal(t.value("h"), (torch.ones(3) + 1) * 2)
    assert torch.equal(t.value("d"), h.detach() * 1)


def test_step_fields_against_torch() -> None:
    with trace() as t:
        x = torch.tensor([[1.0, -2.0]], requires_grad=True)
        y = x.exp()
    s = t.step("y")
    assert s.op == "exp" and s.inputs == (t.step("x").step,)
    assert s.value.shape == (1, 2) and s.value.dtype == "float32"
    assert torch.equal(s.value.values, y.detach())
    assert s.grad_fn == type(y.grad_fn).__name__
    assert s.requires_grad and not s.is_leaf
    assert s.line is not None and s.source == "y = x.exp()"
    assert t.step("x").is_leaf and t.step("x").grad_fn is None


def test_values_recorded_before_in_place_change() -> None:
    with trace(values="summary") as t:
        big = torch.arange(10_000, dtype=torch.float32)
        big.mul_(2)
        huge = torch.arange(20_000, dtype=torch.float32)
        huge.mul_(2)
    first, second, _, last = t.steps
    assert first.value.max == 9999.0 and second.value.max == 19998.0
    assert first.value.values is None  # big tensors keep statistics only ...
    with pytest.raises(TraceLookupError, match="version 1 of 2"):
        t.value("big", version=1)
    assert torch.equal(t.value("big"), big)  # ... but what the code ends with is kept whole
    assert last.value.max == 39998.0 and last.value.values is None  # up to 16,384 elements
    with pytest.raises(TraceLookupError, match="values=\"full\""):
        t.value("huge")


def test_full_values_keeps_big_tensors() -> None:
    with trace(values="full") as t:
        w = torch.randn(600, 600, requires_grad=True)
        (w * 3).sum().backward()
    assert torch.equal(t.value("w"), w.detach())
    assert torch.equal(t.grad("w"), w.grad)


def test_backward_with_gradient_argument_and_retain_graph() -> None:
    x = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
    with trace() as t:
        y = x * x
        y.backward(gradient=torch.tensor([1.0, 0.5, 0.0]), retain_graph=True)
        y.backward(torch.ones(3))
    assert len(t.passes) == 2 and [p.call for p in t.passes] == ["backward", "backward"]
    expected = 2 * x.detach() * torch.tensor([1.0, 0.5, 0.0]) + 2 * x.detach()
    assert torch.equal(t.grad("x"), expected)
    assert torch.equal(x.grad, expected)
    assert torch.equal(t.grad("y"), torch.tensor([2.0, 1.5, 1.0]))
    assert t.passes[1].source == "y.backward(torch.ones(3))"


def test_autograd_grad_is_a_pass_with_captures() -> None:
    with trace() as t:
        x = torch.tensor(2.0, requires_grad=True)
        z = x**3
        y = z.sin()
        gx, gz = torch.autograd.grad(y, [x, z], create_graph=True)
    assert t.passes[0].call == "autograd.grad"
    assert torch.equal(t.grad("x", backward=1), gx.detach())
    assert torch.equal(t.grad("z", backward=1), gz.detach())
    assert x.grad is None and t.grad("x") is None  # autograd.grad never adds to x.grad
    assert torch.equal(t.grad("z"), gz.detach())  # what z.retain_grad() would hold
    assert not [w for w in t.warnings if w.kind == "accumulation"]


def test_retain_grad_default_and_off() -> None:
    with trace() as t:
        x = torch.tensor([0.5], requires_grad=True)
        z = x.log()
        y = z**2
        y.backward()
    assert torch.equal(z.grad, t.grad("z"))
    with trace(retain_grad=False):
        x = torch.tensor([0.5], requires_grad=True)
        z = x.log()
        (z**2).backward()
    with pytest.warns(UserWarning):
        assert z.grad is None


def test_pre_existing_tensors_and_parameters_are_named() -> None:
    model = torch.nn.Linear(3, 1)
    inputs = torch.ones(2, 3)
    with trace() as t:
        out = model(inputs).sum()
        out.backward()
    assert t.step("inputs").origin == "input"
    assert t.step("model.weight").origin == "parameter"
    assert torch.equal(t.grad("model.weight"), model.weight.grad)
    assert torch.equal(t.grad("model.bias"), model.bias.grad)


def test_graph_built_before_the_trace_is_reached() -> None:
    x = torch.tensor([3.0], requires_grad=True)
    c = x.cos() * 2
    c.backward(retain_graph=True)
    with trace() as t:
        c.backward()
    assert [b.node for b in t.backward_steps][:1] == ["MulBackward0"]
    acc = [w for w in t.warnings if w.kind == "accumulation"]
    assert [w.tensor for w in acc] == ["x"]


def test_exception_in_forward_propagates_and_keeps_partial_trace() -> None:
    with pytest.raises(RuntimeError, match="mat1 and mat2") as info, trace() as t:
        a = torch.ones(2, 3, requires_grad=True)
        b = a * 2
        b @ torch.ones(2, 3)
    assert type(info.value) is RuntimeError
    assert [s.name for s in t.steps][:2] == ["a", "b"]
    assert t.error is not None and "mat1 and mat2" in t.error
    assert t.error_line == t.step("b").line + 1


def test_exception_in_backward_records_the_failed_pass() -> None:
    with pytest.raises(RuntimeError, match="second time"), trace() as t:
        x = torch.tensor([1.0], requires_grad=True)
        y = x.exp()
        y.backward()
        y.backward()
    assert t.passes[1].error is not None and "second time" in t.passes[1].error


def test_exception_inside_custom_function_restores_apply() -> None:
    class Broken(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):  # type: ignore[no-untyped-def]
            raise ValueError("broken forward")

        @staticmethod
        def backward(ctx, g):  # type: ignore[no-untyped-def]
            return g

    with pytest.raises(ValueError, match="broken forward"), trace():
        Broken.apply(torch.ones(1))
    with trace() as t:  # the next trace works
        y = torch.ones(1) + 1
    assert t.step("y").op == "add"


def test_no_hook_survives_the_trace() -> None:
    with trace() as t:
        x = torch.tensor([1.0], requires_grad=True)
        y = x * 3
    before = (len(t.backward_steps), len(t.passes))
    y.backward()
    assert (len(t.backward_steps), len(t.passes)) == before == (0, 0)
    assert torch.equal(x.grad, torch.tensor([3.0]))


def test_other_threads_are_not_recorded() -> None:
    go, done = threading.Event(), threading.Event()
    result = {}

    def work() -> None:
        go.wait()
        result["y"] = torch.ones(2) * 5
        done.set()

    worker = threading.Thread(target=work)
    worker.start()
    with trace() as t:
        a = torch.ones(1) + 1
        go.set()
        done.wait(10)
    worker.join()
    assert [s.name for s in t.steps] == ["ones(1)", "a"]
    assert torch.equal(result["y"], torch.full((2,), 5.0))


def test_tensors_that_never_require_grad() -> None:
    with trace() as t:
        a = torch.ones(2)
        b = a * 2
    assert t.grad("b") is None
    assert not t.backward_steps
    assert torch.equal(t.value("b"), torch.full((2,), 2.0))


def test_unknown_name_is_a_clear_error() -> None:
    with trace() as t:
        x_1 = torch.ones(1)
    with pytest.raises(TraceLookupError, match=r"no tensor named 'x_2'.*Did you mean 'x_1'"):
        t.grad("x_2")


def test_code_with_no_tensors() -> None:
    with trace() as t:
        total = sum(range(10))
    assert total == 45 and t.steps == () and t.warnings == []
    with pytest.raises(TraceLookupError, match="recorded no tensors"):
        t.value("total")


def test_module_built_inside_the_trace_records_only_the_math() -> None:
    torch.manual_seed(0)
    with trace() as t:
        model = torch.nn.Linear(3, 2)
        model.weight.data = torch.ones(2, 3)
        out = model(torch.ones(1, 3)).sum()
        out.backward()
    ops = [s.op for s in t.steps]
    assert "empty" not in ops and "kaiming_uniform_" not in ops and "uniform_" not in ops
    assert torch.equal(t.grad("model.weight"), model.weight.grad)
    assert torch.equal(t.value("model.weight"), torch.ones(2, 3))


def test_an_optimizer_step_is_one_new_version_not_its_inner_ops() -> None:
    w = torch.nn.Parameter(torch.tensor([1.0, 2.0]))
    opt = torch.optim.SGD([w], lr=0.1)
    with trace() as t:
        loss = (w * w).sum()
        loss.backward()
        opt.step()  # optimizer-step
    assert [(s.name, s.op) for s in t.steps] == [
        ("w", "input"), ("mul(w, w)", "mul"), ("loss", "sum"), ("w", "SGD.step")]
    update = t.steps[-1]
    assert update.origin == "update" and update.inputs == (1,) and not update.grad_mode
    assert update.line == line_of("optimizer-step")
    assert torch.equal(w.detach(), torch.tensor([0.8, 1.6]))
    assert torch.equal(t.value("w"), w.detach()) and torch.equal(t.value("w", version=1),
                                                                  torch.tensor([1.0, 2.0]))


def test_reading_x_grad_is_named_after_x() -> None:
    with trace() as t:
        x = torch.tensor([2.0], requires_grad=True)
        y = x**2
        y.backward()
        check = x.grad == 2 * x
    assert "x.grad" in t.names
    assert t.step("check").inputs[0] == t.step("x.grad").step


def test_big_gradients_are_summarised_during_backward() -> None:
    torch.manual_seed(0)
    w = torch.randn(600, 600, requires_grad=True)
    with trace() as t:
        h = (w * 2).tanh()
        loss = (h * h).sum()
        loss.backward()
    expected = 2 * h.detach()  # d loss / d h
    got = next(b for b in t.backward_steps if b.tensor == "h").grad_in
    assert got.values is None and got.shape == (600, 600)
    assert got.min == pytest.approx(expected.min().item())
    assert got.max == pytest.approx(expected.max().item())
    assert got.mean == pytest.approx(expected.mean().item(), abs=1e-6)
    assert got.norm == pytest.approx(expected.norm().item(), rel=1e-5)
    with trace() as t:
        x = torch.zeros(600, 600, requires_grad=True)
        a = x * 1.0
        a.sqrt().sum().backward()
    received = next(b for b in t.backward_steps if b.tensor == "a").grad_in
    assert received is not None and received.inf == 600 * 600  # in CPU memory: counted
    assert torch.isinf(x.grad).all()
    assert [w.kind for w in t.warnings] == ["inf"]
    with trace() as t:  # bfloat16 is summarised by torch, during backward: counted too
        x = torch.zeros(600, 600, dtype=torch.bfloat16, requires_grad=True)
        a = x * 1.0
        a.sqrt().sum().backward()
    received = next(b for b in t.backward_steps if b.tensor == "a").grad_in
    assert received is not None and received.inf == 600 * 600 and not received.finite
    assert received.nan == 0 and received.min is None  # no finite element
    assert [w.kind for w in t.warnings] == ["inf"]


def test_gradients_into_nodes_inside_an_op_match_torch() -> None:
    """linear on a 3-d input runs view, mm and t nodes inside it: each edge into one of them
    shows what that node received, once kept and once read from the node's record."""
    torch.manual_seed(0)
    x = torch.randn(2, 3, 4)
    w = torch.randn(5, 4, requires_grad=True)
    with trace() as t:
        y = torch.nn.functional.linear(x, w)
        (y * y).sum().backward()
    assert w.grad is not None
    by_node = {b.node: b for b in t.backward_steps}
    received = by_node["TBackward0"].grad_in
    assert received is not None and torch.equal(received.values, w.grad.T)
    into_t = [e for b in t.backward_steps for e in b.grad_out if e.name == "TBackward0"]
    assert len(into_t) == 1 and torch.equal(into_t[0].grad.values, w.grad.T)
    y_grad = 2 * (x @ w.T).detach()  # what linear's own node received, viewed as (6, 5)
    into_mm = [e for b in t.backward_steps for e in b.grad_out if e.name == "MmBackward0"]
    assert len(into_mm) == 1 and into_mm[0].grad.shape == (6, 5)
    assert torch.equal(into_mm[0].grad.values, by_node["MmBackward0"].grad_in.values)
    assert torch.allclose(into_mm[0].grad.values, y_grad.reshape(6, 5))


def test_each_pass_shows_what_its_own_edge_into_a_shared_tensor_carried() -> None:
    """Two backward passes through one retained graph from two roots: each edge into the
    shared tensor is alone in its pass, and shows its own gradient."""
    a = torch.tensor([1.0, 2.0], requires_grad=True)
    with trace() as t:
        h = a.expand(3, 2)  # ExpandBackward0: a node of its own
        u = (h * 2).sum()
        u.backward(retain_graph=True)
        v = (h * 3).sum()
        v.backward()
    assert torch.equal(a.grad, torch.tensor([15.0, 15.0]))
    into_h = [(b.backward_pass, e.grad) for b in t.backward_steps for e in b.grad_out
              if e.name == "h"]
    assert [(p, g.values.tolist()) for p, g in into_h] == [
        (1, torch.full((3, 2), 2.0).tolist()), (2, torch.full((3, 2), 3.0).tolist())]


def test_an_edge_alone_in_one_pass_is_kept_once_a_later_pass_adds_another() -> None:
    a = torch.tensor([1.0, 2.0], requires_grad=True)
    with trace() as t:
        h = a * 2
        u = h * 3
        u.sum().backward(retain_graph=True)  # one edge into h: read from h's own record
        v = h * 4 + u  # the second pass runs u's edge into h again, and a new one
        v.sum().backward()
    assert torch.equal(a.grad, torch.tensor([6.0, 6.0]) + torch.tensor([14.0, 14.0]))
    into_h = sorted((b.backward_pass, e.grad.values.tolist()) for b in t.backward_steps
                    for e in b.grad_out if e.name == "h")
    assert into_h == [(1, [3.0, 3.0]), (2, [3.0, 3.0]), (2, [4.0, 4.0])]


def test_memory_freed_and_reused_is_a_new_tensor() -> None:
    """Without retain_grad nothing holds the gradients, so autograd reuses their memory for
    the next ones, at the same address with the same shape: each must still be its own."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(*[m for _ in range(4)
                                  for m in (torch.nn.Linear(128, 128), torch.nn.Tanh())])
    x = torch.randn(64, 128)
    h, outs = x, []
    for layer in model:  # the oracle: plain PyTorch, every output's gradient retained
        h = layer(h)
        h.retain_grad()
        outs.append(h)
    (h ** 2).sum().backward()
    expected = [o.grad for o in outs]
    model.zero_grad()
    with trace(retain_grad=False) as t:
        h = x
        for layer in model:
            h = layer(h)
        (h ** 2).sum().backward()
    made = [s for s in t.steps if s.op in ("linear", "tanh")]
    assert len(made) == len(expected) == 8
    for s, g in zip(made, expected):
        got = next(b.grad_in for b in t.backward_steps
                   if b.forward_step == s.step and b.kind == "node")
        assert got is not None and got.values is None  # summarised, not copied
        assert (got.min, got.max) == (g.min().item(), g.max().item())
        assert got.norm == pytest.approx(g.norm().item(), rel=1e-5)


def test_a_weight_gradient_passed_on_as_a_new_view_is_summarised_once() -> None:
    """``AddmmBackward`` sends a transposed gradient, ``TBackward`` passes a new view of it on
    and ``AccumulateGrad`` makes that view ``.grad``: one summary, equal to plain PyTorch's."""
    from gradtrace.model import stats

    torch.manual_seed(0)
    width = 160  # 25,600 elements: summarised, not copied
    model = torch.nn.Sequential(torch.nn.Linear(width, width), torch.nn.ReLU(),
                                torch.nn.Linear(width, 4))
    x = torch.randn(32, width)
    model(x).square().sum().backward()
    expected = model[0].weight.grad.clone()
    model.zero_grad(set_to_none=True)
    calls: list[tuple[int, ...]] = []
    summarise = stats.host_stats

    def counted(t: torch.Tensor) -> stats.Stats | None:
        calls.append(tuple(t.shape))
        return summarise(t)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("gradtrace.capture.keeper.host_stats", counted)
        with trace() as t:
            model(x).square().sum().backward()
    assert calls.count((width, width)) == 2  # the weight as first used, its gradient once
    assert torch.equal(model[0].weight.grad, expected)
    weight = next(s.step for s in t.steps if s.name == "model.0.weight")
    got = next(b.grad_after for b in t.backward_steps
               if b.kind == "accumulate" and b.forward_step == weight)
    assert got is not None and got.values is None
    assert (got.min, got.max) == (expected.min().item(), expected.max().item())
    assert got.mean == pytest.approx(expected.mean().item(), rel=1e-5)
    assert got.norm == pytest.approx(expected.norm().item(), rel=1e-5)


def test_a_base_changed_through_its_view_after_its_name_was_rebound() -> None:
    a = torch.tensor(2.0, requires_grad=True)
    b = torch.zeros(3)
    with trace() as t:
        e = b[0]
        b = a.exp()  # the name b now holds another tensor
        e += a  # changes the old b through its view
        loss = b.mean()
        loss.backward()
    assert torch.equal(t.value("b"), torch.tensor(2.0).exp())  # the b of the code
    old = t.step("e._base")  # the old b, reached through its view
    assert torch.equal(old.value.values, torch.tensor([2.0, 0.0, 0.0]))
    assert torch.equal(t.grad("a"), a.grad)


def test_a_base_changed_through_its_view_is_retained_like_any_non_leaf() -> None:
    a = torch.tensor(0.0, requires_grad=True)
    b = torch.zeros(3)
    with trace() as t:
        e = b[0]
        e += a  # b is no longer a leaf: it has a grad_fn (CopySlices)
        loss = b.mean()
        loss.backward()
    assert b.grad_fn is not None and b.retains_grad
    assert torch.equal(t.grad("b"), torch.full((3,), 1 / 3))
    assert torch.equal(t.grad("a"), a.grad) and a.grad.item() == pytest.approx(1 / 3)


_LIBRARY: dict[str, Any] = {}  # a generator outside the traced files, as a library's would be
exec(compile("def doubles(x):\n    while True:\n        x = x * 2\n        yield x\n",
             "<library>", "exec"), _LIBRARY)


def _first(gen: Any) -> Any:
    return next(gen)


def _second(gen: Any) -> Any:
    return next(gen)


def test_ops_in_a_library_generator_are_placed_where_it_was_resumed() -> None:
    import inspect

    with trace() as t:
        gen = _LIBRARY["doubles"](torch.ones(1, requires_grad=True))
        _first(gen)
        _second(gen)
    lines = [s.line for s in t.steps if s.op == "mul"]
    assert lines == [inspect.getsourcelines(f)[1] + 1 for f in (_first, _second)]


def test_foreach_ops_in_place_keep_each_old_value() -> None:
    # gradient clipping, AMP's unscaling and fused optimizers write lists of tensors in place
    torch.manual_seed(0)
    a, c = torch.randn(128, 64), torch.randn(3)  # one summarised, one copied whole
    with trace() as t:
        b = a * 3
        d = c * 3
        torch._foreach_mul_([b, d], 0.5)
    first_b, second_b = [s.value for s in t.versions("b")]
    assert (first_b.min, first_b.max) == ((a * 3).min().item(), (a * 3).max().item())
    assert (second_b.min, second_b.max) == (b.min().item(), b.max().item())
    first_d, second_d = [s.value for s in t.versions("d")]
    assert torch.equal(first_d.values, c * 3) and torch.equal(second_d.values, d)


def test_a_gradient_passed_on_unchanged_is_copied_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """The gradient one node sends is the very tensor the next receives: one copy for both."""
    from gradtrace.capture.keeper import Keeper

    calls, copies = [0], [0]
    copy = Keeper._copy

    def counted(self: Keeper, t: torch.Tensor, passing: bool = False) -> int:
        before = len(self._items)
        index = copy(self, t, passing)
        calls[0] += 1
        copies[0] += len(self._items) > before
        return index

    monkeypatch.setattr(Keeper, "_copy", counted)
    x = torch.randn(4, 3, requires_grad=True)
    with trace(show=False) as t:
        m = x.sum(0, keepdim=True) / 4
        d = x - m
        (d ** 2).sum().backward()
    assert copies[0] < calls[0]
    expected = x.detach().clone().requires_grad_()
    centred = expected - expected.sum(0, keepdim=True) / 4
    (centred ** 2).sum().backward()
    assert torch.equal(t.grad("x"), expected.grad)
