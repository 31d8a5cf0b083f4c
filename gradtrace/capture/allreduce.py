"""DDP's gradient all-reduce, seen through a communication hook that wraps the default one.

# NOTE [observing the all-reduce]
# ``DistributedDataParallel`` sums each bucket of gradients across ranks in its ``Reducer``,
# outside autograd, so no node hook sees it. Its one public window is a communication hook
# (``ddp.register_comm_hook(state, hook)``), which may be registered once per module, before
# the backward pass that should use it. Before the first backward of a traced pass, every DDP
# module seen in the trace that has no hook yet gets :func:`_observed`, which calls
# ``default_hooks.allreduce_hook`` (torch documents it as giving the same results as no hook:
# it divides the bucket by the world size and sums it across ranks, as the Reducer's built-in
# path does while copying into the bucket) and records the bucket's gradients before (the
# local ones, copied at once: the hook divides them in place) and the future's result after
# (the synchronised ones). The result is copied in the future's callback, which may run in the
# backend's thread; rows are added to the backward records when the pass ends, at the place
# where each completed. A module that already has a hook (the user's, a built-in, mixed
# precision) is left alone: there is no public way to wrap it; :data:`UNOBSERVED` says so.
# The hook stays registered after the trace (DDP cannot remove one) and then only calls
# ``allreduce_hook``. Nothing here holds a ``GradBucket`` or a future after the hook returns:
# buckets kept past ``destroy_process_group`` made gloo processes abort at exit
# ("terminate called without an active exception", 1 run in 3 on torch 2.13).
"""

from __future__ import annotations

import sys
import threading
import weakref
from typing import TYPE_CHECKING, Any, NamedTuple

import torch

if TYPE_CHECKING:
    from gradtrace.capture.backward import BackwardRecorder

__all__ = ["AllReduceRecorder", "Bucket", "UNOBSERVED", "distributed_place"]

UNOBSERVED = ("it already has a communication hook, which gradtrace cannot wrap: the local "
              "gradients are in the AccumulateGrad rows, the synchronised ones in .grad")


class Bucket(NamedTuple):
    """One bucket's all-reduce: its parameters, their local and synchronised gradient copies,
    and how many backward steps were recorded when it completed."""

    number: int
    params: list[weakref.ref[torch.Tensor]]
    local: list[torch.Tensor]
    synced: list[torch.Tensor]
    position: int


class _State:
    """The hook's state: the process group and the recorder observing it now, if any."""

    def __init__(self, group: Any) -> None:
        self.group = group
        self.recorder: weakref.ref[AllReduceRecorder] | None = None


def _observed(state: _State, bucket: Any) -> Any:
    from torch.distributed.algorithms.ddp_comm_hooks import default_hooks

    recorder = state.recorder() if state.recorder is not None else None
    if recorder is None:
        return default_hooks.allreduce_hook(state.group, bucket)
    with torch._C.DisableTorchFunction():
        number = bucket.index()
        params = [weakref.ref(p) for p in bucket.parameters()]
        local = [g.detach().clone() for g in bucket.gradients()]
        shapes = [g.shape for g in local]
        future = default_hooks.allreduce_hook(state.group, bucket)

    def done(fut: Any) -> torch.Tensor:
        result: torch.Tensor = fut.value()
        with torch._C.DisableTorchFunction():
            flat, synced, at = result.detach().reshape(-1), [], 0
            for shape in shapes:
                n = shape.numel()
                synced.append(flat[at:at + n].clone().view(shape))
                at += n
            recorder.completed(Bucket(number, params, local, synced, 0))
        return result

    return future.then(done)


# DDP checks a hook's annotations against the classes themselves; these are strings here
_observed.__annotations__ = {}


class AllReduceRecorder:
    """Registers :func:`_observed` on the DDP modules of one trace and collects their buckets."""

    def __init__(self, backward: BackwardRecorder) -> None:
        self.backward = backward
        self.buckets: list[Bucket] = []  # completed, in order, with their positions
        self.unobserved: list[str] = []  # class names of modules whose hook is not ours
        self._lock = threading.Lock()
        self._modules: list[weakref.ref[torch.nn.Module]] = []
        self._states: list[_State] = []

    def saw(self, module: torch.nn.Module) -> None:
        """A module's forward ran: keep it if it is a ``DistributedDataParallel``."""
        ddp = sys.modules.get("torch.nn.parallel.distributed")
        if ddp is not None and isinstance(module, ddp.DistributedDataParallel) \
                and all(r() is not module for r in self._modules):
            self._modules.append(weakref.ref(module))

    def prepare(self) -> None:
        """A backward pass begins: observe every DDP module seen (see NOTE)."""
        for ref in self._modules:
            module: Any = ref()
            if module is None:
                continue
            state = getattr(module, "_gradtrace_all_reduce", None)
            if state is None:
                hooks = getattr(module, "_comm_hooks", None)
                if hooks or getattr(module, "reducer", None) is None:
                    self._unobserved(module)
                    continue
                state = _State(module.process_group)
                try:
                    module.register_comm_hook(state, _observed)
                except (RuntimeError, ValueError, TypeError):  # a built-in hook, say
                    self._unobserved(module)
                    continue
                module._gradtrace_all_reduce = state
            if state not in self._states:
                state.recorder = weakref.ref(self)
                self._states.append(state)

    def _unobserved(self, module: torch.nn.Module) -> None:
        name = type(module).__name__
        if name not in self.unobserved:
            self.unobserved.append(name)

    def completed(self, bucket: Bucket) -> None:
        """A bucket's all-reduce finished (maybe in the backend's thread)."""
        with self._lock:
            self.buckets.append(bucket._replace(position=len(self.backward.steps)))

    def take(self) -> list[Bucket]:
        """The buckets completed since the last call, in completion order."""
        with self._lock:
            out, self.buckets = self.buckets, []
        return out

    def close(self) -> None:
        """Stop recording: the hooks stay (DDP cannot remove them) and only all-reduce."""
        for state in self._states:
            state.recorder = None
        self._states = []


def distributed_place() -> tuple[int, int] | None:
    """``(rank, world_size)`` under an initialised ``torch.distributed``, else None."""
    dist = sys.modules.get("torch.distributed")
    if dist is None or not dist.is_available() or not dist.is_initialized():
        return None
    return dist.get_rank(), dist.get_world_size()
