"""The documentation site (docs/conf.py, built by ``make docs``).

Without building it: every Markdown page under docs/ (but the generated docs/results/) is in the
site's navigation, every generated report is on a study page, the CLI reference is generated from
the parser ``tripleentropy`` itself uses and its texts are valid reStructuredText that says what
``--help`` says, and the API reference covers the public modules. With sphinx installed (the
``docs`` extra), the site is also built, warnings as errors, and the link handling of
docs/_ext/local_links.py is checked on a small made-up site.
"""

from __future__ import annotations

import argparse
import os
import re
import runpy
import subprocess
import sys
import textwrap
from fnmatch import fnmatchcase
from pathlib import Path, PurePosixPath

import pytest

from tripleentropy import cli

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
RESULTS = DOCS / "results"
REPORTS = DOCS / "reports"
EXTENSIONS = DOCS / "_ext"
SKIPPED = ("_build", "_ext")
PUBLIC_MODULES = {
    "tripleentropy.losses",
    "tripleentropy.training",
    "tripleentropy.modeling",
    "tripleentropy.data",
    "tripleentropy.experiments",
}


@pytest.fixture(scope="module")
def conf() -> dict:
    return runpy.run_path(str(DOCS / "conf.py"))


@pytest.fixture(scope="module")
def cli_reference():
    sys.path.insert(0, str(EXTENSIONS))
    try:
        import cli_reference
    finally:
        sys.path.remove(str(EXTENSIONS))
    return cli_reference


def docname(path: Path) -> str:
    return path.relative_to(DOCS).with_suffix("").as_posix()


def sources(conf: dict) -> dict[str, Path]:
    """The site's documents by name, as Sphinx finds them (``exclude_patterns`` applied)."""
    found = {}
    for path in sorted([*DOCS.rglob("*.md"), *DOCS.rglob("*.rst")]):
        relative = path.relative_to(DOCS).as_posix()
        if relative.split("/")[0] in SKIPPED or any(fnmatchcase(relative, pattern) for pattern in conf["exclude_patterns"]):
            continue
        found[docname(path)] = path
    return found


def toctree_entries(path: Path) -> list[str]:
    """The entries of the page's toctrees (reStructuredText directives and MyST fences)."""
    text = path.read_text(encoding="utf-8")
    blocks = re.findall(r"^\.\. toctree::\n((?:[ \t]+.*\n|\n)*)", text, flags=re.MULTILINE)
    blocks += re.findall(r"^(?:```|:::)\{toctree\}.*\n(.*?)^(?:```|:::)\s*$", text, flags=re.MULTILINE | re.DOTALL)
    entries = []
    for block in blocks:
        for line in block.splitlines():
            line = line.strip()
            if line and not line.startswith(":"):
                match = re.fullmatch(r".*<(.+)>", line)
                entries.append(match.group(1) if match else line)
    return entries


def in_toctrees(found: dict[str, Path]) -> set[str]:
    """The documents some toctree includes, globs expanded as Sphinx does (``*`` stays within a
    folder, ``**`` crosses folders)."""
    included = set()
    for name, path in found.items():
        for entry in toctree_entries(path):
            target = str(PurePosixPath(os.path.normpath(PurePosixPath(name).parent / entry)).as_posix())
            if any(char in target for char in "*?["):
                pattern = re.escape(target).replace(r"\*\*", ".*").replace(r"\*", "[^/]*").replace(r"\?", "[^/]")
                included |= {other for other in found if re.fullmatch(pattern, other)}
            else:
                included.add(target)
    return included


def test_every_markdown_page_is_in_the_sites_navigation(conf):
    found = sources(conf)
    pages = [name for name, path in found.items() if path.suffix == ".md" and not name.startswith("results/")]
    assert "guide" in pages and "results" in pages
    included = in_toctrees(found)
    assert not [page for page in pages if page not in included]
    assert not [name for name in included if name not in found], "a toctree names a page that does not exist"


def test_every_generated_report_is_on_a_study_page(conf):
    found = sources(conf)
    reports = [name for name in found if name.startswith("results/")]
    assert "results/quick/report" in reports
    assert not [name for name in reports if name not in in_toctrees(found)]


def test_every_study_has_a_page():
    studies = sorted(path.name for path in RESULTS.iterdir() if path.is_dir())
    assert studies
    assert [study for study in studies if not (REPORTS / f"{study}.rst").is_file()] == []
    index = (REPORTS / "index.rst").read_text(encoding="utf-8")
    assert [study for study in studies if f":doc:`{study}`" not in index] == []


