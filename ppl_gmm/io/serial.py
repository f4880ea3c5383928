"""Saving and loading fits: a portable JSON format with a schema version.

:func:`save` writes an :class:`ppl_gmm.EMResult` or a fitted
:class:`ppl_gmm.GaussianMixture`; :func:`load` reads it back, bit for bit. No pickle:
a file is plain JSON that any language can read, and loading never runs code.

Format (schema version 2)
-------------------------
One JSON object::

    {"format": "ppl_gmm", "schema_version": 2, "kind": "EMResult" | "GaussianMixture",
     "ppl_gmm_version": "0.1.0", "sha256": "<hex>", "content": <value>}

`sha256` is the SHA-256 of the canonical JSON of `content` (``sort_keys=True``,
separators ``(",", ":")``); a mismatch means the file was edited or damaged. Values
inside `content` are encoded as

- JSON null, booleans, integers and strings as themselves; finite floats as JSON
  numbers written with Python's shortest round-trip repr (so float64 values come
  back exactly); NaN and infinities as ``{"__float__": "nan" | "inf" | "-inf"}``;
- arrays as ``{"__ndarray__": {"dtype": "float64", "shape": [..], "data": [..]}}``
  with `data` the C-order flattening (non-finite entries as the strings "nan",
  "inf", "-inf"; dtype "str" for arrays of text);
- lists as JSON arrays, tuples as ``{"__tuple__": [..]}``, dictionaries (string
  keys) as ``{"__dict__": {..}}``;
- ppl_gmm records (GMMParams, EMHistory, EMResult, FitOptions, ResolvedPrior, Prior,
  RestartTable) as ``{"__type__": "<name>", "fields": {..}}``.

A GaussianMixture's content is ``{"params": get_params(), "fitted": {attribute: value}}``
with every fitted attribute (``weights_``, ..., ``result_``). A ``random_state`` that
is a RandomState object is not portable and is saved as null (with a warning).

Writes are atomic: the file is written to a temporary file in the same directory,
flushed, and moved over the target with ``os.replace``, so a crash never leaves a
half-written file. Reading a truncated or corrupt file, a file of another format, or
one written by a newer schema raises :class:`FileFormatError` (a ValueError) that
says which.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import tempfile
import warnings
from pathlib import Path

import numpy as np

from .._validation import check_params
from ..fit.restarts import RestartTable
from ..params import EMHistory, EMResult, FitOptions, GMMParams
from ..prior import Prior, ResolvedPrior
from ..version import __version__

__all__ = ["FORMAT", "SCHEMA_VERSION", "FileFormatError", "atomic_write", "dumps", "load", "loads",
           "save"]

FORMAT = "ppl_gmm"
SCHEMA_VERSION = 2
#: Versions this ppl_gmm reads: version 1 kept the fit options as an untyped dict
#: (``extras``), read into :class:`ppl_gmm.params.FitOptions`.
READABLE_VERSIONS = (1, 2)

_NAMED_TUPLES = {cls.__name__: cls for cls in (GMMParams, EMHistory, ResolvedPrior)}
_DATACLASSES = {cls.__name__: cls for cls in (EMResult, FitOptions, Prior, RestartTable)}
_NON_FINITE = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}


class FileFormatError(ValueError):
    """A file is not a readable ppl_gmm save file (corrupt, truncated, foreign or too new)."""


# ------------------------------------------------------------------ writing


def save(obj, path) -> Path:
    """Write an EMResult or a fitted GaussianMixture to `path` (JSON, atomically).

    Parameters
    ----------
    obj : EMResult or GaussianMixture
    path : str or Path
        The target file; its directory must exist. An existing file is replaced.

    Returns
    -------
    Path
    """
    return atomic_write(path, dumps(obj).encode("utf-8"))


def dumps(obj) -> str:
    """The text :func:`save` writes for `obj` (an EMResult or a fitted GaussianMixture)."""
    from ..estimator import GaussianMixture

    if isinstance(obj, EMResult):
        kind, content = "EMResult", _encode(obj, "result")
    elif isinstance(obj, GaussianMixture):
        kind, content = "GaussianMixture", _encode_estimator(obj)
    else:
        raise TypeError(
            f"save writes a ppl_gmm.EMResult or a fitted ppl_gmm.GaussianMixture, got "
            f"{type(obj).__name__}."
        )
    document = {
        "format": FORMAT,
        "schema_version": SCHEMA_VERSION,
        "kind": kind,
        "ppl_gmm_version": _version(),
        "sha256": _checksum(content),
        "content": content,
    }
    return json.dumps(document, allow_nan=False, separators=(",", ":"))


def atomic_write(path, data: bytes) -> Path:
    """Write `data` to `path` via a temporary file in the same directory and ``os.replace``."""
    path = Path(path)
    directory = path.parent if str(path.parent) else Path(".")
    if not directory.is_dir():
        raise FileNotFoundError(f"Cannot write {path}: directory {directory} does not exist.")
    handle, temporary = tempfile.mkstemp(dir=directory, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise
    return path


def _version() -> str:
    return __version__


def _checksum(content) -> str:
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _encode_estimator(estimator):
    from sklearn.utils.validation import check_is_fitted

    check_is_fitted(estimator)
    params = estimator.get_params(deep=False)
    if isinstance(params.get("random_state"), np.random.RandomState | np.random.Generator):
        warnings.warn("random_state is a RandomState object, which is not portable; it is "
                      "saved as None.", UserWarning, stacklevel=3)
        params["random_state"] = None
    fitted = {name: value for name, value in vars(estimator).items()
              if name.endswith("_") and not name.startswith("_")}
    return {"__dict__": {"params": _encode(params, "params"),
                         "fitted": _encode(fitted, "fitted")}}


def _encode(value, where: str):
    """JSON-ready form of `value` (see the module docstring); `where` names it in errors."""
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        value = float(value)
        return value if math.isfinite(value) else {"__float__": repr(value)}
    if isinstance(value, np.ndarray):
        return {"__ndarray__": _encode_array(value, where)}
    type_name = type(value).__name__
    if type_name in _NAMED_TUPLES and isinstance(value, _NAMED_TUPLES[type_name]):
        fields = value._asdict()
        return {"__type__": type_name,
                "fields": {k: _encode(v, f"{where}.{k}") for k, v in fields.items()}}
    if type_name in _DATACLASSES and isinstance(value, _DATACLASSES[type_name]):
        fields = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
        return {"__type__": type_name,
                "fields": {k: _encode(v, f"{where}.{k}") for k, v in fields.items()}}
    if isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            raise TypeError(f"Cannot save {where}: dictionary keys must be strings.")
        return {"__dict__": {k: _encode(v, f"{where}[{k!r}]") for k, v in value.items()}}
    if isinstance(value, tuple):
        return {"__tuple__": [_encode(v, f"{where}[{i}]") for i, v in enumerate(value)]}
    if isinstance(value, list):
        return [_encode(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if hasattr(value, "__array__") and not isinstance(value, type):
        return {"__ndarray__": _encode_array(np.asarray(value), where)}
    raise TypeError(f"Cannot save {where}: values of type {type(value).__name__} are not "
                    "supported by the ppl_gmm format.")


def _encode_array(array: np.ndarray, where: str) -> dict:
    kind = array.dtype.kind
    if kind in "US" or (kind == "O" and all(isinstance(v, str) for v in array.ravel())):
        return {"dtype": "str", "shape": list(array.shape), "data": [str(v) for v in
                                                                      array.ravel()]}
    if kind not in "biuf":
        raise TypeError(f"Cannot save {where}: arrays of dtype {array.dtype} are not supported.")
    data = array.ravel().tolist()
    if kind == "f":
        data = [v if math.isfinite(v) else repr(v) for v in data]
    return {"dtype": array.dtype.str.lstrip("<>=|") if kind != "b" else "bool",
            "shape": list(array.shape), "data": data}


# ------------------------------------------------------------------ reading


def load(path):
    """Read a file written by :func:`save`.

    Returns
    -------
    EMResult or GaussianMixture

    Raises
    ------
    FileNotFoundError
        No such file.
    FileFormatError
        Truncated or corrupt file, not a ppl_gmm file, or an unknown schema version.
    """
    path = Path(path)
    return loads(path.read_bytes(), source=str(path))


def loads(data: bytes | str, source: str = "<string>"):
    """Decode the text of a save file (:func:`load` without the file); `source` names it
    in error messages."""
    path = source
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
    except UnicodeDecodeError:
        raise FileFormatError(f"{path} is not a ppl_gmm save file: it is not UTF-8 text.") from None
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise FileFormatError(
            f"{path} is truncated or corrupt: invalid JSON at line {error.lineno}, column "
            f"{error.colno} ({error.msg}). Save the object again."
        ) from None
    except RecursionError:
        raise FileFormatError(f"{path} is not a ppl_gmm save file: its JSON is nested too "
                              "deeply to read.") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise FileFormatError(f"{path} is not a ppl_gmm save file (no \"format\": \"{FORMAT}\").")
    version = document.get("schema_version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise FileFormatError(f"{path} has no valid schema_version (got {version!r}).")
    if version not in READABLE_VERSIONS:
        newer = version > SCHEMA_VERSION
        raise FileFormatError(
            f"{path} has schema version {version}; this ppl_gmm ({_version()}) reads version "
            f"{SCHEMA_VERSION}." + (" Upgrade ppl_gmm to read it." if newer else "")
        )
    content = document.get("content")
    try:
        intact = document.get("sha256") == _checksum(content)
    except (ValueError, RecursionError):  # e.g. a damaged number read as 1e999 = inf
        intact = False
    if not intact:
        raise FileFormatError(
            f"{path} is corrupt: its checksum does not match its content (the file was edited "
            "or damaged)."
        )
    kind = document.get("kind")
    try:
        if kind == "EMResult":
            value = _decode(content)
            if not isinstance(value, EMResult):
                raise ValueError("content is not an EMResult")
            check_params(value.params)  # a consistent file holds a valid mixture
            return value
        if kind == "GaussianMixture":
            return _decode_estimator(content)
    # A file with a valid checksum but a foreign structure (written by another program)
    # fails somewhere in the decoding; whatever the error, it is a format error.
    except (KeyError, TypeError, ValueError, AttributeError, IndexError, OverflowError,
            RecursionError) as error:
        raise FileFormatError(f"{path} is corrupt: {error}.") from None
    raise FileFormatError(f"{path} holds an unknown kind of object: {kind!r}.")


def _decode_estimator(content):
    from ..estimator import GaussianMixture

    parts = _decode(content)
    estimator = GaussianMixture(**parts["params"])
    for name, value in parts["fitted"].items():
        setattr(estimator, name, value)
    return estimator


def _decode(value):
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list):
        return [_decode(v) for v in value]
    if not isinstance(value, dict) or len(value) not in (1, 2):
        raise ValueError(f"unexpected JSON object with keys {sorted(value)[:5]}")
    if "__float__" in value:
        return _NON_FINITE[value["__float__"]]
    if "__ndarray__" in value:
        return _decode_array(value["__ndarray__"])
    if "__tuple__" in value:
        return tuple(_decode(v) for v in value["__tuple__"])
    if "__dict__" in value:
        return {k: _decode(v) for k, v in value["__dict__"].items()}
    if "__type__" in value:
        name = value["__type__"]
        fields = {k: _decode(v) for k, v in value["fields"].items()}
        if name in _NAMED_TUPLES:
            return _NAMED_TUPLES[name](**fields)
        if name == "EMResult" and "extras" in fields:  # schema version 1
            extras = fields.pop("extras")
            known = {f.name for f in dataclasses.fields(FitOptions)}
            fields["options"] = FitOptions(**{k: v for k, v in extras.items() if k in known})
        if name in _DATACLASSES:
            return _DATACLASSES[name](**fields)
        raise ValueError(f"unknown record type {name!r}")
    raise ValueError(f"unexpected JSON object with keys {sorted(value)}")


def _decode_array(spec: dict) -> np.ndarray:
    shape = tuple(spec["shape"])
    if spec["dtype"] == "str":
        return np.array(spec["data"], dtype=object).reshape(shape)
    dtype = np.dtype(spec["dtype"])
    data = spec["data"]
    if dtype.kind == "f":
        data = [_NON_FINITE[v] if isinstance(v, str) else v for v in data]
    return np.array(data, dtype=dtype).reshape(shape)
