"""Training loops against plain PyTorch: optimizer steps are versions, ``Trace.grad`` is what
``.grad`` held, resets and hand-written updates are seen, and correct loops raise no warning."""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from gradtrace import trace

SOURCE = Path(__file__).read_text().splitlines()


def line_of(marker: str) -> int:
    """The line of this file that ends with ``# <marker>``."""
    hits = [i for i, text in enumerate(SOURCE, 1) if text.rstrip().endswith(f"# {marker}")]
    assert len(hits) == 1, marker
    return hits[0]

Step = Callable[[Any], torch.optim.Optimizer]
OPTIMIZERS: dict[str, Step] = {
    "sgd": lambda p: torch.optim.SGD(p, lr=0.1),
    "sgd-momentum-foreach": lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, foreach=True),
    "adam": lambda p: torch.optim.Adam(p, lr=1e-3, foreach=False),
    "adam-foreach": lambda p: torch.optim.Adam(p, lr=1e-3, foreach=True),
    "adam-fused": lambda p: torch.optim.Adam(p, lr=1e-3, fused=True),
}


def mlp() -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
    return model, torch.randn(16, 4), torch.randint(0, 3, (16,))


def train(model: nn.Module, opt: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor,
          steps: int) -> list[dict[str, torch.Tensor]]:
    """The loop both runs execute; returns each step's .grad, as the optimizer saw it."""
    seen = []
    for _ in range(steps):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        seen.append({n: p.grad.clone() for n, p in model.named_parameters()})
        opt.step()
    return seen


@pytest.mark.parametrize(("kind", "steps"), [("sgd", 3), ("sgd-momentum-foreach", 3),
                                             ("adam", 2), ("adam-foreach", 2), ("adam-fused", 2)])
def test_optimizer_steps_are_versions_and_grads_are_what_grad_held(kind: str, steps: int) -> None:
    plain_model, x, y = mlp()
    traced_model = copy.deepcopy(plain_model)
    initial = {n: p.detach().clone() for n, p in plain_model.named_parameters()}
    plain = train(plain_model, OPTIMIZERS[kind](plain_model.parameters()), x, y, steps)
    with trace() as t:
        opt = OPTIMIZERS[kind](traced_model.parameters())
        train(traced_model, opt, x, y, steps)
    for n, p in plain_model.named_parameters():
        name = f"traced_model.{n}"  # the traced block's name for it, not train()'s "model"
        assert torch.equal(t.grad(name), p.grad), name  # the final .grad, not a sum
        assert torch.equal(t.value(name), p.detach()), name  # after the last step
        assert torch.equal(t.value(name, version=1), initial[n]), name
        versions = t.versions(name)
        assert len(versions) == steps + 1
        assert {v.op for v in versions[1:]} == {f"{type(opt).__name__}.step"}
        for k in range(steps):  # what reached it in each pass, not summed
            assert torch.equal(t.grad(name, backward=k + 1), plain[k][n]), (name, k)
    assert t.warnings == []
    resets = [e for e in t.events if e.kind == "grad_reset"]
    assert len(resets) == 4 * (steps - 1)  # zero_grad() finds no .grad before the first pass
    ups = t.updates
    assert list(ups["call"].unique()) == list(range(1, steps + 1))
    first = ups[(ups["call"] == 1) & (ups["parameter"] == "traced_model.2.bias")].iloc[0]
    assert first["grad_norm"] == pytest.approx(plain[0]["2.bias"].norm().item(), rel=1e-6)
    assert first["loss"] == pytest.approx(F.cross_entropy(
        nn.Sequential(*copy.deepcopy(list(mlp()[0]))).forward(x), y).item(), rel=1e-6)


def test_update_norms_match_the_change_of_each_parameter() -> None:
    model, x, y = mlp()
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    with trace() as t:
        m = model
        opt = torch.optim.SGD(m.parameters(), lr=0.1)
        train(m, opt, x, y, 1)
    for _, row in t.updates.iterrows():
        p = dict(model.named_parameters())[row["parameter"][6:]]
        delta = (p.detach() - before[row["parameter"][6:]]).norm().item()
        assert row["update_norm"] == pytest.approx(delta, rel=1e-5)
        assert row["value_norm"] == pytest.approx(p.norm().item(), rel=1e-6)
        assert row["update_ratio"] == pytest.approx(delta / p.norm().item(), rel=1e-5)
    text = str(t)
    assert "\nupdates\n" in text and "SGD 1  model.0.weight" in text


