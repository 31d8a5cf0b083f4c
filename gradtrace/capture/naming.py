"""Names from the user's code: which variables each statement assigns, and when to read them.

# NOTE [naming without rewriting the user's code]
# The traced code runs unmodified. From the source (``linecache``) we parse, once per file, which
# names each statement assigns (``Assign``, ``AugAssign``, ``AnnAssign``, ``For`` and ``with``
# targets, walrus). Each recorded op tells the :class:`Namer` where the user's frame is; when that
# frame moves on to another statement (or runs the same one again: its instruction offset goes
# back, as in a loop), the previous statement has finished, so its targets are read from the
# frame's locals and bound to the tensors they hold. Rebinding (``h = h + 1``), tuple unpacking,
# augmented assignment and loops all fall out of this, and tracebacks stay the user's own.
#
# An attribute target on a variable (``self.out = ...``) is read from the object's own
# ``__dict__`` (or a module's parameters and buffers), never through ``getattr``, which could run
# a property of the user's. A call statement in a loop (``x = double(x)``) runs its callee in a
# new frame each time while the caller's instruction offset stays the same: a callee frame other
# than the one seen before means the statement is running again.
"""

from __future__ import annotations

import ast
import functools
import inspect
import linecache
import sys
import types
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

__all__ = ["Statement", "Binding", "statements_of", "loop_names", "Namer", "own_attribute",
           "read_locals", "forget_locals"]


@dataclass(frozen=True, eq=False)
class Statement:
    """One statement of the user's code: its lines, the names it assigns and its first line.

    A target is a variable (``x``) or an attribute of one (``self.out``); ``loop`` says they are
    a ``for`` statement's, bound to each item in turn.
    """

    line: int
    end: int
    targets: tuple[str, ...]
    text: str
    loop: bool = False


class Binding(NamedTuple):
    """A finished statement's target and what it holds now.

    ``owner`` is the object of an attribute target (``self`` in ``self.out``), else None.
    """

    name: str
    value: object
    frame: types.FrameType
    loop: bool
    owner: object = None


def statements_of(filename: str) -> dict[int, Statement]:
    """Map each line of ``filename`` to the innermost statement that covers it ({} if unknown).

    Example:
        >>> import linecache
        >>> lines = ["a, b = f()\\n", "for i in x:\\n", "    c += i\\n"]
        >>> linecache.cache["<demo>"] = (0, None, lines, "<demo>")
        >>> [(n, s.targets) for n, s in sorted(statements_of("<demo>").items())]
        [(1, ('a', 'b')), (2, ('i',)), (3, ('c',))]
    """
    return _parse("".join(linecache.getlines(filename)))[0]


def loop_names(code: types.CodeType, line: int) -> frozenset[str]:
    """The variables a ``for`` statement or a comprehension binds in the scope of ``code`` (a
    module, function or comprehension) running ``line``: a name left over from a loop (``p``
    after ``for p in parameters``) is a poor name for the last item.

    Example:
        >>> import linecache
        >>> lines = ["for i, p in x:\\n", "    q = p\\n", "def f():\\n", "    return p\\n"]
        >>> linecache.cache["<loops>"] = (0, None, lines, "<loops>")
        >>> module = compile("".join(lines), "<loops>", "exec")
        >>> sorted(loop_names(module, 2)), sorted(loop_names(module.co_consts[-2], 4))
        (['i', 'p'], [])
    """
    scopes = _parse("".join(linecache.getlines(code.co_filename)))[1]
    kind = _scope_kind(code)
    found: frozenset[str] = frozenset()
    for start, end, of, names in scopes:  # outer first: the last that holds the line is inner
        if of == kind and start <= line <= end:
            found = names
    return found


def _scope_kind(code: types.CodeType) -> int:
    name = code.co_name
    if name == "<module>":
        return _MODULE
    return _COMPREHENSION if name in ("<listcomp>", "<genexpr>", "<setcomp>", "<dictcomp>") \
        else _FUNCTION


_MODULE, _FUNCTION, _COMPREHENSION = 0, 1, 2
_FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)
_COMPREHENSIONS = (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)
_Scope = tuple[int, int, int, frozenset[str]]  # first line, last line, kind, loop variables


