"""``gradtrace.watch``: per-layer health over training, one traced iteration in ``every``.

Data flows as in the rest of gradtrace: :mod:`~gradtrace.watch.boundaries`,
:mod:`~gradtrace.watch.probe` and :mod:`~gradtrace.watch.stats` touch live tensors;
:mod:`~gradtrace.watch.history` holds plain numbers; :mod:`~gradtrace.watch.rules`,
:mod:`~gradtrace.watch.figure`, :mod:`~gradtrace.watch.board` and :mod:`~gradtrace.watch.live`
read them; :mod:`~gradtrace.watch.watcher` ties them to a training loop.
"""

from __future__ import annotations

from gradtrace.watch.watcher import Watch, watch

__all__ = ["watch", "Watch"]
