"""Sphinx configuration of the documentation site; build it with ``make docs``.

The pages are the Markdown files under docs/ (MyST), the README (index.rst) and the changelog
(changelog.rst) included as they are, and the generated reports under docs/results/. The pages
that only the site has are reStructuredText: the CLI reference (cli.rst, from the real parser),
the API reference (api.rst, from the docstrings) and the study pages (reports/). The build is
offline: no intersphinx, no remote images, nothing fetched.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(DOCS / "_ext"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from tripleentropy import __version__  # noqa: E402

project = "tripleentropy"
author = "tripleentropy contributors"
copyright = "tripleentropy contributors"
version = release = __version__

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinxarg.ext",
    "local_links",
]

source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
root_doc = "index"
exclude_patterns = ["_build", "_ext", "Thumbs.db", ".DS_Store"]
templates_path: list[str] = []

# Text as GitHub shows it: "--flag" stays two hyphens, not an en dash, and quotes stay straight.
smartquotes = False

# MyST: GitHub-style anchors (`page.md#a-heading`) for the links the pages already use.
myst_heading_anchors = 6
myst_enable_extensions = ["colon_fence", "dollarmath"]

# The modules docs/api.rst documents. Some import their names on first use (so that
# `tripleentropy --help` does not load transformers); autodoc lists a module's members from its
# namespace, so setup() loads every name of their __all__ first.
API_MODULES = [
    "tripleentropy.losses",
    "tripleentropy.training",
    "tripleentropy.modeling",
    "tripleentropy.data",
    "tripleentropy.experiments",
]

# autodoc: signatures as written, members in source order, no private names.
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_typehints_format = "short"
autodoc_preserve_defaults = True
autodoc_default_options = {"members": True, "show-inheritance": False}
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_rtype = False
napoleon_attr_annotations = True

html_theme = "furo"
html_title = f"tripleentropy {release}"
html_static_path: list[str] = []
html_show_sourcelink = False

# docs/_ext/local_links.py: links as they read on GitHub (folders, files outside docs/).
local_links_folder_pages = {"results": "reports"}
local_links_file_pages = {"../README.md": "index", "../CHANGELOG.md": "changelog"}
local_links_optional_images = ["results/"]

# Shown inside reports/gpu-h200.rst, not a page of its own (it has no title).
exclude_patterns.append("results/gpu-h200/overhead_roberta_large.md")


def _load_public_names(app) -> None:
    import importlib

    for module_name in API_MODULES:
        module = importlib.import_module(module_name)
        for name in module.__all__:
            setattr(module, name, getattr(module, name))


def _skip_namedtuple_fields(app, what, name, obj, skip, options):
    # A NamedTuple's fields are described in its docstring's Attributes section already.
    if what == "class" and (getattr(obj, "__doc__", None) or "").startswith("Alias for field number"):
        return True
    return None


def setup(app) -> None:
    app.connect("builder-inited", _load_public_names)
    app.connect("autodoc-skip-member", _skip_namedtuple_fields)
