"""Make docs/ranks.png: the cross-rank view of examples/12_ddp.py --bug on 2 ranks, in Chromium."""

# Usage: python docs/make_ranks_picture.py   (needs the `chromium` package)
# Runs `torchrun --standalone --nproc_per_node 2 -m gradtrace --save DIR examples/12_ddp.py --bug`
# (gloo on this machine), writes gradtrace.compare_ranks(DIR) as a page and shoots it.

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "ranks.png"
sys.path[:0] = [str(ROOT / "tests"), str(ROOT)]

from notebook_tools import browse  # noqa: E402

import gradtrace  # noqa: E402


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        saved = Path(tmp) / "ddp"
        subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone",
                        "--nproc_per_node", "2", "-m", "gradtrace", "--save", str(saved),
                        "examples/12_ddp.py", "--bug"], cwd=ROOT, check=True, timeout=300,
                       env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True)
        page = Path(tmp) / "ranks.html"
        page.write_text("<!doctype html><meta charset=utf-8><body style='font-family:sans-serif;"
                        f"font-size:14px'>{gradtrace.compare_ranks(saved).to_html()}",
                        encoding="utf-8")
        browse(page.as_uri(), "--window-size=1000,380", f"--screenshot={OUT}")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
