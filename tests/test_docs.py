"""The documentation site builds with ``mkdocs build --strict``, and strictness bites.

The build runs here, inside the test suite, rather than as a separate step of the CI
command: it reuses the notebooks test_notebooks.py executed (the site shows their
outputs without running them twice), a failure reports the build log like any other
test, and the README's test command stays the single command CI runs.
"""

import importlib.util
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import griffe
import pytest
from notebook_runner import NOTEBOOKS, ROOT, execute_all

MKDOCS = [sys.executable, "-m", "mkdocs"]
# Every public module but the package itself (whose exports api/index.md lists).
PUBLIC_MODULES = sorted(
    ".".join(("ppl_gmm", *p.relative_to(ROOT / "ppl_gmm").with_suffix("").parts))
    .removesuffix(".__init__")
    for p in (ROOT / "ppl_gmm").rglob("*.py")
    if p != ROOT / "ppl_gmm/__init__.py"
    and not any(part.startswith("_") and part != "__init__.py"
                for part in p.relative_to(ROOT / "ppl_gmm").parts)
)


def build(config: Path, site: Path, **env):
    environment = {**os.environ, "NO_MKDOCS_2_WARNING": "1", **env}
    return subprocess.run([*MKDOCS, "build", "--strict", "-f", str(config), "-d", str(site)],
                          capture_output=True, text=True, env=environment, cwd=config.parent,
                          check=False)


@pytest.mark.slow
def test_site_builds_strictly_with_api_pages_and_executed_notebooks(tmp_path):
    executed = execute_all()
    site = tmp_path / "site"
    run = build(ROOT / "mkdocs.yml", site, PPL_GMM_DOCS_NOTEBOOKS=str(executed),
                PPL_GMM_DOCS_EXECUTE="false")
    assert run.returncode == 0, f"mkdocs build --strict failed:\n{run.stderr[-6000:]}"
    for page in ("index.html", "getting-started/index.html", "mathematics/index.html",
                 "design/index.html", "about-these-docs/index.html", "api/index.html"):
        assert (site / page).is_file(), page
    # One API page per public module, with its objects rendered from the docstrings.
    for module in PUBLIC_MODULES:
        page = (site / "api" / module / "index.html").read_text(encoding="utf-8")
        assert f'id="{module}"' in page, module
    fit_page = (site / "api/ppl_gmm.fit/index.html").read_text(encoding="utf-8")
    assert 'id="ppl_gmm.fit.fit_em"' in fit_page
    # The notebooks are rendered with their outputs: text and embedded figures.
    for name in NOTEBOOKS:
        page = (site / "notebooks" / name.removesuffix(".ipynb") / "index.html")
        text = page.read_text(encoding="utf-8")
        assert "data:image/png;base64" in text, f"{name} rendered without figures"
    first = (site / "notebooks/01_em_vs_ppl/index.html").read_text(encoding="utf-8")
    assert "EM vs PPL cross-check" in first and "PASS" in first
    # The mathematics page carries its formulas to MathJax.
    maths = (site / "mathematics/index.html").read_text(encoding="utf-8")
    assert maths.count('class="arithmatex"') > 20


def test_getting_started_shows_the_readme_commands_verbatim():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    page = (ROOT / "docs/getting-started.md").read_text(encoding="utf-8")
    commands = re.findall(r"```bash\n(.*?)\n```", readme, flags=re.S)
    assert len(commands) >= 2
    for command in commands[:2]:
        assert command in page


def test_strict_build_fails_on_a_broken_api_reference(tmp_path):
    """A minimal site with the project's mkdocstrings setup: a good and a bad reference."""
    docs = tmp_path / "docs"
    docs.mkdir()
    extension = ROOT / "docs/_hooks/sphinx_roles.py"
    config = tmp_path / "mkdocs.yml"
    config.write_text(textwrap.dedent(f"""\
        site_name: probe
        docs_dir: docs
        plugins:
          - mkdocstrings:
              handlers:
                python:
                  paths: [{ROOT}]
                  options:
                    docstring_style: numpy
                    extensions: ["{extension}:SphinxRoles"]
        """), encoding="utf-8")
    (docs / "index.md").write_text(
        "::: ppl_gmm.fit.labels\n\nSee [fit][ppl_gmm.fit.labels.permute].\n", encoding="utf-8")
    good = build(config, tmp_path / "good")
    assert good.returncode == 0, good.stderr[-3000:]
    (docs / "index.md").write_text(
        "::: ppl_gmm.fit.labels\n\nSee [x][ppl_gmm.no_such_function].\n", encoding="utf-8")
    bad = build(config, tmp_path / "bad")
    assert bad.returncode != 0
    assert "ppl_gmm.no_such_function" in bad.stderr


@pytest.fixture(scope="module")
def roles():
    spec = importlib.util.spec_from_file_location("sphinx_roles",
                                                  ROOT / "docs/_hooks/sphinx_roles.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    package = griffe.load("ppl_gmm", search_paths=[str(ROOT)], resolve_aliases=True,
                          resolve_external=False)
    return module, package


def test_sphinx_roles_become_cross_references_resolved_like_python(roles):
    module, package = roles
    fit_module = package["fit"]
    convert = module.convert_roles
    # Relative names resolve in the docstring's scope, re-exports to their definition.
    assert convert(":func:`fit_em`", fit_module, package) == \
        "[`fit_em`][ppl_gmm.fit.driver.fit_em]"
    assert convert(":class:`ppl_gmm.Prior`", fit_module, package) == \
        "[`ppl_gmm.Prior`][ppl_gmm.prior.Prior]"
    assert convert(":func:`~ppl_gmm.fit_em`", package, package) == \
        "[`fit_em`][ppl_gmm.fit.driver.fit_em]"
    assert convert(":mod:`ppl_gmm.engine.kernel`", package, package) == \
        "[`ppl_gmm.engine.kernel`][ppl_gmm.engine.kernel]"
    # A lazily loaded name whose module is dotted (ppl_gmm.select: selection.table).
    assert convert(":func:`ppl_gmm.select`", package, package) == \
        "[`ppl_gmm.select`][ppl_gmm.selection.table.select]"
    # A name that does not exist stays a link autorefs cannot resolve: the strict build fails.
    assert convert(":func:`no_such_thing`", fit_module, package) == \
        "[`no_such_thing`][no_such_thing]"
    # Outside the package: inline code, nothing fetched.
    assert convert(":class:`matplotlib.axes.Axes`", fit_module, package) == \
        "`matplotlib.axes.Axes`"


def test_rest_tables_and_literal_markers_become_markdown(roles):
    module, _ = roles
    table = "text\n\n====  ====\na     b\n====  ====\n1     2\n====  ====\n\nafter"
    converted = module.convert_tables(table)
    assert converted.split("\n")[2] == "```text" and "```\n\nafter" in converted
    assert module.convert_literal_markers("start with::\n\n    code") == \
        "start with:\n\n    code"
