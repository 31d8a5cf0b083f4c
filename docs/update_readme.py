"""Regenerate the README's example-output block by running the command named in its marker."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PATTERN = re.compile(r"(<!-- example-output: python (.*?) -->\n```text\n)(.*?)(\n```)", re.S)


def main() -> None:
    readme = ROOT / "README.md"

    def run(match: re.Match[str]) -> str:
        out = subprocess.run([sys.executable, *match.group(2).split()], cwd=ROOT, check=True,
                             capture_output=True, text=True, env={"PATH": "", "COLUMNS": "100"})
        return match.group(1) + out.stdout.rstrip("\n") + match.group(4)

    readme.write_text(PATTERN.sub(run, readme.read_text()))


if __name__ == "__main__":
    main()
