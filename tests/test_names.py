"""Names a reader would write: paths through the user's objects, names inside the user's own
functions and classes, loops through calls, and what the trace keeps for the user to read.

Oracle: plain PyTorch, run the same way without tracing.
"""

from __future__ import annotations

import json
import os
import re
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
from IPython.testing import globalipapp
from IPython.utils.capture import capture_output

from gradtrace import trace
from gradtrace.model.errors import TraceLookupError
from tests.lectures import makemore_deep


def double(v: torch.Tensor) -> torch.Tensor:
    return v * 2


def test_a_loop_through_a_call_gives_each_iteration_a_version_and_the_leaf_its_own_name() -> None:
    w = torch.tensor([1.0, -2.0], requires_grad=True)
    with trace() as t:
        x = w
        for _ in range(3):
            x = double(x)
        x.sum().backward()
    assert [s.name for s in t.steps] == ["w", "x", "x", "x", "sum(x)"]  # not v, not mul(v, 2)
    assert [t.value("x", version=k).tolist() for k in (1, 2, 3)] == [[2, -4], [4, -8], [8, -16]]
    assert torch.equal(t.grad("w"), torch.full((2,), 8.0)) and torch.equal(w.grad, t.grad("w"))


def test_the_traced_blocks_variable_wins_over_the_callees() -> None:
    def scaled(v: torch.Tensor) -> torch.Tensor:
        y = v * 3
        return y

    a = torch.tensor([2.0], requires_grad=True)
    with trace() as t:
        h = scaled(a)
        k = h.exp()
    assert [s.name for s in t.steps] == ["a", "h", "k"]
    assert torch.equal(t.value("k"), torch.exp(a.detach() * 3))


def test_a_path_beats_a_leftover_loop_variable() -> None:
    params = [torch.randn(2) for _ in range(3)]
    for p in params:
        p.requires_grad = True
    with trace() as t:
        loss = sum((q * 2).sum() for q in params)
        loss.backward()
    assert [s.name for s in t.steps if s.op == "input"] == ["params[0]", "params[1]", "params[2]"]
    for i, p in enumerate(params):
        assert torch.equal(t.grad(f"params[{i}]"), p.grad)


class Attention:
    def __init__(self) -> None:
        self.bias = torch.zeros(2, requires_grad=True)


class Block:
    def __init__(self) -> None:
        self.attn = Attention()


def test_paths_through_dicts_attributes_lists_and_modules() -> None:
    params = {"w": torch.tensor([1.5, 0.5], requires_grad=True)}
    net = types.SimpleNamespace(blocks=[Block() for _ in range(3)])
    model = torch.nn.Linear(2, 1)
    x = torch.tensor([[1.0, 2.0]])
    with trace() as t:
        out = model(x * params["w"] + net.blocks[2].attn.bias).sum()
        out.backward()
    names = {s.name for s in t.steps}
    assert {'params["w"]', "net.blocks[2].attn.bias", "model.weight", "model.bias"} <= names
    assert torch.equal(t.grad('params["w"]'), params["w"].grad)
    assert torch.equal(t.grad("net.blocks[2].attn.bias"), net.blocks[2].attn.bias.grad)
    assert not [n for n in names if re.fullmatch(r"tensor_\d+", n)]



def test_paths_pass_through_tuples_among_numbers_and_skip_lists_of_numbers_only() -> None:
    history = [(step, 0.5 * step) for step in range(50)]  # numbers only: nothing to find
    pairs = [(0.1, "warm-up", None), (0.01, "train", torch.tensor([2.0, -1.0],
                                                                   requires_grad=True))]
    x = torch.tensor([3.0, 4.0])
    with trace() as t:
        (x * pairs[1][2]).sum().backward()
    assert history[-1] == (49, 24.5)
    assert "pairs[1][2]" in {s.name for s in t.steps}
    assert torch.equal(t.grad("pairs[1][2]"), pairs[1][2].grad)
    assert torch.equal(t.grad("pairs[1][2]"), x)

def test_a_sparse_gradient_is_kept_and_equals_torchs() -> None:
    torch.manual_seed(0)
    emb = torch.nn.Embedding(10, 3, sparse=True)
    idx = torch.tensor([1, 2, 4, 2])
    with trace() as t:
        out = (emb(idx) ** 2).sum()
        out.backward()
    assert emb.weight.grad.layout == torch.sparse_coo
    assert torch.equal(t.grad("emb.weight"), emb.weight.grad.to_dense())