def test_a_huge_learning_rate_is_reported_once_for_all_parameters() -> None:
    model, x, y = mlp()
    with trace() as t:
        m = model
        opt = torch.optim.SGD(m.parameters(), lr=100.0)
        train(m, opt, x, y, 1)
    (w,) = t.warnings.of("update_ratio")
    assert set(w.tensors) <= {f"model.{n}" for n, _ in model.named_parameters()} and w.tensors
    assert "above 1 " in w.message  # weight matrices only: biases are judged by nothing here
    assert set(w.tensors) == {"model.0.weight", "model.2.weight"}
    with trace(update_ratio_above=1e9) as quiet:
        train(model, torch.optim.SGD(model.parameters(), lr=100.0), x, y, 1)
    assert not quiet.warnings.of("update_ratio")


def test_hand_written_updates_under_no_grad_are_versions() -> None:
    w = torch.tensor([1.0, -2.0], requires_grad=True)
    expected = w.detach().clone()
    with trace() as t:
        w = w
        for _ in range(2):
            loss = (w * w).sum()
            loss.backward()
            with torch.no_grad():
                w -= 0.1 * w.grad
            w.grad = None
        w.data.add_(1.0)
    for _ in range(2):
        expected = expected - 0.1 * 2 * expected
    expected = expected + 1.0
    assert torch.equal(t.value("w"), expected) and torch.equal(t.value("w"), w.detach())
    assert [v.op for v in t.versions("w")][-3:] == ["sub_", "sub_", "add_"]
    assert t.grad("w") is None  # reset to None after the last pass
    assert torch.equal(t.grad("w", backward=2), 2 * (torch.tensor([1.0, -2.0]) * 0.8))
    assert [e.kind for e in t.events].count("grad_reset") == 2
    assert t.warnings == []


def test_forgetting_zero_grad_gives_one_warning_for_all_parameters() -> None:
    model, x, y = mlp()
    with trace() as t:
        m = model
        opt = torch.optim.SGD(m.parameters(), lr=0.1)
        for _ in range(3):
            loss = F.cross_entropy(m(x), y)
            loss.backward()  # no zero_grad: each step uses the sum so far
            opt.step()
    warned = t.warnings.of("accumulation")
    assert len(warned) == 2  # steps 2 and 3 used sums; step 1 did not
    assert all(set(w.tensors) == {f"m.{n}" for n, _ in model.named_parameters()}
               for w in warned)
    assert "optimizer step 2 used the sum of backward passes 1 and 2" in warned[0].message
    assert torch.equal(t.grad("m.2.bias"), model[2].bias.grad)


def test_non_leaf_grad_read_is_flagged_although_gradtrace_retained_it() -> None:
    with trace() as t:
        x = torch.tensor([1.0, 2.0], requires_grad=True)
        z = x * 3
        z.sum().backward()
        seen = z.grad  # plain PyTorch: None (and a UserWarning)
    assert seen is not None  # gradtrace retained it...
    (w,) = t.warnings.of("non_leaf_grad")  # ...and says plain PyTorch gives None here
    assert w.tensor == "z" and "plain PyTorch gives None" in w.message
    with trace() as quiet:
        x = torch.tensor([1.0, 2.0], requires_grad=True)
        z = x * 3
        z.retain_grad()
        z.sum().backward()
        _ = z.grad
    assert not quiet.warnings.of("non_leaf_grad")


def test_the_five_leaf_tanh_neuron_is_named_and_raises_no_false_alarm() -> None:
    with trace() as t:
        x1 = torch.Tensor([2.0]).double(); x1.requires_grad = True  # noqa: E702
        x2 = torch.Tensor([0.0]).double(); x2.requires_grad = True  # noqa: E702
        w1 = torch.Tensor([-3.0]).double(); w1.requires_grad = True  # noqa: E702
        w2 = torch.Tensor([1.0]).double(); w2.requires_grad = True  # noqa: E702
        b = torch.Tensor([6.8813735870195432]).double(); b.requires_grad = True  # noqa: E702
        n = x1 * w1 + x2 * w2 + b
        o = torch.tanh(n)
        o.backward()
    assert {"x1", "x2", "w1", "w2", "b", "n", "o"} <= set(t.names)
    for name, leaf in (("x1", x1), ("w1", w1), ("x2", x2), ("w2", w2), ("b", b)):
        assert torch.equal(t.grad(name), leaf.grad), name
    assert [round(t.grad(k).item(), 4) for k in ("x1", "w1", "x2", "w2")] == [-1.5, 1.0, 0.5, 0.0]
    assert t.warnings == []


