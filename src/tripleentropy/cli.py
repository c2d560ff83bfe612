"""The ``tripleentropy`` command: a thin layer that parses arguments and calls the library."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from . import __version__
from .cli_help import DOCS_HOME, HelpFormatter
from .data import cli as data_cli
from .errors import UserError
from .experiments import cli as experiments_cli
from .experiments import tune_cli
from .modeling import cli as modeling_cli
from .training import cli as training_cli

# Each entry adds one subcommand: register(subparsers) creates its parser and sets ``handler``
# (a function of the parsed arguments returning the exit status) and, for commands that do
# expensive work, ``validate`` (the checks the handler makes first, before any of that work).
_COMMANDS: list = [
    data_cli.register,
    modeling_cli.register,
    training_cli.register_train,
    training_cli.register_evaluate,
    training_cli.register_predict,
    experiments_cli.register_compare,
    experiments_cli.register_reproduce,
    tune_cli.register_tune,
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tripleentropy",
        description=(
            "Fine-tune Hugging Face encoders for text classification with TripleEntropy "
            "(cross-entropy + SoftTriple) and compare it with plain cross-entropy."
        ),
        formatter_class=HelpFormatter,
        epilog=(f"`tripleentropy COMMAND --help` shows a command's flags and examples.\n\n"
                f"docs: docs/guide.md in {DOCS_HOME}"),
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for register in _COMMANDS:
        register(subparsers)
    return parser


def check_arguments(argv: Sequence[str]) -> argparse.Namespace:
    """Parse ``argv`` and run the command's up-front checks, exactly as the command would before
    it reads data, loads a model or trains: flags, values, combinations, output locations, the
    model name. Returns the parsed arguments.

    Raises ``SystemExit`` (status 2, with argparse's usage message) for unknown flags or bad
    flag values, and ``UserError`` for anything the checks refuse.
    """
    args = build_parser().parse_args(argv)
    validate = getattr(args, "validate", None)
    if validate is not None:
        validate(args)
    return args


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "handler", None) is None:
        parser.print_help()
        return 0
    try:
        return int(args.handler(args) or 0)
    except UserError as error:
        print(f"tripleentropy: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("tripleentropy: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader of our output went away (`tripleentropy data list | head`): not an error.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
