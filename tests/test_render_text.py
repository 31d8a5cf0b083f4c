"""Plain-text report: exact strings at a fixed width, on hand-built Traces."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

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
from gradtrace.views.format import layout_table
from gradtrace.views.sections import DEFAULT_SECTIONS, SECTIONS
from gradtrace.views.text import to_text

SOURCE = ["x_1 = torch.tensor([3.0], requires_grad=True)",
          "x_2 = torch.tensor([2.0], requires_grad=True)",
          "c = x_1.cos() * x_2.log()", "c.backward()"]


def lab_trace(passes: int = 1) -> Trace:
    """The lab example, recorded by hand; every number comes from plain torch autograd."""
    S = TensorSummary.of
    x_1 = torch.tensor([3.0], requires_grad=True)
    x_2 = torch.tensor([2.0], requires_grad=True)
    steps = [ForwardStep(1, "x_1", "tensor", (), S(x_1), requires_grad=True, line=1,
                         source=SOURCE[0]),
             ForwardStep(2, "x_2", "tensor", (), S(x_2), requires_grad=True, line=2,
                         source=SOURCE[1])]
    backward, runs = [], []
    for k in range(passes):
        n, line = 2 + 3 * k, 3 + 2 * k
        a, b = x_1.cos(), x_2.log()
        c = a * b
        for kept in (a, b, c):
            kept.retain_grad()
        before = [None if x.grad is None else x.grad.clone() for x in (x_1, x_2)]
        c.backward()
        added = [x.grad - (0 if g is None else g) for x, g in zip((x_1, x_2), before)]
        steps += [ForwardStep(n + 1, "cos(x_1)", "cos", (1,), S(a), "CosBackward0", True, False,
                              line=line, source=SOURCE[2]),
                  ForwardStep(n + 2, "log(x_2)", "log", (2,), S(b), "LogBackward0", True, False,
                              line=line, source=SOURCE[2]),
                  ForwardStep(n + 3, "c", "mul", (n + 1, n + 2), S(c), "MulBackward0", True,
                              False, line=line, source=SOURCE[2])]

        accumulate = [BackwardStep(5 - 2 * i, k + 1, "AccumulateGrad", i + 1, f"x_{i + 1}",
                                   S(added[i]), kind="accumulate",
                                   grad_before=None if before[i] is None else S(before[i]),
                                   grad_after=S(x.grad)) for i, x in enumerate((x_1, x_2))]

        backward += [
            BackwardStep(1, k + 1, "MulBackward0", n + 3, "c", S(c.grad),
                         (GradientEdge(n + 1, "cos(x_1)", S(a.grad)),
                          GradientEdge(n + 2, "log(x_2)", S(b.grad)))),
            BackwardStep(2, k + 1, "LogBackward0", n + 2, "log(x_2)", S(b.grad),
                         (GradientEdge(2, "x_2", S(added[1])),)),
            accumulate[1],
            BackwardStep(4, k + 1, "CosBackward0", n + 1, "cos(x_1)", S(a.grad),
                         (GradientEdge(1, "x_1", S(added[0])),)),
            accumulate[0],
        ]
        runs.append(BackwardPass(k + 1, "backward", (n + 3,), line=line + 1, source=SOURCE[3]))
    return Trace(tuple(steps), tuple(backward), tuple(runs))


def lab_graph(passes: int = 1) -> str:
    """The report's graph section for ``lab_trace(passes)``, its numbers from plain torch."""
    x_1 = torch.tensor([3.0], requires_grad=True)
    x_2 = torch.tensor([2.0], requires_grad=True)
    a, b = x_1.cos(), x_2.log()
    c = a * b
    for kept in (a, b, c):
        kept.retain_grad()
    c.backward()
    f = "{:.4f}".format
    g_1, g_2 = x_1.grad.item(), x_2.grad.item()
    if passes == 1:
        grad_1, grad_2 = f(g_1), f(g_2)
    else:  # the leaves' gradients add up over the passes; the hand-built steps restart at 1
        grad_1 = f"{f(g_1 * passes)} = {' + '.join([f(g_1)] * passes)}"
        grad_2 = f"{f(g_2 * passes)} = {' + '.join([f(g_2)] * passes)}"
    tree = (
        f"c  output  mul (MulBackward0)  value {f(c.item())}  grad {f(c.grad.item())}  backward 1\n"
        f"├── cos(x_1)  cos (CosBackward0)  value {f(a.item())}  grad {f(a.grad.item())}"
        "  backward 4\n"
        f"│   └── x_1  leaf  value {f(x_1.item())}  grad {grad_1}  backward 5\n"
        f"└── log(x_2)  log (LogBackward0)  value {f(b.item())}  grad {f(b.grad.item())}"
        "  backward 2\n"
        f"    └── x_2  leaf  value {f(x_2.item())}  grad {grad_2}  backward 3")
    return "graph\n" + "\n".join([tree] * passes)


