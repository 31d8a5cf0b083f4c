"""Statistics of big tensors, against float64 torch as the oracle."""

from __future__ import annotations

import pytest
import torch

from gradtrace.model.stats import exact_int_stats, host_stats, stats_of


def _oracle(t: torch.Tensor) -> tuple[float, float, float, float, int, int]:
    x = t.detach().to(torch.float64).reshape(-1)  # bool as 0 and 1
    finite = x[torch.isfinite(x)]
    return (finite.min().item(), finite.max().item(), finite.mean().item(),
            finite.norm().item(), int(torch.isnan(x).sum()), int(torch.isinf(x).sum()))


def _with(t: torch.Tensor, index: int, value: float) -> torch.Tensor:
    t = t.clone()
    t.view(-1)[index] = value
    return t


torch.manual_seed(0)
CASES = {
    "contiguous": torch.randn(64, 256),
    "transposed": torch.randn(256, 64).T,
    "permuted": torch.randn(4, 5, 6, 7).permute(2, 0, 3, 1),
    "float64": torch.randn(300, 30, dtype=torch.float64),
    "parameter": torch.nn.Parameter(torch.randn(100, 100)),
    "nan": _with(torch.randn(5000), 17, float("nan")),
    "inf": _with(torch.randn(5000), 4, float("-inf")),
    "tiny": torch.randn(5000) * 1e-25,  # squares underflow float32
    "huge": torch.randn(5000) * 1e30,  # squares overflow float32
    "offset": torch.randn(10, 1000)[3:],
    "bool": torch.rand(5000) > 0.3,
    "masked": torch.randn(64, 64).masked_fill(torch.ones(64, 64).triu(1) == 1, float("-inf")),
    "inf and huge": _with(torch.randn(5000) * 1e30, 9, float("inf")),
    "nan and tiny": _with(torch.randn(5000) * 1e-25, 9, float("nan")),
}


@pytest.mark.parametrize("name", CASES)
def test_host_stats_match_float64(name: str) -> None:
    t = CASES[name]
    got = host_stats(t)
    assert got is not None
    lo, hi, mean, norm, nan, inf = _oracle(t)
    assert (got.min, got.max) == (lo, hi)  # min and max are exact
    assert got.mean == pytest.approx(mean, rel=1e-5, abs=1e-6 * max(abs(lo), abs(hi)))
    assert got.norm == pytest.approx(norm, rel=1e-5)
    assert (got.nan, got.inf) == (nan, inf)


@pytest.mark.parametrize("t", [
    torch.randn(10, 10)[:, ::2],  # gaps in memory
    torch.randn(1, 100).expand(50, 100),  # one row, read many times
    torch.randn(100, dtype=torch.bfloat16),
    torch.arange(100),
    torch.randn(100, dtype=torch.complex64),
    torch.empty(0),
], ids=["strided", "expanded", "bfloat16", "int", "complex", "empty"])
def test_host_stats_leave_other_tensors_to_torch(t: torch.Tensor) -> None:
    assert host_stats(t) is None


def test_stats_of_other_tensors_still_match() -> None:
    t = torch.randn(10, 10)[:, ::2]
    assert stats_of(t).min == t.min().item() and stats_of(t).max == t.max().item()


@pytest.mark.parametrize("t", [
    torch.randint(0, 27, (32, 3)),
    torch.randint(-1000, 1000, (300, 30)).T,  # transposed
    torch.randint(-(2 ** 20), 2 ** 20, (5000,), dtype=torch.int32)[::3],  # gaps in memory
    torch.randint(0, 256, (4000,), dtype=torch.uint8),
    torch.randint(-128, 128, (7, 11), dtype=torch.int8),
    torch.tensor([2 ** 26 - 1]),  # its square is just below 2**53
], ids=["index", "transposed", "strided", "uint8", "int8", "largest"])
def test_exact_int_stats_are_those_of_torch(t: torch.Tensor) -> None:
    assert exact_int_stats(t) == stats_of(t)


@pytest.mark.parametrize("t", [
    torch.tensor([2 ** 27]),  # its square passes 2**53: the sums might round
    torch.randn(10),
    torch.empty(0, dtype=torch.int64),
], ids=["big", "float", "empty"])
def test_exact_int_stats_leave_other_tensors_to_torch(t: torch.Tensor) -> None:
    assert exact_int_stats(t) is None


