"""Two real ranks (torchrun, gloo on localhost) training a small DDP MLP on different data.

The oracle is plain PyTorch in the same processes (tests/distributed_worker.py): the local
gradients of an undistributed copy, and the ``.grad`` of an untraced DDP copy after its
all-reduce.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import gradtrace

ROOT = Path(__file__).resolve().parent.parent
PARAMS = ["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias", "extra.weight", "extra.bias"]
pytestmark = pytest.mark.skipif(not torch.distributed.is_available(),
                                reason="torch.distributed is not available")


def torchrun(*args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    """``torchrun --standalone --nproc_per_node 2 args...`` (a free localhost port)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
         *args], capture_output=True, text=True, timeout=timeout, env=env, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "terminate called" not in proc.stderr
    return proc


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("ddp")
    torchrun(str(ROOT / "tests" / "distributed_worker.py"), str(out))
    return out


def traces(runs: Path, scenario: str) -> list[gradtrace.Trace]:
    return [gradtrace.load(runs / scenario / f"rank{r}.gtrace") for r in range(2)]


def oracles(runs: Path, scenario: str) -> list[dict[str, dict[str, torch.Tensor]]]:
    return [torch.load(runs / scenario / f"oracle{r}.pt") for r in range(2)]


def name(param: str) -> str:
    return f"ddp.module.{param}"


@pytest.mark.slow
def test_one_trace_per_rank_loads(runs: Path) -> None:
    for scenario in ("plain", "scaled", "unused", "no_sync", "own_hook"):
        ts = traces(runs, scenario)
        assert [(t.rank, t.world_size) for t in ts] == [(0, 2), (1, 2)]


@pytest.mark.slow
def test_local_gradients_differ_and_synchronised_ones_are_their_mean(runs: Path) -> None:
    ts, os_ = traces(runs, "plain"), oracles(runs, "plain")
    for p in PARAMS:
        local = [t.grad(name(p), local=True) for t in ts]
        for r in range(2):
            torch.testing.assert_close(local[r], os_[r]["local"][p], rtol=0, atol=0)
        assert not torch.allclose(local[0], local[1])
        mean = (os_[0]["local"][p] + os_[1]["local"][p]) / 2
        synced = [t.grad(name(p)) for t in ts]
        assert torch.equal(synced[0], synced[1])
        torch.testing.assert_close(synced[0], mean, rtol=1e-6, atol=1e-7)
        for r in range(2):  # what .grad held, as untraced DDP computes it
            torch.testing.assert_close(synced[r], os_[r]["synced"][p], rtol=0, atol=0)
            torch.testing.assert_close(ts[r].value(name(p)), os_[r]["value"][p], rtol=0, atol=0)
        # the version the optimizer step used shows the synchronised gradient too
        first = ts[0].versions(name(p))[0]
        used = ts[0].gradients.total(first.step)
        assert used is not None and used.values is not None
        torch.testing.assert_close(used.values, synced[0], rtol=0, atol=0)
    c = gradtrace.compare_ranks(runs / "plain")
    assert list(c.warnings) == []
    row = c.table[(c.table.parameter == name("fc1.weight")) & (c.table["rank"] == 1)].iloc[0]
    assert row.local_grad_norm == pytest.approx(os_[1]["local"]["fc1.weight"].norm().item())
    assert row.grad_norm == pytest.approx(os_[1]["synced"]["fc1.weight"].norm().item())
    assert row.value_norm == pytest.approx(os_[1]["value"]["fc1.weight"].norm().item())


@pytest.mark.slow
def test_the_all_reduce_is_in_the_backward_table(runs: Path) -> None:
    for t, o in zip(traces(runs, "plain"), oracles(runs, "plain")):
        table = t.backward
        rows = table[table.kind == "all_reduce"]
        assert list(rows.node) == ["all_reduce (bucket 0)"]
        assert rows.index[0] > table[table.kind == "accumulate"].index.max()  # completed last
        step = next(b for b in t.backward_steps if b.kind == "all_reduce")
        assert {e.name for e in step.local} == {name(p) for p in PARAMS}
        for before, after in zip(step.local, step.grad_out):
            p = before.name.removeprefix("ddp.module.")
            assert before.grad is not None and after.grad is not None
            torch.testing.assert_close(before.grad.values, o["local"][p], rtol=0, atol=0)
            torch.testing.assert_close(after.grad.values, o["synced"][p], rtol=0, atol=0)