@pytest.fixture
def no_rules(monkeypatch: pytest.MonkeyPatch) -> list[Diagnostic]:
    """Make trace.warnings return exactly the list this fixture gives (empty unless filled)."""
    found: list[Diagnostic] = []
    monkeypatch.setattr(gradtrace.diagnostics, "diagnose", lambda trace: list(found))
    return found


def test_empty_trace() -> None:
    assert to_text(Trace(), width=100) == (
        "gradtrace: nothing traced: the code ran no torch operations.")
    assert str(Trace()) == to_text(Trace())


def test_empty_trace_that_failed() -> None:
    t = Trace(error="NameError: name 'y' is not defined", error_line=2)
    assert to_text(t, width=100) == (
        "gradtrace: nothing traced: the code ran no torch operations.\n"
        "stopped at line 2 by NameError: name 'y' is not defined")


LAB_100 = """\
gradtrace: 5 forward steps, 1 backward pass, no warnings

forward
step  name      op      inputs              shape  value    grad_fn       line  source
   1  x_1       tensor                      (1,)   3.0000   leaf             1  x_1 = torch.tensor(…
   2  x_2       tensor                      (1,)   2.0000   leaf             2  x_2 = torch.tensor(…
   3  cos(x_1)  cos     x_1                 (1,)   -0.9900  CosBackward0     3  c = x_1.cos() * x_2…
   4  log(x_2)  log     x_2                 (1,)   0.6931   LogBackward0     3
   5  c         mul     cos(x_1), log(x_2)  (1,)   -0.6862  MulBackward0     3

backward pass 1: c.backward() at line 4
step  node            tensor    grad in  grad out
   1  MulBackward0    c         1.0000   cos(x_1) <- 0.6931, log(x_2) <- -0.9900
   2  LogBackward0    log(x_2)  -0.9900  x_2 <- -0.4950
   3  AccumulateGrad  x_2       -0.4950  x_2.grad: None -> -0.4950
   4  CosBackward0    cos(x_1)  0.6931   x_1 <- -0.0978
   5  AccumulateGrad  x_1       -0.0978  x_1.grad: None -> -0.0978

"""


def test_lab_example_exact(no_rules: list[Diagnostic]) -> None:
    assert to_text(lab_trace(), width=100) == LAB_100 + lab_graph()


ACCUMULATION_100 = """\
gradtrace: 8 forward steps, 2 backward passes, 1 warning

! accumulation  x_1.grad held -0.0978 before backward pass 2 (line 6) and now holds -0.1956. Set
                x_1.grad = None (or call optimizer.zero_grad()) before backward unless you mean to
                sum gradients.

forward
step  name      op      inputs              shape  value    grad_fn       line  source
   1  x_1       tensor                      (1,)   3.0000   leaf             1  x_1 = torch.tensor(…
   2  x_2       tensor                      (1,)   2.0000   leaf             2  x_2 = torch.tensor(…
   3  cos(x_1)  cos     x_1                 (1,)   -0.9900  CosBackward0     3  c = x_1.cos() * x_2…
   4  log(x_2)  log     x_2                 (1,)   0.6931   LogBackward0     3
   5  c         mul     cos(x_1), log(x_2)  (1,)   -0.6862  MulBackward0     3
   6  cos(x_1)  cos     x_1                 (1,)   -0.9900  CosBackward0     5  c = x_1.cos() * x_2…
   7  log(x_2)  log     x_2                 (1,)   0.6931   LogBackward0     5
   8  c         mul     cos(x_1), log(x_2)  (1,)   -0.6862  MulBackward0     5

backward pass 1: c.backward() at line 4
step  node            tensor    grad in  grad out
   1  MulBackward0    c         1.0000   cos(x_1) <- 0.6931, log(x_2) <- -0.9900
   2  LogBackward0    log(x_2)  -0.9900  x_2 <- -0.4950
   3  AccumulateGrad  x_2       -0.4950  x_2.grad: None -> -0.4950
   4  CosBackward0    cos(x_1)  0.6931   x_1 <- -0.0978
   5  AccumulateGrad  x_1       -0.0978  x_1.grad: None -> -0.0978

backward pass 2: c.backward() at line 6
step  node            tensor    grad in  grad out
   1  MulBackward0    c         1.0000   cos(x_1) <- 0.6931, log(x_2) <- -0.9900
   2  LogBackward0    log(x_2)  -0.9900  x_2 <- -0.4950
   3  AccumulateGrad  x_2       -0.4950  x_2.grad: -0.4950 -> -0.9900
   4  CosBackward0    cos(x_1)  0.6931   x_1 <- -0.0978
   5  AccumulateGrad  x_1       -0.0978  x_1.grad: -0.0978 -> -0.1956

"""


