"""The graph's DOT source for the lab's cases, traced with the real API; numbers from plain torch.

These tests read ``Trace.graph().source`` only, so they run without any Graphviz program.
"""

from __future__ import annotations

import re

import pytest
import torch
import torch.nn.functional as F

from gradtrace import Trace, trace
from gradtrace.model.trace import BackwardPass, BackwardStep, ForwardStep, TensorSummary
from gradtrace.views.dot import to_dot
from tests.lab_cases import FORMULA_AT, MLP, formula_trace

ORDER = re.compile(r">backward ([0-9, \-…()a-z]+)</font>")


def labels(source: str) -> dict[str, str]:
    """Node id → its HTML label, from DOT source."""
    found = re.findall(r"^\s*(\w+) \[label=<(.*)>\]$", source, re.M)
    return dict(found)


def label_of(source: str, name: str) -> str:
    """The label of the tensor node whose bold name is ``name`` (the latest one)."""
    hits = [lab for nid, lab in labels(source).items()
            if nid.startswith("t") and f"<b>{name}</b>" in lab]
    assert hits, f"no node named {name!r}"
    return hits[-1]


def orders(label: str) -> set[int]:
    """The backward step numbers written on a node ("backward 1-3, 7" → {1, 2, 3, 7})."""
    out: set[int] = set()
    for text in ORDER.findall(label):
        for part in text.split(", "):
            a, _, b = part.partition("-")
            out.update(range(int(a), int(b or a) + 1))
    return out


def f4(t: torch.Tensor) -> str:
    return f"{t.item():.4f}"


def check_order_matches_backward_table(t: Trace) -> None:
    """Every row of Trace.backward is numbered on its node, and nothing else is."""
    source = t.graph().source
    nodes = labels(source)
    expected: dict[str, set[int]] = {}
    for row in t.backward.itertuples():
        if row.forward_step is pd_na or row.forward_step is None:
            continue
        fs = int(row.forward_step)
        on_op = row.kind not in ("accumulate", "capture") and f"o{fs}" in nodes
        expected.setdefault(f"o{fs}" if on_op else f"t{fs}", set()).add(int(row.step))
    for nid, label in nodes.items():
        if nid != "legend":
            assert orders(label) == expected.get(nid, set()), (nid, label)


pd_na = __import__("pandas").NA


def test_cos_log_shows_values_gradients_and_order() -> None:
    with trace() as t:
        x_1 = torch.tensor([3.0], requires_grad=True)
        x_2 = torch.tensor([2.0], requires_grad=True)
        c = x_1.cos() * x_2.log()
        c.backward()
    # the oracle: the same computation in plain torch
    p_1 = torch.tensor([3.0], requires_grad=True)
    p_2 = torch.tensor([2.0], requires_grad=True)
    (p_1.cos() * p_2.log()).backward()
    source = t.graph().source
    for name, leaf in (("x_1", p_1), ("x_2", p_2)):
        label = label_of(source, name)
        assert f"value {f4(leaf)}" in label and f"grad {f4(leaf.grad)}" in label
    assert f4(p_1.grad) == "-0.0978" and f4(p_2.grad) == "-0.4950"  # the lab's numbers
    assert f"value {f4(p_1.cos() * p_2.log())}" in label_of(source, "c")
    assert "grad 1.0000" in label_of(source, "c")
    check_order_matches_backward_table(t)
    # data flows from the leaves through the ops to c
    assert "t1 -> o3" in source and "o5 -> t5" in source
    assert re.search(r"o\d+ \[label=<.*<b>mul</b>.*MulBackward0", source)


def test_formula_every_named_tensor_with_value_and_grad() -> None:
    _, t = formula_trace()
    xs = [torch.tensor(v, requires_grad=True) for v in FORMULA_AT]
    plain = torch.log(torch.exp(xs[0] * xs[1]) ** 2 + torch.sin(xs[2] + xs[3] + xs[4]) * xs[4])
    plain.backward()
    source = t.graph().source
    for i, x in enumerate(xs, 1):
        label = label_of(source, f"x_{i}")
        assert f"value {f4(x)}" in label and f"grad {f4(x.grad)}" in label, label
        assert "leaf" in label and "#dbeafe" in label  # leaves are blue
    assert f"value {f4(plain)}" in label_of(source, "y") and "#fef3c7" in label_of(source, "y")
    # x_5 is used twice: one node, two edges out of it
    assert len(re.findall(r"^\s*t5 -> ", source, re.M)) == 2
    check_order_matches_backward_table(t)


def test_accumulation_two_passes() -> None:
    with trace() as t:
        x_1 = torch.tensor([3.0], requires_grad=True)
        x_2 = torch.tensor([2.0], requires_grad=True)
        c = x_1.cos() * x_2.log()
        c.backward()
        c = x_1.cos() * x_2.log()
        c.backward()
    p = torch.tensor([3.0], requires_grad=True)
    p.cos().backward()
    once = p.grad.clone() * torch.tensor([2.0]).log()
    label = label_of(t.graph().source, "x_1")
    assert f"grad {f4(2 * once)} = {f4(once)} + {f4(once)}" in label
    assert "! accumulation" in label and 'color="#dc2626"' in label  # marked
    check_order_matches_backward_table(t)
    assert sorted(orders(label)) == [b.step for b in t.backward_steps if b.tensor == "x_1"]


