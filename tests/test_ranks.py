"""compare_ranks, .gtrace files and the rank rules, on Traces recorded in this process (no
processes launched): each "rank" is a plain training step traced here, the oracle plain PyTorch."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
import torch

import gradtrace
from gradtrace.frontends.ranks import main as ranks_main
from gradtrace.model.records import TraceRecords


def step(rank: int, *, scale: float = 1.0, world_size: int = 2) -> gradtrace.Trace:
    """One SGD step of a tiny model on this rank's data; ``scale`` multiplies .grad after
    backward (what one rank must not do under DDP)."""
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 2)
    x = torch.randn(4, 3, generator=torch.Generator().manual_seed(rank))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with gradtrace.trace(show=False) as t:
        opt.zero_grad()
        model(x).pow(2).sum().backward()
        with torch.no_grad():
            model.weight.grad *= scale
        opt.step()
    records = t.records
    return gradtrace.Trace(**{**{f: getattr(records, f) for f in TraceRecords.__dataclass_fields__},
                              "rank": rank, "world_size": world_size})


def test_gtrace_round_trip(tmp_path: Path) -> None:
    t = step(1)
    path = t.save(tmp_path / "rank1.gtrace")
    back = gradtrace.load(path)
    assert back == t and (back.rank, back.world_size) == (1, 2)
    assert torch.equal(back.grad("model.weight"), t.grad("model.weight"))
    assert pickle.loads(pickle.dumps(t)) == t


def test_load_says_what_is_wrong_with_a_file(tmp_path: Path) -> None:
    (tmp_path / "x.gtrace").write_bytes(b"not a trace")
    with pytest.raises(ValueError, match=r"is not a \.gtrace file"):
        gradtrace.load(tmp_path / "x.gtrace")
    (tmp_path / "y.gtrace").write_bytes(b"gradtrace-trace 99\n")
    with pytest.raises(ValueError, match="format '99'; this gradtrace reads format '1'"):
        gradtrace.load(tmp_path / "y.gtrace")


def test_without_distributed_a_trace_is_rank_0_of_1() -> None:
    with gradtrace.trace(show=False) as t:
        (torch.ones(2, requires_grad=True) * 2).sum().backward()
    assert (t.rank, t.world_size) == (0, 1)


def test_ranks_that_agree_give_no_warning_and_the_table_holds_plain_norms() -> None:
    # the same data on both ranks: what DDP would leave after the all-reduce
    c = gradtrace.compare_ranks([step(0), step(0)])
    assert list(c.warnings) == []
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 2)
    x = torch.randn(4, 3, generator=torch.Generator().manual_seed(0))
    model(x).pow(2).sum().backward()
    row = c.table[(c.table.parameter == "model.weight") & (c.table["rank"] == 0)].iloc[0]
    assert row.grad_norm == pytest.approx(model.weight.grad.norm().item())
    assert row.local_grad_norm == pytest.approx(model.weight.grad.norm().item())
    with torch.no_grad():
        model.weight -= 0.1 * model.weight.grad
    assert row.value_norm == pytest.approx(model.weight.norm().item())


def test_a_gradient_that_differs_across_ranks_is_a_rank_desync(tmp_path: Path) -> None:
    for r, t in enumerate([step(0), step(0, scale=2.0)]):
        t.save(tmp_path / f"rank{r}.gtrace")
    c = gradtrace.compare_ranks(tmp_path)
    assert [d.kind for d in c.warnings] == ["rank_desync"]
    assert c.warnings[0].tensors == ("model.weight",)
    text, page = str(c), c._repr_mimebundle_()["text/html"]
    assert text.startswith("gradtrace: 2 ranks (world size 2), 2 parameters, 1 warning.")
    assert "rank_desync" in text and "<table" in page and "#f8d7da" in page
    assert ranks_main([str(tmp_path)]) == 1


def test_compare_ranks_of_an_empty_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                          ) -> None:
    with pytest.raises(FileNotFoundError, match="no rank"):
        gradtrace.compare_ranks(tmp_path)
    assert ranks_main([str(tmp_path)]) == 2
    assert "no rank*.gtrace files" in capsys.readouterr().out
