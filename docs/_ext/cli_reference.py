"""The parser the CLI reference (docs/cli.rst) is generated from.

``build_parser()`` is ``tripleentropy.cli.build_parser()``, the parser the command itself uses,
with its texts made into reStructuredText the way ``--help`` lays them out
(``tripleentropy.cli_help.HelpFormatter``): each help is the one ``--help`` prints (``%(default)s``
filled in, "(required)" added); paragraphs are wrapped text, and lines indented by a space or more
(example command lines, the search spaces) are kept as written, in a literal block. Everything
else is escaped, so that no help text is read as markup. Options, choices, groups and
subcommands are the parser's own.
"""

from __future__ import annotations

import argparse
import itertools
from collections.abc import Iterator

from tripleentropy import cli


def build_parser() -> argparse.ArgumentParser:
    parser = cli.build_parser()
    for each in _parsers(parser):
        formatter = each._get_formatter()
        for action in each._actions:
            if isinstance(action, argparse._SubParsersAction):
                for choice in action._choices_actions:
                    choice.help = _rst(choice.help)
            elif action.help and action.help != argparse.SUPPRESS:
                # sphinx-argparse fills in %(...)s itself: give it the finished text.
                action.help = _rst(formatter._expand_help(action)).replace("%", "%%")
        for group in each._action_groups:
            group.description = _rst(group.description)
        each.description = _rst(each.description)
        each.epilog = _rst(each.epilog)
    return parser


def _parsers(parser: argparse.ArgumentParser) -> Iterator[argparse.ArgumentParser]:
    yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for subparser in dict.fromkeys(action.choices.values()):
                yield from _parsers(subparser)


def _rst(text: str | None) -> str | None:
    if not text:
        return text
    blocks: list[str] = []
    for paragraph in text.strip().split("\n\n"):
        for kept, group in itertools.groupby(paragraph.splitlines(), key=lambda line: line.startswith(" ")):
            lines = list(group)
            if not kept:
                blocks.append(_escape(" ".join(line.strip() for line in lines)))
                continue
            literal = "\n".join("    " + line for line in lines)
            if blocks and blocks[-1].endswith(":") and not blocks[-1].endswith("::"):
                blocks[-1] += ":"  # "examples::" reads "examples:" above a literal block
                blocks.append(literal)
            else:
                blocks.append("::\n\n" + literal)
    return "\n\n".join(blocks)


_MARKUP = "\\*`|_[]"


def _escape(text: str) -> str:
    # A paragraph starting with "-", "1." or "--flag" would read as a list or an option list.
    lead = "\\" if text and not text[0].isalpha() and text[0] not in _MARKUP else ""
    for char in _MARKUP:
        text = text.replace(char, "\\" + char)
    return lead + text
