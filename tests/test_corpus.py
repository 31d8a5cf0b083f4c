"""The corpus (tests/corpus/): correct training programs in the shapes people publish must trace
with no warning; programs with one classic mistake each must be caught with the right kind, on
the right tensor and line.

A mistake program names what it expects in ``EXPECT = (kind, tensor)`` (or a tuple of names the
tensor may go by) and marks the line with
``# <- kind``; ``MISS`` instead of ``EXPECT`` marks a known miss (listed in the README).
"""

from __future__ import annotations

import runpy
import warnings
from pathlib import Path
from typing import Any

import pytest

from tests.optional import transformers_or_skip

CORPUS = Path(__file__).parent / "corpus"
CORRECT = sorted((CORPUS / "correct").glob("*.py"))
MISTAKES = sorted((CORPUS / "mistakes").glob("*.py"))


def run(path: Path) -> dict[str, Any]:
    if "import transformers" in path.read_text():
        transformers_or_skip()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch's own (mse_loss's broadcast) are not ours
        return runpy.run_path(str(path), run_name="__corpus__")


def marked_line(path: Path, kind: str) -> int:
    hits = [i for i, text in enumerate(path.read_text().splitlines(), 1)
            if text.rstrip().endswith(f"# <- {kind}")]
    assert len(hits) == 1, (path.name, kind)
    return hits[0]


@pytest.mark.parametrize("path", CORRECT, ids=[p.stem for p in CORRECT])
def test_a_correct_program_traces_with_no_warning(path: Path) -> None:
    t = run(path)["t"]
    assert t.error is None
    assert [str(w) for w in t.warnings] == []


@pytest.mark.parametrize("path", MISTAKES, ids=[p.stem for p in MISTAKES])
def test_a_mistake_is_caught_with_its_kind_tensor_and_line(path: Path) -> None:
    scope = run(path)
    if "MISS" in scope:
        assert not scope["t"].warnings, "a known miss is caught now: move it to EXPECT"
        return
    kind, tensor = scope["EXPECT"]
    names = {tensor} if isinstance(tensor, str) else set(tensor)
    found = scope["t"].warnings.of(kind)
    assert found, [str(w) for w in scope["t"].warnings]
    d = found[0]
    assert names & {d.tensor, *d.tensors}, (d.tensor, d.tensors)
    assert d.line == marked_line(path, kind), str(d)
    assert d.fix


def test_the_corpus_is_large_enough_and_catches_nine_in_ten() -> None:
    assert len(CORRECT) >= 30 and len(MISTAKES) >= 20
    missed = [p.stem for p in MISTAKES if "MISS = " in p.read_text()]
    assert (len(MISTAKES) - len(missed)) / len(MISTAKES) >= 0.9
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    for name in missed:
        assert name in readme, f"known miss {name} is not listed in the README"


@pytest.mark.parametrize("path", [p for p in MISTAKES if "EXPECT = " in p.read_text()],
                         ids=lambda p: p.stem)
def test_ignore_turns_each_kind_off(path: Path) -> None:
    source = path.read_text()
    kind = source.split('EXPECT = ("', 1)[1].split('"', 1)[0]
    assert "with trace() as t:" in source
    code = compile(source.replace("with trace() as t:", f"with trace(ignore=[{kind!r}]) as t:"),
                   str(path), "exec")  # same file and lines: the trace reads the real source
    scope: dict[str, Any] = {"__name__": "__corpus__"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        exec(code, scope)
    assert scope["t"].warnings.of(kind) == []