def _loop_scopes(tree: ast.Module) -> list[_Scope]:
    """Each scope's lines, kind and loop variables, outer scopes first."""
    found: list[tuple[int, int, int, set[str]]] = []

    def visit(node: ast.AST, names: set[str]) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (*_FUNCTIONS, *_COMPREHENSIONS)):
                inner: set[str] = set()
                kind = _FUNCTION if isinstance(child, _FUNCTIONS) else _COMPREHENSION
                found.append((child.lineno, child.end_lineno or child.lineno, kind, inner))
                if kind == _COMPREHENSION:
                    for generator in child.generators:  # type: ignore[union-attr]
                        inner.update(n.id for n in ast.walk(generator.target)
                                     if isinstance(n, ast.Name))
                visit(child, inner)
                continue
            if isinstance(child, (ast.For, ast.AsyncFor)):
                names.update(n.id for n in ast.walk(child.target) if isinstance(n, ast.Name))
            visit(child, names)

    module: set[str] = set()
    found.append((1, 1 << 30, _MODULE, module))
    visit(tree, module)
    found.sort(key=lambda s: (s[0], -s[1]))
    return [(a, b, k, frozenset(n)) for a, b, k, n in found]


@functools.lru_cache(maxsize=64)
def _parse(source: str) -> tuple[dict[int, Statement], list[_Scope]]:
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return {}, []
    lines = source.splitlines()
    table: dict[int, Statement] = {}
    # ast.walk is breadth-first, so inner statements overwrite the headers that hold them
    for node in ast.walk(tree):
        if not isinstance(node, ast.stmt):
            continue
        body = getattr(node, "body", None)
        end = node.end_lineno or node.lineno
        if isinstance(body, list) and body and isinstance(body[0], ast.stmt):
            end = max(node.lineno, body[0].lineno - 1)  # a compound statement: its header only
        text = lines[node.lineno - 1].strip() if node.lineno <= len(lines) else ""
        loop = isinstance(node, (ast.For, ast.AsyncFor))
        stmt = Statement(node.lineno, end, tuple(dict.fromkeys(_targets(node))), text, loop)
        here = table.get(node.lineno)
        if here is not None and here.line == node.lineno and here.end == end == node.lineno:
            # ``a = f(); b = g(a)``: statements joined by ``;`` finish together, with the line
            stmt = Statement(node.lineno, end, tuple(dict.fromkeys(here.targets + stmt.targets)),
                             text, here.loop or loop)
        for n in range(node.lineno, end + 1):
            table[n] = stmt
    return table, _loop_scopes(tree)


def _targets(node: ast.stmt) -> list[str]:
    found: list[ast.expr] = []
    if isinstance(node, ast.Assign):
        found.extend(node.targets)
    elif isinstance(node, (ast.AugAssign, ast.AnnAssign, ast.For, ast.AsyncFor)):
        found.append(node.target)
    elif isinstance(node, (ast.With, ast.AsyncWith)):
        found.extend(i.optional_vars for i in node.items if i.optional_vars is not None)
    header: list[ast.AST] = [node] if not hasattr(node, "body") else [
        v for k, v in ast.iter_fields(node) if k not in ("body", "orelse", "finalbody", "handlers")
        and isinstance(v, ast.AST)]
    for part in header:
        found.extend(n.target for n in ast.walk(part) if isinstance(n, ast.NamedExpr))
    names: list[str] = []
    while found:  # names and o.attr, through tuples and stars; not p[0] or o.a.b
        target = found.pop(0)
        if isinstance(target, ast.Name):
            names.append(target.id)
        elif isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name):
            names.append(f"{target.value.id}.{target.attr}")
        elif isinstance(target, (ast.Tuple, ast.List)):
            found[:0] = target.elts
        elif isinstance(target, ast.Starred):
            found.insert(0, target.value)
    return names


