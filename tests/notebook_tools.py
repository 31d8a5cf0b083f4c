"""Run the example notebook in a real kernel, export it, and look at it in headless Chromium.

Shared by tests/test_notebook.py and tests/test_jupyterlab.py. The kernel is this interpreter
(``sys.executable``, through a kernelspec written to a temporary folder, so a ``python3``
kernelspec installed elsewhere cannot pick another Python) and imports the gradtrace that these
tests import; it starts in a temporary folder, where no ``gradtrace`` folder can shadow it.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import gradtrace

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "examples" / "lab2_autograd.ipynb"
PACKAGE_ROOT = Path(gradtrace.__file__).resolve().parent.parent
KERNEL = "gradtrace-test"

__all__ = ["execute", "export_html", "chromium", "browse", "jupyterlab", "write_kernelspec",
           "NOTEBOOK"]


def write_kernelspec(folder: Path) -> dict[str, str]:
    """Write the kernelspec ``KERNEL`` (this interpreter, this gradtrace) to
    ``folder/kernels``; returns the ``kernelspec`` a notebook's metadata names it by."""
    spec_dir = folder / "kernels" / KERNEL
    spec_dir.mkdir(parents=True, exist_ok=True)
    path = os.pathsep.join(p for p in (str(PACKAGE_ROOT), os.environ.get("PYTHONPATH")) if p)
    (spec_dir / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "gradtrace tests", "language": "python",
        "env": {"PYTHONPATH": path, "COLUMNS": "100"},
    }))
    return {"name": KERNEL, "display_name": "gradtrace tests", "language": "python"}


def _kernel_manager(folder: Path) -> Any:
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import KernelManager

    write_kernelspec(folder)
    specs = KernelSpecManager(kernel_dirs=[str(folder / "kernels")])
    return KernelManager(kernel_name=KERNEL, kernel_spec_manager=specs)


def execute(folder: Path, notebook: Path = NOTEBOOK, *, then: Sequence[str] = (),
            timeout: int = 300) -> tuple[Any, list[tuple[Any, Exception | None]]]:
    """Copy ``notebook`` into ``folder`` and run every cell there in one kernel, then the cells
    ``then`` in the same kernel. Returns the executed notebook and each extra cell with the
    error its execution raised (``CellExecutionError`` when the kernel replied with an error:
    what stops "Run All")."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    copy = folder / notebook.name
    shutil.copy(notebook, copy)
    nb = nbformat.read(copy, as_version=4)
    client = NotebookClient(nb, km=_kernel_manager(folder), timeout=timeout,
                            resources={"metadata": {"path": str(folder)}})
    extra: list[tuple[Any, Exception | None]] = []
    with client.setup_kernel(cleanup_kc=True):  # nbclient did not make the kernel: shut it down
        info = client.wait_for_reply(client.kc.kernel_info())  # as NotebookClient.execute does
        nb.metadata["language_info"] = info["content"]["language_info"]
        for index, cell in enumerate(nb.cells):
            client.execute_cell(cell, index)
        count = len(nb.cells)
        for index, source in enumerate(then, count):
            cell, error = nbformat.v4.new_code_cell(source), None
            nb.cells.append(cell)
            try:
                client.execute_cell(cell, index)
            except CellExecutionError as exc:
                error = exc
            extra.append((cell, error))
        del nb.cells[count:]
    nbformat.write(nb, copy)
    return nb, extra


def export_html(nb: Any, path: Path) -> Path:
    """Export ``nb`` as nbconvert's standard (lab) HTML page at ``path``."""
    from nbconvert import HTMLExporter

    body, _ = HTMLExporter(template_name="lab").from_notebook_node(nb)
    path.write_text(body, encoding="utf-8")
    return path


def chromium() -> str | None:
    """The headless Chromium binary, or None."""
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


def browse(url: str, *extra: str, timeout: int = 120) -> str:
    """Load ``url`` in headless Chromium with a fresh profile and no network services; returns
    stdout (the DOM with ``--dump-dom``)."""
    binary = chromium()
    if binary is None:
        raise RuntimeError("chromium is not installed")
    with tempfile.TemporaryDirectory() as profile:
        done = subprocess.run(
            [binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
             "--no-first-run", "--disable-background-networking", "--disable-component-update",
             "--disable-sync", "--hide-scrollbars", f"--user-data-dir={profile}", *extra, url],
            capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"chromium failed ({done.returncode}): {done.stderr[-2000:]}")
    return done.stdout


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def jupyterlab(base: Path, cells: Mapping[str, str]) -> Iterator[dict[str, Any]]:
    """Run ``cells`` (id → source) in a notebook in ``base/run``, save it signed
    (``trusted.ipynb``) and unsigned (``untrusted.ipynb``), and serve both with JupyterLab on a
    localhost port: yields its ``url``, ``token``, ``settings`` folder, the ``run`` folder
    (the kernel's working folder, where the cells' files are), the ``root`` folder it serves
    and its ``data`` folder (JUPYTER_DATA_DIR: :func:`write_kernelspec` there gives the lab a
    kernel)."""
    import nbformat
    import pytest
    from nbformat.sign import NotebookNotary

    if chromium() is None:
        pytest.skip("chromium is not installed (.ci/run installs Debian's chromium with apt)")
    pytest.importorskip("jupyterlab", reason="jupyterlab is not installed (the dev extra)")
    pytest.importorskip("playwright.sync_api", reason="playwright is not installed (dev extra)")
    root, data, settings = base / "root", base / "data", base / "settings"
    for folder in (root, data, settings):
        folder.mkdir()
    made = base / "views.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell(source, id=cid) for cid, source in cells.items()]), made)
    (base / "run").mkdir()
    nb, _ = execute(base / "run", made)
    for name in ("trusted", "untrusted"):  # the notary trusts content: make the copies differ
        nb.metadata["title"] = name
        nbformat.write(nb, root / f"{name}.ipynb")
    NotebookNotary(data_dir=str(data)).sign(nbformat.read(root / "trusted.ipynb", as_version=4))
    port, token = _free_port(), "gradtrace-test"
    env = dict(os.environ, JUPYTER_DATA_DIR=str(data), JUPYTERLAB_SETTINGS_DIR=str(settings),
               JUPYTER_CONFIG_DIR=str(base / "config"), JUPYTER_RUNTIME_DIR=str(base / "runtime"))
    log = (base / "lab.log").open("w")
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root", "--ip=127.0.0.1",
         f"--port={port}", f"--ServerApp.root_dir={root}", f"--IdentityProvider.token={token}",
         "--LabApp.news_url=", "--ServerApp.open_browser=False"],
        env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}"
        for _ in range(240):
            try:
                urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=2)
                break
            except OSError:
                assert server.poll() is None, (base / "lab.log").read_text()[-2000:]
                time.sleep(0.25)
        yield {"url": url, "token": token, "settings": settings, "run": base / "run",
               "root": root, "data": data}
    finally:
        server.terminate()
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()
        shutil.rmtree(base / "runtime", ignore_errors=True)
