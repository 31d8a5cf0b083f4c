"""Paths a reader would type to reach an object from their namespace: ``layers[0].weight``.

# NOTE [paths through the user's objects]
# A tensor made before the trace has no statement to name it; lecture code keeps its parameters
# in plain classes held in lists (``layers[3].gamma``), dicts (``params["w"]``) and attributes.
# Once per trace, when it stops, a breadth-first walk from the traced block's variables visits
# lists, tuples, dicts, ``nn.Module`` parameters, buffers and submodules, and the attributes of
# objects whose class is the user's own (or a ``SimpleNamespace``), so no per-op cost is paid.
# The walk is bounded: 6 steps deep, containers of up to 1,000 items, 20,000 objects in all,
# and an object is entered again only by a better kind of path (cycles end). A path ending in a
# name (``layers[1].gamma``, ``params["w"]``, ``C``) beats one ending in an index
# (``parameters[5]``), which beats one through a variable a ``for`` statement left behind
# (``p``, ``layer.weight``); shorter first.
"""

from __future__ import annotations

import types
from collections.abc import Callable, Collection
from typing import NamedTuple

import torch

__all__ = ["Path", "find_paths", "NAMED", "INDEXED", "LEFTOVER"]

#: kinds of path, best first
NAMED, INDEXED, LEFTOVER = 0, 1, 2

_MAX_DEPTH = 6
_MAX_ITEMS = 1000
_MAX_OBJECTS = 20_000
_SKIPPED_VARIABLES = frozenset({"In", "Out", "exit", "quit", "get_ipython"})
_OPAQUE = (type, types.ModuleType, types.FunctionType, types.BuiltinFunctionType,
           types.MethodType, types.FrameType, types.CodeType, str, bytes, int, float, complex,
           bool)
_SCALARS = frozenset({float, int, bool, str, bytes, complex, type(None)})


class Path(NamedTuple):
    """A path to an object and how good it is (:data:`NAMED`, :data:`INDEXED`, :data:`LEFTOVER`)."""

    text: str
    kind: int


def find_paths(namespaces: list[dict[str, object]], wanted: Collection[int],
               user_class: Callable[[type], bool],
               loop_variables: Collection[str] = ()) -> dict[int, Path]:
    """The best path to each object whose ``id`` is in ``wanted``.

    Args:
        namespaces: the variables to start from, the first one's first.
        wanted: ids of the objects to find (they must be alive).
        user_class: whether the attributes of an instance of a class are walked.
        loop_variables: variables a ``for`` statement binds; paths through them are poor.

    Example:
        >>> import torch
        >>> class Layer:
        ...     def __init__(self):
        ...         self.w = torch.ones(1)
        >>> layers = [Layer(), Layer()]
        >>> ns = {"layers": layers, "params": [layers[1].w], "p": layers[1].w}
        >>> found = find_paths([ns], {id(layers[1].w)}, lambda c: c is Layer, {"p"})
        >>> found[id(layers[1].w)]
        Path(text='layers[1].w', kind=0)
    """
    best: dict[int, tuple[int, int, str]] = {}  # id -> (kind, depth, text)
    entered: dict[int, int] = {}  # id -> the best kind of path it was entered by
    level: list[tuple[object, str, int]] = []
    for namespace in namespaces:
        for name, value in list(namespace.items()):
            if not isinstance(name, str) or name.startswith("_") or name in _SKIPPED_VARIABLES:
                continue
            level.append((value, name, LEFTOVER if name in loop_variables else NAMED))
    wanted = set(wanted)
    # found by a name already: a later path is as deep or deeper, so none beats it; once every
    # wanted object is, the walk ends (a notebook's tensors are usually its variables)
    settled: set[int] = set()
    visited = 0
    for depth in range(_MAX_DEPTH + 1):
        following: list[tuple[object, str, int]] = []
        for obj, text, kind in level:
            key = id(obj)
            if key in wanted:
                found = best.get(key)
                if found is None or (kind, depth) < found[:2]:
                    best[key] = (kind, depth, text)
                    if kind == NAMED:
                        settled.add(key)
                        if len(settled) == len(wanted):
                            return {k: Path(t, n) for k, (n, _, t) in best.items()}
            if entered.get(key, LEFTOVER + 1) <= kind or depth == _MAX_DEPTH:
                continue  # entered already by as good a path (cycles end here too)
            entered[key] = kind
            visited += 1
            if visited > _MAX_OBJECTS:
                break
            _expand(obj, text, kind, user_class, wanted, following)
        if not following or visited > _MAX_OBJECTS:
            break
        level = following
    return {k: Path(text, kind) for k, (kind, _, text) in best.items()}


