"""Which ``nn.Module`` an op ran in, and module-path names for modules, parameters and buffers.

The global forward hooks in :mod:`gradtrace.capture.process` call :meth:`ModuleTracker.enter` and
:meth:`ModuleTracker.exit`. A module first seen at the top of the stack is a root: it is named
after the user's variable that holds it (``model``), and every submodule, parameter and buffer
under it gets a dotted path (``model.fc1``, ``model.fc1.weight``), never a number.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

__all__ = ["ModuleTracker"]


class ModuleTracker:
    """The stack of modules running now, and the names of everything under the roots seen."""

    def __init__(self, unnamed_rank: int) -> None:
        self.unnamed_rank = unnamed_rank
        self._stack: list[str] = []
        self._paths: dict[int, str] = {}
        self._tensors: dict[int, tuple[str, str, int]] = {}  # id -> (origin, name, its rank)
        self._roots: dict[int, str] = {}
        self._root_modules: dict[int, torch.nn.Module] = {}

    @property
    def current(self) -> str | None:
        """The path of the innermost module running now."""
        return self._stack[-1] if self._stack else None

    def enter(self, module: torch.nn.Module,
              name_of: Callable[[torch.nn.Module], tuple[str, int] | None]
              ) -> list[tuple[str, str, torch.Tensor]]:
        """A module's forward starts; returns ``(origin, name, tensor)`` for newly named tensors.

        ``name_of`` gives the variable that holds a root module and how good a name it is (see
        NOTE [which name] in the recorder); a root held by no variable is named after its class,
        as poorly as a loop's variable, so that a path found later can replace it.
        """
        path = self._paths.get(id(module))
        found: list[tuple[str, str, torch.Tensor]] = []
        if path is None:
            path, rank = name_of(module) or (type(module).__name__, self.unnamed_rank)
            found = self._name_tree(module, path, rank)
            self._roots[id(module)] = path
            self._root_modules[id(module)] = module
        self._stack.append(path)
        return found

    def exit(self, module: torch.nn.Module) -> str | None:
        """A module's forward ended (or raised); returns its path."""
        path = self._paths.get(id(module))
        while self._stack:  # pop through modules whose forward raised
            if self._stack.pop() == path:
                break
        return path

    def tensor_name(self, t: torch.Tensor) -> tuple[str, str, int] | None:
        """``("parameter" | "buffer", "model.fc1.weight", rank)`` for a tensor of a module seen."""
        return self._tensors.get(id(t))

    def named_tensors(self) -> list[tuple[str, str, torch.Tensor]]:
        """``(origin, name, tensor)`` for every parameter and buffer of the roots seen."""
        found: list[tuple[str, str, torch.Tensor]] = []
        for root_id, path in self._roots.items():
            root = self._root_modules[root_id]
            found += [("parameter", f"{path}.{n}", p) for n, p in root.named_parameters()]
            found += [("buffer", f"{path}.{n}", b) for n, b in root.named_buffers()]
        return found

    def _name_tree(self, root: torch.nn.Module, path: str, rank: int
                   ) -> list[tuple[str, str, torch.Tensor]]:
        for sub, m in root.named_modules(remove_duplicate=False):
            self._paths.setdefault(id(m), f"{path}.{sub}" if sub else path)
        named: list[tuple[str, str, torch.Tensor]] = [
            ("parameter", *p) for p in root.named_parameters(remove_duplicate=False)]
        named += [("buffer", *b) for b in root.named_buffers(remove_duplicate=False)]
        found: list[tuple[str, str, torch.Tensor]] = []
        for origin, sub, t in named:
            if id(t) not in self._tensors:
                self._tensors[id(t)] = (origin, f"{path}.{sub}", rank)
                found.append((origin, f"{path}.{sub}", t))
        return found
