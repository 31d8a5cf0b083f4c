"""``gradtrace.watch``: every number checked against what plain PyTorch computes in the loop."""

from __future__ import annotations

import math
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import gradtrace
from gradtrace.watching import boundaries
from gradtrace.watching.history import History
from tests.lectures import makemore_deep, nanogpt_char


@pytest.fixture(autouse=True)
def no_boundary_left() -> None:
    yield
    assert not boundaries.installed(), "a watch left a wrapper or hook behind"
    assert torch.Tensor.backward.__name__ == "backward"
    assert not hasattr(torch.Tensor.backward, "__gradtrace_boundary__")


@pytest.mark.slow
def test_makemore_part3_statistics_equal_the_notebooks(tmp_path: Path) -> None:
    """20 iterations at every=1: saturation and std of each tanh layer as the notebook computes
    them from layer.out; update_data_ratio of every weight matrix equals 10**ud."""
    loop = makemore_deep.loop(20).rstrip() + "\n" + textwrap.indent(textwrap.dedent("""
        mine.append([(layer.out.std().item(), (layer.out.abs() > 0.97).float().mean().item())
                     for layer in layers if isinstance(layer, Tanh)])
    """), "    ")
    source = (makemore_deep.CLASSES + "\nimport gradtrace\nmine = []\n"
              "with gradtrace.watch(parameters, every=1) as w:\n" + textwrap.indent(loop, "    "))
    path = tmp_path / "part3.py"
    path.write_text(source)
    ns: dict[str, object] = {"__name__": "__main__"}
    exec(compile(source, str(path), "exec"), ns)
    h = ns["w"].history  # type: ignore[attr-defined]
    tanh = [f"layers[{i}].out" for i in (2, 5, 8, 11, 14)]
    assert sorted(h.iteration.unique()) == list(range(20))
    for it in range(20):
        rows = h[h.iteration == it].set_index("name")
        for (std, saturated), name in zip(ns["mine"][it], tanh):  # type: ignore[index]
            assert rows.loc[name, "kind"] == "activation"
            assert rows.loc[name, "std"] == std
            assert rows.loc[name, "saturated"] == saturated
        for p, name, ud in zip(ns["parameters"], makemore_deep.PATHS, ns["ud"][it]):  # type: ignore[index,call-overload]
            if p.dim() == 2:
                assert rows.loc[name, "update_data_ratio"] == pytest.approx(10**ud, rel=1e-3)


def _mlp() -> tuple[torch.nn.Module, torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(6, 16), torch.nn.ReLU(), torch.nn.Linear(16, 4))
    return model, torch.randn(32, 6), torch.randint(0, 4, (32,))


def test_an_optimizer_step_ends_each_iteration_and_every_third_is_sampled() -> None:
    model, x, y = _mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    seen = {}
    with gradtrace.watch(model, every=3) as w:
        for it in range(7):
            opt.zero_grad()
            h = model[1](model[0](x))
            loss = F.cross_entropy(model[2](h), y)
            loss.backward()
            before = model[0].weight.detach().clone()
            opt.step()
            after = model[0].weight.detach()
            seen[it] = (loss.item(), (h == 0).all(0).float().mean().item(),
                        model[0].weight.grad.std().item(),
                        ((after - before).std() / after.std()).item(),
                        ((after - before).norm() / before.norm()).item())
    h_ = w.history
    assert sorted(h_.iteration.unique()) == [0, 3, 6]
    assert len(w.traces) == 3 and w.last is w.traces[-1] and w.last.passes
    names = set(h_.name)
    assert {"model.0.weight", "model.2.bias"} <= names
    for it in (0, 3, 6):
        rows = h_[h_.iteration == it].set_index("name")
        loss, dead, grad_std, ud, ur = seen[it]
        w0 = rows.loc["model.0.weight"]
        assert w0.kind == "parameter" and w0.loss == pytest.approx(loss, rel=1e-6)
        assert w0.grad_std == pytest.approx(grad_std, rel=1e-6)
        assert w0.update_data_ratio == pytest.approx(ud, rel=1e-4)
        assert w0.update_ratio == pytest.approx(ur, rel=1e-4)
        relu = rows[(rows.kind == "activation") & rows.dead.notna()]
        assert len(relu) == 1 and relu.dead.iloc[0] == pytest.approx(dead)
        assert w0.grad_data_ratio == pytest.approx(w0.grad_std / w0["std"])


