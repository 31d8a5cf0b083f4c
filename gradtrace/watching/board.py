"""TensorBoard: a scalar per tensor and statistic, and histograms, at each sample."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from gradtrace.watching.stats import COLUMNS

if TYPE_CHECKING:
    from gradtrace.watching.watcher import Watch

__all__ = ["Board"]


class Board:
    """Writes a watch's samples to TensorBoard.

    Args:
        target: a log folder, or a ``torch.utils.tensorboard.SummaryWriter`` (or anything
            with its ``add_scalar``, ``add_histogram_raw`` and ``flush``).
    """

    def __init__(self, target: Any) -> None:
        if hasattr(target, "add_scalar"):
            self.writer = target
            return
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError as e:
            raise ImportError("gradtrace.watch: tensorboard= needs the tensorboard package: "
                              "pip install 'gradtrace[watch]' (or pip install tensorboard)"
                              ) from e
        self.writer = SummaryWriter(str(target))

    def write(self, w: Watch, iteration: int) -> None:
        """The rows and histograms of the sample at ``iteration``."""
        h = w.stats
        rows = np.nonzero(h.iteration[: h.size] == iteration)[0]
        for r in rows:
            name = h.names[h.name[r]]
            for column, value in zip(COLUMNS, h.values[r]):
                if column != "loss" and not math.isnan(value):
                    self.writer.add_scalar(f"{name}/{column}", value, iteration)
        _, loss = h.sample_column("loss")
        if loss.size and not math.isnan(loss[-1]):
            self.writer.add_scalar("loss", loss[-1], iteration)
        for name, (counts, low, high, scaled, mean, std) in h.histograms.items():
            edges = np.linspace(low, high, len(counts) + 1)
            if scaled:
                edges = mean + edges * std
            c = np.asarray(counts)
            centres = (edges[:-1] + edges[1:]) / 2
            if c.sum() == 0 or not np.all(np.isfinite(edges)):
                continue
            self.writer.add_histogram_raw(
                f"{name}/{'grad' if h.kind_of.get(name) == 'parameter' else 'value'}",
                min=float(edges[0]), max=float(edges[-1]), num=int(c.sum()),
                sum=float((c * centres).sum()), sum_squares=float((c * centres**2).sum()),
                bucket_limits=edges[1:].tolist(), bucket_counts=c.tolist(), global_step=iteration)

    def flush(self) -> None:
        self.writer.flush()
