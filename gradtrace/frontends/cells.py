"""Helpers for running a notebook cell's code as IPython would: no IPython import needed.

Example:
    >>> ends_with_semicolon("x = 1\\nx;  # quiet")
    True
"""

from __future__ import annotations

import io
import os
import tokenize
import types

__all__ = ["ends_with_semicolon", "user_traceback"]

# gradtrace's own frames (the package folder, one above this one)
_OWN = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep


def ends_with_semicolon(source: str) -> bool:
    """Whether the cell's last statement ends in ``;``, which hides its value in IPython.

    Args:
        source: the cell's Python source.

    Returns:
        True when the last token other than comments and line ends is ``;``.
    """
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
    except (tokenize.TokenError, SyntaxError):
        return False
    skip = (tokenize.ENDMARKER, tokenize.NL, tokenize.NEWLINE, tokenize.COMMENT,
            tokenize.DEDENT, tokenize.INDENT)
    last = [tok for tok in tokens if tok.type not in skip][-1:]
    return bool(last) and last[0].type == tokenize.OP and last[0].string == ";"


def user_traceback(tb: types.TracebackType | None,
                   filename: str) -> types.TracebackType | None:
    """The traceback of an error in a traced cell, as the cell would have raised it untraced.

    Args:
        tb: the traceback caught around the cell's ``exec``.
        filename: the cell's filename.

    Returns:
        ``tb`` from the cell's frame on, without gradtrace's frames between the user's code and
        torch (the recorder sits there while tracing); all of it if the error is gradtrace's own.
        The links of ``tb`` are changed in place.
    """
    start = tb
    while start is not None and start.tb_frame.f_code.co_filename != filename:
        start = start.tb_next
    if start is None:
        return tb
    frames: list[types.TracebackType] = []
    at: types.TracebackType | None = start
    while at is not None:
        frames.append(at)
        at = at.tb_next
    if frames[-1].tb_frame.f_code.co_filename.startswith(_OWN):
        return start  # raised inside gradtrace: keep every frame
    kept = [f for f in frames if not f.tb_frame.f_code.co_filename.startswith(_OWN)]
    for a, b in zip(kept, [*kept[1:], None], strict=True):
        a.tb_next = b
    return start
