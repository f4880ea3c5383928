"""Reading a data matrix from a CSV file, with errors a command-line user can act on.

Rules:

- The delimiter is detected among comma, semicolon and tab (comma if unclear); a
  UTF-8 byte-order mark is ignored; blank lines are skipped.
- **Header detection** (``header=None``): the first row is a header when at least one
  of its fields is not a number. A file whose column names are numbers needs
  ``header=True``.
- **Column types**: a column whose every value is a number is numeric; one with no
  number at all is text (an identifier or a label) and is skipped unless chosen; a
  column mixing numbers and text is an error naming the first offending line.
- **Missing values** (empty field, NA, NaN, N/A, null, inf) in a used column are an
  error naming the line: impute or drop them first.
- ``columns`` chooses the columns, by name or by 1-based position; a chosen text
  column is an error.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["CSVData", "read_csv"]

_MISSING = {"", "na", "nan", "n/a", "null", "none", "inf", "-inf", "+inf", "infinity",
            "-infinity"}


@dataclass(frozen=True)
class CSVData:
    """A numeric matrix read from a CSV file.

    Attributes
    ----------
    X : ndarray (n, d), float64
    columns : tuple of str
        Names of the columns of X (from the header, or "x1", "x2", ... without one).
    skipped : tuple of str
        Text columns that were left out (only when `columns` was not given).
    """

    X: np.ndarray
    columns: tuple
    skipped: tuple


def read_csv(path, columns=None, header: bool | None = None) -> CSVData:
    """Read the numeric columns of a CSV file.

    Parameters
    ----------
    path : str or Path
    columns : sequence of str or int, optional
        Column names, or 1-based positions, to use (in that order). Default: every
        numeric column.
    header : bool or None
        Whether the first row holds column names; None detects it.

    Returns
    -------
    CSVData

    Raises
    ------
    FileNotFoundError
        No such file.
    ValueError
        Unreadable, empty, ragged, non-numeric or missing data (the message says where).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file.")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise ValueError(f"{path}: not a UTF-8 text file.") from None
    lines = [(number, line) for number, line in enumerate(text.splitlines(), start=1)
             if line.strip()]
    if not lines:
        raise ValueError(f"{path}: the file is empty.")
    rows = _split(path, lines)
    if header is None:
        header = any(not _is_number(field) for field in rows[0][1] if field.strip())
    names = [f.strip() for f in rows[0][1]] if header else [f"x{j + 1}" for j in
                                                              range(len(rows[0][1]))]
    data = rows[1:] if header else rows
    if not data:
        raise ValueError(f"{path}: there are no data rows after the header.")
    _check_names(path, names)
    chosen = _choose(path, names, columns)
    kinds = {j: _column_kind(path, names[j], [(n, r[j]) for n, r in data]) for j in chosen}
    if columns is None:
        used = [j for j in chosen if kinds[j] == "numeric"]
        skipped = tuple(names[j] for j in chosen if kinds[j] == "text")
        if not used:
            raise ValueError(f"{path}: no numeric column (text columns: {', '.join(skipped)}).")
    else:
        for j in chosen:
            if kinds[j] == "text":
                line, value = data[0][0], data[0][1][j]
                raise ValueError(f"{path}: column {names[j]!r} is not numeric (line {line}: "
                                 f"{value.strip()!r}); choose numeric columns with --columns.")
        used, skipped = chosen, ()
    X = np.empty((len(data), len(used)), np.float64)
    for col, j in enumerate(used):
        for row, (line, fields) in enumerate(data):
            value = _number(fields[j])
            if value is None or not math.isfinite(value):
                raise ValueError(
                    f"{path}: missing or non-finite value {fields[j].strip()!r} in column "
                    f"{names[j]!r} at line {line}; remove or impute it first."
                )
            X[row, col] = value
    return CSVData(X, tuple(names[j] for j in used), skipped)


def _split(path: Path, lines):
    sample = "\n".join(line for _, line in lines[:20])
    try:
        delimiter = csv.Sniffer().sniff(sample, delimiters=",;\t").delimiter
    except csv.Error:
        delimiter = ","
    # One record per line: a quoted field may not span lines (blank lines were dropped,
    # so such a record could not be put back together faithfully).
    reader = csv.reader((line for _, line in lines), delimiter=delimiter, strict=True)
    rows = []
    try:
        for fields in reader:
            number = lines[len(rows)][0]
            if reader.line_num != len(rows) + 1:
                raise ValueError(f"{path}: line {number} opens a quoted field that does not "
                                 "close on that line; quote fields within one line.")
            rows.append((number, fields))
    except csv.Error as error:
        number = lines[min(reader.line_num, len(lines)) - 1][0]
        raise ValueError(f"{path}: line {number} is not valid CSV ({error}).") from None
    width = len(rows[0][1])
    for number, fields in rows:
        if len(fields) != width:
            raise ValueError(
                f"{path}: line {number} has {len(fields)} fields but line {rows[0][0]} has "
                f"{width}; every row needs the same number of columns."
            )
    return rows


def _check_names(path: Path, names):
    seen = set()
    for name in names:
        if name in seen:
            raise ValueError(f"{path}: the column name {name!r} appears twice in the header.")
        seen.add(name)


def _choose(path: Path, names, columns) -> list[int]:
    if columns is None:
        return list(range(len(names)))
    chosen = []
    for column in columns:
        token = str(column).strip()
        if token in names:
            chosen.append(names.index(token))
        elif token.isdigit() and 1 <= int(token) <= len(names):
            chosen.append(int(token) - 1)
        else:
            raise ValueError(f"{path}: no column {token!r}; the columns are "
                             f"{', '.join(names)} (or positions 1-{len(names)}).")
    if len(set(chosen)) != len(chosen):
        raise ValueError(f"{path}: a column is chosen twice in {list(columns)}.")
    if not chosen:
        raise ValueError(f"{path}: no columns chosen.")
    return chosen


def _column_kind(path: Path, name: str, values) -> str:
    """"numeric", or "text" (no value is a number); mixed columns raise."""
    present = [(line, v.strip()) for line, v in values if v.strip().lower() not in _MISSING]
    numeric = [_is_number(v) for _, v in present]
    if present and not any(numeric):
        return "text"
    for (line, value), ok in zip(present, numeric, strict=True):
        if not ok:
            raise ValueError(f"{path}: column {name!r} is not numeric: line {line} has "
                             f"{value!r}; fix the value or leave the column out with --columns.")
    return "numeric"


def _number(field: str):
    token = field.strip()
    if token.lower() in _MISSING:
        return None
    try:
        return float(token)
    except ValueError:
        return None


def _is_number(field: str) -> bool:
    token = field.strip()
    if token.lower() in _MISSING:
        return token.lower() != ""  # "NA", "NaN", ... read as missing numbers, not names
    try:
        float(token)
    except ValueError:
        return False
    return True
