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
from collections.abc import Callable, Collection, Iterator
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

    def worth(child: object) -> bool:
        """Whether ``child`` may be or lead to something wanted: not a number, a string, a
        list of them (a history of losses) or a tensor not wanted, which cost no paths."""
        kind = type(child)
        if kind in _SCALARS:
            return False
        if kind is list or kind is tuple:
            return not _only_scalars(child)  # type: ignore[arg-type]
        return not isinstance(child, torch.Tensor) or id(child) in wanted

    visited = 0
    for depth in range(_MAX_DEPTH + 1):
        following: list[tuple[object, str, int]] = []
        for obj, text, kind in level:
            key = id(obj)
            if key in wanted:
                found = best.get(key)
                if found is None or (kind, depth) < found[:2]:
                    best[key] = (kind, depth, text)
            if entered.get(key, LEFTOVER + 1) <= kind or depth == _MAX_DEPTH:
                continue  # entered already by as good a path (cycles end here too)
            entered[key] = kind
            visited += 1
            if visited > _MAX_OBJECTS:
                break
            for child, part, named in _children(obj, user_class, worth):
                child_kind = kind if kind == LEFTOVER else (NAMED if named else INDEXED)
                following.append((child, text + part, child_kind))
        if not following or visited > _MAX_OBJECTS:
            break
        level = following
    return {k: Path(text, kind) for k, (kind, _, text) in best.items()}


def _only_scalars(items: list[object] | tuple[object, ...]) -> bool:
    """Whether a list or tuple holds nothing but numbers, strings and None (a history of losses,
    a shape): nothing in it can lead to a tensor."""
    return all(map(_SCALARS.__contains__, map(type, items)))  # no Python frame per item


def _children(obj: object, user_class: Callable[[type], bool], worth: Callable[[object], bool]
              ) -> Iterator[tuple[object, str, bool]]:
    """``(child, path part, whether the part is a name)`` for each step a reader can take, to
    each child ``worth`` taking."""
    if isinstance(obj, (torch.Tensor, *_OPAQUE)):
        return
    if isinstance(obj, torch.nn.Module):
        for store in ("_parameters", "_buffers", "_modules"):
            for name, child in getattr(obj, store, {}).items():
                if child is not None and worth(child):
                    yield child, f".{name}", not name.isdigit()
        yield from _attributes(obj, worth)
    elif isinstance(obj, (list, tuple)):
        if len(obj) <= _MAX_ITEMS:
            for i, child in enumerate(obj):
                if worth(child):
                    yield child, f"[{i}]", False
    elif isinstance(obj, dict):
        if len(obj) <= _MAX_ITEMS:
            for k, child in list(obj.items()):
                if not worth(child):
                    continue
                if isinstance(k, str):
                    yield child, f'["{k}"]' if k.isprintable() and '"' not in k and "\\" not in k \
                        else f"[{k!r}]", True
                elif isinstance(k, int) and not isinstance(k, bool):
                    yield child, f"[{k}]", False
    elif isinstance(obj, types.SimpleNamespace) or user_class(type(obj)):
        yield from _attributes(obj, worth)


def _attributes(obj: object, worth: Callable[[object], bool]
                ) -> Iterator[tuple[object, str, bool]]:
    data = getattr(obj, "__dict__", None)
    if isinstance(data, dict):
        for name, child in list(data.items()):
            if isinstance(name, str) and not name.startswith("_") and worth(child):
                yield child, f".{name}", True