def test_the_sample_copies_serve_the_traced_step_and_both_measure_the_update_exactly(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """At a sampled optimizer step the trace measures the update against the copies the sample
    took (no second copy of the parameters): the watch's ``update_data_ratio`` and
    ``update_ratio`` and the sampled trace's ``updates`` equal torch's on 256-wide weights."""
    from gradtrace.capture.recorder import Recorder

    copied: list[int] = []
    original = Recorder.copies_before_step
    monkeypatch.setattr(Recorder, "copies_before_step",
                        lambda self, opt, params: copied.append(len(params)) or
                        original(self, opt, params))
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(256, 256), torch.nn.Tanh(),
                                torch.nn.Linear(256, 256), torch.nn.Tanh(),
                                torch.nn.Linear(256, 10))
    x, y = torch.randn(64, 256), torch.randint(0, 10, (64,))
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    seen: dict[int, dict[str, tuple[float, float, float, float]]] = {}
    with gradtrace.watch(model, every=2) as w:
        for it in range(5):
            opt.zero_grad()
            F.cross_entropy(model(x), y).backward()
            before = {n: p.detach().clone() for n, p in model.named_parameters()}
            opt.step()
            seen[it] = {}
            for n, p in model.named_parameters():
                delta = p.detach() - before[n]
                seen[it][n] = ((delta.std() / p.std()).item(),
                               (delta.norm() / before[n].norm()).item(),
                               delta.norm().item(), p.norm().item())
    assert copied == []  # iteration 0 ends at its backward pass: its trace holds no step
    h = w.history
    for it in (2, 4):
        rows = h[(h.iteration == it) & (h.kind == "parameter")].set_index("name")
        assert len(rows) == 6
        for n, (ud, ur, _, _) in seen[it].items():
            assert rows.loc[f"model.{n}", "update_data_ratio"] == pytest.approx(ud, rel=2e-5)
            assert rows.loc[f"model.{n}", "update_ratio"] == pytest.approx(ur, rel=2e-5)
    updates = w.last.updates
    assert len(updates) == 6
    for _, row in updates.iterrows():
        _, _, delta_norm, value_norm = seen[4][row["parameter"][6:]]
        assert row["update_norm"] == pytest.approx(delta_norm, rel=1e-5)
        assert row["value_norm"] == pytest.approx(value_norm, rel=1e-6)


def test_sampled_traces_keep_shapes_only_unless_values_are_asked_for() -> None:
    """By default a sampled Trace keeps no values (the history is the same either way);
    ``values="summary"`` keeps each tensor's statistics, as ``trace()`` does."""
    histories, tables = [], []
    for values in (None, "summary"):
        model, x, y = _mlp()
        opt = torch.optim.SGD(model.parameters(), lr=0.5)
        with gradtrace.watch(model, every=2, **({} if values is None else
                                                {"values": values})) as w:
            for _ in range(3):
                opt.zero_grad()
                F.cross_entropy(model(x), y).backward()
                opt.step()
        histories.append(w.history)
        tables.append(w.last.tensors.set_index("name"))
    assert histories[0].drop(columns="loss").equals(histories[1].drop(columns="loss"))
    assert histories[0].loss.tolist() == histories[1].loss.tolist()
    bare, kept = tables
    assert list(bare.index) == list(kept.index) and list(bare["shape"]) == list(kept["shape"])
    assert bare.value_mean.isna().all() and bare.value_norm.isna().all()
    assert kept.loc["x", "value_mean"] == pytest.approx(x.mean().item(), rel=1e-6)
    assert kept.loc["model.0.weight", "value_norm"] == pytest.approx(
        model[0].weight.norm().item(), rel=1e-6)