@pytest.mark.slow
def test_a_rank_that_scales_its_gradient_desyncs(runs: Path) -> None:
    ts, os_ = traces(runs, "scaled"), oracles(runs, "scaled")
    torch.testing.assert_close(ts[1].grad(name("fc2.bias")), os_[1]["synced"]["fc2.bias"])
    assert torch.allclose(ts[1].grad(name("fc2.bias")), 2 * ts[0].grad(name("fc2.bias")))
    c = gradtrace.compare_ranks([runs / "scaled" / f"rank{r}.gtrace" for r in range(2)])
    assert [d.kind for d in c.warnings] == ["rank_desync"]
    d = c.warnings[0]
    assert set(d.tensors) == {name(p) for p in PARAMS}
    assert "rank 1 changed .grad after backward" in d.message


@pytest.mark.slow
def test_a_parameter_unused_on_one_rank(runs: Path) -> None:
    ts, os_ = traces(runs, "unused"), oracles(runs, "unused")
    assert ts[1].grad(name("extra.bias"), local=True) is None
    assert os_[1]["local"]["extra.bias"] is None
    # DDP (find_unused_parameters=True) fills it in with the mean, zero counted for rank 1
    torch.testing.assert_close(ts[1].grad(name("extra.bias")), os_[0]["local"]["extra.bias"] / 2)
    c = gradtrace.compare_ranks(runs / "unused")
    assert [d.kind for d in c.warnings] == ["unused_parameter"]
    assert set(c.warnings[0].tensors) == {name("extra.weight"), name("extra.bias")}
    assert "rank 1" in c.warnings[0].message and "find_unused_parameters" in c.warnings[0].message


@pytest.mark.slow
def test_no_sync_accumulation_is_explained_not_flagged(runs: Path) -> None:
    ts, os_ = traces(runs, "no_sync"), oracles(runs, "no_sync")
    for t in ts:
        assert [d.kind for d in t.warnings] == ["no_sync"]
        assert [b.backward_pass for b in t.backward_steps if b.kind == "all_reduce"] == [2]
    for p in PARAMS:  # local: both micro-batches summed; .grad: their mean over ranks
        for r in range(2):
            torch.testing.assert_close(ts[r].grad(name(p), local=True), os_[r]["local"][p])
        mean = (os_[0]["local"][p] + os_[1]["local"][p]) / 2
        torch.testing.assert_close(ts[0].grad(name(p)), mean)
    c = gradtrace.compare_ranks(runs / "no_sync")
    assert [d.kind for d in c.warnings] == ["no_sync"]
    assert "on every rank" in c.warnings[0].message


@pytest.mark.slow
def test_a_hook_of_the_users_own_is_left_alone_and_said_so(runs: Path) -> None:
    ts, os_ = traces(runs, "own_hook"), oracles(runs, "own_hook")
    for t, o in zip(ts, os_):
        assert not any(b.kind == "all_reduce" for b in t.backward_steps)
        events = [e for e in t.events if e.kind == "all_reduce_unobserved"]
        assert [e.name for e in events] == ["DistributedDataParallel"]
        for p in PARAMS:
            torch.testing.assert_close(t.grad(name(p)), o["synced"][p], rtol=0, atol=0)


@pytest.mark.slow
def test_cli_saves_every_rank_and_rank_0_prints_the_summary(tmp_path: Path) -> None:
    out = tmp_path / "ddp"
    proc = torchrun("-m", "gradtrace", "--save", str(out), "examples/12_ddp.py", "--bug")
    assert sorted(p.name for p in out.iterdir()) == [
        f"rank{r}.{s}" for r in range(2) for s in ("gtrace", "html", "txt")]
    assert proc.stdout.count("gradtrace: 2 ranks (world size 2)") == 1
    assert "rank_desync" in proc.stdout and "no_sync" in proc.stdout
    assert "rank 1 of 2" not in proc.stdout
    ranks = subprocess.run([sys.executable, "-m", "gradtrace.ranks", str(out)],
                           capture_output=True, text=True, timeout=120, cwd=ROOT,
                           env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert ranks.returncode == 1  # a rank_desync was found
    assert ranks.stdout.startswith("gradtrace: 2 ranks (world size 2), 4 parameters")
