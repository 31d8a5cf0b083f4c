"""``gradtrace.watch``: per-layer health over training, one traced iteration in ``every``.

Data flows as in the rest of gradtrace: :mod:`~gradtrace.watching.boundaries`,
:mod:`~gradtrace.watching.probe` and :mod:`~gradtrace.watching.stats` touch live tensors;
:mod:`~gradtrace.watching.history` holds plain numbers;
:mod:`~gradtrace.watching.rules`, :mod:`~gradtrace.watching.figure`,
:mod:`~gradtrace.watching.board` and :mod:`~gradtrace.watching.live` read them;
:mod:`~gradtrace.watching.watcher` ties them to a training loop.
"""

from __future__ import annotations

from gradtrace.watching.watcher import Watch, watch

__all__ = ["watch", "Watch"]