def test_a_gan_step_through_the_discriminator_after_its_step_is_not_accumulation() -> None:
    torch.manual_seed(0)
    G, D = nn.Linear(2, 3), nn.Sequential(nn.Linear(3, 1), nn.Sigmoid())
    opt_g, opt_d = torch.optim.Adam(G.parameters(), 1e-3), torch.optim.Adam(D.parameters(), 1e-3)
    real, noise = torch.randn(4, 3), torch.randn(4, 2)
    with trace() as t:
        for _ in range(2):
            D.zero_grad()
            fake = G(noise)
            loss_d = F.binary_cross_entropy(D(real), torch.ones(4, 1)) + \
                F.binary_cross_entropy(D(fake.detach()), torch.zeros(4, 1))
            loss_d.backward()
            opt_d.step()
            G.zero_grad()
            loss_g = F.binary_cross_entropy(D(fake), torch.ones(4, 1))
            loss_g.backward()  # adds to D's .grad after opt_d used it: dropped by D.zero_grad()
            opt_g.step()
    assert t.warnings == []
    assert torch.equal(t.grad("D.0.weight"), D[0].weight.grad)


def test_autograd_grad_with_create_graph_never_adds_to_grad() -> None:
    with trace() as t:
        a = torch.tensor([1.0, 2.0], requires_grad=True)
        y = (a ** 3).sum()
        (g,) = torch.autograd.grad(y, a, create_graph=True)
        g.sum().backward()
    assert torch.equal(t.grad("a"), a.grad)  # 6a, what .grad holds
    assert torch.equal(t.grad("a", backward=1), 3 * torch.tensor([1.0, 2.0]) ** 2)
    assert t.warnings == []


def test_torch_func_runs_untouched_inside_a_trace() -> None:
    def f(w: torch.Tensor) -> torch.Tensor:
        return (w.sin() * w).sum()

    w = torch.tensor([0.5, -1.0, 2.0])
    expected = torch.func.grad(f)(w)
    with trace() as t:
        got = torch.func.grad(f)(w)
        v = torch.func.vmap(torch.sin)(w)
    assert torch.equal(got, expected) and torch.equal(v, w.sin())
    assert t.error is None


def test_explain_in_a_loop_uses_the_version_the_last_pass_saw() -> None:
    w = torch.nn.Parameter(torch.tensor([0.5, -1.5]))
    opt = torch.optim.SGD([w], lr=0.1)
    with trace() as t:
        for _ in range(2):
            opt.zero_grad()
            loss = (w.tanh() * 3).sum()
            loss.backward()
            opt.step()
    e = t.explain("w")
    assert e.total is not None and torch.allclose(e.total, w.grad)
    assert t.steps[-1].name == "w" and t.steps[-1].op == "SGD.step"  # the version made after


RESETS = {
    "optimizer.zero_grad()": lambda m, opt: opt.zero_grad(),
    "optimizer.zero_grad(set_to_none=False)": lambda m, opt: opt.zero_grad(set_to_none=False),
    "model.zero_grad()": lambda m, opt: m.zero_grad(),
    "model.zero_grad(set_to_none=False)": lambda m, opt: m.zero_grad(set_to_none=False),
    "p.grad = None": lambda m, opt: [setattr(p, "grad", None) for p in m.parameters()],
    "p.grad.zero_()": lambda m, opt: [p.grad.zero_() for p in m.parameters()
                                      if p.grad is not None],
    "p.grad.data.zero_()": lambda m, opt: [p.grad.data.zero_() for p in m.parameters()
                                           if p.grad is not None],
    "p.grad.detach_(); zero_()": lambda m, opt: [p.grad.detach_().zero_() for p in m.parameters()
                                                 if p.grad is not None],
}


@pytest.mark.parametrize("reset", list(RESETS))
def test_every_way_of_resetting_grad_is_a_reset(reset: str) -> None:
    plain_model, x, y = mlp()
    traced_model = copy.deepcopy(plain_model)
    for model, traced in ((plain_model, False), (traced_model, True)):
        opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        with trace() if traced else contextlib.nullcontext() as t:
            for _ in range(3):
                RESETS[reset](model, opt)
                F.cross_entropy(model(x), y).backward()
                opt.step()
    for (n, p), q in zip(plain_model.named_parameters(), traced_model.parameters()):
        assert torch.equal(p, q), n  # tracing changed nothing
    assert t.warnings == []
    assert list(t.updates["passes"]) == [1] * 12


