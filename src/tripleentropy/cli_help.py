"""What every command's ``--help`` shares: its layout, its examples and where its documentation is."""

from __future__ import annotations

import argparse
import itertools
from collections.abc import Sequence
from typing import Any

#: Where the documentation pages that ``--help`` names are.
DOCS_HOME = "the tripleentropy repository"


class HelpFormatter(argparse.HelpFormatter):
    """argparse's layout, with two changes. A description or epilog keeps its paragraphs (text
    between blank lines): its lines are wrapped to the terminal, but those indented by a space or
    more, such as example command lines, are kept as written. A required option's help ends with
    "(required)"."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        paragraphs = []
        for paragraph in text.strip().split("\n\n"):
            lines = []
            for kept, group in itertools.groupby(paragraph.splitlines(), key=lambda line: line.startswith(" ")):
                if kept:
                    lines += [indent + line for line in group]
                else:
                    lines.append(super()._fill_text(" ".join(group), width, indent))
            paragraphs.append("\n".join(lines))
        return "\n\n".join(paragraphs)

    def _get_help_string(self, action: argparse.Action) -> str | None:
        help_text = super()._get_help_string(action)
        if action.required and action.option_strings and help_text is not None:
            return f"{help_text} (required)"
        return help_text


def add_command(
    subparsers: argparse._SubParsersAction,
    name: str,
    *,
    examples: Sequence[str],
    docs: str,
    epilog: str = "",
    **kwargs: Any,
) -> argparse.ArgumentParser:
    """Add the command ``name`` (``kwargs`` as ``add_parser`` takes them: its help, description);
    its ``--help`` ends with ``epilog`` (if any), then ``examples`` (whole command lines) and
    ``docs``, the repository's page about it."""
    ending = "examples:\n" + "\n".join(f"  {example}" for example in examples) + f"\n\ndocs: {docs} in {DOCS_HOME}"
    return subparsers.add_parser(
        name,
        formatter_class=HelpFormatter,
        epilog=f"{epilog}\n\n{ending}" if epilog else ending,
        **kwargs,
    )
