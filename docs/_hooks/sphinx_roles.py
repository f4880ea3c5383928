"""Griffe extension: read the package's reST-flavoured numpydoc as Markdown for mkdocstrings.

The docstrings are numpydoc, written to read well in a terminal (``help()``), and use
Sphinx roles (``:func:`fit_em```) for cross-references. mkdocstrings renders Markdown,
so before rendering this extension rewrites, in every docstring of ``ppl_gmm``:

- ``:role:`target``` (and ``:role:`~target```) to an autorefs link
  ``[`target`][full.path.of.target]``. Targets inside ppl_gmm are resolved the way
  Python would (the object's own scope, then its parents'; re-exports, and names the
  package provides lazily, followed to where the object is defined). A target that
  does not resolve is kept as a link to its literal name, so autorefs reports it and
  ``mkdocs build --strict`` fails: a broken reference in a docstring breaks the docs
  build. An object that exists but has no entry of its own on the API pages (no
  docstring) and targets outside ppl_gmm (``matplotlib.axes.Axes``) become inline
  code: no inventories are fetched.
- reST simple tables (rows framed by ``====  ====`` lines) to fenced text blocks,
  which Markdown would otherwise read as headings.
- a paragraph ending in ``::`` (reST's "literal block follows") to a single colon.
"""

from __future__ import annotations

import ast
import builtins
import re

from griffe import Extension, Object

PACKAGE = "ppl_gmm"
_ROLE = re.compile(r":(?:py:)?(func|class|meth|mod|attr|data|obj|exc|const):`(~?)([^`]+)`")
_TABLE_RULE = re.compile(r"^\s*=+(\s+=+)+\s*$")


def _walk(obj: Object):
    yield obj
    for member in obj.members.values():
        if not member.is_alias:
            yield from _walk(member)


def _lazy_attributes(root: Object) -> dict:
    """ppl_gmm's names provided on first use by its module ``__getattr__`` -> their module."""
    lazy = root.members.get("_LAZY_ATTRIBUTES")
    try:
        return ast.literal_eval(str(lazy.value)) if lazy is not None else {}
    except (ValueError, SyntaxError):
        return {}


def _lookup(root: Object, dotted: str) -> Object | None:
    """The object `dotted` (e.g. "ppl_gmm.fit_em") names, following re-exports."""
    parts = dotted.split(".")
    if parts[0] != root.name:
        return None
    current = root
    for part in parts[1:]:
        if part not in current.members:
            lazy = _lazy_attributes(root) if current is root else {}
            if part not in lazy:
                return None
            current = root
            for module in lazy[part].split("."):  # a lazy module may be dotted
                current = current.members.get(module) if current is not None else None
            if current is None or part not in current.members:
                return None
        current = current.members[part]
        if current.is_alias:
            try:
                current = current.final_target
            except Exception:  # an alias to something outside the package
                return None
    return current


def _resolve(obj: Object, root: Object, target: str) -> Object | None:
    if target.startswith(f"{PACKAGE}."):
        return _lookup(root, target)
    head, _, rest = target.partition(".")
    scope = obj
    while scope is not None:
        try:
            found = scope.resolve(head)
        except Exception:  # griffe's NameResolutionError: try the enclosing scope
            scope = scope.parent
            continue
        return _lookup(root, f"{found}.{rest}" if rest else found)
    return None


def _rendered(obj: Object) -> bool:
    """Whether the API pages show `obj` (every public module; documented objects in them)."""
    if any(part.startswith("_") for part in obj.path.split(".")):
        return False
    return obj.is_module or obj.docstring is not None


def _is_external(target: str) -> bool:
    head = target.split(".")[0]
    return head != PACKAGE and ("." in target or hasattr(builtins, head))


def convert_roles(text: str, obj: Object, root: Object) -> str:
    """Sphinx roles to autorefs links (see the module docstring)."""

    def link(match: re.Match) -> str:
        _role, short, target = match.groups()
        target = target.strip().removesuffix("()")
        shown = target.rsplit(".", 1)[-1] if short else target
        found = _resolve(obj, root, target)
        if found is None:
            # Outside the package: plain code. Inside: a link autorefs cannot resolve.
            return f"`{shown}`" if _is_external(target) else f"[`{shown}`][{target}]"
        if not _rendered(found):  # exists, but has no entry of its own on the API pages
            return f"`{shown}`"
        return f"[`{shown}`][{found.path}]"

    return _ROLE.sub(link, text)


def convert_tables(text: str) -> str:
    lines = text.split("\n")
    out: list[str] = []
    i = 0
    while i < len(lines):
        if _TABLE_RULE.match(lines[i]):
            # A simple table is three rules: top, below the header, bottom.
            end, rules = i, 0
            while end < len(lines) and rules < 3:
                rules += bool(_TABLE_RULE.match(lines[end]))
                end += 1
            if rules == 3:
                out.extend(["```text", *lines[i:end], "```"])
                i = end
                continue
        out.append(lines[i])
        i += 1
    return "\n".join(out)


def convert_literal_markers(text: str) -> str:
    return re.sub(r"(\S)::\n", r"\1:\n", text)


class SphinxRoles(Extension):
    """Rewrite ppl_gmm's docstrings for mkdocstrings (see the module docstring)."""

    def on_package(self, *, pkg: Object, **kwargs) -> None:
        if pkg.name != PACKAGE:
            return
        for obj in _walk(pkg):
            if obj.docstring is None:
                continue
            value = convert_tables(obj.docstring.value)
            value = convert_literal_markers(value)
            obj.docstring.value = convert_roles(value, obj, pkg)