def test_a_watch_without_parameters_finds_what_the_backward_pass_reaches() -> None:
    w_ = torch.randn(3, 2, requires_grad=True)
    x = torch.randn(5, 3)
    with gradtrace.watch(every=2) as w:
        for _ in range(4):
            loss = torch.sigmoid(x @ w_).sum()
            w_.grad = None
            loss.backward()
            with torch.no_grad():
                w_ -= 0.1 * w_.grad
    h = w.history
    assert sorted(h.iteration.unique()) == [0, 2]
    assert "w_" in set(h.name)
    sig = h[(h.kind == "activation") & h.saturated.notna()]
    assert len(sig) == 2 and (sig.saturated >= 0).all()


def test_the_history_stays_within_its_capacity_and_spans_the_run() -> None:
    h = History(capacity=8)
    for it in range(0, 100, 10):
        h.add_sample(it, 1.0, 1.0)
        h.add(it, ["a", "b"], ["parameter", "activation"], [[float(it)] * 10] * 2)
    assert h.size <= 8
    kept = h.iterations()
    assert kept[0] == 0 and kept[-1] == 90 and len(kept) == h.size // 2
    frame = h.frame()
    assert (frame["mean"] == frame.iteration).all()


def test_nan_saturated_and_update_ratio_warnings_from_trends() -> None:
    torch.manual_seed(0)
    wt = (torch.randn(8, 8) * 20).requires_grad_()
    x = torch.randn(16, 8)
    with gradtrace.watch([wt], every=1) as w:
        for it in range(8):
            t = torch.tanh(x @ wt)
            loss = t.pow(2).mean() * (math.nan if it == 5 else 1.0)
            wt.grad = None
            loss.backward()
            with torch.no_grad():
                wt -= 1e-6 * torch.nan_to_num(wt.grad)
    kinds = [d.kind for d in w.warnings]
    assert w.first_nonfinite == 5
    assert kinds == ["nan", "saturated"], w.warnings
    assert "iteration 5" in str(w.warnings[0])
    # the sampled Traces keep no values: the fix says how to get some
    assert 'values="summary"' in w.warnings[0].fix and w.values == "none"
    slow = torch.randn(8, 4, requires_grad=True)
    with gradtrace.watch([slow], every=1) as w:
        for _ in range(6):
            slow.grad = None
            (x @ slow).pow(2).mean().backward()
            with torch.no_grad():
                slow -= 1e-5 * slow.grad  # updates near 1e-5 of the weights: too slow
    assert [d.kind for d in w.warnings] == ["update_ratio"]
    assert w.warnings[0].tensor == "slow" and "Raise" in w.warnings[0].fix


