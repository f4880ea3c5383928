"""Execute the notebooks once per test session; shared by test_notebooks and test_docs.

The kernels run with ``CI=true``: the notebooks' smaller settings, so the suite stays
fast; a reader running a notebook by hand gets the full settings.

Each notebook runs in a fresh kernel of this interpreter (nbclient), with the
notebooks folder as its working directory, and the executed copy is written to a
session temporary folder: test_notebooks checks the runs, test_docs builds the site
from the executed copies, so no notebook runs twice. The copies in git stay stripped.
"""

from __future__ import annotations

import atexit
import functools
import os
import shutil
import tempfile
from pathlib import Path

import nbformat
from jupyter_client.kernelspec import NATIVE_KERNEL_NAME
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK_DIR = ROOT / "notebooks"
NOTEBOOKS = sorted(path.name for path in NOTEBOOK_DIR.glob("*.ipynb"))
# Per cell. Generous: cold JAX compiles on a busy machine (a NUTS cell takes one to two minutes).
CELL_TIMEOUT = 600


@functools.cache
def output_dir() -> Path:
    parent = Path(tempfile.mkdtemp(prefix="ppl_gmm_"))
    atexit.register(shutil.rmtree, parent, ignore_errors=True)
    path = parent / "notebooks"  # the docs hook wants a folder of this name
    path.mkdir()
    return path


_FAILURES: dict[str, BaseException] = {}


@functools.cache
def _run(name: str) -> Path:
    notebook = nbformat.read(NOTEBOOK_DIR / name, as_version=4)
    client = NotebookClient(
        notebook,
        timeout=CELL_TIMEOUT,
        # The kernel of the interpreter running the tests (the project's venv).
        kernel_name=NATIVE_KERNEL_NAME,
        resources={"metadata": {"path": str(NOTEBOOK_DIR)}},
    )
    # The notebooks' CI mode (smaller settings), whatever the machine running the tests.
    client.execute(env={**os.environ, "CI": "true"})
    out = output_dir() / name
    nbformat.write(notebook, out)
    return out


def execute(name: str) -> Path:
    """Run notebook `name` top to bottom (once per session); the executed copy's path.

    Raises nbclient's CellExecutionError (with the failing cell and traceback) when a
    cell fails. A failure is remembered too, so a second caller gets the same error
    without running the notebook again.
    """
    if name in _FAILURES:
        raise _FAILURES[name]
    try:
        return _run(name)
    except Exception as error:
        _FAILURES[name] = error
        raise


def execute_all() -> Path:
    """Every notebook executed; the folder that holds the executed copies."""
    for name in NOTEBOOKS:
        execute(name)
    return output_dir()
