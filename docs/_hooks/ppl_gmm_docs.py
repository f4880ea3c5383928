"""MkDocs hooks: API pages generated from the package, and the notebooks added to the site.

- ``api/<module>.md`` for every public module of ppl_gmm (no leading underscore), each
  holding one mkdocstrings directive, so a new module is documented (and its
  docstrings checked by the strict build) without editing mkdocs.yml; they are
  appended to the "API reference" section of the navigation.
- ``api/index.md``: a table of everything in ``ppl_gmm.__all__``, each name linked to
  where it is defined, with the first line of its docstring. Read statically by
  Griffe (the package is not imported).
- ``notebooks/<name>.ipynb`` from the repository's ``notebooks/`` folder, or from the
  folder named by the environment variable ``PPL_GMM_DOCS_NOTEBOOKS`` (a folder named
  ``notebooks``; the test suite points it at executed copies, so the site shows
  outputs without running the notebooks a second time).
"""

from __future__ import annotations

import ast
import os
from pathlib import Path

import griffe
from mkdocs.plugins import event_priority
from mkdocs.structure.files import File

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = "ppl_gmm"
API_SECTION = "API reference"


def public_modules() -> list[str]:
    """Dotted names of ppl_gmm's public modules, from the files (nothing is imported)."""
    base = ROOT / PACKAGE
    names = []
    for path in sorted(base.rglob("*.py")):
        parts = path.relative_to(base).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        if not parts or any(part.startswith("_") for part in parts):
            continue
        names.append(".".join((PACKAGE, *parts)))
    return names


def notebook_dir() -> Path:
    return Path(os.environ.get("PPL_GMM_DOCS_NOTEBOOKS") or ROOT / "notebooks")


def _module_page(module: str) -> str:
    return f"::: {module}\n"


def _summary(obj) -> str:
    if obj.docstring is None or not obj.docstring.value.strip():
        return ""
    first = obj.docstring.value.strip().split("\n\n")[0]
    return " ".join(first.split()).replace("|", "\\|")


def _documented(obj) -> bool:
    """Whether mkdocstrings renders `obj` (so that a link to it resolves)."""
    if any(part.startswith("_") for part in obj.path.split(".")):
        return False
    return obj.is_module or obj.docstring is not None


def api_index() -> str:
    """The table of ``ppl_gmm.__all__``."""
    package = griffe.load(PACKAGE, search_paths=[str(ROOT)], resolve_aliases=True,
                          resolve_external=False)
    # Names the package provides on first use (its module __getattr__), by module.
    lazy = package.members.get("_LAZY_ATTRIBUTES")
    lazy = ast.literal_eval(str(lazy.value)) if lazy is not None else {}
    rows = []
    for name in sorted((str(n) for n in package.exports or ()), key=str.lower):
        if name in package.members:
            member = package.members[name]
        elif name in lazy:
            member = package[f"{lazy[name]}.{name}"]
        else:
            raise ValueError(f"ppl_gmm.__all__ names {name!r}, which the package does not "
                             "define or import.")
        target = member.final_target if member.is_alias else member
        shown = f"`{name}`"
        if _documented(target):
            shown = f"[{shown}][{target.path}]"
        where = target.path.rsplit(".", 1)[0] if not target.is_module else target.path
        rows.append(f"| {shown} | `{where}` | {_summary(target)} |")
    lines = [
        "# API reference",
        "",
        "Everything `import ppl_gmm as pg` gives you (`ppl_gmm.__all__`), with the module",
        "that defines it. The pages in this section document every public module, generated",
        "from the docstrings. `ppl_gmm.plotting` is imported on first use",
        "(`from ppl_gmm import plotting`), so the numeric core never imports matplotlib.",
        "",
        "| name | defined in | summary |",
        "|---|---|---|",
        *rows,
        "",
    ]
    return "\n".join(lines)


def on_config(config):
    """Append one navigation entry per public module to the API section."""
    pages = [{module.removeprefix(f"{PACKAGE}.") if module != PACKAGE else PACKAGE:
              f"api/{module}.md"} for module in public_modules()]
    for entry in config.nav or []:
        if isinstance(entry, dict) and API_SECTION in entry:
            section = entry[API_SECTION]
            if isinstance(section, str):
                section = [{"Overview": section}]
            entry[API_SECTION] = [*section, *pages]
            break
    else:
        raise ValueError(f"mkdocs.yml's nav needs a section named {API_SECTION!r}.")
    return config


@event_priority(100)  # before mkdocs-jupyter wraps the notebooks it finds
def on_files(files, config):
    files.append(File.generated(config, "api/index.md", content=api_index()))
    for module in public_modules():
        files.append(File.generated(config, f"api/{module}.md", content=_module_page(module)))
    source = notebook_dir()
    notebooks = sorted(source.glob("*.ipynb"))
    if source.name != "notebooks" or not notebooks:
        raise FileNotFoundError(f"{source} must be a folder named 'notebooks' holding the "
                                "notebooks.")
    for notebook in notebooks:
        # A plain File rooted at the folder's parent (mkdocs-jupyter's wrapper does not
        # see the content of File.generated virtual files).
        files.append(File(f"notebooks/{notebook.name}", src_dir=str(source.parent),
                          dest_dir=config.site_dir,
                          use_directory_urls=config.use_directory_urls))
    return files
