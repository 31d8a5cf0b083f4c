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
from collections.abc import Collection

__all__ = ["ends_with_semicolon", "user_traceback"]

# gradtrace's own frames (the package folder, one above this one)
_OWN = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep
# torch's modules that hand a call to a TorchFunctionMode (the recorder, or set_default_device's)
_DISPATCH = ("/torch/overrides.py", "/torch/utils/_device.py")


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
                   files: str | Collection[str]) -> types.TracebackType | None:
    """The traceback of an error in traced code, as the code would have raised it untraced.

    Args:
        tb: the traceback caught around the code's ``exec`` (or ``runpy``).
        files: the traced code's filename, or its filenames.

    Returns:
        ``tb`` from the first frame of ``files`` on, without the frames tracing adds between the
        user's line and the one that raised: gradtrace's own (the recorder sits there), torch's
        dispatch to it (:func:`_dispatches`) and the frame that called that dispatch, which the
        frame after it continues; all of it if the error is gradtrace's own. The links of ``tb``
        are changed in place.
    """
    files = {files} if isinstance(files, str) else set(files)
    start = tb
    while start is not None and start.tb_frame.f_code.co_filename not in files:
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
    kept = [f for f, after in zip(frames, [*frames[1:], None], strict=True)
            if f is start or not (_added(f) or (after is not None and _calls_dispatch(after)))]
    for a, b in zip(kept, [*kept[1:], None], strict=True):
        a.tb_next = b
    return start


def _added(tb: types.TracebackType) -> bool:
    """Whether a frame is there only because the code is traced: gradtrace's, or torch's
    dispatch to a ``__torch_function__``."""
    code = tb.tb_frame.f_code
    path = code.co_filename.replace(os.sep, "/")
    return (code.co_filename.startswith(_OWN) or path.endswith(_DISPATCH)
            or (path.endswith("/torch/_tensor.py") and code.co_name == "__torch_function__"))


def _calls_dispatch(tb: types.TracebackType) -> bool:
    """Whether a frame is torch's ``handle_torch_function``: the frame before it called it and
    will, untraced, run on past that call (the next frame but the dispatch's is that run)."""
    code = tb.tb_frame.f_code
    return (code.co_name == "handle_torch_function"
            and code.co_filename.replace(os.sep, "/").endswith("/torch/overrides.py"))