def test_what_the_code_ends_with_is_kept_however_long_the_loop() -> None:
    from gradtrace.capture.keeper import FINAL_LIMIT
    from gradtrace.capture.summaries import DEFAULT_KEEP_BUDGET, DEFAULT_KEEP_LIMIT

    torch.manual_seed(0)
    w = torch.randn(64, 64) * 0.1  # 4,096 elements: the largest copied as it is made
    w.requires_grad = True
    b = torch.zeros(100, 100, requires_grad=True)  # past that, but kept at the end
    steps = DEFAULT_KEEP_BUDGET // 4096 + 20  # more than the copy budget holds
    with trace() as t:
        for _ in range(steps):
            h = torch.tanh(w.sum(0) + b[0, :64])
            loss = (h ** 2).sum()
            w.grad = b.grad = None
            loss.backward()
            with torch.no_grad():
                w -= 0.01 * w.grad
                b -= 0.01 * b.grad
    assert torch.equal(t.value("w"), w.detach()) and torch.equal(t.grad("w"), w.grad)
    assert torch.equal(t.value("b"), b.detach()) and torch.equal(t.grad("b"), b.grad)
    assert torch.equal(t.value("h"), h.detach()) and torch.equal(t.value("loss"), loss.detach())
    with pytest.raises(TraceLookupError, match=r"version 1 of \d+, line \d+") as error:
        t.value("w", version=1)  # the oldest copies made room for the newest
    message = str(error.value)
    assert f"{DEFAULT_KEEP_LIMIT:,}" in message and f"{FINAL_LIMIT:,}" in message
    assert 'values="full"' in message


# -- lecture code in notebook cells --------------------------------------------------------------
@pytest.fixture
def ip() -> Iterator[Any]:
    shell = globalipapp.get_ipython()
    shell.run_line_magic("load_ext", "gradtrace")
    yield shell
    shell.run_cell("del layers, parameters, C")


def check_makemore(ns: dict[str, Any]) -> dict[str, Any]:
    """What the makemore checks find in a namespace after the traced loop (also run in a kernel)."""
    tr, parameters, layers = ns["tr"], ns["parameters"], ns["layers"]
    paths = ns["PATHS"]
    names = [s.name for s in tr.steps]
    return {
        "unnamed": sorted({n for n in names if re.fullmatch(r"tensor_\d+", n)}),
        "params": [s.name for s in tr.steps if s.op == "input" and s.is_leaf
                   and s.requires_grad],
        "grads_equal": [bool(torch.equal(tr.grad(p), q.grad)) for p, q in zip(paths, parameters)],
        "values_equal": [bool(torch.equal(tr.value(p), q.detach()))
                         for p, q in zip(paths, parameters)],
        "out_equal": bool(torch.equal(tr.value("layers[16].out"), layers[16].out.detach())),
        "inner": sorted({"xmean", "xvar", "xhat", "layers[2].out"} & set(names)),
        "warnings": [w.kind for w in tr.warnings],
    }


def test_makemore_layers_in_another_cell_are_named_by_their_paths(ip: Any) -> None:
    ip.run_cell(makemore_deep.CLASSES)
    ip.user_ns["PATHS"] = makemore_deep.PATHS
    with capture_output():
        result = ip.run_cell("%%gradtrace -o tr\n" + makemore_deep.loop(5))
    assert result.error_in_exec is None
    found = check_makemore(ip.user_ns)
    assert found["unnamed"] == []
    assert found["params"] == makemore_deep.PATHS  # C, layers[0].weight, ..., layers[16].beta
    assert all(found["grads_equal"]) and all(found["values_equal"]) and found["out_equal"]
    assert found["inner"] == ["layers[2].out", "xhat", "xmean", "xvar"]
    assert found["warnings"] == []


