"""Local derivatives and chain-rule paths, checked against autograd itself (the oracle).

Each op runs traced on random inputs with a random output gradient; the local derivatives
gradtrace works out from the Trace's records must send each input what
``torch.autograd.grad`` sends it, and elementwise ones must equal the diagonal of
``torch.func.jacrev``'s Jacobian.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
import torch.nn.functional as F

from gradtrace import trace
from gradtrace.teaching.chain import local_derivatives, symbols
from gradtrace.teaching.derivatives import OPS
from tests.lab_cases import formula_trace

Fn = Callable[..., torch.Tensor]
SQ = (4, 3)

# (label, function, input shapes, elementwise, inputs must be positive)
CASES: list[tuple[str, Fn, tuple[tuple[int, ...], ...], bool, bool]] = [
    ("add", lambda a, b: a + b, (SQ, SQ), True, False),
    ("add alpha", lambda a, b: torch.add(a, b, alpha=2.5), (SQ, SQ), True, False),
    ("add broadcast", lambda a, b: a + b, (SQ, (3,)), False, False),
    ("add literal", lambda a: a + 2, (SQ,), True, False),
    ("sub", lambda a, b: a - b, (SQ, SQ), True, False),
    ("sub alpha", lambda a, b: torch.sub(a, b, alpha=3), (SQ, SQ), True, False),
    ("rsub literal", lambda a: 2 - a, (SQ,), True, False),
    ("mul", lambda a, b: a * b, (SQ, SQ), True, False),
    ("mul broadcast", lambda a, b: a * b, (SQ, (1, 3)), False, False),
    ("mul literal", lambda a: 3 * a, (SQ,), True, False),
    ("mul self", lambda a: a * a, (SQ,), False, False),
    ("div", lambda a, b: a / b, (SQ, SQ), True, True),
    ("div literal", lambda a: a / 4, (SQ,), True, False),
    ("pow literal", lambda a: a ** 3, (SQ,), True, False),
    ("pow square", lambda a: a ** 2, (SQ,), True, False),
    ("pow half", lambda a: a.pow(0.5), (SQ,), True, True),
    ("pow base literal", lambda a: 2 ** a, (SQ,), True, False),
    ("pow tensors", lambda a, b: a ** b, (SQ, SQ), True, True),
    ("neg", lambda a: -a, (SQ,), True, False),
    ("exp", torch.exp, (SQ,), True, False),
    ("log", torch.log, (SQ,), True, True),
    ("sin", torch.sin, (SQ,), True, False),
    ("cos", lambda a: a.cos(), (SQ,), True, False),
    ("tanh", torch.tanh, (SQ,), True, False),
    ("sigmoid", torch.sigmoid, (SQ,), True, False),
    ("relu", F.relu, (SQ,), True, False),
    ("leaky_relu", lambda a: F.leaky_relu(a, 0.2), (SQ,), True, False),
    ("leaky_relu default", F.leaky_relu, (SQ,), True, False),
    ("sum", lambda a: a.sum(), (SQ,), False, False),
    ("sum dim", lambda a: a.sum(0), (SQ,), False, False),
    ("sum keepdim", lambda a: a.sum(dim=1, keepdim=True), (SQ,), False, False),
    ("mean", lambda a: a.mean(), (SQ,), False, False),
    ("mean dim", lambda a: a.mean(1), (SQ,), False, False),
    ("matmul", lambda a, b: a @ b, (SQ, (3, 2)), False, False),
    ("matmul vector", lambda a, b: a @ b, ((3,), (3, 2)), False, False),
    ("matmul batched", lambda a, b: torch.matmul(a, b), ((2, 4, 3), (3, 2)), False, False),
    ("mm", torch.mm, (SQ, (3, 2)), False, False),
    ("linear", F.linear, (SQ, (2, 3), (2,)), False, False),
    ("linear no bias", F.linear, (SQ, (2, 3)), False, False),
    ("linear 3d", F.linear, ((2, 4, 3), (2, 3), (2,)), False, False),
    ("linear vector weight", F.linear, ((5,), (5,)), False, False),
    ("softmax", lambda a: torch.softmax(a, dim=1), (SQ,), False, False),
    ("log_softmax", lambda a: F.log_softmax(a, dim=0), (SQ,), False, False),
]


def run(fn: Fn, shapes: tuple[tuple[int, ...], ...], positive: bool, seed: int
        ) -> tuple[list[torch.Tensor], torch.Tensor, object]:
    gen = torch.Generator().manual_seed(seed)
    values = [torch.randn(s, generator=gen, dtype=torch.float64) for s in shapes]
    if positive:
        values = [v.abs() + 0.5 for v in values]
    else:  # keep relu and leaky_relu away from their kink at 0
        values = [torch.where(v.abs() < 1e-3, v + 0.1, v) for v in values]
    leaves = [v.clone().requires_grad_(True) for v in values]
    with trace() as t:
        out = fn(*leaves)
        seed_grad = torch.randn(out.shape, generator=gen, dtype=out.dtype)
        out.backward(seed_grad)
    return values, seed_grad, t


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize(("label", "fn", "shapes", "elementwise", "positive"), CASES,
                         ids=[c[0] for c in CASES])
def test_local_derivatives_match_autograd(label: str, fn: Fn, shapes: tuple[tuple[int, ...]],
                                          elementwise: bool, positive: bool, seed: int) -> None:
    values, g, t = run(fn, shapes, positive, seed)
    op_step = t.backward_steps[0]  # the op's own node ran first: it is the root
    found = local_derivatives(t, op_step)
    fresh = [v.clone().requires_grad_(True) for v in values]
    oracle = torch.autograd.grad(fn(*fresh), fresh, g)
    leaf_steps = [s.step for s in t.steps if s.is_leaf and s.requires_grad]
    # one derivative per use of an input: x * x uses x twice, and the uses add up
    assert found, f"{label}: no local derivatives"
    for step, expected in zip(leaf_steps, oracle):
        mine = [d.product for d in found if d.input == step]
        assert mine, f"{label}: nothing for input step {step}"
        total = sum(mine[1:], mine[0])
        torch.testing.assert_close(total, expected, msg=label)
    if elementwise:
        for i, d in enumerate(found):
            def one(x: torch.Tensor, i: int = i) -> torch.Tensor:
                args = [x if j == i else v for j, v in enumerate(values)]
                return fn(*args)

            jac = torch.func.jacrev(one)(values[i]).reshape(values[0].numel(), -1)
            torch.testing.assert_close(d.local.reshape(-1), jac.diagonal(), msg=label)
            assert d.grad_in is not None and torch.equal(d.grad_in, g)


def test_an_integer_factor_still_gives_the_float_operand_its_derivative() -> None:
    with trace() as t:
        p = torch.rand(4, 3, requires_grad=True)
        y = F.one_hot(torch.tensor([0, 2, 1, 2]), 3)
        loss = (y * p.log()).sum()
        loss.backward()
    mul = next(b for b in t.backward_steps if b.node == "MulBackward0")
    (d,) = local_derivatives(t, mul)
    assert d.formula == "y" and torch.equal(d.local, y.double().to(d.local.dtype))
    torch.testing.assert_close(d.product, y.to(p.dtype))


def test_every_rule_is_tested() -> None:
    tested = {"add", "sub", "mul", "div", "pow", "neg", "exp", "log", "sin", "cos", "tanh",
              "sigmoid", "relu", "leaky_relu", "sum", "mean", "matmul", "mm", "spmm", "linear"}
    assert tested <= set(OPS)


def test_lab_chain_rule_in_numbers() -> None:
    with trace() as t:
        x = torch.tensor([0.9460], requires_grad=True)
        z = x.log()
        y = z**2
        y.backward()
    pow_step, log_step = t.backward_steps[0], t.backward_steps[1]
    (dz,) = local_derivatives(t, pow_step)
    (dx,) = local_derivatives(t, log_step)
    assert dz.formula == "2·z" and dz.local.item() == pytest.approx(-0.111, abs=1e-3)
    assert dx.formula == "1/x" and dx.local.item() == pytest.approx(1.057, abs=1e-3)
    assert dx.product.item() == pytest.approx(-0.1174, abs=1e-4)
    torch.testing.assert_close(dx.product, x.grad)
    assert dx.text == ("∂z/∂x = 1/x = 1.0571;  ∂y/∂x = ∂y/∂z · ∂z/∂x = -0.1110 · 1.0571 "
                       "= -0.1174")


def test_explain_lab_formula_paths_sum_to_the_gradient() -> None:
    xs, t = formula_trace()
    totals = [t.explain(f"x_{i}").total.item() for i in range(1, 6)]
    assert totals == pytest.approx([3.7730, 1.8865, 0.0651, 0.0651, 0.0765], abs=1e-4)
    for i, x in enumerate(xs, 1):
        e = t.explain(f"x_{i}")
        torch.testing.assert_close(e.total, x.grad)
        torch.testing.assert_close(sum(p.product for p in e.paths), x.grad)
        assert e.count == len(e.paths) == (2 if i == 5 else 1)
    e = t.explain("x_5")
    assert [p.symbols for p in e.paths] == [("y", "v8", "v7", "v6", "v5", "x_5"),
                                            ("y", "v8", "v7", "x_5")]
    assert [f.formula for f in e.paths[1].factors] == ["1/v8", "1", "v6"]
    # each path alone is the gradient with the other use of x_5 cut off (detached)
    v = [torch.tensor(x.item(), requires_grad=True) for x in xs]

    def y(via_sin: bool) -> torch.Tensor:
        a, b = (v[4], v[4].detach()) if via_sin else (v[4].detach(), v[4])
        return torch.log(torch.exp(v[0] * v[1]) ** 2 + torch.sin(v[2] + v[3] + a) * b)

    for path, via_sin in zip(e.paths, (True, False)):
        (expected,) = torch.autograd.grad(y(via_sin), v[4])
        torch.testing.assert_close(path.product, expected)
    text = str(e)
    assert "∂y/∂x_5 = 0.0651 + 0.0114 = 0.0765" in text and "they agree" in text
    assert "path 2: y → v8 → v7 → x_5" in text and "∂v7/∂x_5 = v6 = 0.6570" in text


def test_explain_html_is_self_contained_math() -> None:
    _, t = formula_trace()
    page = t.explain("x_5")._repr_html_()
    assert page.startswith('<div class="gradtrace gt-explain">')
    for banned in ("<script", "http://", "https://", "mathjax", "MathJax"):
        assert banned not in page
    assert 'class="gt-frac"' in page and "x<sub>5</sub>" in page and "✓" in page


def test_explain_vectors_and_matrices() -> None:
    torch.manual_seed(0)
    with trace() as t:
        x = torch.randn(4, 3, requires_grad=True)
        w = torch.randn(2, 3, requires_grad=True)
        h = F.linear(x, w).relu()
        loss = (h * h).mean() + w.sum()
        loss.backward()
    for name, leaf in (("x", x), ("w", w)):
        e = t.explain(name)
        torch.testing.assert_close(e.total, leaf.grad)
        torch.testing.assert_close(sum(p.product for p in e.paths), leaf.grad)
    assert t.explain("w").count == 3  # via h twice (h * h) and via w.sum()


def test_explain_without_a_path() -> None:
    with trace() as t:
        a = torch.tensor(1.0, requires_grad=True)
        b = torch.tensor(2.0, requires_grad=True)
        c = a.exp()
        d = b * 2
        c.backward()
    e = t.explain("b", of="c")
    assert e.count == 0 and e.paths == () and "no path" in str(e)
    assert d is not None


def test_symbols_name_temporaries_and_rebinding() -> None:
    with trace() as t:
        h = torch.tensor(1.0, requires_grad=True)
        h = h * 2 + 1
    assert list(symbols(t).values()) == ["h", "v1", "h′"]


def test_readme_derivation_is_current() -> None:
    from pathlib import Path

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Step by step"):]
    start = section.index("```text\n") + 8
    shown = section[start: section.index("\n```", start)]
    with trace() as t:
        x = torch.tensor([0.9460], requires_grad=True)
        z = x.log()
        y = z**2
        y.backward()
    assert str(t.explain("x")) == shown


def test_explain_without_backward_and_over_two_passes() -> None:
    with trace() as t:
        a = torch.tensor(0.5, requires_grad=True)
        b = a.sin() * a
    (expected,) = torch.autograd.grad(b, a)
    e = t.explain("a")
    assert e.backward_pass is None and e.count == 2
    torch.testing.assert_close(e.total, expected)
    with trace() as t:
        x = torch.tensor([3.0], requires_grad=True)
        c = x.cos() * 2
        c.backward()
        c = x.cos() * 2
        c.backward()
    e = t.explain("x")
    assert e.backward_pass == 2 and [p.symbols for p in e.paths] == [("c′", "v2", "x")]
    assert "2 backward passes" in e.note and "-0.5645" in e.note
