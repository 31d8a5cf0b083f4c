"""The graph model: roles, gradients, backward order, warnings, collapsing and cutting."""

from __future__ import annotations

import pytest
import torch
from test_render_dot import mlp_trace

import gradtrace.diagnostics
from gradtrace import trace
from gradtrace.diagnostics import Diagnostic
from gradtrace.model.trace import (
    BackwardPass,
    BackwardStep,
    ForwardStep,
    GradientEdge,
    TensorSummary,
    Trace,
)
from gradtrace.views.graph import build_graph

S = TensorSummary.of


def chain(n: int, module: str | None = None) -> Trace:
    """x, then n cos steps, hand-built (values are placeholders: the model is under test)."""
    v = S(torch.tensor([1.0]))
    steps = [ForwardStep(1, "x", "tensor", (), v, requires_grad=True)]
    steps += [ForwardStep(i, f"h{i}", "cos", (i - 1,), v, "CosBackward0", True, False,
                          module=module) for i in range(2, n + 2)]
    return Trace(tuple(steps))


def test_roles() -> None:
    t, _ = mlp_trace()
    roles = {n.name: n.role for n in build_graph(t).nodes}
    assert roles["X"] == "constant" and roles["target"] == "constant"
    assert roles["model.fc1.weight"] == "parameter" and roles["loss"] == "output"
    assert roles["logits"] == "tensor"
    assert "X" not in {n.name for n in build_graph(t, hide_constants=True).nodes}


def test_gradients_and_order_of_a_split() -> None:
    """A node with several outputs credits each output's gradient to its own tensor."""
    with trace() as t:
        x = torch.tensor([1.0, 2.0, 3.0, 4.0], requires_grad=True)
        a, b = x.split(2)
        loss = (a * 2).sum() + (b * 3).sum()
        loss.backward()
    nodes = {n.name: n for n in build_graph(t).nodes}
    assert nodes["x"].grad == "[2.0000, 2.0000, 3.0000, 3.0000]"
    assert nodes["a"].grad == "[2.0000, 2.0000]" and nodes["b"].grad == "[3.0000, 3.0000]"
    assert nodes["loss"].op_order == (1,)


def test_warnings_are_marked_on_nodes(monkeypatch: pytest.MonkeyPatch) -> None:
    x = ForwardStep(1, "x", "tensor", (), S(torch.tensor([-1.0])), requires_grad=True)
    y = ForwardStep(2, "y", "sqrt", (1,), S(torch.tensor([-1.0]).sqrt()), "SqrtBackward0", True,
                    False)
    w = ForwardStep(3, "w", "tensor", (), S(torch.tensor([1.0])), requires_grad=True)
    back = (BackwardStep(1, 1, "SqrtBackward0", 2, "y", S(torch.tensor([1.0])),
                         (GradientEdge(1, "x", S(torch.tensor([float("nan")]))),)),
            BackwardStep(2, 1, "AccumulateGrad", 1, "x", S(torch.tensor([float("nan")])),
                         kind="accumulate"))
    t = Trace((x, y, w), back, (BackwardPass(1, "backward", (2,)),))
    marks = {n.name: n.warnings for n in build_graph(t).nodes}
    assert "nan" in marks["y"] and "nan grad" in marks["x"]
    assert [n.grad for n in build_graph(t).nodes][2] == "None"
    # diagnostics land on the step they name, by step, backward step or tensor name
    found = [Diagnostic("no_gradient", "", tensor="w"), Diagnostic("inplace", "", step=1),
             Diagnostic("exploding", "", backward_step=1)]
    monkeypatch.setattr(gradtrace.diagnostics, "diagnose", lambda trace: found)
    marks = {n.name: n.warnings for n in build_graph(Trace(t.steps, back, t.passes)).nodes}
    assert marks["w"] == ("no gradient",) and "inplace" in marks["x"]
    assert "exploding" in marks["y"]


def test_explicit_collapse_and_depth() -> None:
    t, _ = mlp_trace()
    g = build_graph(t, collapse=["model.fc2"])
    boxes = [n for n in g.nodes if n.kind == "module"]
    assert [b.name for b in boxes] == ["model.fc2"] and boxes[0].module == "model"
    assert boxes[0].op == "linear (3 steps)" and boxes[0].order == ()
    assert set(boxes[0].op_order) == {b.step for b in t.backward_steps
                                      if b.forward_step in boxes[0].steps}
    assert "model.fc2" not in g.modules and "model.fc1" in g.modules
    assert [n.name for n in build_graph(t, depth=1).nodes if n.kind == "module"] == ["model"]


def test_auto_collapse_then_cut() -> None:
    t, _ = mlp_trace()
    g = build_graph(t, max_nodes=15)
    assert g.size <= 15 and {n.name for n in g.nodes if n.kind == "module"} == {
        "model.fc1", "model.fc2", "model.out"}
    assert g.notes == (f"{len(t.steps)} steps: modules nested 2 deep are drawn as one box each "
                       "(collapse=False keeps them open)",)
    assert build_graph(t, max_nodes=15, collapse=False).size <= 15  # cut, not collapsed
    big = build_graph(chain(400), max_nodes=50)
    assert big.size <= 50 and big.nodes[0].id == "more"
    assert big.nodes[0].name == f"… {401 - (len(big.nodes) - 1)} earlier steps"
    assert big.nodes[1].inputs == ("more",)
    assert "only the last" in big.notes[0] and "max_nodes=None" in big.notes[0]
    assert build_graph(chain(400), max_nodes=None).size == 801


def test_auto_collapse_keeps_structure_of_a_long_sequential() -> None:
    """Collapsing 200 layers into one box of the whole net says nothing: keep the layers, cut."""
    v = S(torch.tensor([1.0]))
    steps = [ForwardStep(1, "x", "tensor", (), v, requires_grad=True)]
    steps += [ForwardStep(i, f"net.{i}", "relu", (i - 1,), v, "ReluBackward0", True, False,
                          module=f"net.{i}") for i in range(2, 202)]
    g = build_graph(Trace(tuple(steps)), max_nodes=50)
    assert g.size <= 50 and [n.name for n in g.nodes[-2:]] == ["net.200", "net.201"]
    assert all(n.kind == "module" for n in g.nodes[1:]) and "2 deep" in g.notes[0]
    assert "only the last 49 of 201 steps" in g.notes[1]


def test_module_cycle_is_kept() -> None:
    """A module called twice around an op of its parent: its box both feeds and reads the op."""
    v = S(torch.tensor([1.0]))
    steps = (ForwardStep(1, "x", "tensor", (), v, requires_grad=True),
             ForwardStep(2, "a", "cos", (1,), v, "CosBackward0", True, False, module="m.f"),
             ForwardStep(3, "b", "relu", (2,), v, "ReluBackward0", True, False, module="m"),
             ForwardStep(4, "c", "cos", (3,), v, "CosBackward0", True, False, module="m.f"))
    g = build_graph(Trace(steps), collapse=["m.f"])
    nodes = {n.name: n for n in g.nodes}
    assert nodes["m.f"].inputs == ("t1", "t3") and nodes["b"].inputs == (nodes["m.f"].id,)


def test_empty() -> None:
    assert build_graph(Trace()) == build_graph(Trace(), max_nodes=None)
    assert build_graph(Trace()).nodes == ()