@pytest.mark.slow
def test_makemore_in_a_real_kernel(tmp_path: Path) -> None:
    import nbformat

    from tests.notebook_tools import execute

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(c) for c in (
        "%load_ext gradtrace", makemore_deep.CLASSES,
        f"PATHS = {makemore_deep.PATHS!r}", "%%gradtrace -o tr\n" + makemore_deep.loop(5))]
    path = tmp_path / "makemore.ipynb"
    nbformat.write(nb, path)
    import inspect

    checker = inspect.getsource(check_makemore)
    (tmp_path / "run").mkdir()
    _, extra = execute(tmp_path / "run", path, then=[
        "import re, json, torch\nfrom typing import Any\n" + checker
        + "\nprint(json.dumps(check_makemore(globals())))"])
    ((cell, error),) = extra
    assert error is None, error
    found = json.loads("".join(o.get("text", "") for o in cell.outputs
                               if o.output_type == "stream"))
    assert found["unnamed"] == []
    assert found["params"] == makemore_deep.PATHS
    assert all(found["grads_equal"]) and all(found["values_equal"]) and found["out_equal"]
    assert found["inner"] == ["layers[2].out", "xhat", "xmean", "xvar"]
    assert found["warnings"] == []


def test_a_script_traced_whole_names_layers_it_builds_by_their_paths(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from gradtrace.frontends.cli import main

    script = tmp_path / "layers.py"
    script.write_text(
        "import torch\n"
        "class Linear:\n"
        "    def __init__(self, i, o):\n"
        "        self.weight = torch.randn(i, o) / i**0.5\n"  # the first op: in __init__
        "    def __call__(self, x):\n"
        "        self.out = x @ self.weight\n"
        "        return self.out\n"
        "layers = [Linear(3, 4), Linear(4, 2)]\n"
        "for layer in layers:\n"
        "    layer.weight.requires_grad = True\n"
        "x = torch.randn(5, 3)\n"
        "for layer in layers:\n"
        "    x = layer(x)\n"
        "x.pow(2).mean().backward()\n")
    assert main(["--width", "200", "--sections", "forward", str(script)]) == 0
    report = capsys.readouterr().out
    names = re.findall(r"^\s+\d+\s+(\S+)", report, flags=re.MULTILINE)
    assert {"layers[0].weight", "layers[1].weight", "layers[0].out", "layers[1].out"} <= set(names)
    assert not [n for n in names if n.startswith(("self.", "layer."))], names


def test_which_files_are_the_users_is_answered_per_project_however_often_asked(
        tmp_path: Path) -> None:
    from gradtrace.capture.usercode import UserCode

    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    layers = str(tmp_path / "a" / "layers.py")
    in_a = UserCode([str(tmp_path / "a" / "train.py")], folders=[str(tmp_path / "a")])
    in_b = UserCode([str(tmp_path / "b" / "train.py")], folders=[str(tmp_path / "b")])
    for _ in range(2):  # the second answers come from what was remembered
        assert in_a(layers) and not in_b(layers)
        assert not in_a(torch.__file__) and not in_a(os.__file__)
        assert not in_a("<cell>") and in_a(str(tmp_path / "a" / "train.py"))


def test_the_path_walk_ends_early_only_when_nothing_could_beat_what_it_found() -> None:
    """The walk stops once every wanted object has a path ending in a name; the paths must be
    those of the whole walk (an unreachable wanted object keeps it going to the end)."""
    from gradtrace.capture.paths import find_paths

    class Layer:
        def __init__(self) -> None:
            self.weight = torch.ones(2)

    layers = [Layer(), Layer()]
    w, b = torch.zeros(1), torch.zeros(3)
    model = torch.nn.Sequential(torch.nn.Linear(2, 2))
    ns = {"layers": layers, "params": [w, layers[0].weight], "deep": {"w": w}, "b": b,
          "model": model, "net": types.SimpleNamespace(inner=types.SimpleNamespace(b=b))}
    cases = [{id(b)}, {id(w)}, {id(layers[0].weight), id(b)}, {id(model[0].bias), id(b)}]
    for wanted in cases:
        unreachable = torch.zeros(1)  # never found: the walk runs to its end
        whole = find_paths([ns], wanted | {id(unreachable)}, lambda c: c is Layer)
        assert find_paths([ns], wanted, lambda c: c is Layer) == whole
    found = find_paths([ns], {id(w), id(b)}, lambda c: c is Layer)
    assert (found[id(b)].text, found[id(w)].text) == ("b", 'deep["w"]')  # a name beats params[0]
