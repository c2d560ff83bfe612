"""The files users look for at the top of the repository: LICENSE and CITATION.cff, which must agree
with pyproject.toml, the package's version and the citation that model cards give."""

from __future__ import annotations

import re
import tomllib
import unicodedata
from pathlib import Path

import yaml

from tripleentropy import __version__
from tripleentropy.training.model_card import CITATION

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def bibtex_field(name: str) -> str:
    """A field of the model cards' BibTeX entry, LaTeX accents as Unicode (``Wr{\\'o}blewska``)."""
    match = re.search(rf"^\s*{name}\s*=\s*\{{(.*)\}},?$", CITATION, flags=re.MULTILINE)
    assert match, f"the model cards' citation has no {name}"
    accents = re.sub(r"\{\\'(\w)\}", lambda accent: accent.group(1) + "\N{COMBINING ACUTE ACCENT}", match.group(1))
    return unicodedata.normalize("NFC", accents)


def test_the_license_is_pyprojects():
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert PYPROJECT["project"]["license"] == "MIT" and text.startswith("MIT License\n")
    assert "Copyright (c) 2026 the tripleentropy authors" in text


def test_the_citation_file_cites_the_software_and_prefers_the_paper():
    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text(encoding="utf-8"))
    assert cff["cff-version"] == "1.2.0" and cff["type"] == "software" and cff["message"]
    assert cff["title"] == PYPROJECT["project"]["name"] and cff["license"] == PYPROJECT["project"]["license"]
    assert cff["version"] == __version__, "CITATION.cff's version is not the package's: update it with the version"
    paper = cff["preferred-citation"]
    assert paper["type"] == "conference-paper"
    assert paper["title"] == bibtex_field("title").replace("{SoftTriple}", "SoftTriple")
    authors = [f"{author['family-names']}, {author['given-names']}" for author in paper["authors"]]
    assert authors == bibtex_field("author").split(" and ") == [
        "Sosnowski, Witold", "Wróblewska, Anna", "Gawrysiak, Piotr"]
    assert paper["journal"] == bibtex_field("series") == "Annals of Computer Science and Information Systems"
    assert "FedCSIS" in paper["conference"]["name"] and paper["collection-title"] == bibtex_field("booktitle")
    assert (paper["volume"], paper["start"], paper["end"], paper["year"]) == (30, 141, 147, 2022)
    assert bibtex_field("pages") == "141--147" and bibtex_field("year") == "2022"
    assert paper["doi"] == bibtex_field("doi") == "10.15439/2022F185"
    identifiers = {identifier["type"]: identifier["value"] for identifier in paper["identifiers"]}
    assert identifiers == {"doi": "10.15439/2022F185", "other": f"arXiv:{bibtex_field('eprint')}"}
    assert bibtex_field("eprint") == "2112.08462"