def _worth(child: object, wanted: set[int]) -> bool:
    """Whether ``child`` may be or lead to something wanted: not a number, a string, a list of
    them (a history of losses) or a tensor not wanted, which cost no paths."""
    kind = type(child)
    if kind in _SCALARS:
        return False
    if kind is list or kind is tuple:
        return not _only_scalars(child)  # type: ignore[arg-type]
    return not isinstance(child, torch.Tensor) or id(child) in wanted


def _only_scalars(items: list[object] | tuple[object, ...]) -> bool:
    """Whether a list or tuple holds nothing but numbers, strings and None (a history of losses,
    a shape): nothing in it can lead to a tensor."""
    return all(map(_SCALARS.__contains__, map(type, items)))  # no Python frame per item


def _expand(obj: object, text: str, kind: int, user_class: Callable[[type], bool],
            wanted: set[int], out: list[tuple[object, str, int]]) -> None:
    """Add to ``out`` ``(child, its path, its kind of path)`` for each step a reader can take
    from ``obj`` (reached by path ``text`` of ``kind``) to a child worth taking.

    The walk's inner loop: one call per object, appending directly (a generator of steps cost
    a third of the walk)."""
    if isinstance(obj, _NOT_ENTERED):
        return
    named = kind if kind == LEFTOVER else NAMED
    indexed = kind if kind == LEFTOVER else INDEXED
    if isinstance(obj, torch.nn.Module):
        for store in ("_parameters", "_buffers", "_modules"):
            for name, child in getattr(obj, store, {}).items():
                if child is not None and _worth(child, wanted):
                    out.append((child, f"{text}.{name}", indexed if name.isdigit() else named))
        _attributes(obj, text, named, wanted, out)
    elif isinstance(obj, (list, tuple)):
        if len(obj) <= _MAX_ITEMS:
            for i, child in enumerate(obj):
                if _worth(child, wanted):
                    out.append((child, f"{text}[{i}]", indexed))
    elif isinstance(obj, dict):
        if len(obj) <= _MAX_ITEMS:
            for k, child in list(obj.items()):
                if not _worth(child, wanted):
                    continue
                if isinstance(k, str):
                    part = f'["{k}"]' if k.isprintable() and '"' not in k and "\\" not in k \
                        else f"[{k!r}]"
                    out.append((child, text + part, named))
                elif isinstance(k, int) and not isinstance(k, bool):
                    out.append((child, f"{text}[{k}]", indexed))
    elif isinstance(obj, types.SimpleNamespace) or user_class(type(obj)):
        _attributes(obj, text, named, wanted, out)


def _attributes(obj: object, text: str, kind: int, wanted: set[int],
                out: list[tuple[object, str, int]]) -> None:
    data = getattr(obj, "__dict__", None)
    if isinstance(data, dict):
        for name, child in list(data.items()):
            if name in _MODULE_KEYS:
                continue  # nn.Module's own bookkeeping, skipped at the cost of a lookup
            if isinstance(name, str) and not name.startswith("_") and _worth(child, wanted):
                out.append((child, f"{text}.{name}", kind))


_NOT_ENTERED = (torch.Tensor, *_OPAQUE)
#: the private names every ``nn.Module`` holds in its ``__dict__`` (``_parameters``, ...)
_MODULE_KEYS = frozenset(k for k in torch.nn.Module().__dict__ if k.startswith("_"))