def test_accumulation_exact(no_rules: list[Diagnostic]) -> None:
    no_rules.append(Diagnostic(
        "accumulation",
        "x_1.grad held -0.0978 before backward pass 2 (line 6) and now holds -0.1956.",
        "Set x_1.grad = None (or call optimizer.zero_grad()) before backward unless you mean "
        "to sum gradients."))
    assert to_text(lab_trace(2), width=100) == ACCUMULATION_100 + lab_graph(2)


def test_real_accumulation_rule_is_shown_first() -> None:
    text = to_text(lab_trace(2), width=100)
    lines = text.splitlines()
    assert lines[0].startswith("gradtrace: 8 forward steps, 2 backward passes, 1 warning")
    assert lines[2].startswith("! accumulation  ")
    assert text.index("! accumulation") < text.index("forward\n")


def test_forward_only(no_rules: list[Diagnostic]) -> None:
    t = Trace(steps=lab_trace().steps[:1])
    assert to_text(t, width=64) == (
        "gradtrace: 1 forward step, 0 backward passes, no warnings\n\n"
        "forward\n"
        "step  name  op      shape  value   grad_fn  line  source\n"
        "   1  x_1   tensor  (1,)   3.0000  leaf        1  x_1 = torch.t…\n\n"
        "no backward pass ran (call .backward() on a scalar result to see\n"
        "gradients)\n\n"
        "graph\n"
        "x_1  leaf  value 3.0000")


def test_narrow_width_gives_up_source_before_values(no_rules: list[Diagnostic]) -> None:
    text = to_text(lab_trace(), width=60)
    assert "source" not in text and "x_1 = " not in text
    assert "   5  c         mul     …og(x_2)  (1,)   -0.6862  MulBackwa…" in text.splitlines()
    assert "source" not in to_text(lab_trace(), width=40) and "value" in text


@pytest.mark.parametrize("width", [40, 60, 80, 120])
def test_fits_width(width: int) -> None:
    for line in to_text(lab_trace(2), width=width).splitlines():
        assert len(line) <= width, line


def test_max_rows(no_rules: list[Diagnostic]) -> None:
    text = to_text(lab_trace(), width=100, max_rows=2)
    assert "… 3 more rows" in text
    assert "   3  cos(x_1)" not in text
    assert "   2  LogBackward0" in text and "AccumulateGrad" not in text


def test_error_and_pass_error(no_rules: list[Diagnostic]) -> None:
    lab = lab_trace()
    t = Trace(lab.steps, lab.backward_steps,
              (BackwardPass(1, "backward", line=4, error="RuntimeError: boom"),),
              error="RuntimeError: boom", error_line=4)
    text = to_text(t, width=100)
    assert "backward pass 1: backward at line 4\n" in text
    assert "AccumulateGrad  x_1       -0.0978  x_1.grad: None -> -0.0978\n" \
        "stopped here by RuntimeError\n\ngraph\n" in text
    assert text.endswith(f"{lab_graph()}\n\nstopped at line 4 by RuntimeError: boom")
    assert text.count("boom") == 1
    brief = to_text(t, width=100, brief_error=True)  # the traceback that follows has "boom"
    assert brief.endswith(f"{lab_graph()}\n\nstopped at line 4 by RuntimeError (traceback below)")
    assert "boom" not in brief and "stopped here by RuntimeError\n\ngraph\n" in brief
    caught = Trace(lab.steps, lab.backward_steps,  # a pass whose error the code caught
                   (BackwardPass(1, "backward", line=4, error="RuntimeError: boom"),))
    assert "-0.0978\nstopped by RuntimeError: boom\n\ngraph\n" in to_text(caught, width=100)


def test_default_width_from_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "50")
    assert max(len(line) for line in to_text(lab_trace()).splitlines()) <= 50