def test_forward_only_has_no_gradients() -> None:
    with trace() as t:
        x = torch.tensor([1.0, 2.0], requires_grad=True)
        y = (x * 3).sum()
    source = t.graph().source
    assert "value [1.0000, 2.0000]" in label_of(source, "x")
    assert "grad " not in source and "backward " not in source.replace("backward N", "")
    assert f"value {f4(torch.tensor([1.0, 2.0]).mul(3).sum())}" in label_of(source, "y")
    del y


def mlp_trace() -> tuple[Trace, MLP]:
    torch.manual_seed(0)
    model = MLP()
    with trace() as t:
        X = torch.randn(10, 5)
        target = torch.tensor([1, 2, 3, 4, 1, 2, 3, 4, 1, 2]) - 1
        logits = model(X)
        loss = F.cross_entropy(logits, target)
        loss.backward()
    return t, model


def clusters(source: str) -> dict[str, list[str]]:
    """Cluster label → the node ids directly inside it, read from the DOT source."""
    out: dict[str, list[str]] = {}
    stack: list[str] = []
    for line in source.splitlines():
        if re.match(r"\s*subgraph cluster_\d+ \{", line):
            stack.append("")
        elif line.strip() == "}" and stack:
            stack.pop()
        elif stack and (m := re.search(r"\blabel=<<b>(.*?)</b>>", line)) and "[" not in line:
            stack[-1] = m.group(1)
            out[m.group(1)] = []
        elif stack and (m := re.match(r"\s*(\w+) \[label=", line)):
            out[stack[-1]].append(m.group(1))
    return out


def test_mlp_one_cluster_per_module() -> None:
    t, model = mlp_trace()
    source = t.graph().source
    found = clusters(source)
    assert set(found) == {"model", "model.fc1", "model.fc2", "model.out"}
    assert source.count("subgraph cluster_") == 4
    ids = {name: nid for nid, lab in labels(source).items()
           for name in re.findall(r"<b>(.*?)</b>", lab)[:1]}
    for module in ("fc1", "fc2", "out"):
        for p in ("weight", "bias"):
            assert ids[f"model.{module}.{p}"] in found[f"model.{module}"]
    # parameter gradients are torch's own
    for n, param in model.named_parameters():
        if param.numel() <= 6:
            vals = ", ".join(f"{v:.4f}" for v in param.grad.tolist())
            assert f"grad [{vals}]" in label_of(source, f"model.{n}")
    assert "#dcfce7" in label_of(source, "model.fc1.weight")  # parameters are green
    assert 'style="dashed"' in label_of(source, "X")  # constants are dashed
    check_order_matches_backward_table(t)


def test_collapse_depth_constants_direction_legend() -> None:
    t, _ = mlp_trace()
    boxed = t.graph(collapse=["model.fc1"]).source
    assert set(clusters(boxed)) == {"model", "model.fc2", "model.out"}
    assert "module: linear (3 steps)" in boxed and "model.fc1.weight" not in boxed
    one = t.graph(depth=1).source
    assert "subgraph cluster_" not in one and "<b>model</b>" in one
    assert "→ logits" in one  # the box's output is named
    assert t.graph(collapse=True).source == one
    assert "<b>X</b>" not in t.graph(hide_constants=True).source
    assert "rankdir=LR" in t.graph(rankdir="LR").source
    assert "legend" not in t.graph(legend=False).source
    flat = t.graph(group_modules=False).source
    assert "subgraph" not in flat and "<b>model.fc1.weight</b>" in flat
    with pytest.raises(ValueError, match="rankdir"):
        t.graph(rankdir="sideways")


def test_big_trace_is_collapsed_and_says_so() -> None:
    with trace() as t:
        h = torch.tensor([0.5], requires_grad=True)
        for _ in range(1500):
            h = torch.sin(h) * 1.01
        h.sum().backward()
    source = t.graph().source
    nodes = labels(source)
    assert len(nodes) <= 301  # max_nodes, plus the legend
    assert "only the last" in source and "earlier steps" in source and "max_nodes=None" in source
    assert len(labels(t.graph(max_nodes=None).source)) > 6000


# -- escaping: user text never becomes DOT or HTML syntax ---------------------------------------
EVIL = '<b>x</b>"} \\N & ]'


def evil_trace() -> Trace:
    S = TensorSummary.of
    x = ForwardStep(1, EVIL, "tensor", (), S(torch.tensor([1.0])), requires_grad=True,
                    module=f"m.{EVIL}")
    y = ForwardStep(2, "y", f"Fun<{EVIL}>", (1,), S(torch.tensor([2.0])), f"{EVIL}Backward",
                    True, False, origin="function", module=f"m.{EVIL}", source=EVIL)
    back = (BackwardStep(1, 1, f"{EVIL}Backward", 2, "y", S(torch.tensor([1.0]))),)
    return Trace((x, y), back, (BackwardPass(1, "backward", (2,)),))


def test_user_text_is_escaped() -> None:
    source = to_dot(evil_trace()).source
    escaped = '&lt;b&gt;x&lt;/b&gt;&quot;} \\\\N &amp; ]'  # and the backslash doubled
    assert EVIL not in source and "<b>x</b>" not in source
    assert source.count(escaped) >= 3  # the tensor, the op's name and grad_fn, the cluster
    for nid, label in labels(source).items():  # every label is one well-formed HTML label
        assert label.count("<table") == label.count("</table>") == 1, nid
    boxed = to_dot(evil_trace(), collapse=True).source
    assert EVIL not in boxed and escaped in boxed


def test_empty_trace() -> None:
    source = to_dot(Trace()).source
    assert "nothing to draw" in source and "legend" not in source and not labels(source)