def test_plot_and_tensorboard_read_back(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    model, x, y = _mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with gradtrace.watch(model, every=2, tensorboard=tmp_path / "runs") as w:
        for _ in range(4):
            opt.zero_grad()
            F.cross_entropy(model(x), y).backward()
            opt.step()
    fig = w.plot(str(tmp_path / "watch.png"))
    assert len(fig.axes) == 4 and (tmp_path / "watch.png").stat().st_size > 10_000
    assert fig._repr_png_().startswith(b"\x89PNG")
    events = EventAccumulator(str(tmp_path / "runs"), size_guidance={"scalars": 0}).Reload()
    got = [(e.step, e.value) for e in events.Scalars("model.0.weight/grad_std")]
    h = w.history[w.history.name == "model.0.weight"]
    assert [s for s, _ in got] == [0, 2]
    assert [v for _, v in got] == pytest.approx(h.grad_std.tolist(), rel=1e-6)
    assert "model.0.weight/grad" in events.Tags()["histograms"]


def test_every_must_be_positive() -> None:
    with pytest.raises(ValueError, match="every=0"):
        gradtrace.watch(every=0)
    assert np.isnan(History().values).all()


def test_nanogpt_with_accumulation_clipping_and_adamw_counts_its_iterations_and_stays_quiet(
        tmp_path: Path) -> None:
    """Two micro-batches per optimizer step: the watch numbers iterations as the loop does,
    measures gradients after clipping, and gives no warning on a run that trains as it should
    (AdamW's update-to-data ratio sits near lr / std(p), far above SGD's 1e-3)."""
    path = tmp_path / "train.py"
    path.write_text(nanogpt_char.SOURCE)
    ns: dict[str, object] = {"__name__": "__main__"}
    exec(compile(nanogpt_char.SOURCE, str(path), "exec"), ns)
    w, seen = ns["w"], ns["seen"]
    assert isinstance(w, gradtrace.Watch) and isinstance(seen, list) and len(seen) == 24
    assert w.iteration == 24 and isinstance(w.optimizer, torch.optim.AdamW)
    assert list(w.warnings) == []
    h = w.history
    # lm_head.weight is transformer.wte.weight too (tied): one parameter, named once
    assert "model.lm_head.weight" not in set(h.name)
    tied = h[h.name == "model.transformer.wte.weight"].set_index("iteration")
    assert list(tied.index) == [0, 4, 8, 12, 16, 20]
    for it in tied.index:
        loss, grad_std, ud = seen[it]
        assert tied.update_data_ratio[it] == pytest.approx(ud, rel=1e-4)
        if it > 0:  # iteration 0 is measured at its first micro-batch (see the watcher's NOTE)
            assert tied.loss[it] == loss  # the last micro-batch's loss, as nanoGPT logs it
            assert tied.grad_std[it] == pytest.approx(grad_std, rel=1e-5)
    assert len(w.traces) == 3 and w.last is not None and len(w.last.passes) == 2


def test_micro_batches_sampled_before_the_first_step_are_one_iteration() -> None:
    """every=1 with three backward passes per step: the samples of the second and third
    micro-batch of iteration 0 are dropped, and the loop's iterations are sampled after."""
    model, x, y = _mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    losses = []
    with gradtrace.watch(model, every=1) as w:
        for _ in range(4):
            opt.zero_grad()
            for part in (x[:10], x[10:20], x[20:]):
                loss = F.cross_entropy(model(part), y[: len(part)]) / 3
                loss.backward()
            losses.append(loss.item())
            opt.step()
    h = w.history
    assert sorted(h.iteration.unique()) == [0, 1, 2, 3] and w.iteration == 4
    assert w.stats.samples == 4 and len(w.traces) == 3
    weight = h[h.name == "model.0.weight"].set_index("iteration")
    assert [weight.loss[it] for it in (1, 2, 3)] == losses[1:]
    ud = weight.update_data_ratio
    assert np.isnan(ud[0]) and (ud[[1, 2, 3]] > 0).all()  # 0's: see the watcher's NOTE


@pytest.mark.parametrize("grouped", [True, False])
def test_activations_reduced_in_groups_or_alone_equal_each_tensor_reduced_alone(
        grouped: bool) -> None:
    """Stacked by dtype and size (and a ReLU's shape), as on a GPU, or each by itself, as on a
    CPU, each activation's statistics are what plain PyTorch gives for that tensor alone:
    ``std`` to the bit."""
    from gradtrace.watching.stats import Scratch, activation_block

    torch.manual_seed(0)
    made = [(torch.tanh(torch.randn(32, 100) * 2), "tanh"),
            (torch.tanh(torch.randn(32, 100)), "tanh"),
            (torch.tanh(torch.randn(4, 50)), "tanh"),
            (torch.sigmoid(torch.randn(32, 100) * 4), "sigmoid"),
            (torch.relu(torch.randn(8, 3, 5) - 1.5), "relu"),
            (torch.relu(torch.randn(6, 20) - 1.0), "relu"),
            # changed in place after the ReLU: a unit of zeros and negatives is not dead
            (torch.where(torch.rand(6, 20) > 0.7, -torch.rand(6, 20), 0.0), "relu"),
            (torch.relu(torch.randn(6, 20)).index_fill_(1, torch.tensor([0, 3]), math.nan),
             "relu"),
            (torch.relu(torch.randn(7)), "relu"),
            (torch.randn(32, 100, dtype=torch.float64) * 3 + 1, None),
            (torch.randn(32, 100).half(), "gelu"),
            (torch.randn(1), None),
            (torch.relu(torch.randn(0, 5)), "relu"),
            (torch.tanh(torch.randn(4, 50)), "tanh")]
    tensors, ops = [t for t, _ in made], [op for _, op in made]
    grads = [torch.randn_like(t) * 1e-3 + 2e-4 if k % 3 else None for k, t in enumerate(tensors)]
    scratch = Scratch()
    for _ in range(2):  # the second time in the buffers the first one left
        block, rows = activation_block(tensors, ops, grads, scratch, grouped=grouped)
        assert sorted(rows) == list(range(len(made)))
        for (t, op), g, row in zip(made, grads, [block[r].tolist() for r in rows]):
            mean, std, saturated, dead, grad_mean, grad_std = row
            if not t.numel():  # nothing measured, and no error
                assert all(math.isnan(v) for v in row)
                continue
            assert mean == pytest.approx(t.double().mean().item(), rel=1e-6, abs=1e-6,
                                         nan_ok=True)
            assert (math.isnan(std) if t.numel() == 1 or t.isnan().any()
                    else std == t.std().item())
            if op == "tanh":
                assert saturated == (t.abs() > 0.97).float().mean().item()
            elif op == "sigmoid":
                assert saturated == ((t < 0.03) | (t > 0.97)).float().mean().item()
            else:
                assert math.isnan(saturated)
            if op == "relu":
                expected = (t == 0).flatten(1).all(dim=0).float().mean() if t.dim() >= 2 \
                    else (t == 0).all().float()
                assert dead == expected.item()
            else:
                assert math.isnan(dead)
            if g is None:
                assert math.isnan(grad_mean) and math.isnan(grad_std)
            else:
                assert grad_mean == pytest.approx(g.double().mean().item(), rel=1e-5)
                # in float32 for a half gradient, as any statistic of half values
                expected_std = g.float().std().item() if g.numel() > 1 else math.nan
                assert (math.isnan(grad_std) if g.numel() == 1  # alone: torch.std's own
                        else grad_std == (pytest.approx(expected_std, rel=1e-5) if grouped
                                          else expected_std))


def test_the_first_nonfinite_loss_is_found_between_samples_and_kept() -> None:
    torch.manual_seed(0)
    w0 = torch.randn(4, 3, requires_grad=True)
    x = torch.randn(8, 4)
    with gradtrace.watch([w0], every=4) as w:
        for it in range(10):
            loss = (x @ w0).pow(2).mean() * (math.inf if it in (6, 9) else 1.0)
            w0.grad = None
            loss.backward()
            with torch.no_grad():
                w0 -= 1e-3 * torch.nan_to_num(w0.grad)
    assert w.first_nonfinite == 6
    assert w.stats.iterations().tolist() == [0, 4, 8]


def test_histograms_are_the_figures_first_curves_and_count_every_element() -> None:
    """Without TensorBoard a sample keeps histograms of the first activations and weight
    gradients the figure draws (12 of each), not of all 20; each counts what ``torch.histc``
    counts of the tensor."""
    from gradtrace.watching.figure import MOST_CURVES
    from gradtrace.watching.stats import BINS

    torch.manual_seed(0)
    layers: list[torch.nn.Module] = []
    for _ in range(20):
        layers += [torch.nn.Linear(16, 16), torch.nn.Tanh()]
    model = torch.nn.Sequential(*layers)
    x = torch.randn(8, 16)
    outs: list[torch.Tensor] = []
    hooks = [m.register_forward_hook(lambda m, i, o: outs.append(o.detach()))
             for m in model if isinstance(m, torch.nn.Tanh)]
    with gradtrace.watch(model, every=1) as w:
        model.zero_grad()
        model(x).pow(2).mean().backward()
    for h in hooks:
        h.remove()
    h = w.stats
    activations = [n for n in h.histograms if h.kind_of[n] == "activation"]
    gradients = [n for n in h.histograms if h.kind_of[n] == "parameter"]
    assert len(activations) == len(gradients) == MOST_CURVES == 12
    assert gradients == [f"model.{2 * k}.weight" for k in range(MOST_CURVES)]
    for name, out in zip(activations, outs):
        counts, low, high, scaled, _, _ = h.histograms[name]
        assert (low, high, scaled) == (-1.0, 1.0, False)
        assert counts == torch.histc(out, BINS, -1.0, 1.0).tolist()
