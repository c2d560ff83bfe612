"""Resolve the pages' relative links the way GitHub does, so the same Markdown reads right in a
checkout and in the built site.

MyST resolves a link relative to the document being built. This transform handles what that
leaves unresolved:

- links and images in an included file (README.md, CHANGELOG.md at the repository root, included
  by a page under docs/) are resolved relative to the file they were written in;
- a link to a file that is not a page (``../examples/slurm_compare.sh``, ``../LICENSE``) becomes a
  download link;
- a link to a file outside docs/ that a page includes goes to that page
  (``local_links_file_pages``: ``{"../CHANGELOG.md": "changelog"}``, paths relative to docs/);
- a link to a folder under docs/ goes to that folder's ``report.md`` when it has one, else to
  the page that ``local_links_folder_pages`` names for it (``{"results": "reports"}`` sends
  ``results/`` to ``reports/index`` and ``results/fewshot-setfit20`` to
  ``reports/fewshot-setfit20``), else to the nearest folder above it that has either; a link to
  a folder of the repository outside docs/ (``../examples/``) keeps its text without the link;
- in the generated reports (``local_links_optional_images``: docname prefixes), a plot that was
  not stored with the results is replaced by a line that says so, instead of a broken image.

The role ``:mdlink:`text <page.md#a-heading>``` gives the reStructuredText pages the same links
(to a Markdown page and one of its GitHub-style heading anchors, a folder or a file).

Anything else is left to MyST and Sphinx, which report it (and ``-W`` turns that into an error).
"""

from __future__ import annotations

import os
from pathlib import Path

from docutils import nodes
from sphinx import addnodes
from sphinx.application import Sphinx
from sphinx.transforms import SphinxTransform
from sphinx.util import logging
from sphinx.util.nodes import split_explicit_title

logger = logging.getLogger(__name__)


def _is_local(target: str) -> bool:
    return bool(target) and "://" not in target and not target.startswith(("#", "mailto:", "/"))