def test_the_readme_and_the_changelog_are_pages():
    assert ".. include:: ../README.md" in (DOCS / "index.rst").read_text(encoding="utf-8")
    assert ".. include:: ../CHANGELOG.md" in (DOCS / "changelog.rst").read_text(encoding="utf-8")


def subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    return {name: sub for action in parser._actions if isinstance(action, argparse._SubParsersAction)
            for name, sub in action.choices.items()}


def shape(parser: argparse.ArgumentParser) -> dict:
    """What a reader of the reference relies on: flags, choices, what is required, the groups and
    the subcommands."""
    return {
        "prog": parser.prog,
        "groups": [group.title for group in parser._action_groups],
        "actions": [(tuple(action.option_strings), action.dest, action.nargs, action.required,
                     tuple(action.choices) if action.choices and not isinstance(action, argparse._SubParsersAction) else None,
                     action.metavar, action.help == argparse.SUPPRESS)
                    for action in parser._actions],
        "commands": {name: shape(sub) for name, sub in subcommands(parser).items()},
    }


def test_the_cli_reference_is_generated_from_the_real_parser(cli_reference):
    page = (DOCS / "cli.rst").read_text(encoding="utf-8")
    assert re.search(r"^\.\. argparse::\n   :module: cli_reference\n   :func: build_parser\n", page, flags=re.MULTILINE)
    real = cli.build_parser()
    assert shape(cli_reference.build_parser()) == shape(real)
    assert {"train", "evaluate", "predict", "compare", "reproduce", "tune", "data"} <= set(subcommands(real))


def parsers(parser: argparse.ArgumentParser):
    yield parser
    for sub in dict.fromkeys(subcommands(parser).values()):
        yield from parsers(sub)


def rst_text(text: str) -> str:
    """The text a reader sees of ``text`` read as reStructuredText; fails on any problem."""
    docutils_core = pytest.importorskip("docutils.core")
    from docutils import nodes

    document = docutils_core.publish_doctree(text, settings_overrides={"report_level": 5, "halt_level": 5})
    problems = [message.astext() for message in document.findall(nodes.system_message)]
    assert not problems, f"{text!r}: {problems}"
    return document.astext()


def words(text: str) -> str:
    return " ".join(text.replace("::", ":").split())


def test_the_cli_references_texts_say_what_help_says(cli_reference):
    shown = list(parsers(cli_reference.build_parser()))
    real = list(parsers(cli.build_parser()))
    assert len(shown) == len(real)
    checked = 0
    for made, parser in zip(shown, real):
        for attribute in ("description", "epilog"):
            if getattr(parser, attribute):
                assert words(rst_text(getattr(made, attribute))) == words(getattr(parser, attribute))
                checked += 1
        formatter = parser._get_formatter()
        for made_action, action in zip(made._actions, parser._actions):
            if action.help and action.help != argparse.SUPPRESS and not isinstance(action, argparse._SubParsersAction):
                # sphinx-argparse fills in %(...)s: the reference holds "%%" for each "%".
                assert words(rst_text(made_action.help % {})) == words(formatter._expand_help(action))
                checked += 1
        for made_group, group in zip(made._action_groups, parser._action_groups):
            if group.description:
                assert words(rst_text(made_group.description)) == words(group.description)
    assert checked > 100


def test_the_api_reference_documents_the_public_modules(conf):
    page = (DOCS / "api.rst").read_text(encoding="utf-8")
    documented = re.findall(r"^\.\. automodule:: (\S+)$", page, flags=re.MULTILINE)
    assert set(documented) == PUBLIC_MODULES == set(conf["API_MODULES"])
    import tripleentropy.training

    assert {"TrainConfig", "train_model", "TrainResult", "evaluate_model"} <= set(tripleentropy.training.__all__)


def build(source: Path, output: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    return subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html", "-d", str(output / "doctrees"),
         str(source), str(output / "html")],
        capture_output=True, text=True, env=env, timeout=900,
    )


def needs_sphinx():
    for module in ("sphinx", "myst_parser", "sphinxarg", "furo"):
        pytest.importorskip(module)


