"""``Trace.compare``: hand-derived gradients against the trace's, with plain PyTorch as oracle."""

from __future__ import annotations

import math

import pytest
import torch

from gradtrace import trace
from gradtrace.model.errors import TraceLookupError
from tests.lab_cases import FORMULA_AT, formula_trace


def _by_hand() -> dict[str, torch.Tensor]:
    """dy/dx_i of y = log(exp(x_1*x_2)**2 + sin(x_3+x_4+x_5)*x_5), derived on paper."""
    x1, x2, x3, x4, x5 = (torch.tensor(v) for v in FORMULA_AT)
    u, s = torch.exp(2 * x1 * x2), x3 + x4 + x5
    d = u + torch.sin(s) * x5
    return {"x_1": 2 * x2 * u / d, "x_2": 2 * x1 * u / d, "x_3": torch.cos(s) * x5 / d,
            "x_4": torch.cos(s) * x5 / d, "x_5": (torch.cos(s) * x5 + torch.sin(s)) / d}


def test_right_gradients_are_close_and_autograds_own_are_exact() -> None:
    xs, t = formula_trace()
    df = t.compare(**_by_hand())
    assert list(df.columns) == ["name", "exact", "close", "max_diff", "worst", "note"]
    assert list(df["name"]) == ["x_1", "x_2", "x_3", "x_4", "x_5"]
    assert df["close"].all() and (df["note"] == "").all()
    assert (df["max_diff"] < 1e-5).all() and list(df["worst"]) == [()] * 5
    own = t.compare({f"x_{i}": x.grad for i, x in enumerate(xs, 1)})
    assert own["exact"].all() and own["close"].all() and (own["max_diff"] == 0).all()


def test_wrong_gradients_say_how_far_off_they_are() -> None:
    xs, t = formula_trace()
    right = _by_hand()
    wrong = {"x_1": right["x_1"] / 2,  # forgot the 2 of exp(...)**2
             "x_5": float(torch.cos(torch.tensor(7.0)) * 5 / (math.exp(4) + math.sin(7) * 5))}
    df = t.compare(**wrong).set_index("name")
    assert not df["close"].any() and not df["exact"].any()
    for name, x in (("x_1", xs[0]), ("x_5", xs[4])):
        assert x.grad is not None
        expected = (torch.as_tensor(wrong[name]) - x.grad).abs().item()
        assert df.loc[name, "max_diff"] == pytest.approx(expected, rel=1e-6)


def test_lists_floats_shapes_and_the_worst_element() -> None:
    with trace() as t:
        w = torch.tensor([[1.0, -2.0, 3.0], [0.5, 4.0, -1.0]], requires_grad=True)
        loss = (w ** 2).sum()
        loss.backward()
    assert w.grad is not None
    off = (2 * w).detach().tolist()
    off[1][2] += 0.25
    df = t.compare(w=off, loss=1.0).set_index("name")
    assert df.loc["w", "worst"] == (1, 2) and not df.loc["w", "close"]
    assert df.loc["w", "max_diff"] == pytest.approx(0.25)
    assert df.loc["loss", "exact"] and df.loc["loss", "close"]
    bad = t.compare(w=[1.0, 2.0, 3.0]).iloc[0]
    assert not bad["exact"] and not bad["close"] and math.isnan(bad["max_diff"])
    assert bad["note"] == "shape (3,) but the gradient is (2, 3)"
    double = t.compare(w=(2 * w).detach().double()).iloc[0]
    assert double["close"] and not double["exact"] and "dtype float64" in double["note"]


def test_unknown_names_raise_and_missing_gradients_get_a_note() -> None:
    _, t = formula_trace()
    with pytest.raises(TraceLookupError, match=r"no tensor named 'x_6'.*Did you mean.*'x_1'"):
        t.compare(x_1=1.0, x_6=1.0)
    with trace() as t2:
        a = torch.tensor(2.0, requires_grad=True)
        b = torch.tensor(3.0, requires_grad=True)
        c = a * 2
        c.backward()
    row = t2.compare(b=0.0).iloc[0]
    assert not row["close"] and math.isnan(row["max_diff"])
    assert row["note"] == "no gradient reached b in the traced backward passes"
    with trace(values="none") as t3:
        a = torch.tensor(2.0, requires_grad=True)
        (a * 3).backward()
    row = t3.compare(a=3.0).iloc[0]
    assert not row["close"] and "was not kept" in row["note"]
    assert b is not None