# -- sections: the renderer shows only the parts asked for ----------------------------------
def kinds(text: str) -> list[str]:
    """The section each block after the summary line belongs to, in order, once each."""
    titles = {"!": "warnings", "forward": "forward", "backward": "backward", "no": "backward",
              "updates": "updates", "tensors": "tensors", "graph": "graph", "stopped": "stopped"}
    return list(dict.fromkeys(titles[b.split(None, 1)[0]] for b in text.split("\n\n")[1:]))


@pytest.mark.parametrize("section", SECTIONS)
def test_each_section_on_and_off(section: str) -> None:
    t = lab_trace(2)  # the real rules warn about accumulation; no optimizer step: no updates
    expect = [] if section == "updates" else [section]
    assert kinds(to_text(t, width=100, sections=[section])) == expect
    rest = [s for s in SECTIONS if s != section]
    assert kinds(to_text(t, width=100, sections=rest)) == [s for s in rest if s != "updates"]


def test_sections_default_order_and_names() -> None:
    t = lab_trace(2)
    assert to_text(t, width=100) == to_text(t, width=100, sections=DEFAULT_SECTIONS)
    assert kinds(to_text(t, width=100)) == ["warnings", "forward", "backward", "graph"]
    assert kinds(to_text(t, width=100, sections=["graph", "tensors", "forward"])) == [
        "forward", "tensors", "graph"]
    assert kinds(to_text(t, width=100, sections="all")) == [s for s in SECTIONS if s != "updates"]
    assert to_text(t, width=100, sections=()).startswith("gradtrace: 8 forward steps")
    assert "\n" not in to_text(t, width=100, sections=())
    with pytest.raises(ValueError, match=r"unknown section.*'table'"):
        to_text(t, sections=["table"])


def test_summary_and_error_always_show(no_rules: list[Diagnostic]) -> None:
    lab = lab_trace()
    t = Trace(lab.steps, error="RuntimeError: boom", error_line=4)
    assert to_text(t, width=100, sections=[]) == (
        "gradtrace: 5 forward steps, 0 backward passes, no warnings\n\n"
        "stopped at line 4 by RuntimeError: boom")
    assert kinds(to_text(t, width=100, sections=["backward"])) == ["backward", "stopped"]
    assert "no backward pass ran" not in to_text(t, width=100, sections=["forward"])


def test_tensors_section_matches_torch(no_rules: list[Diagnostic]) -> None:
    x_1 = torch.tensor([3.0], requires_grad=True)
    x_2 = torch.tensor([2.0], requires_grad=True)
    for _ in range(2):  # as lab_trace(2): .grad of the leaves adds up, the rest is the last pass's
        a, b = x_1.cos(), x_2.log()
        c = a * b
        for kept in (a, b, c):
            kept.retain_grad()
        c.backward()
    f = "{:.4f}".format
    expected = [[name, "(1,)", f(v.item()), f(v.grad.item())]  # type: ignore[union-attr]
                for name, v in [("x_1", x_1), ("x_2", x_2), ("cos(x_1)", a), ("log(x_2)", b),
                                ("c", c)]]
    block = to_text(lab_trace(2), width=100, sections=["tensors"]).split("\n\n")[1]
    lines = block.splitlines()
    assert lines[:2] == ["tensors", "name      shape  value    grad"]
    assert [line.split() for line in lines[2:]] == expected
    short = to_text(lab_trace(2), width=100, sections=["tensors"], max_rows=2).splitlines()
    assert [line.split()[0] for line in short[4:]] == ["x_1", "x_2", "…"]
    assert short[-1] == "… 3 more rows"


def test_no_graph_section_builds_no_graph(monkeypatch: pytest.MonkeyPatch) -> None:
    import gradtrace.views.report

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the graph was built")

    monkeypatch.setattr(gradtrace.views.report, "build_graph", refuse)
    text = to_text(lab_trace(2), width=100, sections=[s for s in SECTIONS if s != "graph"])
    assert "graph" not in kinds(text)
    with pytest.raises(AssertionError, match="the graph was built"):
        to_text(lab_trace(2), width=100)


# -- format_value: the previews every renderer shows -----------------------------------------
def fmt(t: torch.Tensor, **kw: int | bool) -> str:
    from gradtrace.views.format import format_value

    return format_value(TensorSummary.of(t), **kw)


