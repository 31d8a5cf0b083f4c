"""Where in the user's code an op ran: the frame, line and statement, found by walking frames.

The user's code is whatever lives in the traced ``files`` (the cell, the script, the decorated
function's file). Walking ``f_back`` from the recorder to the first such frame costs well under
a microsecond per op; ``inspect.stack()`` would cost milliseconds.
"""

from __future__ import annotations

import inspect
import os
import sys
import types
from collections.abc import Callable, Iterable

import torch

from gradtrace.capture.naming import Namer, Statement, forget_locals, read_locals, statements_of

__all__ = ["Locator"]

_OPTIM_DIR = os.path.dirname(torch.optim.__file__)
_OTHER, _USER, _INTERNAL = 0, 1, 2
_RESUMABLE = inspect.CO_GENERATOR | inspect.CO_COROUTINE | inspect.CO_ASYNC_GENERATOR


class Locator:
    """Finds the user's frame for each op and tells the :class:`Namer` where the code is.

    Args:
        files: source files of the user's code.
        bind: called as ``bind(name, value)`` when a statement that assigns ``name`` finishes.
    """

    def __init__(self, files: Iterable[str], bind: Callable[[str, object], None]) -> None:
        self.files = frozenset(files)
        #: the outermost user frame to read names from (the frame that opened the trace)
        self.root: types.FrameType | None = None
        #: whether the last located op ran inside library bookkeeping (see :meth:`where`)
        self.internal = False
        self._namer = Namer(bind)
        self._statements: dict[str, dict[int, Statement]] = {}
        self._kinds: dict[types.CodeType, int] = {}  # what each code object's frames are
        # NOTE [the last walk is remembered]
        # Library frames (module calls, torch.nn.functional) can put 20 frames between an op
        # and the user's code. ``_path`` holds the frames the last walk passed, outermost
        # first, each with whether an internal frame lies between it and the user's frame
        # ``_user``; ``_index`` finds them by id (checked by identity: the frames are held).
        # Only that one path is held, and a frame that has returned is dropped at the next op.
        self._path: list[tuple[types.FrameType, bool]] = []
        self._index: dict[int, int] = {}
        self._user: types.FrameType | None = None

    def where(self, depth: int = 2) -> tuple[types.FrameType | None, int | None, Statement | None]:
        """The innermost frame of the user's code, its line, and the statement running there.

        Also sets :attr:`internal` when the op ran inside a library building a module or an
        optimizer updating parameters: their bookkeeping (``torch.empty``, ``kaiming_uniform_``,
        ``_foreach_add_``) is not the user's math.
        """
        # The frames between the user's frame and the last op are remembered (see NOTE): the
        # walk stops at the first of them still on the stack, usually a few frames up.
        f: types.FrameType | None = sys._getframe(depth)
        kinds, path, index = self._kinds, self._path, self._index
        walked: list[tuple[types.FrameType, bool]] = []
        keep = 0
        resumable = False
        while f is not None:
            i = index.get(id(f))
            if i is not None and path[i][0] is f:
                keep = i + 1
                break
            code = f.f_code
            kind = kinds.get(code)
            if kind is None:
                kind = kinds[code] = self._kind(code)
            if kind == _USER:
                break
            walked.append((f, kind == _INTERNAL))
            resumable = resumable or bool(code.co_flags & _RESUMABLE)
            f = f.f_back
        if not keep:
            self._user = f
        for frame, _ in path[keep:]:
            del index[id(frame)]
        del path[keep:]
        internal = path[-1][1] if path else False
        for frame, inside in reversed(walked):
            internal = internal or inside
            index[id(frame)] = len(path)
            path.append((frame, internal))
        if resumable:  # a generator's frame is resumed from anywhere: what is above it changes
            path.clear()
            index.clear()
        self.internal = internal
        user = self._user
        if user is None:
            return None, None, None
        return user, user.f_lineno, self.statement(user)

    def _kind(self, code: types.CodeType) -> int:
        if code.co_filename in self.files:
            return _USER
        if code.co_name == "__init__" or code.co_filename.startswith(_OPTIM_DIR):
            return _INTERNAL
        return _OTHER

    def statement(self, f: types.FrameType) -> Statement | None:
        filename = f.f_code.co_filename
        table = self._statements.get(filename)
        if table is None:
            table = self._statements[filename] = statements_of(filename)
        return table.get(f.f_lineno)

    def note(self, frame: types.FrameType, stmt: Statement | None) -> None:
        """Tell the namer where the user's code is: the op's frame and the frames that called it.

        An outer frame is mid-statement too (``y = model(x)`` while ``forward`` runs in the same
        file); its targets are read when it moves on.
        """
        namer = self._namer
        namer.at(frame, stmt)
        root, files = self.root, self.files
        f = frame
        while f is not root and f.f_back is not None:
            f = f.f_back
            if f.f_code.co_filename in files and not namer.at(f, self.statement(f), False):
                break

    def flush(self) -> None:
        """The traced code has finished: read the names of statements still pending, then let
        go of every frame and of ``bind`` (the recorder: a cycle otherwise)."""
        self._path, self._index, self._user, self.root = [], {}, None, None
        self._namer.flush()
        forget_locals(self._namer.read)
        self._namer = Namer(_ignore)

    def local_name(self, frame: types.FrameType | None, obj: object) -> str | None:
        """A variable that holds ``obj`` in the user's frame or the user's frames that called it."""
        while frame is not None and frame.f_code.co_filename in self.files:
            for k, v in read_locals(frame, self._namer.read).items():
                if v is obj and not k.startswith("_"):
                    return k
            frame = frame.f_back
        return None


def _ignore(name: str, value: object) -> None:
    """The namer's ``bind`` once the trace has finished."""
