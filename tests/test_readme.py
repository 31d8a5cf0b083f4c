"""The README's example output is what the command really prints."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_readme_example_output_is_current() -> None:
    text = (ROOT / "README.md").read_text()
    block = re.search(r"<!-- example-output: python (.*?) -->\n```text\n(.*?)\n```", text, re.S)
    assert block is not None
    args = block.group(1).split()
    run = subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True,
                         check=True, env={"PATH": "", "COLUMNS": "100"})
    assert run.stdout.rstrip("\n") == block.group(2)


def test_readme_gives_the_ci_test_command() -> None:
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "python -m pytest -q" in readme
    assert "python -m pytest -q" in [line.strip() for line in ci.splitlines()]
    for environment in ("readme", "floor", "newest"):  # each runs it
        assert f"\nsuite {environment} " in ci
