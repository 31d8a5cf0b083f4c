"""DataFrames of a Trace: forward steps, backward steps, one row per tensor name."""

from __future__ import annotations

import torch

from gradtrace.model.trace import (
    BackwardPass,
    BackwardStep,
    ForwardStep,
    GradientEdge,
    TensorSummary,
    Trace,
)
from gradtrace.views.dataframes import backward_frame, forward_frame, tensors_frame
from gradtrace.views.format import format_value


def lab_trace(passes: int = 1, keep: bool = True) -> tuple[Trace, torch.Tensor, torch.Tensor]:
    """The lab example recorded by hand from plain torch autograd; also returns x_1 and x_2."""
    def S(t: torch.Tensor) -> TensorSummary:
        return TensorSummary.of(t, keep=keep)

    x_1 = torch.tensor([3.0], requires_grad=True)
    x_2 = torch.tensor([2.0], requires_grad=True)
    steps = [ForwardStep(1, "x_1", "tensor", (), S(x_1), requires_grad=True, line=1),
             ForwardStep(2, "x_2", "tensor", (), S(x_2), requires_grad=True, line=2)]
    backward, runs = [], []
    for k in range(passes):
        n, p = 2 + 3 * k, k + 1
        a, b = x_1.cos(), x_2.log()
        c = a * b
        for kept in (a, b, c):
            kept.retain_grad()
        before = [None if x.grad is None else x.grad.clone() for x in (x_1, x_2)]
        c.backward()
        added = [x.grad - (0 if g is None else g) for x, g in zip((x_1, x_2), before)]
        steps += [ForwardStep(n + 1, "cos(x_1)", "cos", (1,), S(a), "CosBackward0", True, False,
                              line=3 + 2 * k, source="c = x_1.cos() * x_2.log()"),
                  ForwardStep(n + 2, "log(x_2)", "log", (2,), S(b), "LogBackward0", True, False),
                  ForwardStep(n + 3, "c", "mul", (n + 1, n + 2), S(c), "MulBackward0", True,
                              False)]
        accumulate = [BackwardStep(5 - 2 * i, p, "AccumulateGrad", i + 1, f"x_{i + 1}",
                                   S(added[i]), kind="accumulate",
                                   grad_before=None if before[i] is None else S(before[i]),
                                   grad_after=S(x.grad)) for i, x in enumerate((x_1, x_2))]
        backward += [
            BackwardStep(1, p, "MulBackward0", n + 3, "c", S(c.grad),
                         (GradientEdge(n + 1, "cos(x_1)", S(a.grad)),
                          GradientEdge(n + 2, "log(x_2)", S(b.grad)))),
            BackwardStep(2, p, "LogBackward0", n + 2, "log(x_2)", S(b.grad),
                         (GradientEdge(2, "x_2", S(added[1])),)),
            accumulate[1],
            BackwardStep(4, p, "CosBackward0", n + 1, "cos(x_1)", S(a.grad),
                         (GradientEdge(1, "x_1", S(added[0])),)),
            accumulate[0],
        ]
        runs.append(BackwardPass(p, "backward", (n + 3,), line=4 + 2 * k))
    return Trace(tuple(steps), tuple(backward), tuple(runs)), x_1, x_2


def test_empty_frames_keep_their_columns() -> None:
    for frame, columns in [(forward_frame, ["step", "name", "op", "inputs", "shape", "dtype",
                                            "value", "grad_fn", "requires_grad", "is_leaf",
                                            "origin", "module", "line", "source"]),
                           (backward_frame, ["step", "pass", "node", "tensor", "grad_in",
                                             "grad_out", "kind"]),
                           (tensors_frame, ["name", "shape", "dtype", "value", "grad",
                                            "is_leaf", "requires_grad", "origin"])]:
        df = frame(Trace())
        assert len(df) == 0
        assert set(columns) <= set(df.columns)
        assert list(df.columns) == list(frame(lab_trace()[0]).columns)