def test_all_non_finite() -> None:
    got = host_stats(torch.tensor([float("nan"), float("inf"), float("-inf")]))
    assert got is not None and (got.min, got.nan, got.inf) == (None, 1, 2)


def test_views_of_the_same_elements_share_one_summary() -> None:
    from gradtrace.capture.keeper import Keeper

    keeper = Keeper(keep_limit=4)
    a = torch.randn(6, 4)
    x = torch.arange(12.0)
    first, reshaped, transposed = keeper.keep(a), keeper.keep(a.view(2, 12)), keeper.keep(a.T)
    gappy = keeper.keep(x.as_strided((3, 2), (4, 1)))  # elements 0 1 4 5 8 9
    other = keeper.keep(x.as_strided((2, 3), (4, 1)))  # elements 0 1 2 4 5 6: not the same
    done = keeper.finish()
    assert [done[i].shape for i in (first, reshaped, transposed)] == [(6, 4), (2, 12), (4, 6)]
    assert len({done[i].stats for i in (first, reshaped, transposed)}) == 1
    assert done[first].max == a.max().item()
    assert done[gappy].mean == pytest.approx(27 / 6) and done[other].mean == pytest.approx(3.0)


def test_a_new_view_of_memory_still_alive_reuses_its_summary() -> None:
    """The view first summarised is gone, another view keeps the memory: same summary, not
    worked out again; once the memory is freed, a tensor at that address is new."""
    from gradtrace.capture.keeper import Keeper

    keeper = Keeper(keep_limit=4)
    base = torch.randn(8, 8)
    first = keeper.keep(base.t())
    later = base.t().t()  # what TBackward passes on to become .grad
    del base
    again = keeper.keep(later)
    done = keeper.finish()
    assert again == first and done[again].max == later.max().item()

    keeper = Keeper(keep_limit=4)
    seen = keeper.keep(torch.randn(8, 8).t())  # freed once kept
    fresh = torch.full((8, 8), 7.0)  # may take the same memory
    after = keeper.keep(fresh)
    done = keeper.finish()
    assert after != seen and (done[after].min, done[after].max) == (7.0, 7.0)


def test_copies_summarised_together_match_float64() -> None:
    from gradtrace.model.stats import stats_of_copies

    names = [n for n in CASES if n not in ("transposed", "permuted", "parameter", "offset")]
    tensors = [CASES[n] for n in names] + [torch.randn(7) for _ in range(50)]
    got = stats_of_copies(tensors)
    for t, s in zip(tensors, got):
        assert s is not None
        lo, hi, mean, norm, nan, inf = _oracle(t)
        assert (s.min, s.max, s.nan, s.inf) == (lo, hi, nan, inf)
        assert s.mean == pytest.approx(mean, rel=1e-9, abs=1e-12 * max(abs(lo), abs(hi)))
        assert s.norm == pytest.approx(norm, rel=1e-9)


def test_copies_bigger_than_the_scratch_arrays(monkeypatch: pytest.MonkeyPatch) -> None:
    from gradtrace.model import stats

    monkeypatch.setattr(stats, "_SCRATCH", 100)
    tensors = [torch.randn(30), torch.randn(250), _with(torch.randn(80), 3, float("nan")),
               torch.randn(60), torch.tensor([], dtype=torch.float32), torch.arange(4)]
    got = stats.stats_of_copies(tensors)
    assert got[4] is None and got[5] is None  # empty, and not float or bool
    for t, s in zip(tensors[:4], got):
        assert s is not None
        lo, hi, mean, norm, nan, _ = _oracle(t)
        assert (s.min, s.max, s.nan) == (lo, hi, nan)
        assert s.mean == pytest.approx(mean) and s.norm == pytest.approx(norm)


def test_a_write_the_keeper_cannot_see_leaves_the_value_unknown() -> None:
    from gradtrace.capture.keeper import Keeper

    keeper = Keeper(keep_limit=4)
    # bfloat16: held, and summarised when the trace ends (as any tensor on a GPU is)
    seen, unseen = torch.randn(64, 256, dtype=torch.bfloat16), torch.randn(64, 256).bfloat16()
    before = seen.float().max().item()
    i, j = keeper.keep(seen), keeper.keep(unseen)
    keeper.freeze(seen)  # what the recorder does before an in-place op it sees
    seen.add_(100)
    unseen.add_(100)  # no freeze: written where the keeper cannot see
    done = keeper.finish()
    assert done[i].max == before
    assert done[j].shape == (64, 256) and done[j].stats is None and done[j].max is None