def test_format_scalars() -> None:
    assert fmt(torch.tensor(3.0).cos()) == "-0.9900"
    assert fmt(torch.tensor([3.0]).cos()) == "-0.9900"
    assert fmt(torch.tensor([[2.0]]).log()) == "0.6931"
    assert fmt(torch.tensor(1.0) / 81_000) == "1.2346e-05"
    assert fmt(torch.tensor(123456.0) * 2) == "2.4691e+05"
    assert fmt(torch.tensor(0.0) * 5) == "0.0000"


def test_format_ints_and_bools() -> None:
    assert fmt(torch.tensor(1) + 2) == "3"
    assert fmt(torch.arange(4).reshape(2, 2) + 1) == "[[1, 2], [3, 4]]"
    assert fmt(torch.tensor([1.0, -1.0]) > 0) == "[True, False]"
    assert fmt(torch.ones(3, 3) > 0) == "(3, 3) 9 True"
    assert fmt(torch.arange(10)) == "(10,) mean=4.5 min=0 max=9"


def test_format_small_and_large() -> None:
    assert fmt(torch.tensor([1.0, 0.1]) ** 2) == "[1.0000, 0.0100]"
    assert fmt(torch.linspace(-1.2, 3.4, 100)) == "(100,) mean=1.1 min=-1.2 max=3.4"
    assert fmt(torch.zeros(64, 256)) == "(64, 256) mean=0 min=0 max=0"
    assert fmt(torch.arange(4.0), max_items=3) == "(4,) mean=1.5 min=0 max=3"
    assert fmt(torch.zeros(0)) == "[]"
    assert fmt(torch.linspace(-1.2, 3.4, 100), shape=False) == "mean=1.1 min=-1.2 max=3.4"


def test_format_nan_inf() -> None:
    t = torch.tensor([1.0, 0.0, -1.0, 3.0, 5.0, 7.0, 9.0]).log()  # 1 -inf, 1 nan
    assert fmt(t) == "(7,) mean=1.37 min=0 max=2.197 (1 nan, 1 inf)"
    assert fmt(torch.full((8,), -1.0).sqrt()) == "(8,) (8 nan)"
    assert fmt(torch.tensor([0.0, -1.0]).log()) == "[-inf, nan]"


def test_format_none_and_unkept() -> None:
    from gradtrace.views.format import format_shape, format_value

    assert format_value(None) == "None"
    assert format_value(TensorSummary((64, 256), "float32")) == "(64, 256) float32"
    assert format_value(TensorSummary.of(torch.tensor([2.0]).exp(), keep=False)) == "7.3891"
    assert format_shape(()) == "()" and format_shape((1,)) == "(1,)"
    assert format_shape(torch.zeros(64, 256).shape) == "(64, 256)"


def test_a_reset_of_grad_is_shown_before_the_pass_it_precedes() -> None:
    with trace() as t:
        x_1 = torch.tensor([3.0], requires_grad=True)
        c = x_1.cos() * 2
        c.backward()
        x_1.grad = None  # reset-here
        c = x_1.cos() * 2
        c.backward()
    text = to_text(t, width=100)
    reset_line = next(i for i, s in enumerate(Path(__file__).read_text().splitlines(), 1)
                      if s.rstrip().endswith("# reset-here"))
    assert f"backward pass 2: c.backward() at line {reset_line + 2}\n" \
           f"before it, x_1.grad was reset (line {reset_line})\n" in text
    assert "before it" not in text.split("backward pass 2")[0]
    assert t.warnings == [] and torch.equal(t.grad("x_1"), x_1.grad)


