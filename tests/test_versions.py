"""The torch versions gradtrace declares: an older torch stops ``import gradtrace`` (and
``%load_ext gradtrace``) with one line naming both versions."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import gradtrace

PACKAGE_ROOT = Path(gradtrace.__file__).resolve().parent.parent


def run_with_torch(tmp_path: Path, version: str, code: str) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh interpreter whose ``torch`` is a stand-in of ``version``."""
    (tmp_path / "torch").mkdir()
    (tmp_path / "torch" / "__init__.py").write_text(f"__version__ = {version!r}\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(PACKAGE_ROOT)])}
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, env=env, cwd=tmp_path, timeout=120)


@pytest.mark.parametrize("version", ["2.3.1+cu121", "2.1.2", "1.13.0"])
def test_an_older_torch_stops_the_import_with_one_clear_line(tmp_path: Path,
                                                             version: str) -> None:
    done = run_with_torch(tmp_path, version, "import gradtrace")
    assert done.returncode == 1
    last = done.stderr.strip().splitlines()[-1]
    assert last == (f"ImportError: gradtrace needs torch >= 2.4, but torch {version} is "
                    "installed: upgrade it (pip install 'torch>=2.4')")


def test_load_ext_stops_with_the_same_line(tmp_path: Path) -> None:
    done = run_with_torch(tmp_path, "2.2.2", """
        from IPython.testing.globalipapp import start_ipython
        ip = start_ipython()
        try:
            ip.run_line_magic("load_ext", "gradtrace")
        except ImportError as e:
            print("stopped:", e)
        """)
    assert "stopped: gradtrace needs torch >= 2.4, but torch 2.2.2 is installed" in done.stdout


def test_the_floor_is_the_one_the_package_declares() -> None:
    pyproject = (PACKAGE_ROOT / "pyproject.toml").read_text()
    need = ".".join(map(str, gradtrace.MIN_TORCH))
    assert f'"torch>={need}"' in pyproject
    readme = (PACKAGE_ROOT / "README.md").read_text()
    assert f"torch {need}" in readme
