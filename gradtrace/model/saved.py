"""A Trace in a file: ``.gtrace``, a short header and a pickle of the Trace.

Example:
    >>> import os, tempfile
    >>> from gradtrace.model.trace import Trace
    >>> path = dump(Trace(rank=1, world_size=2), os.path.join(tempfile.mkdtemp(), "t.gtrace"))
    >>> load(path).rank
    1
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gradtrace.model.trace import Trace

__all__ = ["dump", "load", "HEADER"]

#: The first bytes of a ``.gtrace`` file: the format's name and version.
HEADER = b"gradtrace-trace 1\n"


def dump(trace: Trace, path: str | os.PathLike[str]) -> Path:
    """Write ``trace`` to ``path`` (written whole to a temporary name first, then renamed, so a
    reader waiting for the file never sees half of it). Returns the path."""
    out = Path(path)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as f:
        f.write(HEADER)
        pickle.dump(trace, f, protocol=pickle.HIGHEST_PROTOCOL)
    os.replace(tmp, out)
    return out


def load(path: str | os.PathLike[str]) -> Trace:
    """The Trace saved at ``path`` by ``trace.save("....gtrace")``.

    Only load files you trust: like any pickle, a ``.gtrace`` file can run code when loaded.

    Raises:
        ValueError: the file is not a ``.gtrace`` file, or one of a newer format.
    """
    with open(path, "rb") as f:
        head = f.readline()
        if not head.startswith(b"gradtrace-trace "):
            raise ValueError(f"gradtrace: {os.fspath(path)!r} is not a .gtrace file (it does not "
                             "start with 'gradtrace-trace'); save one with trace.save('x.gtrace')")
        if head != HEADER:
            raise ValueError(f"gradtrace: {os.fspath(path)!r} is a .gtrace file of format "
                             f"{head.decode(errors='replace').split()[-1]!r}; this gradtrace reads "
                             f"format {HEADER.decode().split()[-1]!r}")
        trace: Trace = pickle.load(f)
    return trace
