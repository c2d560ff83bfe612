"""The headline numbers the README and the docs quote, read from the committed result files, so a
rerun that changes a result cannot leave the text that quotes it stale."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "docs" / "results"


def signed(value: float) -> str:
    return f"{value:+.2f}".replace("-", "−")


def text_of(page: str) -> str:
    """A page with its line breaks and runs of spaces folded, as a reader sees the prose."""
    return re.sub(r"\s+", " ", (ROOT / page).read_text(encoding="utf-8"))


def pooled(preset: str, size: int, method: str, baseline: str) -> dict:
    summary = json.loads((RESULTS / preset / "summary.json").read_text())
    return next(c for c in summary["pooled"]
                if (c["train_size"], c["method"], c["baseline"]) == (size, method, baseline))


def with_interval(comparison: dict) -> str:
    low, high = comparison["ci95"]
    return f"{signed(comparison['mean_diff'])} [{signed(low)}, {signed(high)}]"


def defaults_row(size: str, method: str, scope: str = "pooled") -> dict:
    pairs = json.loads((RESULTS / "defaults-study" / "pairs.json").read_text())
    return next(row for row in pairs["rows"] if (row["train_size"], row["method"], row["scope"]) == (size, method, scope))


@pytest.mark.parametrize("preset, size, unit", [("quick", 20, " points"), ("quick", 100, ""),
                                                ("fewshot", 16, ""), ("fewshot", 64, "")])
def test_the_readme_quotes_the_pooled_tripleentropy_ce_differences(preset, size, unit):
    comparison = pooled(preset, size, "tripleentropy", "ce")
    low, high = comparison["ci95"]
    quoted = f"{signed(comparison['mean_diff'])}{unit} [{signed(low)}, {signed(high)}] at {size}"
    assert quoted in text_of("README.md")


def test_the_readme_quotes_tripleentropy_against_setfits_defaults_at_64():
    assert f"{with_interval(pooled('fewshot', 64, 'tripleentropy', 'setfit'))} at 64 against SetFit's defaults" \
        in text_of("README.md")


@pytest.mark.parametrize("size", ["16", "64", "256"])
def test_the_defaults_page_quotes_the_study_at_small_sizes(size):
    ce, te = defaults_row(size, "ce"), defaults_row(size, "tripleentropy")
    assert f"{signed(ce['mean_diff'])} and {signed(te['mean_diff'])}" in text_of("docs/defaults.md")


def test_the_defaults_page_quotes_the_study_at_1024():
    text = text_of("docs/defaults.md")
    for method in ("ce", "tripleentropy"):
        assert with_interval(defaults_row("1024", method)) in text
    sst5 = [defaults_row("1024", method, "SST5")["mean_diff"] for method in ("ce", "tripleentropy")]
    assert f"SST5 loses {-sst5[0]:.2f} and {-sst5[1]:.2f} points" in text


def test_the_defaults_table_is_the_pairing_of_the_stored_runs():
    pairs = json.loads((RESULTS / "defaults-study" / "pairs.json").read_text())
    text = (ROOT / "docs" / "defaults.md").read_text(encoding="utf-8")
    for row in pairs["rows"]:
        cells = (f"| {row['train_size']} | {row['method']} | {row['scope']} | {row['n']} "
                 f"| {row['classic_accuracy']:.2f} | {row['default_accuracy']:.2f} | {signed(row['mean_diff'])}")
        assert cells in text, cells