class LocalLinks(SphinxTransform):
    # After MyST has parsed the document, before the environment collects its downloads.
    default_priority = 400

    def apply(self, **kwargs) -> None:
        srcdir = Path(self.env.srcdir).resolve()
        docdir = (srcdir / self.env.docname).parent
        self._included_images(docdir)
        self._optional_images(docdir)
        for node in list(self.document.findall(addnodes.pending_xref)):
            if node.get("reftype") != "myst":
                continue
            if node.get("refdomain") == "doc":
                self._known_file(node, srcdir, docdir)
                continue
            if node.get("refdomain"):
                continue
            target = node["reftarget"]
            if not _is_local(target):
                continue
            path, _, anchor = target.partition("#")
            if not path:
                continue
            written_in = Path(node.source).resolve().parent if node.source else docdir
            for base in dict.fromkeys((written_in, docdir)):
                candidate = (base / path).resolve()
                if candidate.exists():
                    self._resolve(node, candidate, anchor, srcdir, docdir)
                    break

    def _included_images(self, docdir: Path) -> None:
        """An image in an included file is relative to that file, as on GitHub."""
        for image in self.document.findall(nodes.image):
            uri = image.get("uri", "")
            if not _is_local(uri) or not image.source or (docdir / uri).exists():
                continue
            written = Path(image.source).resolve().parent / uri
            if written.exists():
                image["uri"] = os.path.relpath(written, docdir).replace(os.sep, "/")

    def _optional_images(self, docdir: Path) -> None:
        prefixes = tuple(self.config.local_links_optional_images)
        if not prefixes or not self.env.docname.startswith(prefixes):
            return
        for image in list(self.document.findall(nodes.image)):
            uri = image.get("uri", "")
            if not _is_local(uri) or (docdir / uri).exists():
                continue
            logger.info("%s: plot %s is not stored with these results", self.env.docname, uri)
            note = nodes.emphasis(text=f"({image.get('alt') or 'plot'}: {uri} is not stored with these results)")
            image.replace_self(note)

    def _known_file(self, node: addnodes.pending_xref, srcdir: Path, docdir: Path) -> None:
        """MyST takes any existing Markdown file for a page, also one outside docs/: map it."""
        target = node["reftarget"]
        if target in self.env.found_docs:
            return
        for suffix in self.config.source_suffix:
            candidate = Path(target + suffix)
            candidate = candidate if candidate.is_absolute() else srcdir / candidate
            docname = self._file_page(candidate, srcdir)
            if docname:
                node["reftarget"] = docname
                return

    def _file_page(self, path: Path, srcdir: Path) -> str | None:
        for source, docname in self.config.local_links_file_pages.items():
            if (srcdir / source).resolve() == path.resolve():
                return docname
        return None

    def _resolve(self, node: addnodes.pending_xref, candidate: Path, anchor: str, srcdir: Path, docdir: Path) -> None:
        if candidate.is_dir():
            docname = self._folder_page(candidate, srcdir)
            if docname is None and srcdir.parent in candidate.parents and srcdir not in (candidate, *candidate.parents):
                # A folder of the repository outside docs/ (examples/): the site has no page for
                # it, so the link's text stays, without the link.
                logger.info("%s: %s is a folder outside docs/, shown as text", self.env.docname, node["reftarget"])
                text = node.children[0].deepcopy() if node.get("refexplicit") and node.children else None
                node.replace_self(text or nodes.literal(node["reftarget"], node["reftarget"]))
                return
            if docname is None:
                return
        else:
            docname = self._file_page(candidate, srcdir) or self.env.path2doc(str(candidate))
            if docname not in self.env.found_docs:
                docname = None  # a file that is no page of the site: a download
        if docname:
            node["refdomain"] = "doc"
            node["reftarget"] = docname
            node["reftargetid"] = anchor or None
            return
        relative = os.path.relpath(candidate, docdir).replace(os.sep, "/")
        download = addnodes.download_reference(
            refdomain=None,
            reftarget=relative,
            refdoc=self.env.docname,
            reftype="myst",
            refexplicit=node.get("refexplicit", False),
            classes=["xref", "download", "myst"],
        )
        download.source, download.line = node.source, node.line
        if node.get("refexplicit"):
            download.extend(child.deepcopy() for child in node.children)
        else:
            download.append(nodes.literal(relative, relative))
        node.replace_self(download)

    def _folder_page(self, folder: Path, srcdir: Path) -> str | None:
        """The page of ``folder`` or, failing that, of the nearest folder above it under docs/."""
        for each in (folder, *folder.parents):
            if each == srcdir or srcdir not in each.parents:
                return None
            report = each / "report.md"
            if report.is_file() and self.env.path2doc(str(report)) in self.env.found_docs:
                return self.env.path2doc(str(report))
            parts = each.relative_to(srcdir).parts
            for source, pages in self.config.local_links_folder_pages.items():
                prefix = Path(source).parts
                if parts[: len(prefix)] != prefix:
                    continue
                rest = parts[len(prefix):]
                docname = "/".join((pages, *rest)) if rest else f"{pages}/index"
                if docname in self.env.found_docs:
                    return docname
        return None


def mdlink_role(name, rawtext, text, lineno, inliner, options=None, content=None):
    """``:mdlink:`text <target>```: a link as a Markdown page writes it, resolved as MyST does."""
    explicit, title, target = split_explicit_title(text)
    env = inliner.document.settings.env
    node = addnodes.pending_xref(
        rawtext, refdomain=None, reftype="myst", reftarget=target, refdoc=env.docname, refexplicit=explicit
    )
    node.source, node.line = inliner.reporter.get_source_and_line(lineno)
    node += nodes.inline(title, title, classes=["xref", "myst"])
    return [node], []


def setup(app: Sphinx) -> dict:
    app.add_config_value("local_links_folder_pages", {}, "env")
    app.add_config_value("local_links_file_pages", {}, "env")
    app.add_config_value("local_links_optional_images", [], "env")
    app.add_role("mdlink", mdlink_role)
    app.add_transform(LocalLinks)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
