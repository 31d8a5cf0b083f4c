"""Every computation of the autograd lab, traced, checked against the same code run untraced.

Each lab case is a function ``case(ctx)`` that runs its code inside ``with ctx as t`` and returns
its tensors; it runs once under ``contextlib.nullcontext()`` (plain PyTorch: the oracle) and once
under ``trace()``. Values and gradients must be bit-identical, and the Trace must report the
gradients PyTorch computed. The lab's own printed numbers are checked too.
"""

from __future__ import annotations

import contextlib
from typing import Any

import pytest
import torch
import torch.nn.functional as F

from gradtrace import Trace, trace
from tests.lab_cases import MLP, formula


def run_both(case: Any) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor], Trace]:
    torch.manual_seed(0)
    plain = case(contextlib.nullcontext())
    torch.manual_seed(0)
    ctx = trace()
    traced = case(ctx)
    t = ctx.last_trace
    assert isinstance(t, Trace)
    assert plain.keys() == traced.keys()
    for k in plain:
        assert torch.equal(plain[k], traced[k]), f"{k} changed under tracing"
    return plain, traced, t


def case_square(ctx: Any) -> dict[str, torch.Tensor]:
    with ctx:
        x = torch.rand(1, requires_grad=True)
        y = x**2
        y.backward()
    return {"x": x.detach(), "y": y.detach(), "x.grad": x.grad}


def test_square_gradient_is_two_x() -> None:
    plain, _, t = run_both(case_square)
    assert torch.equal(t.grad("x"), plain["x.grad"])
    assert torch.allclose(t.grad("x"), 2 * plain["x"])
    assert [s.name for s in t.steps] == ["x", "y"]
    assert t.steps[1].op == "pow" and t.steps[1].grad_fn == "PowBackward0"
    assert [b.node for b in t.backward_steps] == ["PowBackward0", "AccumulateGrad"]


def case_sum(ctx: Any) -> dict[str, torch.Tensor]:
    with ctx:
        x = torch.rand([5], requires_grad=True)
        y = x.sum()
        y.backward()
    return {"x.grad": x.grad}


def test_sum_gradient_is_ones() -> None:
    plain, _, t = run_both(case_sum)
    assert torch.equal(t.grad("x"), torch.ones(5))
    assert torch.equal(t.grad("x"), plain["x.grad"])


def case_chain(ctx: Any) -> dict[str, torch.Tensor]:
    with ctx:
        x = torch.tensor([0.9460], requires_grad=True)
        z = x.log()
        y = z**2
        y.backward()
    return {"x.grad": x.grad, "y": y.detach()}


def test_chain_rule_log_then_square() -> None:
    plain, _, t = run_both(case_chain)
    x = torch.tensor([0.9460])
    assert torch.equal(t.grad("x"), plain["x.grad"])
    assert t.grad("x").item() == pytest.approx(-0.1174, abs=1e-4)  # the lab's number
    # dy/dz = 2z, the gradient the lab says PyTorch does not keep for z
    assert torch.allclose(t.grad("z"), 2 * x.log())
    assert [s.name for s in t.steps] == ["x", "z", "y"]
    assert [b.tensor for b in t.backward_steps] == ["y", "z", "x"]


def case_accumulation(ctx: Any) -> dict[str, torch.Tensor]:
    with ctx:
        x_1 = torch.tensor([3.0], requires_grad=True)
        x_2 = torch.tensor([2.0], requires_grad=True)
        c = x_1.cos() * x_2.log()
        c.backward()
        c = x_1.cos() * x_2.log()
        c.backward()
    return {"x_1.grad": x_1.grad, "x_2.grad": x_2.grad}


def test_cos_log_accumulates_and_warns() -> None:
    plain, _, t = run_both(case_accumulation)
    assert plain["x_1.grad"].item() == pytest.approx(-0.1956, abs=1e-4)
    # each pass sent -0.0978 and -0.4950; the trace sums what flowed in over both passes
    acc = [b for b in t.backward_steps if b.kind == "accumulate" and b.tensor == "x_1"]
    assert [b.grad_in.values.item() for b in acc] == pytest.approx([-0.0978, -0.0978], abs=1e-4)
    assert acc[0].grad_before is None and acc[1].grad_before is not None
    assert torch.equal(acc[1].grad_after.values, plain["x_1.grad"])
    assert torch.equal(t.grad("x_1"), plain["x_1.grad"])
    assert torch.equal(t.grad("x_2"), plain["x_2.grad"])
    # backward order measured on torch: Mul, Log, AccumulateGrad(x_2), Cos, AccumulateGrad(x_1)
    first = [(b.node, b.tensor) for b in t.backward_steps if b.backward_pass == 1]
    assert first == [("MulBackward0", "c"), ("LogBackward0", "log(x_2)"),
                     ("AccumulateGrad", "x_2"), ("CosBackward0", "cos(x_1)"),
                     ("AccumulateGrad", "x_1")]
    (warned,) = t.warnings.of("accumulation")  # one cause, one warning naming both leaves
    assert set(warned.tensors) == {"x_1", "x_2"}
    assert "x_1.grad = -0.0978 + -0.0978 = -0.1956" in warned.message
    assert "x_2.grad = -0.4950 + -0.4950 = -0.9900" in warned.message
    assert "x_1.grad = None" in warned.fix