def read_locals(frame: types.FrameType, read: dict[int, types.FrameType]) -> dict[str, Any]:
    """``frame.f_locals``, noting the function frames read in ``read``.

    Before Python 3.13, reading ``f_locals`` of a function frame leaves a snapshot dict on the
    frame that keeps every local alive until the function returns, even after ``del x``;
    :func:`forget_locals` drops those snapshots when the trace ends.
    """
    if frame.f_code.co_flags & inspect.CO_OPTIMIZED:
        read[id(frame)] = frame
    return frame.f_locals


def forget_locals(read: dict[int, types.FrameType]) -> None:
    """Drop the snapshots :func:`read_locals` left (the frames' real locals are untouched)."""
    if sys.version_info < (3, 13):
        for frame in read.values():
            frame.f_locals.clear()
    read.clear()


class Namer:
    """Reads assigned names from user frames once their statements have finished.

    ``bind`` is called with a :class:`Binding` for each target, holding whatever the variable
    (or attribute) then holds.
    """

    def __init__(self, bind: Callable[[Binding], None]) -> None:
        self._bind = bind
        # id(frame) -> [frame, statement, instruction offset, the user's frame it called];
        # a handful of entries at most
        self._pending: dict[int, list[Any]] = {}
        self._last_frame: types.FrameType | None = None
        #: function frames whose locals were read (see :func:`read_locals`)
        self.read: dict[int, types.FrameType] = {}

    def at(self, frame: types.FrameType, stmt: Statement | None, innermost: bool = True,
           child: types.FrameType | None = None) -> bool:
        """The user's ``frame`` is running ``stmt`` now; returns False if nothing changed.

        In the innermost user frame (where the op ran) the same instruction running again means
        a new run of the statement (a loop); in an outer frame it means the same call is still
        running, so only a different statement, an earlier instruction or a new call (``child``,
        the user's frame it is calling, is another one) counts as a change.
        """
        key = id(frame)
        pending = self._pending.get(key)
        offset = frame.f_lasti
        if innermost and frame is not self._last_frame:
            self._last_frame = frame
            if self._pending:
                self._resolve_finished(frame)
            pending = self._pending.get(key)
        if pending is not None:
            again = offset > pending[2] or (
                not innermost and offset == pending[2] and child is pending[3])
            if pending[1] is stmt and again:
                pending[2] = offset
                pending[3] = child
                return False
            del self._pending[key]
            self._resolve(pending)
        if stmt is not None and stmt.targets:
            self._pending[key] = [frame, stmt, offset, child]
        return True

    def flush(self) -> None:
        """Resolve every statement still waiting (the traced code has finished)."""
        pending, self._pending = self._pending, {}
        self._last_frame = None
        for p in pending.values():
            self._resolve(p)

    def _resolve_finished(self, frame: types.FrameType) -> None:
        # Frames not on the current stack have returned: their last statement is complete.
        alive = set()
        f: types.FrameType | None = frame
        while f is not None:
            alive.add(id(f))
            f = f.f_back
        for key in [k for k in self._pending if k not in alive]:
            self._resolve(self._pending.pop(key))

    def _resolve(self, pending: list[Any]) -> None:
        frame, stmt = pending[0], pending[1]
        local = read_locals(frame, self.read)
        for name in stmt.targets:
            owner_name, dot, attr = name.partition(".")
            if not dot:
                if name in local:
                    self._bind(Binding(name, local[name], frame, stmt.loop))
                continue
            owner = local.get(owner_name)
            found, value = own_attribute(owner, attr)
            if found:
                self._bind(Binding(name, value, frame, stmt.loop, owner))


def own_attribute(owner: object, attr: str) -> tuple[bool, object]:
    """``owner.attr`` where it is plain data: in the instance's ``__dict__``, or a module's
    parameter or buffer; ``(False, None)`` otherwise (a property, a slot, nothing)."""
    if owner is None:
        return False, None
    data = getattr(owner, "__dict__", None)
    if not isinstance(data, dict):
        return False, None
    if attr in data:
        return True, data[attr]
    for store in ("_parameters", "_buffers"):  # nn.Module keeps these out of __dict__
        table = data.get(store)
        if isinstance(table, dict) and attr in table:
            return True, table[attr]
    return False, None
