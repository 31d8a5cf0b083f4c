"""Exercise mode and random formulas: hidden gradients, the reveal, and answers checked by torch."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
import torch

from gradtrace import trace
from gradtrace.exercise import Exercise, main, random_formula


@pytest.mark.parametrize("seed", range(12))
def test_random_formulas_trace_and_explain_like_autograd(seed: int) -> None:
    f = random_formula(seed)
    assert f == random_formula(seed)
    assert f.text.startswith("y = ") and "torch." not in f.text
    # the oracle: the formula's own code, run by plain torch
    leaves = {n: torch.tensor(v, requires_grad=True) for n, v in f.values}
    y = eval(f.code, {"torch": torch}, dict(leaves))
    y.backward()
    t = f.trace()
    assert [s.name for s in t.steps if s.is_leaf] == [n for n, _ in f.values]
    for name, leaf in leaves.items():
        if leaf.grad is None:
            continue
        assert torch.isfinite(leaf.grad)
        e = t.explain(name)
        torch.testing.assert_close(e.total, leaf.grad)
        torch.testing.assert_close(t.grad(name), leaf.grad)
        if e.paths:
            torch.testing.assert_close(sum(p.product for p in e.paths), leaf.grad)


def test_some_formulas_use_an_input_twice() -> None:
    twice = 0
    for seed in range(20):
        f = random_formula(seed)
        names = [n for n, _ in f.values]
        twice += any(len(re.findall(rf"\b{n}\b", f.text)) > 1 for n in names)
    assert twice >= 5


def test_exercise_hides_gradients_until_revealed() -> None:
    with trace() as t:
        x = torch.tensor([0.9460], requires_grad=True)
        z = x.log()
        y = z**2
        y.backward()
    ex = t.exercise()
    assert isinstance(ex, Exercise) and ex.names == ["x"]
    text = str(ex)
    assert "Find ∂y/∂x by hand." in text and "z = log(x) = -0.0555" in text
    assert "-0.1174" not in text
    page = ex._repr_html_()
    question, answer = page.split("<details><summary>Show the gradients</summary>")
    assert "grad " not in question and "-0.1174" not in question and "backward 1" not in question
    assert "-0.1174" in answer and "<script" not in page.lower()
    assert ex.check(x=-0.1174) == "x: you wrote -0.1174, autograd says -0.1174: right"
    assert ex.check({"x": 0.5}).endswith("not quite")
    assert "∂y/∂x = -0.1174" in ex.solution()


def test_command_prints_the_formula_and_solves_it(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--seed", "7"]) == 0
    out = capsys.readouterr().out
    formula = random_formula(7)
    assert out.startswith(f"seed 7: {formula.text}\n") and "∂" not in out
    assert main(["--seed", "7", "--solve"]) == 0
    solved = capsys.readouterr().out
    grads = solved.split("\n\n")[1]
    t = formula.trace()
    for name, _ in formula.values:
        assert f"∂y/∂{name} = {t.explain(name).total.item():.4f}" in grads


def test_runs_as_a_module() -> None:
    done = subprocess.run([sys.executable, "-m", "gradtrace.exercise", "--seed", "3"],
                          capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.startswith(f"seed 3: {random_formula(3).text}")
