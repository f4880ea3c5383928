"""JAX's persistent compilation cache, on by default, so a new process starts warm.

A fit compiles one XLA program for its shapes (:mod:`ppl_gmm.fit.driver`); compiling it
takes about a second on a CPU, and every fresh Python process pays it again unless the
compiled program is kept on disk. JAX can keep it (its *persistent compilation cache*,
https://docs.jax.dev/en/latest/persistent_compilation_cache.html); ppl_gmm turns it on
when it is imported, with these rules:

- if you configured a cache yourself (``jax.config.update("jax_compilation_cache_dir",
  ...)`` or the ``JAX_COMPILATION_CACHE_DIR`` environment variable), ppl_gmm leaves it
  and every other cache setting alone;
- otherwise the cache lives in your user cache directory,
  ``platformdirs.user_cache_dir("ppl_gmm")/jax`` (``~/.cache/ppl_gmm/jax`` on Linux),
  or in the directory named by ``PPL_GMM_COMPILATION_CACHE``;
- ``PPL_GMM_COMPILATION_CACHE=0`` (or ``off``, ``false``, ``no``) turns it off, a cache you
  configured for JAX included: nothing is read or written. Set it before importing
  ppl_gmm.

Only programs that took at least ``MIN_COMPILE_SECONDS`` to compile are stored, so the
cache holds the fit programs, not every small array operation. JAX reads the settings
at its first compilation in the process; importing ppl_gmm after something else has
compiled may leave the cache off (call :func:`cache_directory` to see).
"""

from __future__ import annotations

import os

import jax

#: The environment variable that names the cache directory, or turns the cache off.
ENVIRONMENT_VARIABLE = "PPL_GMM_COMPILATION_CACHE"
#: Programs compiled faster than this are not written to the cache.
MIN_COMPILE_SECONDS = 0.2
_OFF = {"0", "off", "false", "no"}


def _user_configured() -> bool:
    return bool(jax.config.jax_compilation_cache_dir or os.environ.get("JAX_COMPILATION_CACHE_DIR"))


def default_directory() -> str:
    """The user cache directory ppl_gmm uses when nothing else is configured."""
    import platformdirs

    return os.path.join(platformdirs.user_cache_dir("ppl_gmm"), "jax")


def configure_from_environment() -> str | None:
    """Turn JAX's persistent compilation cache on (see the module docstring).

    Called once when ppl_gmm is imported.

    Returns
    -------
    str or None
        The cache directory in use, or None when the cache is off.
    """
    setting = os.environ.get(ENVIRONMENT_VARIABLE, "").strip()
    if setting.lower() in _OFF:
        jax.config.update("jax_enable_compilation_cache", False)
        return None
    if _user_configured():
        return cache_directory()
    directory = os.path.expanduser(setting) if setting else default_directory()
    jax.config.update("jax_compilation_cache_dir", directory)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", MIN_COMPILE_SECONDS)
    return directory


def cache_directory() -> str | None:
    """The persistent compilation cache directory JAX is configured with, or None (off)."""
    if not jax.config.jax_enable_compilation_cache:
        return None
    return jax.config.jax_compilation_cache_dir or os.environ.get("JAX_COMPILATION_CACHE_DIR")


__all__ = ["ENVIRONMENT_VARIABLE", "MIN_COMPILE_SECONDS", "cache_directory",
           "configure_from_environment", "default_directory"]
