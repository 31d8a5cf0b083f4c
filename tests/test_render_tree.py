"""The text tree of the graph: shared tensors, deep chains, cycles, widths and limits."""

from __future__ import annotations

import re

import torch
from test_render_graph import chain

from gradtrace import trace
from gradtrace.model.trace import ForwardStep, TensorSummary, Trace
from gradtrace.views.tree import to_tree


def f4(t: torch.Tensor) -> str:
    return f"{t.item():.4f}"


def test_shared_tensor_is_drawn_once() -> None:
    with trace() as t:
        x = torch.tensor([0.5], requires_grad=True)
        a = x.exp()
        b = a + 1
        y = a * b
        y.backward()
    px = torch.tensor([0.5], requires_grad=True)
    pa = px.exp()
    pa.retain_grad()
    (pa * (pa + 1)).backward()
    lines = to_tree(t).splitlines()
    assert lines[0].startswith(f"y  output  mul (MulBackward0)  value {f4(pa * (pa + 1))}")
    assert lines[1].startswith(f"├── a  exp (ExpBackward0)  value {f4(pa)}  grad {f4(pa.grad)}")
    assert lines[2].startswith(f"│   └── x  leaf  value 0.5000  grad {f4(px.grad)}")
    assert lines[3].startswith("└── b  add (AddBackward0)")
    assert lines[4] == "    └── a  (shown above)"
    assert len(lines) == 5


def test_deep_chain_continues_below_and_fits_the_width() -> None:
    text = to_tree(chain(30), width=40)
    lines = text.splitlines()
    assert all(len(line) <= 40 for line in lines)
    assert "(continued below)" in text
    for i in range(2, 32):  # every step is drawn once with its inputs
        drawn = [line for line in lines if re.search(rf"\bh{i}  (output  )?cos", line)]
        assert len(drawn) == 1, i
    assert len(lines) == 31 + text.count("(continued below)")


def test_deep_chain_has_no_recursion_limit() -> None:
    lines = to_tree(chain(5000), max_nodes=None).splitlines()
    assert len(lines) > 5000 and lines[0].startswith("h5001  output")


def test_cycle_through_a_collapsed_module_terminates() -> None:
    v = TensorSummary.of(torch.tensor([1.0]))
    steps = (ForwardStep(1, "x", "tensor", (), v, requires_grad=True),
             ForwardStep(2, "a", "cos", (1,), v, "CosBackward0", True, False, module="m.f"),
             ForwardStep(3, "b", "relu", (2,), v, "ReluBackward0", True, False, module="m"),
             ForwardStep(4, "c", "cos", (3,), v, "CosBackward0", True, False, module="m.f"))
    lines = to_tree(Trace(steps), collapse=["m.f"]).splitlines()
    assert lines == ["b  relu (ReluBackward0)  value 1.0000",
                     "└── m.f  module  cos (2 steps), 2 outputs",
                     "    ├── x  leaf  value 1.0000",
                     "    └── b  (shown above)"]


def test_notes_and_max_rows() -> None:
    text = to_tree(chain(400), max_nodes=20, max_rows=5)
    lines = text.splitlines()
    assert lines[0].startswith("only the last") and lines[-1].endswith("more lines")
    assert len(lines) == 6
    assert to_tree(Trace()) == ""
