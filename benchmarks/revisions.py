"""gradtrace as it was at another git revision, unpacked beside this checkout: what
``overhead.py --against`` and ``same_outputs.py --against`` compare with."""

from __future__ import annotations

import os
import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def unpack(rev: str, into: str) -> str:
    """Write the package ``gradtrace`` at ``rev`` under ``into``; returns its folder
    (``into/gradtrace``). Stops with the message git gives for a revision it cannot read."""
    archive = subprocess.run(["git", "archive", rev, "gradtrace"], capture_output=True, cwd=ROOT)
    if archive.returncode != 0:
        raise SystemExit(f"cannot read gradtrace at {rev!r}: {archive.stderr.decode()}")
    os.makedirs(into, exist_ok=True)
    subprocess.run(["tar", "-x", "-C", into], input=archive.stdout, check=True)
    return os.path.join(into, "gradtrace")
