"""How wide each cell of an HTML table may be: cut only what would make the table overflow.

A table first takes the room there is: :data:`TABLE_CHARS` characters, about the width of a
notebook's output area (JupyterLab at a 1280-px window, 12-px monospace). Only when its natural
width is more are its widest columns cut, the widest first, never below their
:data:`~gradtrace.views.html.CELL_WIDTH`. A cell of numbers (values, gradients, statistics) is cut
between whole words (``(32, 27) mean=-0.0003 … max=0``), never inside a number.

Example:
    >>> clip_words("(32, 27) mean=-0.0003 min=-0.03125 max=0", 30)
    '(32, 27) mean=-0.0003 … max=0'
    >>> fit_widths([("a" * 10, "b" * 200)], {"x": 5, "y": 40}, ("x", "y"))
    {'x': 10, 'y': 136}
    >>> fit_widths([("a" * 100, "b" * 100)], {"x": 5, "y": 5}, ("x", "y"))  # two as wide
    {'x': 73, 'y': 73}
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

__all__ = ["TABLE_CHARS", "NUMBERS", "fit_widths", "clip_words"]

#: Characters a table may span before any cell is cut.
TABLE_CHARS = 150
#: Columns whose text is numbers: cut between words.
NUMBERS = ("value", "grad", "grad in", "grad out", "shape")
_PAD = 2  # a column's padding, in characters
_WORD = re.compile(r"\([^()]*\)|\S+")


def fit_widths(rows: Sequence[Sequence[str]], floors: Mapping[str, int],
               headers: Sequence[str]) -> dict[str, int]:
    """The most characters each column shows: its longest cell while the table fits in
    :data:`TABLE_CHARS`, else the widest columns cut down, none below its floor."""
    natural = {h: max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(headers)}
    widths = dict(natural)
    over = sum(widths.values()) + _PAD * len(headers) - TABLE_CHARS
    while over > 0:
        cuttable = [h for h in headers if widths[h] > floors.get(h, widths[h])]
        if not cuttable:
            break
        top = max(widths[h] for h in cuttable)
        below = max([widths[h] for h in cuttable if widths[h] < top], default=0)
        tied = [h for h in cuttable if widths[h] == top]  # cut together: none stays widest
        share = -(-over // len(tied))
        for h in tied:
            target = max(below, floors[h], top - share)
            over -= widths[h] - target
            widths[h] = target
    return widths


def clip_words(text: str, width: int) -> str:
    """``text`` cut to about ``width`` characters between whole words, an ``"…"`` in the
    middle: the first words and the last ones stay; a number is never cut."""
    if len(text) <= width:
        return text
    words = _WORD.findall(text)
    head: list[str] = []
    tail: list[str] = []
    used = 2  # " …"
    for k in range(len(words)):
        word = words[k // 2] if k % 2 == 0 else words[len(words) - 1 - k // 2]
        if used + len(word) + 1 > width and head:
            break
        (head if k % 2 == 0 else tail).append(word)
        used += len(word) + 1
    if len(head) + len(tail) >= len(words):
        return text
    return " ".join([*head, "…", *reversed(tail)])
