"""Which source files are the user's own code: where variable names are read from.

The traced files (the cell, the script, the decorated function's file) are always the user's.
So are the session's other notebook cells, and files of the user's project: under the traced
files' folders or the working folder, but never an installed package (``site-packages``), the
standard library, torch or gradtrace itself. Names are read there, so ``xmean`` inside a
``BatchNorm1d`` class defined in an earlier cell names its tensor; lines and sources shown in the
tables stay those of the traced files.
"""

from __future__ import annotations

import contextlib
import functools
import os
import sys
import sysconfig
from collections.abc import Iterable

import torch

__all__ = ["UserCode"]

_GRADTRACE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_PACKAGES = ("site-packages", "dist-packages")


@functools.lru_cache(maxsize=1)
def _installed() -> tuple[str, ...]:
    """Folders whose files are never the user's: Python's own and the packages installed
    (worked out once: ``sysconfig`` takes 1.6 ms, as much as tracing a small cell)."""
    found = {sys.prefix, sys.base_prefix, sys.exec_prefix, _GRADTRACE,
             os.path.dirname(os.path.abspath(torch.__file__))}
    paths = sysconfig.get_paths()
    for key in ("stdlib", "platstdlib", "purelib", "platlib"):
        path = paths.get(key)
        if path:
            found.add(path)
    return tuple(os.path.abspath(p) + os.sep for p in found if p)


_ANSWERS: dict[tuple[tuple[str, ...], str], bool] = {}
_ANSWERS_KEPT = 4096  # (project folders, file) answers remembered; cleared when full


class UserCode:
    """Decides whether a code object's file is the user's.

    Args:
        files: the traced files.
        cells: other in-memory sources of the user's (a notebook's earlier cells).
        folders: the user's project folders; files under them count, except installed ones.

    Example:
        >>> import os
        >>> user = UserCode(["/p/train.py"], folders=["/p"])
        >>> user("/p/train.py"), user("/p/models/net.py"), user(os.__file__)
        (True, True, False)
    """

    def __init__(self, files: Iterable[str], cells: Iterable[str] = (),
                 folders: Iterable[str] = ()) -> None:
        self.files = frozenset(files)
        self._cells = frozenset(cells)
        self._folders = tuple(
            os.path.abspath(f) + os.sep for f in folders
            if f and os.path.dirname(os.path.abspath(f)) != os.path.abspath(f))  # never "/"
        self._installed = _installed()
        #: everything the answers depend on: traces with the same key share what was worked out
        self.key = (self.files, self._cells, self._folders)

    @classmethod
    def around(cls, files: Iterable[str], cells: Iterable[str] = ()) -> UserCode:
        """The user's code for traced ``files``: their folders and the working folder."""
        files = list(files)
        folders = [os.path.dirname(os.path.abspath(f)) for f in files if os.path.isfile(f)]
        with contextlib.suppress(OSError):  # the working folder may have been deleted
            folders.append(os.getcwd())
        return cls(files, cells, folders)

    def __call__(self, filename: str) -> bool:
        if filename in self.files or filename in self._cells:
            return True
        if not self._folders or filename.startswith("<"):
            return False
        if not os.path.isabs(filename):
            return self._in_project(filename)  # relative: the answer depends on the folder
        # each trace asks again for the same library files (a dozen per step): the answers
        # are remembered for the process, by file name only (no code object is held)
        key = (self._folders, filename)
        known = _ANSWERS.get(key)
        if known is None:
            if len(_ANSWERS) >= _ANSWERS_KEPT:
                _ANSWERS.clear()
            known = _ANSWERS[key] = self._in_project(filename)
        return known

    def _in_project(self, filename: str) -> bool:
        path = os.path.abspath(filename)
        if not path.startswith(self._folders) or path.startswith(self._installed):
            return False
        parts = path.split(os.sep)
        return not any(p in _PACKAGES for p in parts)
