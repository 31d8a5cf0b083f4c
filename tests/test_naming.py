"""Which names each statement assigns, read from source, and when the Namer reads them."""

from __future__ import annotations

import linecache
import sys

from gradtrace.capture.naming import Namer, statements_of


def register(source: str) -> str:
    filename = f"<naming-test-{abs(hash(source))}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    return filename


def test_targets_of_each_statement_kind() -> None:
    src = (
        "a = b = f()\n"
        "c, (d, *e) = g()\n"
        "h += 1\n"
        "i: int = 3\n"
        "for j, k in pairs:\n"
        "    l = (m := 2) + j\n"
        "with ctx() as n:\n"
        "    o.attr = p[0] = 5\n"
        "q = (1 +\n"
        "     2)\n"
    )
    table = statements_of(register(src))
    assert table[1].targets == ("a", "b")
    assert table[2].targets == ("c", "d", "e")
    assert table[3].targets == ("h",)
    assert table[4].targets == ("i",)
    assert table[5].targets == ("j", "k")
    assert table[6].targets == ("l", "m")
    assert table[7].targets == ("n",)
    assert table[5].loop and not table[6].loop
    assert table[8].targets == ("o.attr",)  # an attribute of a variable; not items
    assert table[9] is table[10] and table[10].targets == ("q",) and table[10].text == "q = (1 +"


def test_unparsable_or_unknown_source_gives_no_names() -> None:
    assert statements_of(register("def broken(:\n")) == {}
    assert statements_of("<no such file>") == {}


def test_namer_reads_a_statement_once_it_has_finished() -> None:
    bound: list[tuple[str, object]] = []
    namer = Namer(lambda b: bound.append((b.name, b.value)))
    filename = register("x = 1\ny = 2\n")
    table = statements_of(filename)
    frame = sys._getframe()
    x = "first"
    namer.at(frame, table[1])
    assert bound == []  # still running
    namer.at(frame, table[2])  # moved on: x is read now
    assert bound == [("x", "first")]
    y = "second"
    namer.flush()
    assert bound[-1] == ("y", y)
    del x
