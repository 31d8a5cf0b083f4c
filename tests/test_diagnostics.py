"""Each classic mistake, made in real PyTorch code: the diagnostic's kind, tensor and line; and
correct code (the lab, an MLP training step) that must raise no false alarm."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from gradtrace import trace
from gradtrace.diagnostics import KINDS
from tests.optional import transformers_or_skip

SOURCE = Path(__file__).read_text().splitlines()


def line_of(marker: str) -> int:
    """The line of this file that ends with ``# <marker>``."""
    hits = [i for i, text in enumerate(SOURCE, 1) if text.rstrip().endswith(f"# {marker}")]
    assert len(hits) == 1, marker
    return hits[0]


def test_accumulation_names_tensor_and_line_and_can_be_ignored() -> None:
    def run(**options: object) -> object:
        with trace(**options) as t:  # type: ignore[arg-type]
            w = torch.tensor([2.0], requires_grad=True)
            (w * 3).sum().backward()
            (w * 3).sum().backward()  # second-backward
        return t

    t = run()
    (d,) = t.warnings.of("accumulation")
    assert d.tensor == "w" and d.line == line_of("second-backward")
    assert "3.0000" in d.message and "6.0000" in d.message
    assert run(ignore=["accumulation"]).warnings == []


def test_non_leaf_grad_read() -> None:
    with trace(retain_grad=False) as t:
        x = torch.tensor([0.5], requires_grad=True)
        z = x.log()
        y = z**2
        y.backward()
        with pytest.warns(UserWarning):
            assert z.grad is None  # read-z-grad
    (d,) = t.warnings.of("non_leaf_grad")
    assert d.tensor == "z" and d.line == line_of("read-z-grad")
    assert f"{(2 * torch.tensor(0.5).log()).item():.4f}" in d.message  # what gradtrace saw
    assert "z.retain_grad()" in d.fix


@pytest.mark.parametrize("cut", ["detach", "no_grad", "integer", "disconnected"])
def test_no_gradient_says_where_the_path_was_cut(cut: str) -> None:
    with trace() as t:
        w = torch.tensor([1.5, -2.0], requires_grad=True)
        b = torch.tensor([0.5], requires_grad=True)
        if cut == "detach":
            h = (w * 2).detach()  # cut-detach
        elif cut == "no_grad":
            with torch.no_grad():
                h = w * 2  # cut-no_grad
        elif cut == "integer":
            h = (w * 2).long()  # cut-integer
        else:
            h = torch.ones(2)
        loss = (h * b).sum()
        loss.backward()
    (d,) = t.warnings.of("no_gradient")
    assert d.tensor == "w"
    if cut != "disconnected":
        assert d.line == line_of(f"cut-{cut}")
    expected = {"detach": "detach()", "no_grad": "no_grad", "integer": "int64 result",
                "disconnected": "was not computed from w"}[cut]
    assert expected in d.message