@pytest.mark.parametrize("reset", ["p.grad.zero_()", "p.grad = None", "none"])
def test_a_hand_written_update_is_an_update(reset: str) -> None:
    w = torch.tensor([1.0, -2.0], requires_grad=True)
    with trace() as t:
        for _ in range(3):
            (w * w).sum().backward()  # hand-backward
            with torch.no_grad():
                w -= 0.1 * w.grad
            if reset == "p.grad.zero_()":
                w.grad.zero_()
            elif reset == "p.grad = None":
                w.grad = None
    assert [e.kind for e in t.events].count("hand_update") == 3
    if reset != "none":
        assert t.warnings == []
        return
    warned = t.warnings.of("accumulation")  # updates 2 and 3 reused pass 1
    assert len(warned) == 2 and warned[0].tensor == "w"
    assert warned[0].line == line_of("hand-backward") and "pass 1 had already" in warned[0].message


def test_micro_batches_summed_before_one_step_are_counted_not_flagged() -> None:
    model, x, y = mlp()
    plain = copy.deepcopy(model)
    grads = [torch.autograd.grad(F.cross_entropy(plain(x[i::4]), y[i::4]) / 4,
                                 list(plain.parameters())) for i in range(4)]
    with trace() as t:
        opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
        for _ in range(2):
            for i in range(4):
                (F.cross_entropy(model(x[i::4]), y[i::4]) / 4).backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            if _ == 0:
                summed = [p.grad.clone() for p in model.parameters()]
            opt.step()
            opt.zero_grad(set_to_none=True)
    for s, g in zip(summed, zip(*grads)):
        expected = sum(g)
        torch.testing.assert_close(s * 0 + expected, expected)  # four passes, one sum
    assert t.warnings == []
    assert set(t.updates["passes"]) == {4} and len(t.updates) == 8


def test_zero_grad_between_backward_and_step() -> None:
    model, x, y = mlp()
    before = [p.detach().clone() for p in model.parameters()]
    with trace() as t:
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        for _ in range(2):
            F.cross_entropy(model(x), y).backward()
            opt.zero_grad()  # misplaced
            opt.step()
    assert all(torch.equal(b, p) for b, p in zip(before, model.parameters()))  # nothing learned
    (w,) = t.warnings.of("step_without_gradient")
    assert w.line == line_of("misplaced") and w.tensor == "model.0.weight"
    assert "1 later update" in w.message


def test_a_parameter_left_out_of_the_optimizer_is_not_updated() -> None:
    model, x, y = mlp()
    first = model[0].weight.detach().clone()
    with trace() as t:
        opt = torch.optim.SGD(model[2].parameters(), lr=0.1)
        for _ in range(2):
            opt.zero_grad()
            F.cross_entropy(model(x), y).backward()
            opt.step()  # leaves-out
    assert torch.equal(first, model[0].weight) and model[0].weight.grad is not None
    (w,) = t.warnings.of("not_updated")
    assert set(w.tensors) == {"model.0.weight", "model.0.bias"}
    assert w.line == line_of("leaves-out")


@pytest.mark.parametrize("mode", ["eval", "frozen", "validation"])
def test_training_in_eval_mode(mode: str) -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.Dropout(0.5), nn.Linear(8, 3))
    x, y = torch.randn(16, 4), torch.randint(0, 3, (16,))
    if mode == "frozen":  # a frozen backbone kept in eval: its BN learns nothing
        for p in [*model[0].parameters(), *model[1].parameters()]:
            p.requires_grad_(False)
    with trace() as t:
        opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
        for _ in range(2):
            model.train(mode == "validation")
            if mode == "frozen":
                model[:3].eval()
            opt.zero_grad()
            out = model(x)  # forward
            F.cross_entropy(out, y).backward()
            opt.step()
            if mode == "validation":
                model.eval()
                with torch.no_grad():
                    model(x)
    found = t.warnings.of("eval_mode")
    if mode == "eval":
        (w,) = found
        assert set(w.tensors) == {"model.1", "model.2"} and w.line == line_of("forward")
        assert "BatchNorm1d" in w.message and "Dropout" in w.message
    else:
        assert found == [] and t.warnings == []
