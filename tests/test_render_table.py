"""DataFrames of a Trace: forward steps, backward steps, one row per tensor name."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from pandas.api.types import is_numeric_dtype
from torch import nn

from gradtrace import trace
from gradtrace.model.trace import (
    BackwardPass,
    BackwardStep,
    ForwardStep,
    GradientEdge,
    TensorSummary,
    Trace,
)
from gradtrace.views.dataframes import (
    backward_frame,
    edges_frame,
    forward_frame,
    tensors_frame,
)


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


FLOAT_STATS = [f"{p}_{s}" for p in ("value", "grad") for s in ("min", "max", "mean", "norm")]
COUNTS = ["value_nan", "value_inf", "grad_nan", "grad_inf"]


def test_empty_frames_keep_their_columns_and_dtypes() -> None:
    tensor = ["shape", "numel", "dtype", "version", *FLOAT_STATS, *COUNTS]
    for frame, columns in [(forward_frame, ["step", "name", "op", "inputs", "grad_fn",
                                            "requires_grad", "is_leaf", "origin", "module",
                                            "line", "source", *tensor]),
                           (backward_frame, ["step", "pass", "node", "tensor", "forward_step",
                                             "kind", "grad_in_min", "grad_in_max",
                                             "grad_in_mean", "grad_in_norm"]),
                           (tensors_frame, ["name", "step", "is_leaf", "requires_grad",
                                            "origin", *tensor]),
                           (edges_frame, ["step", "pass", "node", "from", "to", "to_step",
                                          "grad_min", "grad_max", "grad_mean", "grad_norm",
                                          "grad_nan", "grad_inf"])]:
        df = frame(Trace())
        assert len(df) == 0
        assert set(columns) <= set(df.columns)
        full = frame(lab_trace()[0])
        assert list(df.columns) == list(full.columns)
        numeric = [c for c in full.columns if is_numeric_dtype(full[c])]
        assert df[numeric].dtypes.to_dict() == full[numeric].dtypes.to_dict(), frame
    for frame in (forward_frame, backward_frame, tensors_frame):
        assert not {"value", "grad", "grad_in", "grad_out"} & set(frame(Trace()).columns)


def test_forward_frame() -> None:
    t, x_1, x_2 = lab_trace()
    df = forward_frame(t)
    assert df["step"].tolist() == [1, 2, 3, 4, 5]
    assert df["name"].tolist() == ["x_1", "x_2", "cos(x_1)", "log(x_2)", "c"]
    assert df["version"].tolist() == [1] * 5
    assert df["inputs"].tolist() == ["", "", "x_1", "x_2", "cos(x_1), log(x_2)"]
    values = [x_1, x_2, x_1.cos(), x_2.log(), x_1.cos() * x_2.log()]
    assert df["value_mean"].tolist() == pytest.approx([v.item() for v in values])
    assert df["value_min"].tolist()[2] == pytest.approx(math.cos(3.0))
    assert df["shape"].tolist() == [(1,)] * 5 and set(df["dtype"]) == {"float32"}
    assert df["numel"].tolist() == [1] * 5 and df["numel"].dtype == "int64"
    for col in FLOAT_STATS:
        assert df[col].dtype == "float64", col
    for col in COUNTS:
        assert df[col].dtype == "int64" and df[col].tolist() == [0] * 5, col
    # the gradient that reached each step, from torch
    expected = [x_1.grad, x_2.grad, x_2.log(), x_1.cos(), torch.ones(1)]
    assert df["grad_mean"].tolist() == pytest.approx([g.item() for g in expected])
    assert df["grad_norm"].tolist() == pytest.approx([abs(g.item()) for g in expected])
    assert df["grad_fn"].tolist()[2:] == ["CosBackward0", "LogBackward0", "MulBackward0"]
    assert df["is_leaf"].tolist() == [True, True, False, False, False]
    assert str(df["line"].dtype) == "Int64" and df["line"].isna().tolist()[3:] == [True, True]
    assert t.forward is not None and t.forward.equals(df)  # Trace.forward uses this function


def test_forward_frame_versions_count_rebound_names() -> None:
    t, _, _ = lab_trace(2)
    df = forward_frame(t)
    assert df["name"].tolist()[5:] == ["cos(x_1)", "log(x_2)", "c"]
    assert df["version"].tolist() == [1, 1, 1, 1, 1, 2, 2, 2]
    assert tensors_frame(t)["version"].tolist() == [1, 1, 2, 2, 2]


def test_backward_frame() -> None:
    t, x_1, x_2 = lab_trace(2)
    df = backward_frame(t)
    assert df["pass"].tolist() == [1] * 5 + [2] * 5 and df["pass"].dtype == "int64"
    assert df["node"].tolist()[:5] == ["MulBackward0", "LogBackward0", "AccumulateGrad",
                                       "CosBackward0", "AccumulateGrad"]
    assert df["kind"].tolist()[:3] == ["node", "node", "accumulate"]
    assert df["forward_step"].tolist()[:5] == [5, 4, 2, 3, 1]
    assert df["version"].tolist() == [1] * 5 + [2, 2, 1, 2, 1]
    # the gradient each node received: dc/dc, dc/dlog = cos(3), and what AccumulateGrad added
    assert df["grad_in_mean"].tolist()[:2] == pytest.approx([1.0, math.cos(3.0)])
    accumulate = df[df["node"] == "AccumulateGrad"]
    assert accumulate["tensor"].tolist() == ["x_2", "x_1"] * 2
    half = [x_2.grad.item() / 2, x_1.grad.item() / 2]  # both passes added the same gradient
    assert accumulate["grad_in_norm"].tolist() == pytest.approx([abs(g) for g in half] * 2)
    assert accumulate["grad_in_min"].tolist() == pytest.approx(half * 2)
    assert (df["grad_in_nan"] == 0).all() and df["grad_in_nan"].dtype == "int64"
    assert df["shape"].tolist() == [(1,)] * 10


def test_backward_capture_and_other_outputs() -> None:
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    (g,) = torch.autograd.grad((x * x).sum(), x)
    t = Trace(backward_steps=(
        BackwardStep(1, 1, "autograd.grad", 1, "x", TensorSummary.of(g), kind="capture"),
        BackwardStep(2, 1, "SplitBackward0", 3, "a", TensorSummary.of(g[:1]),
                     other_outputs=(GradientEdge(4, "b", None),)),
    ))
    df = backward_frame(t)
    assert df["kind"].tolist() == ["capture", "node"]
    assert df["grad_in_max"].tolist() == [g.max().item(), g[0].item()]
    assert df["grad_in_norm"].tolist() == pytest.approx([g.norm().item(), g[0].item()])
    # no forward steps were traced: the tensor's columns are missing
    assert df["version"].isna().all() and df["numel"].isna().all()
    assert df["value_norm"].isna().all()
    assert len(edges_frame(t)) == 0


def test_edges_frame_of_the_lab_example() -> None:
    t, x_1, x_2 = lab_trace()
    df = edges_frame(t)
    assert df["node"].tolist() == ["MulBackward0", "MulBackward0", "LogBackward0",
                                   "CosBackward0"]
    assert df["from"].tolist() == ["c", "c", "log(x_2)", "cos(x_1)"]
    assert df["to"].tolist() == ["cos(x_1)", "log(x_2)", "x_2", "x_1"]
    assert df["to_step"].tolist() == [3, 4, 2, 1] and str(df["to_step"].dtype) == "Int64"
    mul = df[df["node"] == "MulBackward0"].set_index("to")
    assert mul.loc["cos(x_1)", "grad_mean"] == pytest.approx(math.log(2.0))
    assert mul.loc["log(x_2)", "grad_mean"] == pytest.approx(math.cos(3.0))
    assert df["grad_norm"].tolist()[2:] == pytest.approx([abs(x_2.grad.item()),
                                                          abs(x_1.grad.item())])
    assert df["step"].tolist() == [1, 1, 2, 4] and df["pass"].tolist() == [1] * 4
    assert t.edges.equals(df)  # Trace.edges uses this function


def test_tensors_frame_sums_gradients_over_passes() -> None:
    t, x_1, x_2 = lab_trace(2)
    df = tensors_frame(t)
    assert df["name"].tolist() == ["x_1", "x_2", "cos(x_1)", "log(x_2)", "c"]
    assert df["step"].tolist() == [1, 2, 6, 7, 8]  # the latest version of each name
    assert df["grad_mean"].tolist()[:2] == pytest.approx([x_1.grad.item(), x_2.grad.item()])
    assert df["grad_norm"].tolist()[:2] == pytest.approx([x_1.grad.norm().item(),
                                                         x_2.grad.norm().item()])
    assert df["value_max"].tolist()[:2] == [3.0, 2.0]


def test_tensors_frame_without_kept_values_and_without_grads() -> None:
    t, x_1, _ = lab_trace(2, keep=False)
    df = tensors_frame(t)
    # only summaries of the two passes: the sum's min, max and norm are unknown, its mean is not
    assert df[["grad_min", "grad_max", "grad_norm"]].iloc[0].isna().all()
    assert df["grad_mean"].tolist()[0] == pytest.approx(x_1.grad.item())
    assert df["grad_nan"].tolist()[0] == 0
    one_pass, _, _ = lab_trace(1, keep=False)  # one pass: its summary is the whole gradient
    assert tensors_frame(one_pass)["grad_norm"].tolist()[0] == pytest.approx(
        abs(x_1.grad.item()) / 2)
    unused = ForwardStep(9, "w", "ones", (), TensorSummary.of(torch.ones(3)))
    df = tensors_frame(Trace(steps=(*t.steps, unused), backward_steps=t.backward_steps))
    last = df.iloc[-1]
    assert last["name"] == "w" and last["shape"] == (3,) and last["numel"] == 3
    assert math.isnan(last["grad_norm"]) and last["value_norm"] == pytest.approx(3 ** 0.5)


def mlp_step() -> tuple[Trace, dict[str, torch.Tensor]]:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
    x, target = torch.randn(5, 4), torch.tensor([0, 2, 1, 1, 0])
    with trace(show=False) as t:
        F.cross_entropy(model(x), target).backward()
    params = {name: p for name, p in model.named_parameters()}
    return t, params


def test_tensors_frame_of_an_mlp_matches_torch() -> None:
    t, params = mlp_step()
    df = t.tensors
    rows = df[df["origin"] == "parameter"].set_index("name")
    assert len(rows) == len(params) == 4
    for name, p in params.items():
        row = rows.loc[next(n for n in rows.index if n.endswith(name))]
        g = p.grad
        assert row["shape"] == tuple(p.shape) and row["numel"] == p.numel()
        assert row["dtype"] == "float32"
        assert row["grad_norm"] == pytest.approx(g.norm().item(), rel=1e-5)
        assert row["grad_min"] == pytest.approx(g.min().item(), rel=1e-5)
        assert row["grad_max"] == pytest.approx(g.max().item(), rel=1e-5)
        assert row["grad_mean"] == pytest.approx(g.mean().item(), rel=1e-4, abs=1e-7)
        assert row["value_norm"] == pytest.approx(p.detach().norm().item(), rel=1e-5)
        assert row["value_mean"] == pytest.approx(p.detach().mean().item(), rel=1e-4, abs=1e-7)
    for col in FLOAT_STATS:
        assert df[col].dtype == "float64", col
    for col in ("numel", "version", "step", *COUNTS):
        assert df[col].dtype == "int64", col
    ordered = t.tensors.sort_values("grad_norm")
    by_torch = sorted(params, key=lambda n: params[n].grad.norm().item())
    shown = [n for n in ordered["name"] if n in rows.index]
    assert by_torch == [next(p for p in params if n.endswith(p)) for n in shown]


def _traces_of_every_kind() -> list[Trace]:
    """Traces whose columns take every form: empty, strings and None mixed, only None
    (no module), nullable integers with gaps, a rebound name, an untraced node."""
    out = [Trace(), lab_trace()[0], lab_trace(passes=2, keep=False)[0]]
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))
    x = torch.randn(5, 3)
    with trace(show=False) as t:
        F.cross_entropy(model(x), torch.tensor([0, 1, 0, 1, 1])).backward()
    out.append(t)
    before = torch.randn(3, requires_grad=True) * 2  # made before the trace: an untraced node
    with trace(show=False) as t:
        y = before.exp()
        y = y * y
        y.sum().backward()
    out.append(t)
    return out


def test_each_frame_equals_what_the_checked_pandas_constructor_makes(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The frames skip pandas' checks of their columns: every column and column type must be
    what ``pandas.DataFrame`` itself makes of the same arrays."""
    import pandas
    from pandas.testing import assert_frame_equal

    from gradtrace.views import dataframes

    built: list[tuple[dict[str, object], list[str]]] = []
    fast = dataframes._frame

    def seen(columns: dict[str, object], order: list[str]) -> pandas.DataFrame:
        built.append((columns, order))
        return fast(columns, order)

    monkeypatch.setattr(dataframes, "_frame", seen)
    kinds = set()
    for t in _traces_of_every_kind():
        for frame in (forward_frame, backward_frame, edges_frame, tensors_frame):
            got = frame(t)
            columns, order = built[-1]
            expected = pandas.DataFrame({name: columns[name] for name in order})
            assert_frame_equal(got, expected, check_exact=True)
            kinds |= {str(d) for d in got.dtypes}
    assert {"int64", "float64", "bool", "object", "Int64"} <= kinds


def test_a_frame_changed_by_the_user_changes_no_other_table() -> None:
    x = torch.tensor([3.0, 4.0], requires_grad=True)
    with trace(show=False) as t:
        y = x * 2
        y.sum().backward()
    forward = t.forward
    forward.loc[forward["name"] == "y", ["value_norm", "numel"]] = [-1.0, 99]
    forward.at[int(forward.index[forward["name"] == "y"][0]), "shape"] = (99,)
    tensors = t.tensors.set_index("name")
    assert tensors.loc["y", "shape"] == (2,)
    assert tensors.loc["y", "value_norm"] == pytest.approx(float((x * 2).detach().norm()))
    assert tensors.loc["y", "numel"] == 2