def test_unused_parameter_has_no_gradient() -> None:
    class Net(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.used = torch.nn.Linear(2, 1)
            self.unused = torch.nn.Linear(2, 1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.used(x)

    model = Net()
    with trace() as t:
        model(torch.ones(1, 2)).sum().backward()
    names = sorted(d.tensor for d in t.warnings.of("no_gradient"))
    assert names == ["model.unused.bias", "model.unused.weight"]


def test_nan_in_forward_names_the_op_and_its_inputs() -> None:
    with trace() as t:
        x = torch.tensor([2.0, -1.0], requires_grad=True)
        y = x.log()  # nan-forward
        y.sum().backward()
    d = t.warnings.of("nan")[0]
    assert d.tensor == "y" and d.line == line_of("nan-forward")
    assert "x = [2.0000, -1.0000]" in d.message and "negative" in d.message


def test_inf_in_backward_names_the_node() -> None:
    with trace() as t:
        x = torch.tensor([0.0, 4.0], requires_grad=True)
        r = x.sqrt()  # sqrt-at-zero
        r.sum().backward()
    assert torch.isinf(x.grad[0])
    (d,) = t.warnings.of("inf")
    assert d.tensor == "r" and d.line == line_of("sqrt-at-zero")
    assert "SqrtBackward0" in d.message and "x = [0.0000, 4.0000]" in d.message


def test_vanishing_is_judged_against_the_rest_of_the_model() -> None:
    torch.manual_seed(0)
    layers: list[torch.nn.Module] = []
    for _ in range(12):
        layers += [torch.nn.Linear(16, 16), torch.nn.Sigmoid()]
    model = torch.nn.Sequential(*layers, torch.nn.Linear(16, 2))
    x, y = torch.randn(32, 16), torch.randint(0, 2, (32,))
    with trace() as t:
        F.cross_entropy(model(x), y).backward()  # deep-sigmoid
    rates = {n: (p.grad.norm() / p.norm()).item() for n, p in model.named_parameters()
             if p.dim() == 2}
    top = max(rates.values())
    slow = {f"model.{n}" for n, r in rates.items() if r < 1e-5 * top}
    (v,) = t.warnings.of("vanishing")
    assert v.tensor == "model.0.weight" and set(v.tensors) == slow and len(slow) >= 3
    assert v.line == line_of("deep-sigmoid")
    assert f"{rates['0.weight'] / top:.2g}" in v.message


def test_large_gradients_alone_are_not_exploding_but_growth_is() -> None:
    a = torch.tensor(0.5, requires_grad=True)
    with trace() as t:
        b = a * 2
        while b.norm() < 1000:
            b = b * 2
        b.backward()
    assert a.grad.item() == 2048.0 and t.warnings == []  # d2l's control flow: right, and big
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 2)
    x, y = torch.randn(32, 4) * 3 + 10, torch.randn(32, 2)
    norms = []
    with trace() as t:
        opt = torch.optim.SGD(model.parameters(), lr=0.01)
        for _ in range(8):
            opt.zero_grad()
            F.mse_loss(model(x), y).backward()
            norms.append(model.weight.grad.norm().item())
            opt.step()
    (e,) = t.warnings.of("exploding")
    first = min(range(len(norms)), key=lambda i: norms[i] if norms[i] > 0 else 1e30)
    grown = next(i for i, n in enumerate(norms) if n / min(norms[:i] or [n]) > 100)
    assert e.tensor == "model.weight" and f"pass {grown + 1}" in e.message
    assert f"{norms[first]:.3g}" in e.message and f"{norms[grown]:.3g}" in e.message


def test_backward_twice_points_at_the_freed_node() -> None:
    with pytest.raises(RuntimeError, match="second time"), trace() as t:
        x = torch.tensor([1.0], requires_grad=True)
        y = x.exp()
        y.backward()
        y.backward()  # twice
    (d,) = t.warnings.of("backward_twice")
    assert d.line == line_of("twice") and d.tensor == "y"
    assert "retain_graph=True" in d.fix


def test_inplace_modification_names_tensor_and_op() -> None:
    with pytest.raises(RuntimeError, match="inplace"), trace() as t:
        a = torch.tensor([1.0], requires_grad=True)
        b = a.exp()
        c = b * 2
        b.add_(1)  # modified-in-place
        c.backward(torch.ones(1))
        b.backward()  # uses b's saved value: fails
    (d,) = t.warnings.of("inplace")
    assert d.tensor == "b" and d.line == line_of("modified-in-place")
    assert "add_" in d.message and ".clone()" in d.fix


class Scale(torch.autograd.Function):
    """Correct: y = 3x."""

    @staticmethod
    def forward(ctx, x):  # type: ignore[no-untyped-def]
        return 3 * x

    @staticmethod
    def backward(ctx, grad_output):  # type: ignore[no-untyped-def]
        return 3 * grad_output


class ForgetsGradOutput(Scale):
    @staticmethod
    def backward(ctx, grad_output):  # type: ignore[no-untyped-def]
        return torch.full_like(grad_output, 3.0)


class WrongUnpack(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):  # type: ignore[no-untyped-def]
        ctx.save_for_backward(x)
        return x.clamp(min=0)

    @staticmethod
    def backward(ctx, grad_output):  # type: ignore[no-untyped-def]
        x = ctx.saved_tensors  # the lab's slip: a tuple, not the tensor
        return grad_output * (x > 0)


@pytest.mark.parametrize("fn, expected", [(ForgetsGradOutput, "disagrees"),
                                          (WrongUnpack, "raised TypeError")])
def test_function_check_catches_wrong_backward(fn: type, expected: str) -> None:
    with trace(check=True) as t:
        x = torch.tensor([1.0, -2.0, 3.0], requires_grad=True)
        y = fn.apply(x)  # custom-call
    (d,) = t.warnings.of("function_check")
    assert expected in d.message and d.tensor == "y" and d.line == line_of("custom-call")


def test_function_check_passes_the_labs_functions() -> None:
    from tests.test_lab import LeakyReLU_Fun, ParamReLU_Fun

    with trace(check=True) as t:
        x = torch.linspace(-5, 5, 11, requires_grad=True)  # includes the kink at 0
        y = LeakyReLU_Fun.apply(x) + ParamReLU_Fun.apply(x, 0.25) + Scale.apply(x)
        y.sum().backward()
    assert t.warnings.of("function_check") == []
    assert [e.kind for e in t.events].count("function_check") == 3


def test_correct_training_step_raises_no_warning() -> None:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(5, 16), torch.nn.ReLU(), torch.nn.Linear(16, 4))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    X, y = torch.randn(32, 5), torch.randint(0, 4, (32,))
    with trace() as t:
        for _ in range(3):
            opt.zero_grad()
            loss = F.cross_entropy(model(X), y)
            loss.backward()
            opt.step()
    assert len(t.passes) == 3
    assert t.warnings == []