def test_a_big_tensor_changed_in_place_in_a_traced_step_matches_plain_torch() -> None:
    from gradtrace import trace

    torch.manual_seed(0)
    w = torch.randn(256, 256, requires_grad=True)
    x = torch.randn(64, 256)
    with trace() as t:
        h = x @ w
        h.add_(1)  # in place on a big tensor: its first value is summarised first
        loss = (h.tanh() * 2).pow(2).mean()
        loss.backward()
    first, second = [s.value for s in t.steps if s.name == "h"]
    plain = x @ w.detach()
    assert (first.min, first.max) == (plain.min().item(), plain.max().item())
    assert (second.min, second.max) == ((plain + 1).min().item(), (plain + 1).max().item())
    (leaf,) = t.leaf_grads
    assert leaf.grad is not None and w.grad is not None
    assert (leaf.grad.min, leaf.grad.max) == (w.grad.min().item(), w.grad.max().item())


def test_past_the_copy_budget_the_oldest_copies_are_summarised_together() -> None:
    from gradtrace.capture.keeper import Keeper

    keeper = Keeper(keep_limit=100, budget=100)  # room for one copy of 100 elements
    torch.manual_seed(0)
    tensors = [torch.randn(10, 10) for _ in range(50)]
    expected = [_oracle(t) for t in tensors]
    kept = [keeper.keep(t) for t in tensors]
    keeper.freeze(tensors[7])  # what the recorder does before an in-place op
    tensors[7].mul_(-2)
    tensors[9].add_(5)  # a write the keeper does not see: the copy has the value it had
    done = keeper.finish()
    assert done[kept[-1]].values is not None and torch.equal(done[kept[-1]].values, tensors[-1])
    for k, (i, (lo, hi, mean, norm, _, _)) in enumerate(zip(kept, expected)):
        assert done[i].values is None or k == len(kept) - 1
        assert (done[i].min, done[i].max) == (lo, hi)
        assert done[i].mean == pytest.approx(mean, abs=1e-6)
        assert done[i].norm == pytest.approx(norm, rel=1e-5)


def test_a_grad_kept_settled_keeps_its_value_through_a_write_nobody_sees() -> None:
    # AccumulateGrad keeps .grad this way: DDP's all-reduce then writes it from C++
    from gradtrace.capture.keeper import Keeper

    keeper = Keeper(keep_limit=100, budget=100)
    torch.manual_seed(0)
    keeper.keep(torch.randn(100))  # spends the copy budget
    small = torch.randn(10, 10)  # copied, the oldest copy summarised to make room
    held = torch.randn(64, 256).bfloat16()  # held until the end (as on a GPU)
    expected = [_oracle(small), _oracle(held), _oracle(small)]
    kept = [keeper.keep_settled(small), keeper.keep_settled(held), keeper.keep(small)]
    small.mul_(3)
    held.add_(1)
    done = keeper.finish()
    for i, (lo, hi, mean, norm, _, _) in zip(kept, expected):
        assert (done[i].min, done[i].max) == (lo, hi)
        assert done[i].mean == pytest.approx(mean, abs=1e-4)
        assert done[i].norm == pytest.approx(norm, rel=1e-3)


def test_accumulate_grad_rows_keep_the_grad_they_made_through_a_later_hidden_write() -> None:
    from gradtrace import trace

    torch.manual_seed(0)
    w = torch.randn(128, 64, dtype=torch.bfloat16, requires_grad=True)  # held, as on a GPU
    x = torch.randn(32, 128, dtype=torch.bfloat16)
    with trace() as t:
        (x @ w).float().pow(2).mean().backward()
        made = w.grad.float().clone()
        with torch._C.DisableTorchFunction():  # as DDP's all-reduce writes .grad, unseen
            w.grad.mul_(10)
    (row,) = [b for b in t.backward_steps if b.kind == "accumulate"]
    assert row.grad_after is not None
    assert (row.grad_after.min, row.grad_after.max) == (made.min().item(), made.max().item())
    (leaf,) = t.leaf_grads  # and at the end, what .grad holds then
    assert leaf.grad is not None and leaf.grad.max == w.grad.float().max().item()