def test_forward_frame() -> None:
    t, x_1, _ = lab_trace()
    df = forward_frame(t)
    assert df["step"].tolist() == [1, 2, 3, 4, 5]
    assert df["name"].tolist() == ["x_1", "x_2", "cos(x_1)", "log(x_2)", "c"]
    assert df["inputs"].tolist() == ["", "", "x_1", "x_2", "cos(x_1), log(x_2)"]
    assert df["value"].tolist()[2] == format_value(TensorSummary.of(x_1.detach().cos()))
    assert df["value"].tolist()[2] == "-0.9900"
    assert df["shape"].tolist() == ["(1,)"] * 5 and set(df["dtype"]) == {"float32"}
    assert df["grad_fn"].tolist()[2:] == ["CosBackward0", "LogBackward0", "MulBackward0"]
    assert df["is_leaf"].tolist() == [True, True, False, False, False]
    assert str(df["line"].dtype) == "Int64" and df["line"].isna().tolist()[3:] == [True, True]
    assert t.forward is not None and t.forward.equals(df)  # Trace.forward uses this function


def test_backward_frame() -> None:
    t, _, _ = lab_trace(2)
    df = backward_frame(t)
    assert df["pass"].tolist() == [1] * 5 + [2] * 5
    assert df["node"].tolist()[:5] == ["MulBackward0", "LogBackward0", "AccumulateGrad",
                                       "CosBackward0", "AccumulateGrad"]
    assert df["grad_out"].tolist()[:5] == [
        "cos(x_1) <- 0.6931, log(x_2) <- -0.9900", "x_2 <- -0.4950",
        "x_2.grad: None -> -0.4950", "x_1 <- -0.0978", "x_1.grad: None -> -0.0978"]
    assert df["grad_out"].tolist()[-1] == "x_1.grad: -0.0978 -> -0.1956"
    assert df["grad_in"].tolist()[:2] == ["1.0000", "-0.9900"]
    assert df["kind"].tolist()[:3] == ["node", "node", "accumulate"]


def test_backward_capture_and_other_outputs() -> None:
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    (g,) = torch.autograd.grad((x * x).sum(), x)
    t = Trace(backward_steps=(
        BackwardStep(1, 1, "autograd.grad", 1, "x", TensorSummary.of(g), kind="capture"),
        BackwardStep(2, 1, "SplitBackward0", 3, "a", TensorSummary.of(g[:1]),
                     other_outputs=(GradientEdge(4, "b", None),)),
    ))
    df = backward_frame(t)
    assert df["grad_out"].tolist() == ["returned by autograd.grad", ""]
    assert df["grad_in"].tolist() == ["[2.0000, 4.0000]", "a: 2.0000, b: None"]


def test_tensors_frame_sums_gradients_over_passes() -> None:
    t, x_1, x_2 = lab_trace(2)
    df = tensors_frame(t)
    assert df["name"].tolist() == ["x_1", "x_2", "cos(x_1)", "log(x_2)", "c"]
    assert df["step"].tolist() == [1, 2, 6, 7, 8]  # the latest version of each name
    assert df["grad"].tolist()[:2] == [format_value(TensorSummary.of(x.grad))
                                       for x in (x_1, x_2)]
    assert df["grad"].tolist()[:2] == ["-0.1956", "-0.9900"]


def test_tensors_frame_without_kept_values_and_without_grads() -> None:
    t, _, _ = lab_trace(2, keep=False)
    df = tensors_frame(t)
    assert df["grad"].tolist()[0] == "-0.0978"  # only summaries: the latest pass's gradient
    unused = ForwardStep(9, "w", "ones", (), TensorSummary.of(torch.ones(3)))
    df = tensors_frame(Trace(steps=(*t.steps, unused), backward_steps=t.backward_steps))
    assert df["grad"].tolist()[-1] == ""