@pytest.mark.parametrize("case", ["case_square", "case_sum", "case_chain", "case_leaky",
                                  "case_prelu", "case_formula", "case_sigmoid", "case_mlp"])
def test_lab_cases_raise_no_false_alarm(case: str) -> None:
    import tests.test_lab as lab

    ctx = trace()
    getattr(lab, case)(ctx)
    assert ctx.last_trace is not None and ctx.last_trace.warnings == []


def test_warnings_filter_rejects_unknown_kinds() -> None:
    with trace() as t:
        pass
    assert t.warnings.of(*KINDS) == []
    with pytest.raises(ValueError, match="unknown warning kind"):
        t.warnings.of("nans")
    with pytest.raises(ValueError, match="unknown warning kind"):
        trace(ignore=["accumulate"])


def test_attention_key_bias_is_a_structural_zero_not_a_vanishing_gradient() -> None:
    transformers = transformers_or_skip()
    torch.manual_seed(0)
    config = transformers.BertConfig(vocab_size=100, hidden_size=32, num_hidden_layers=2,
                                     num_attention_heads=2, intermediate_size=64,
                                     max_position_embeddings=16)
    model = transformers.BertForSequenceClassification(config)
    ids, labels = torch.randint(0, 100, (2, 8)), torch.tensor([0, 1])
    with trace() as t:
        out = model(input_ids=ids, labels=labels)
        out.loss.backward()
    keys = [p for n, p in model.named_parameters() if n.endswith("attention.self.key.bias")]
    assert len(keys) == 2 and all(0 < p.grad.norm() < 1e-7 for p in keys)  # by construction
    assert t.warnings == []
    for n, p in model.named_parameters():
        assert torch.equal(t.grad(f"model.{n}"), p.grad), n


def test_torch_empty_holding_nan_is_no_warning_until_read_before_written() -> None:
    """``torch.empty`` hands back memory as it was left, NaN or Inf included (which values is
    chance: micrograd's ``torch.empty(n).uniform_(-1, 1)`` warned on some runs). Filling it is
    correct code; reading it first is the mistake."""
    from gradtrace.diagnostics.numerics import nonfinite
    from gradtrace.model.trace import ForwardStep, TensorSummary, Trace

    garbage = TensorSummary.of(torch.tensor([float("nan"), 1e38, float("inf")]))
    made = ForwardStep(1, "empty(3)", "empty", (), garbage, line=1)
    filled = ForwardStep(2, "w", "uniform_", (1,), TensorSummary.of(torch.rand(3)), line=1)
    used = ForwardStep(3, "y", "mul", (2,), TensorSummary.of(torch.rand(3)), line=2)
    assert nonfinite(Trace(steps=(made, filled, used))) == []
    read = ForwardStep(2, "y", "mul", (1,), TensorSummary.of(torch.tensor([float("nan")] * 3)),
                       line=2)
    (d,) = nonfinite(Trace(steps=(made, read)))
    assert d.kind == "nan" and d.tensor == "y" and d.step == 2
    assert "torch.empty" in d.message and "Write every element" in d.fix
