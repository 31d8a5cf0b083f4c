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
from typing import NamedTuple

import torch

from gradtrace.capture.naming import (
    Binding,
    Namer,
    Statement,
    forget_locals,
    loop_names,
    read_locals,
    statements_of,
)
from gradtrace.capture.usercode import UserCode

__all__ = ["Locator", "LocalName", "BLOCK", "CALLEE", "LOOP"]

_OPTIM_DIR = os.path.dirname(torch.optim.__file__)
# activation checkpointing's own bookkeeping: the reentrant variant makes a tensor that requires
# grad (``torch.empty(0, requires_grad=True)``) so that gradient flows back through it
_CHECKPOINT = os.path.join(os.path.dirname(torch.utils.__file__), "checkpoint.py")
# gradtrace's own code that reads a Trace (tables, rules, teaching) runs torch ops too: an outer
# trace must not record them as the user's (``print(t.updates)`` in a script traced as a whole)
_PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_READERS = tuple(os.path.join(_PACKAGE, d) + os.sep
                 for d in ("model", "views", "teaching", "diagnostics"))
# what a code object's frames are: the traced files (lines and names), the user's other code
# (names only), library bookkeeping, anything else
_OTHER, _USER, _INTERNAL, _OWN = 0, 1, 2, 3
#: How good a name read from the user's variables is (lower is better; see NOTE [which name]
#: in the recorder): a variable of the traced block, of a function it called, a loop's variable.
BLOCK, CALLEE, LOOP = 1, 2, 4
_RESUMABLE = inspect.CO_GENERATOR | inspect.CO_COROUTINE | inspect.CO_ASYNC_GENERATOR


_KINDS: dict[tuple[object, ...], dict[tuple[str, str], int]] = {}
_KINDS_KEPT = 8  # sets of traced files and user code whose kinds are remembered


def _kinds_for(files: frozenset[str], user_code: UserCode) -> dict[tuple[str, str], int]:
    """The kinds worked out so far, by (file, function name), for traces of ``files``."""
    key = (files, user_code.key)
    kinds = _KINDS.pop(key, None)
    if kinds is None:
        kinds = {}
        while len(_KINDS) >= _KINDS_KEPT:
            del _KINDS[next(iter(_KINDS))]  # the least recently used
    _KINDS[key] = kinds
    return kinds