class LeakyReLU_Fun(torch.autograd.Function):
    @staticmethod
    def forward(ctx, input_):  # type: ignore[no-untyped-def]
        ctx.save_for_backward(input_)
        return torch.max(input_, input_ * 0.01)

    @staticmethod
    def backward(ctx, grad_output):  # type: ignore[no-untyped-def]
        (input_,) = ctx.saved_tensors
        grad_input = torch.ones_like(input_)
        grad_input[input_ < 0] = 0.01
        grad_input *= grad_output
        return grad_input


class ParamReLU_Fun(torch.autograd.Function):
    @staticmethod
    def forward(ctx, input_, alpha: float):  # type: ignore[no-untyped-def]
        ctx.save_for_backward(input_)
        ctx.alpha = alpha
        return torch.max(input_, input_ * alpha)

    @staticmethod
    def backward(ctx, grad_output):  # type: ignore[no-untyped-def]
        (input_,) = ctx.saved_tensors
        grad_input = grad_output.clone()
        grad_input[input_ < 0] *= ctx.alpha
        return grad_input, None


class ParamReLU(torch.nn.Module):
    def __init__(self, alpha: float) -> None:
        super().__init__()
        self.alpha = alpha

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        return ParamReLU_Fun.apply(X, self.alpha)


def case_leaky(ctx: Any) -> dict[str, torch.Tensor]:
    with ctx:
        fun = LeakyReLU_Fun.apply
        x = torch.linspace(-5, 5, 11, requires_grad=True)
        y = fun(x)
        z = y.sum()
        z.backward()
    return {"x.grad": x.grad, "y": y.detach()}


def test_custom_function_is_one_step() -> None:
    plain, _, t = run_both(case_leaky)
    assert torch.equal(t.grad("x"), plain["x.grad"])
    step = t.step("y")
    assert step.op == "LeakyReLU_Fun" and step.origin == "function"
    assert step.grad_fn == "LeakyReLU_FunBackward"
    # its forward's own ops (max, mul) are not steps of the trace
    assert [s.op for s in t.steps] == ["linspace", "LeakyReLU_Fun", "sum"]


def case_prelu(ctx: Any) -> dict[str, torch.Tensor]:
    with ctx:
        prelu = ParamReLU(0.25)
        x = torch.linspace(-5, 5, 11, requires_grad=True)
        y = prelu(x)
        z = y.sum()
        z.backward()
    return {"x.grad": x.grad}


def test_param_relu_module_and_function() -> None:
    plain, _, t = run_both(case_prelu)
    expected = torch.where(torch.linspace(-5, 5, 11) < 0, 0.25, 1.0)
    assert torch.equal(plain["x.grad"], expected)
    assert torch.equal(t.grad("x"), expected)
    assert t.step("y").module == "prelu"


def case_formula(ctx: Any) -> dict[str, torch.Tensor]:
    return {f"x_{i}.grad": v.grad for i, v in enumerate(formula(ctx), 1)}


def test_backprop_formula_gradients() -> None:
    plain, _, t = run_both(case_formula)
    grads = [t.grad(f"x_{i}").item() for i in range(1, 6)]
    assert grads == pytest.approx([3.7730, 1.8865, 0.0651, 0.0651, 0.0765], abs=1e-4)
    for i in range(1, 6):
        assert torch.equal(t.grad(f"x_{i}"), plain[f"x_{i}.grad"])
    # x_5 is used twice: its AccumulateGrad receives the sum of both paths once
    assert sum(1 for b in t.backward_steps if b.tensor == "x_5") == 1


