"""The statistics of every sampled iteration, in arrays of a fixed size.

# NOTE [a history that stays small]
# Rows (one per sampled iteration and tensor) go into arrays allocated once, ``capacity`` rows
# of 13 numbers. When they are full, every other sample is dropped, so the history always spans
# the whole run at an even spacing that doubles as it fills: memory stays fixed however long
# training lasts. The default, 2**15 rows (3.4 MB), holds 1,000 samples of a model with 32
# watched tensors before the first thinning. Histograms are kept for the latest sample only:
# the figure draws the distribution as training left it, as makemore part 3 does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from gradtrace.watching.stats import COLUMNS

if TYPE_CHECKING:
    import pandas

__all__ = ["History", "KINDS"]

KINDS = ("parameter", "activation")
_UPDATE = (COLUMNS.index("update_data_ratio"), COLUMNS.index("update_ratio"))


class History:
    """Rows of statistics, one per sampled iteration and tensor.

    Args:
        capacity: the most rows held; when full, every other sample is dropped.

    Example:
        >>> h = History(capacity=4)
        >>> h.add(0, ["w"], ["parameter"], [[0.0, 1.0] + [float("nan")] * 8])
        >>> h.frame()[["iteration", "name", "std"]].values.tolist()
        [[0, 'w', 1.0]]
    """

    def __init__(self, capacity: int = 1 << 15) -> None:
        self.capacity = capacity
        self.iteration = np.zeros(capacity, dtype=np.int64)
        self.name = np.zeros(capacity, dtype=np.int32)
        self.kind = np.zeros(capacity, dtype=np.int8)
        self.values = np.full((capacity, len(COLUMNS)), np.nan)
        self.size = 0
        self.names: list[str] = []
        self._name_ids: dict[str, int] = {}
        #: the histograms of the latest sample: name -> (counts, low, high, scaled, mean, std)
        self.histograms: dict[str, tuple[list[float], float, float, bool, float, float]] = {}
        self.kind_of: dict[str, str] = {}  # each tensor's kind
        self.ndims: dict[str, int] = {}  # each tensor's number of dimensions
        self.ops: dict[str, str | None] = {}  # the activation op of each activation's name
        # one entry per sample: its iteration, loss and the parameters' gradient norm
        self.sample_iteration = np.zeros(capacity, dtype=np.int64)
        self.sample_values = np.full((capacity, 2), np.nan)
        self.samples = 0

    def add_sample(self, iteration: int, loss: float, grad_norm: float) -> None:
        """The loss and gradient norm of one sampled iteration."""
        if self.samples == self.capacity:
            self._thin(0)
        self.sample_iteration[self.samples] = iteration
        self.sample_values[self.samples] = (loss, grad_norm)
        self.samples += 1

    def sample_column(self, column: str) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
        """(iterations, values) of ``"loss"`` or ``"grad_norm"`` over the samples held."""
        n = self.samples
        at = ("loss", "grad_norm").index(column)
        return self.sample_iteration[:n], self.sample_values[:n, at]

    def add(self, iteration: int, names: list[str], kinds: list[str],
            rows: list[list[float]]) -> None:
        """The rows of one sample (each row in the order of ``stats.COLUMNS``)."""
        if self.size + len(names) > self.capacity:
            self._thin(len(names))
        n = min(len(names), self.capacity - self.size)
        at = slice(self.size, self.size + n)
        self.iteration[at] = iteration
        self.name[at] = [self._id(name) for name in names[:n]]
        self.kind[at] = [KINDS.index(k) for k in kinds[:n]]
        self.values[at] = np.asarray(rows[:n], dtype=np.float64).reshape(n, len(COLUMNS))
        self.size += n

    def set_updates(self, iteration: int, updates: dict[str, tuple[float, float]]) -> None:
        """Fill in ``update_data_ratio`` and ``update_ratio`` once the update has happened."""
        rows = np.nonzero(self.iteration[: self.size] == iteration)[0]
        for r in rows:
            found = updates.get(self.names[self.name[r]])
            if found is not None:
                self.values[r, list(_UPDATE)] = found

    def _id(self, name: str) -> int:
        found = self._name_ids.get(name)
        if found is None:
            found = self._name_ids[name] = len(self.names)
            self.names.append(name)
        return found

    def drop_after(self, iteration: int) -> int:
        """Forget the samples after ``iteration``; returns how many there were.

        Example:
            >>> h = History()
            >>> for it in (0, 1, 2):
            ...     h.add_sample(it, 1.0, 1.0)
            ...     h.add(it, ["w"], ["parameter"], [[float(it)] + [0.0] * 9])
            >>> h.drop_after(0), h.iterations().tolist(), h.samples
            (2, [0], 1)
        """
        dropped = int((self.sample_iteration[: self.samples] > iteration).sum())
        self._keep(self.iteration[: self.size] <= iteration,
                   self.sample_iteration[: self.samples] <= iteration)
        return dropped

    def _thin(self, need: int) -> None:
        samples = np.unique(self.sample_iteration[: self.samples])
        kept = samples[::2]
        keep = np.isin(self.iteration[: self.size], kept)
        if samples.size < 2 or keep.sum() + need > self.capacity:  # one sample fills it
            keep[:] = False
        self._keep(keep, np.isin(self.sample_iteration[: self.samples], kept))

    def _keep(self, rows: np.ndarray[Any, Any], samples: np.ndarray[Any, Any]) -> None:
        """Keep the rows and the samples where the masks are true, in order."""
        n = int(rows.sum())
        for array in (self.iteration, self.name, self.kind, self.values):
            array[:n] = array[: self.size][rows]
        self.values[n:] = np.nan
        self.size = n
        n = int(samples.sum())
        for array in (self.sample_iteration, self.sample_values):
            array[:n] = array[: self.samples][samples]
        self.samples = n

    def iterations(self) -> np.ndarray[Any, Any]:
        """The sampled iterations held, in order."""
        return np.unique(self.iteration[: self.size])

    def column(self, name: str, column: str) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
        """(iterations, values) of one tensor's statistic over the samples held."""
        at = self._name_ids.get(name)
        rows: Any = np.nonzero(self.name[: self.size] == at)[0] if at is not None else []
        return self.iteration[rows], self.values[rows, COLUMNS.index(column)]

    def frame(self) -> pandas.DataFrame:
        """The rows as a DataFrame: ``iteration``, ``name``, ``kind`` and the statistics."""
        import pandas

        n = self.size
        data: dict[str, Any] = {
            "iteration": self.iteration[:n].copy(),
            "name": [self.names[i] for i in self.name[:n]],
            "kind": [KINDS[k] for k in self.kind[:n]],
        }
        for i, column in enumerate(COLUMNS):
            data[column] = self.values[:n, i].copy()
        return pandas.DataFrame(data)