class Locator:
    """Finds the user's frame for each op and tells the :class:`Namer` where the code is.

    Args:
        files: source files of the traced code: their lines are shown.
        bind: called with a :class:`~gradtrace.capture.naming.Binding` when a statement of the
            user's code that assigns a name finishes.
        user_code: which other files are the user's own code, whose variables name tensors
            too (by default only ``files``).
    """

    def __init__(self, files: Iterable[str], bind: Callable[[Binding], None],
                 user_code: UserCode | None = None) -> None:
        self.files = frozenset(files)
        self.user_code = user_code or UserCode(self.files)
        #: the outermost frame of the traced files when the first op ran: whose namespace paths
        #: start from when no root was given (a decorated function, a script run as a whole)
        self.first: types.FrameType | None = None
        #: the innermost frame of the user's own code where the last op ran (see :meth:`where`)
        self.naming: types.FrameType | None = None
        #: the outermost user frame to read names from (the frame that opened the trace)
        self.root: types.FrameType | None = None
        #: whether the last located op ran inside library bookkeeping (see :meth:`where`)
        self.internal = False
        self._namer = Namer(bind)
        self._statements: dict[str, dict[int, Statement]] = {}
        self._kinds: dict[types.CodeType, int] = {}  # what each code object's frames are
        self._known = _kinds_for(self.files, self.user_code)
        # NOTE [the last walk is remembered]
        # Library frames (module calls, torch.nn.functional) can put 20 frames between an op
        # and the user's code. ``_path`` holds the frames the last walk passed, outermost
        # first, each with whether an internal frame lies between it and the user's frame
        # ``_user``, and the innermost frame of the user's other code (a class from another
        # cell) among them; ``_index`` finds them by id (checked by identity: the frames are
        # held). Only that one path is held, and a frame that has returned is dropped at the
        # next op.
        self._path: list[tuple[types.FrameType, bool, types.FrameType | None]] = []
        self._index: dict[int, int] = {}
        self._user: types.FrameType | None = None
        self._noted: types.FrameType | None = None  # the innermost frame of the last note()

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
        walked: list[tuple[types.FrameType, int]] = []
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
            walked.append((f, kind))
            resumable = resumable or bool(code.co_flags & _RESUMABLE)
            f = f.f_back
        if not keep:
            self._user = f
            if self.first is None:
                self.first = self._outermost(f)
        for frame, _, _ in path[keep:]:
            del index[id(frame)]
        del path[keep:]
        internal, own = path[-1][1:] if path else (False, None)
        for frame, kind in reversed(walked):
            internal = internal or kind == _INTERNAL
            if kind == _OWN:
                own = frame
            index[id(frame)] = len(path)
            path.append((frame, internal, own))
        if resumable:  # a generator's frame is resumed from anywhere: what is above it changes
            path.clear()
            index.clear()
        self.internal = internal
        user = self._user
        self.naming = own if own is not None else user
        if user is None:
            return None, None, None
        return user, user.f_lineno, self.statement(user)

    def _outermost(self, frame: types.FrameType | None) -> types.FrameType | None:
        """The outermost frame of the traced files that called ``frame`` (or ``frame``): the
        traced block, whose variables paths start from, even when the first op ran in a
        function it called (a layer's ``__init__``)."""
        found = frame
        while frame is not None:
            if frame.f_code.co_filename in self.files:
                found = frame
            frame = frame.f_back
        return found

    def _kind(self, code: types.CodeType) -> int:
        # every trace meets the same few dozen library functions: their kinds are remembered
        # for the process, by file and function name (code objects are never held)
        where = (code.co_filename, code.co_name)
        kind = self._known.get(where)
        if kind is None:
            kind = self._known[where] = self._kind_of(code.co_filename, code.co_name)
        return kind

    def _kind_of(self, filename: str, name: str) -> int:
        if filename in self.files:
            return _USER
        if self.user_code(filename):
            return _OWN
        if name == "__init__" or filename.startswith((_OPTIM_DIR, _CHECKPOINT, *_READERS)):
            return _INTERNAL
        return _OTHER

    def _mine(self, code: types.CodeType) -> bool:
        """Whether frames of ``code`` are the user's: traced or the user's other code."""
        kind = self._kinds.get(code)
        if kind is None:
            kind = self._kinds[code] = self._kind(code)
        return kind in (_USER, _OWN)

    def statement(self, f: types.FrameType) -> Statement | None:
        filename = f.f_code.co_filename
        table = self._statements.get(filename)
        if table is None:
            table = self._statements[filename] = statements_of(filename)
        return table.get(f.f_lineno)

    def note(self, frame: types.FrameType, stmt: Statement | None) -> None:
        """Tell the namer where the user's code is: the op's frame (or the frame of the user's
        other code it ran in, see :meth:`where`) and the user's frames that called it.

        An outer frame is mid-statement too (``y = model(x)`` while ``forward`` runs in the same
        file); its targets are read when it moves on.
        """
        namer = self._namer
        inner = self.naming if self.naming is not None else frame
        namer.at(inner, stmt if inner is frame else self.statement(inner))
        if inner is self._noted:
            return  # the callers wait in the same calls as at the last op: nothing to tell
        # (held, so the identity is never a new frame's; a generator, resumed from anywhere,
        # is never taken as unchanged)
        self._noted = None if inner.f_code.co_flags & _RESUMABLE else inner
        root = self.root
        f = child = inner
        while f is not root and f.f_back is not None:
            f = f.f_back
            if self._mine(f.f_code):
                if not namer.at(f, self.statement(f), False, child):
                    break
                child = f

    def rank(self, frame: types.FrameType, loop: bool = False) -> int:
        """How good a name read from ``frame``'s variables is: the traced block's (the root, or
        the outermost of the user's frames when none was given) beat a callee's."""
        if loop:
            return LOOP
        if frame is self.root:
            return BLOCK
        if self.root is None:
            f = frame.f_back
            while f is not None and not self._mine(f.f_code):
                f = f.f_back
            return BLOCK if f is None else CALLEE
        return CALLEE

    def namespace(self) -> list[dict[str, object]]:
        """Where a reader's paths start: the traced block's variables, then its module's."""
        frame = self.root if self.root is not None else self.first
        if frame is None:
            return []
        local = read_locals(frame, self._namer.read)
        return [local] if local is frame.f_globals else [local, frame.f_globals]

    def loop_names(self) -> frozenset[str]:
        """The variables bound by ``for`` statements of the traced block's file."""
        frame = self.root if self.root is not None else self.first
        if frame is None:
            return frozenset()
        return loop_names(frame.f_code, frame.f_lineno)

    def finish_names(self) -> None:
        """The traced code has finished: read the names of statements still pending."""
        self._namer.flush()

    def flush(self) -> None:
        """Let go of every frame and of ``bind`` (the recorder: a cycle otherwise)."""
        self._path, self._index, self._user, self.root = [], {}, None, None
        self.first = self.naming = self._noted = None
        self._namer.flush()
        forget_locals(self._namer.read)
        self._namer = Namer(_ignore)

    def local_name(self, frame: types.FrameType | None, obj: object) -> LocalName | None:
        """A variable that holds ``obj`` in the user's frames from ``frame`` out, and its
        :meth:`rank`: the outermost frame's wins (the traced block's ``w``, not a callee's
        parameter ``v``), a loop's leftover variable only when nothing else holds it. Failing
        that, an attribute of an object the innermost of those frames holds (``self.gamma``)."""
        found: LocalName | None = None
        inner: dict[str, object] | None = None
        inner_frame = frame
        while frame is not None:
            if self._mine(frame.f_code):
                loops = loop_names(frame.f_code, frame.f_lineno)
                local = read_locals(frame, self._namer.read)
                if inner is None:
                    inner, inner_frame = local, frame
                for k, v in local.items():
                    if v is obj and not k.startswith("_"):
                        rank = self.rank(frame, k in loops)
                        if found is None or rank <= found.rank:
                            found = LocalName(k, rank)
                        break
            if frame is self.root:
                break
            frame = frame.f_back
        if found is None and inner is not None and inner_frame is not None:
            for k, owner in inner.items():
                if k.startswith("_") or isinstance(owner, _NOT_OWNERS):
                    continue
                data = getattr(owner, "__dict__", None)
                for attr, v in (data.items() if isinstance(data, dict) else ()):
                    if v is obj and isinstance(attr, str) and not attr.startswith("_"):
                        return LocalName(f"{k}.{attr}", self.rank(inner_frame), owner, attr)
        return found


class LocalName(NamedTuple):
    """A name found in the user's frames; ``owner`` and ``attr`` for an attribute."""

    name: str
    rank: int
    owner: object = None
    attr: str = ""


# objects whose attributes are not where a tensor of the user's lives
_NOT_OWNERS = (type, types.ModuleType, types.FunctionType, types.MethodType, torch.Tensor)


def _ignore(binding: Binding) -> None:
    """The namer's ``bind`` once the trace has finished."""