class TrivialBackpropagationExample(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.module1 = torch.nn.Linear(in_features=5, out_features=1, bias=False)
        self.module1.weight.data = torch.Tensor([3, 0, 1, -3, 0.5])

    def forward(self, data: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.module1(data))


def bce_loss(y_hat: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return (-1 / len(y)) * (y_hat * y.log() + (1 - y_hat) * (1 - y.log())).sum()


def case_sigmoid(ctx: Any) -> dict[str, torch.Tensor]:
    ground_truth = torch.tensor([1.0])
    model = TrivialBackpropagationExample()
    with ctx:
        x = torch.tensor([1, 2, -1, 3, 5], dtype=torch.float32, requires_grad=True)
        y_hat = model(x)
        loss = bce_loss(y_hat, ground_truth)
        loss.backward()
    return {"x.grad": x.grad, "y_hat": y_hat.detach(), "w.grad": model.module1.weight.grad}


def test_sigmoid_module_names_parameters() -> None:
    plain, _, t = run_both(case_sigmoid)
    assert plain["y_hat"].item() == pytest.approx(0.0110, abs=1e-4)
    assert t.grad("x").tolist() == pytest.approx([0.0326, 0.0, 0.0109, -0.0326, 0.0054], abs=1e-4)
    assert torch.equal(t.grad("x"), plain["x.grad"])
    assert torch.equal(t.grad("model.module1.weight"), plain["w.grad"])
    assert t.step("model.module1.weight").origin == "parameter"
    assert t.step("y_hat").module == "model"


def case_mlp(ctx: Any) -> dict[str, torch.Tensor]:
    model = MLP()
    with ctx:
        X = torch.randn(10, 5)
        target = torch.tensor([1, 2, 3, 4, 1, 2, 3, 4, 1, 2]) - 1
        logits = model(X)
        one_hot = F.one_hot(target, num_classes=4)
        loss = -(one_hot * F.log_softmax(logits, dim=1)).sum() / 10
        loss.backward()
    out = {f"{n}.grad": p.grad for n, p in model.named_parameters()}
    out["loss"] = loss.detach()
    return out


def test_mlp_cross_entropy_homework() -> None:
    plain, _, t = run_both(case_mlp)
    for n in ["fc1.weight", "fc1.bias", "fc2.weight", "out.bias"]:
        assert torch.equal(t.grad(f"model.{n}"), plain[f"{n}.grad"]), n
    assert torch.equal(t.value("loss"), plain["loss"])
    modules = {s.module for s in t.steps if s.op in ("linear", "relu")}
    assert {"model.fc1", "model.fc2", "model.out"} <= modules


def test_mlp_with_cross_entropy_function() -> None:
    torch.manual_seed(0)
    model = MLP()
    X, y = torch.randn(10, 5), torch.tensor([0, 1, 2, 3, 0, 1, 2, 3, 0, 1])
    F.cross_entropy(model(X), y).backward()
    expected = {n: p.grad.clone() for n, p in model.named_parameters()}
    model.zero_grad(set_to_none=True)
    with trace() as t:
        loss = F.cross_entropy(model(X), y)
        loss.backward()
    assert t.step("loss").op == "cross_entropy"  # one step, not its internals
    for n, g in expected.items():
        assert torch.equal(t.grad(f"model.{n}"), g)
    inner = [b.node for b in t.backward_steps if b.kind == "inner"]
    assert "LogSoftmaxBackward0" in inner


def test_backward_table_splits_a_leaf_used_twice() -> None:
    _, _, t = run_both(case_formula)
    sent = {b.node: {e.name: e.grad.values.item() for e in b.grad_out if e.grad is not None}
            for b in t.backward_steps if "x_5" in {e.name for e in b.grad_out}}
    x = [torch.tensor(v, requires_grad=True) for v in (1.0, 2.0, -1.0, 3.0, 5.0)]
    s = torch.sin(x[2] + x[3] + x[4])
    via_sum = torch.autograd.grad(torch.log(torch.exp(x[0] * x[1]) ** 2 + torch.sin(
        x[2] + x[3] + x[4]) * x[4].detach()), x[4])[0].item()
    via_product = torch.autograd.grad(torch.log(torch.exp(x[0] * x[1]) ** 2 + s.detach() * x[4]),
                                      x[4])[0].item()
    assert sent["AddBackward0"]["x_5"] == pytest.approx(via_sum, abs=1e-6)
    assert sent["MulBackward0"]["x_5"] == pytest.approx(via_product, abs=1e-6)
    assert via_sum + via_product == pytest.approx(t.grad("x_5").item(), abs=1e-6)