# -- names cut short: the end tells rows apart ------------------------------------------------
class Wrapper(torch.nn.Module):
    """A model held in a ``module`` attribute, as DistributedDataParallel holds one."""

    def __init__(self) -> None:
        super().__init__()
        self.module = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.ReLU(),
                                          torch.nn.Linear(3, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.module(x)  # type: ignore[no-any-return]


def wrapped_trace() -> tuple[Trace, Wrapper]:
    model = Wrapper()
    with torch.no_grad():
        for i, p in enumerate(model.parameters()):
            p.copy_(torch.linspace(-0.5, 0.5, p.numel()).reshape(p.shape) * (i + 1))
    x = torch.tensor([[1.0, 2.0]])
    with trace() as t:
        loss = model(x).sum()
        loss.backward()
    return t, model


def column(block: str, header: str) -> list[str]:
    """The cells of one column of a text table (its title line first, then its header)."""
    head, *rows = block.splitlines()[1:]
    start = head.index(header)
    end = min([head.index(h) for h in head.split() if head.index(h) > start] + [len(head) + 99])
    return [row[start:end].strip() for row in rows]


WRAPPED_FORWARD_80 = """\
forward
step  name        op         inputs    shape   value                 grad_fn
   1  x           input                (1, 2)  [[1.0000, 2.0000]]
   2  ….0.weight  parameter            (3, 2)  [[-0.5000, -0.3000]…  leaf
   3  …le.0.bias  parameter            (3,)    [-1.0000, 0.0000, 1…  leaf
   4  ….module.0  linear     ….0.bias  (1, 3)  [[-2.1000, 0.1000, …  AddmmBackw…
   5  ….module.1  relu       …odule.0  (1, 3)  [[0.0000, 0.1000, 2…  ReluBackwa…
   6  ….2.weight  parameter            (1, 3)  [[-1.5000, 0.0000, …  leaf
   7  …le.2.bias  parameter            (1,)    -2.0000               leaf
   8  ….module.2  linear     ….2.bias  (1, 1)  1.4500                AddmmBackw…
   9  loss        sum        …odule.2  ()      1.4500                SumBackwar…"""

WRAPPED_BACKWARD_80 = """\
step  node            tensor          grad in           grad out
   1  SumBackward0    loss            1.0000            model.module.2 <- 1.0000
   2  AddmmBackward0  model.module.2  1.0000            model.module.2.bias <- …
   3  AccumulateGrad  …module.2.bias  1.0000            model.module.2.bias.gra…
   4  TBackward0      model.module.2  [[0.0000], [0.1…  model.module.2.weight <…
   5  AccumulateGrad  …dule.2.weight  [[0.0000, 0.100…  model.module.2.weight.g…
   6  ReluBackward0   model.module.1  [[-1.5000, 0.00…  model.module.0 <- [[0.0…
   7  AddmmBackward0  model.module.0  [[0.0000, 0.000…  model.module.0.bias <- …
   8  AccumulateGrad  …module.0.bias  [0.0000, 0.0000…  model.module.0.bias.gra…
   9  TBackward0      model.module.0  [[0.0000, 0.000…  model.module.0.weight <…
  10  AccumulateGrad  …dule.0.weight  [[0.0000, 0.000…  model.module.0.weight.g…"""


def test_wrapped_model_exact_at_80() -> None:
    t, model = wrapped_trace()
    blocks = to_text(t, width=80, sections="forward,backward").split("\n\n")
    assert blocks[1] == WRAPPED_FORWARD_80
    assert blocks[2].split("\n", 1)[1] == WRAPPED_BACKWARD_80
    assert [p.grad is not None for p in model.parameters()] == [True] * 4


@pytest.mark.parametrize("width", [80, 120])
def test_wrapped_model_names_stay_distinguishable(width: int) -> None:
    t, _ = wrapped_trace()
    names = set(t.names)
    assert {"model.module.0.weight", "model.module.2.weight", "model.module.0"} <= names
    blocks = to_text(t, width=width, sections="forward,backward,tensors").split("\n\n")
    forward, backward, tensors = blocks[1], blocks[2], blocks[3]
    assert max(map(len, "\n".join(blocks).splitlines())) <= width
    for shown, real in ((column(forward, "name"), [s.name for s in t.steps]),
                        (column(backward, "tensor"), [b.tensor for b in t.backward_steps]),
                        (column(tensors, "name"), list(t.names))):
        assert len(shown) == len(real)
        assert len(set(shown)) == len(set(real))  # no two names look the same
        pairs = set(zip(shown, real, strict=True))
        assert len(pairs) == len(set(real))  # and each shown name stands for one real name
    assert all(not n.startswith("model.modul…") for n in column(forward, "name"))


def test_cut_names_keep_both_ends_where_the_end_alone_is_shared() -> None:
    rows = [["encoder.0.weight"], ["decoder.0.weight"], ["encoder.0.bias"], ["x"]]
    assert layout_table(["name"], rows, width=12, shrink=[[0]], names=[0]) == [
        "name", "enc…0.weight", "dec…0.weight", "…oder.0.bias", "x"]
    assert layout_table(["source"], rows[:1], width=12, shrink=[[0]]) == [
        "source", "encoder.0.w…"]  # code keeps its start


def test_columns_are_no_wider_than_their_widest_cell() -> None:
    lines = layout_table(["name", "op"], [["a", "mul"], ["bb", "add"]], width=120,
                         names=[0])
    assert lines == ["name  op", "a     mul", "bb    add"]