@pytest.mark.docs
@pytest.mark.timeout(900)
def test_the_site_builds_without_warnings(tmp_path):
    needs_sphinx()
    result = build(DOCS, tmp_path)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    # sphinx-argparse parses help texts on its own: its problems are printed, not raised.
    assert not re.search(r"\((INFO|WARNING|ERROR|SEVERE)/\d\)", output), output
    html = tmp_path / "html"
    reference = re.sub(r"<[^>]+>", "", (html / "cli.html").read_text(encoding="utf-8"))
    for command in subcommands(cli.build_parser()):
        assert f"tripleentropy {command}" in reference
    assert "--output-dir" in reference and "\u2013" not in reference  # flags keep their two hyphens
    assert "tripleentropy.training.TrainConfig" in (html / "api.html").read_text(encoding="utf-8")
    assert (html / "results" / "quick" / "report.html").is_file()
    assert 'href="reports/index.html"' in (html / "index.html").read_text(encoding="utf-8")
    remote = [page.name for page in html.rglob("*.html") if re.search(r'<img[^>]+src="(https?:)?//', page.read_text())]
    assert remote == [], "the site shows images from the network"


MADE_UP_CONF = f"""
import sys
sys.path.insert(0, {str(EXTENSIONS)!r})
extensions = ["myst_parser", "local_links"]
myst_heading_anchors = 6
exclude_patterns = ["_build"]
local_links_folder_pages = {{"results": "reports"}}
local_links_file_pages = {{"../NOTES.md": "notes"}}
local_links_optional_images = ["results/"]
"""


def made_up_site(root: Path, index_links: str) -> Path:
    docs = root / "docs"
    (docs / "results" / "a").mkdir(parents=True)
    (docs / "results" / "b").mkdir(parents=True)
    (docs / "reports").mkdir()
    (docs / "conf.py").write_text(MADE_UP_CONF)
    (root / "NOTES.md").write_text("# Notes\n\n[the guide](docs/guide.md#a-heading) [a report](docs/results/a/)\n\n"
                                   "![a picture](docs/picture.png)\n")
    (docs / "picture.png").write_bytes((RESULTS / "quick" / "differences.png").read_bytes())
    (root / "script.sh").write_text("echo\n")
    (root / "examples").mkdir()
    (docs / "results" / "a" / "runs").mkdir(parents=True)
    (docs / "notes.rst").write_text(".. include:: ../NOTES.md\n   :parser: myst_parser.sphinx_\n")
    (docs / "guide.md").write_text("# Guide\n\n## A heading\n\n" + index_links + "\n")
    (docs / "results" / "a" / "report.md").write_text("# Report A\n\n![a plot](plot.png)\n")
    (docs / "results" / "b" / "data.json").write_text("{}\n")
    (docs / "reports" / "b.rst").write_text("Study B\n=======\n\n:mdlink:`the guide <../guide.md#a-heading>`\n")
    (docs / "index.rst").write_text(textwrap.dedent("""\
        Home
        ====

        .. toctree::

           guide
           notes
           results/a/report
           reports/b
        """))
    return docs


@pytest.mark.docs
@pytest.mark.timeout(300)
def test_links_resolve_as_on_github_and_broken_ones_fail(tmp_path):
    needs_sphinx()
    good = ("[report folder](results/a) [study folder](results/b/) [notes](../NOTES.md) "
            "[script](../script.sh) [data](results/b/data.json) [anchor](#a-heading) "
            "[runs folder](results/a/runs) [examples folder](../examples/)")
    result = build(made_up_site(tmp_path / "good", good), tmp_path / "good-out")
    assert result.returncode == 0, result.stdout + result.stderr
    html = tmp_path / "good-out" / "html"
    guide = (html / "guide.html").read_text(encoding="utf-8")
    assert 'href="results/a/report.html"' in guide and 'href="reports/b.html"' in guide
    assert 'href="notes.html"' in guide and "_downloads/" in guide
    # a folder without a page of its own: the report of the folder above it
    assert re.search(r'href="results/a/report.html"[^>]*><span[^>]*>runs folder<', guide)
    assert "examples folder" in guide and "examples/" not in re.findall(r'href="([^"]*)"', guide)
    notes = (html / "notes.html").read_text(encoding="utf-8")
    assert 'href="guide.html#a-heading"' in notes and 'href="results/a/report.html"' in notes
    assert 'src="_images/picture.png"' in notes
    assert 'href="../guide.html#a-heading"' in (html / "reports" / "b.html").read_text(encoding="utf-8")
    assert "plot.png is not stored with these results" in (html / "results" / "a" / "report.html").read_text()

    for broken in ("[gone](missing.md)", "[bad anchor](results/a/report.md#nowhere)", "[folder](../nowhere/)"):
        result = build(made_up_site(tmp_path / "bad", broken), tmp_path / "bad-out")
        assert result.returncode != 0, broken
        subprocess.run(["rm", "-rf", str(tmp_path / "bad"), str(tmp_path / "bad-out")], check=True)
