"""JAX's persistent compilation cache: on by default, left alone when the user configured
one, and off (nothing read or written) when ``PPL_GMM_COMPILATION_CACHE=0``.

Each check is a fresh Python process (the cache is configured at import and read at the
first compilation), fitting Old Faithful and reporting JAX's own cache events.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

PROBE = """
import collections, json
import jax.monitoring
events = collections.Counter()
jax.monitoring.register_event_listener(lambda name, **kwargs: events.update([name]))
import ppl_gmm as pg
from ppl_gmm.compilation_cache import cache_directory
pg.fit_em(pg.datasets.load_faithful(), 2, seed=0)
print(json.dumps({"directory": cache_directory(),
                  "hits": events["/jax/compilation_cache/cache_hits"],
                  "misses": events["/jax/compilation_cache/cache_misses"]}))
"""


def _fit_in_fresh_process(tmp_path: Path, **environment) -> dict:
    env = {key: value for key, value in os.environ.items()
           if key not in ("JAX_COMPILATION_CACHE_DIR", "PPL_GMM_COMPILATION_CACHE")}
    env["XDG_CACHE_HOME"] = str(tmp_path / "xdg")  # the "user cache directory"
    env.update(environment)
    run = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True,
                         text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads(run.stdout.strip().splitlines()[-1])


def _files(directory: Path) -> set:
    return {p.name for p in directory.rglob("*") if p.is_file()} if directory.exists() else set()


@pytest.mark.slow
def test_default_cache_is_written_once_and_read_by_the_next_process(tmp_path):
    default = tmp_path / "xdg" / "ppl_gmm" / "jax"
    first = _fit_in_fresh_process(tmp_path)
    assert first["directory"] == str(default)
    assert first["misses"] >= 1 and first["hits"] == 0
    written = _files(default)
    assert any(name.startswith("jit_fit_program") for name in written)
    second = _fit_in_fresh_process(tmp_path)
    assert second["hits"] >= 1 and second["misses"] == 0  # the fit program came from disk
    assert _files(default) == written


def test_turned_off_nothing_is_read_or_written(tmp_path):
    own = tmp_path / "own"
    off = _fit_in_fresh_process(tmp_path, PPL_GMM_COMPILATION_CACHE="off",
                                JAX_COMPILATION_CACHE_DIR=str(own))
    assert off["directory"] is None
    assert off["hits"] == off["misses"] == 0
    assert _files(tmp_path / "xdg") == set() and _files(own) == set()


@pytest.mark.slow
def test_a_cache_the_user_configured_is_left_alone(tmp_path):
    own = tmp_path / "own"
    # The user's own settings all stay: JAX's default writes only programs that took over
    # a second to compile, more than a small fit's, so this user asks for every program.
    report = _fit_in_fresh_process(tmp_path, JAX_COMPILATION_CACHE_DIR=str(own),
                                   JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0")
    assert report["directory"] == str(own)
    assert _files(own) and _files(tmp_path / "xdg") == set()


def test_the_environment_variable_names_the_directory(tmp_path):
    chosen = tmp_path / "chosen"
    report = _fit_in_fresh_process(tmp_path, PPL_GMM_COMPILATION_CACHE=str(chosen))
    assert report["directory"] == str(chosen) and report["misses"] >= 1
    assert _files(chosen) and _files(tmp_path / "xdg") == set()
