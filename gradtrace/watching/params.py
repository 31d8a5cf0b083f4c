"""Which parameters a watch follows, and a name for each until a trace gives a better one."""

from __future__ import annotations

from typing import Any

import torch

__all__ = ["watched", "leaves_of"]


def watched(target: Any) -> tuple[list[tuple[str, torch.Tensor]] | None, dict[int, str]]:
    """The parameters of ``target`` (a module, a list of tensors, optimizer parameter groups or
    a dict of tensors) with fallback names, and the path of each module by ``id``."""
    if target is None:
        return None, {}
    if isinstance(target, torch.nn.Module):
        params: list[tuple[str, torch.Tensor]] = [
            (name, p) for name, p in target.named_parameters() if p.requires_grad]
        return params, {id(m): name or type(m).__name__ for name, m in target.named_modules()}
    if isinstance(target, torch.Tensor):
        return [("tensor", target)], {}
    if isinstance(target, dict):
        return [(str(k), v) for k, v in target.items() if isinstance(v, torch.Tensor)], {}
    found: list[tuple[str, torch.Tensor]] = []
    seen: set[int] = set()
    for i, item in enumerate(target):
        group = item.get("params", []) if isinstance(item, dict) else [item]
        for p in group:
            if isinstance(p, torch.Tensor) and id(p) not in seen:
                seen.add(id(p))
                found.append((f"parameters[{i}]" if len(group) == 1 else f"params[{len(found)}]",
                              p))
            elif not isinstance(p, torch.Tensor):
                raise TypeError(f"gradtrace.watch: expected a module or tensors, got {p!r}")
    return found, {}


def leaves_of(tensors: Any) -> list[tuple[str, torch.Tensor]]:
    """The leaves a backward pass from ``tensors`` accumulates into (walked once, for a watch
    given no parameters)."""
    roots = list(tensors) if isinstance(tensors, (list, tuple)) else [tensors]
    stack: list[Any] = [t.grad_fn for t in roots
                        if isinstance(t, torch.Tensor) and t.grad_fn is not None]
    seen: set[Any] = set()
    found: list[tuple[str, torch.Tensor]] = []
    while stack:
        node = stack.pop()
        if node is None or node in seen:
            continue
        seen.add(node)
        leaf = getattr(node, "variable", None)
        if isinstance(leaf, torch.Tensor):
            found.append((f"params[{len(found)}]", leaf))
        stack.extend(n for n, _ in node.next_functions if n is not None)
    return found
