"""Every command's ``--help``: the long commands' flags in groups, required flags shown as required,
no empty defaults, no measurements, flags named only where the command has them, and at the end
examples that pass the command's checks and the page of the repository that documents it."""

from __future__ import annotations

import argparse
import re
import shlex
from dataclasses import fields
from pathlib import Path

import pytest

from tripleentropy.cli import build_parser, check_arguments
from tripleentropy.cli_help import DOCS_HOME
from tripleentropy.training.config import FLAG_GROUPS, TrainConfig

ROOT = Path(__file__).resolve().parents[1]
COMMANDS: dict[str, argparse.ArgumentParser] = build_parser()._subparsers._group_actions[0].choices
# The commands with dozens of flags, which --help shows in groups.
GROUPED = ("train", "compare", "tune")
# Flags that name a file the command reads, and the positional file of `data check`.
INPUT_FLAGS = ("--train", "--validation", "--test", "--data", "--input", "--eval-file", "check")


def all_parsers() -> dict[str, argparse.ArgumentParser]:
    """``tripleentropy`` and each of its commands and subcommands (``data check``), by name."""
    parsers = {"tripleentropy": build_parser()}
    for name, parser in COMMANDS.items():
        parsers[name] = parser
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                parsers.update({f"{name} {sub}": subparser for sub, subparser in action.choices.items()})
    return parsers


PARSERS = all_parsers()


def flat(text: str) -> str:
    """``text`` with every run of whitespace as one space: what it says, however it is wrapped."""
    return " ".join(text.split())


def ending(name: str) -> tuple[list[str], str]:
    """The example command lines just before the last line of the command's ``--help`` (none
    without an ``examples:`` paragraph there), and that last line."""
    *_, examples, last = COMMANDS[name].format_help().rstrip("\n").split("\n\n")
    header, *lines = examples.splitlines()
    return [line.strip() for line in lines] if header == "examples:" else [], last


EXAMPLES = [(name, line) for name in COMMANDS for line in ending(name)[0]]


@pytest.mark.parametrize("name", GROUPED)
def test_the_long_commands_show_their_flags_in_groups(name):
    parser = COMMANDS[name]
    titled = [group for group in parser._action_groups if group.title not in ("positional arguments", "options")]
    assert len([group for group in titled if group._group_actions]) >= 4
    loose = [action.option_strings[0] for action in parser._optionals._group_actions]
    assert set(loose) <= {"-h", "--config"}, f"{name} --help shows {loose} outside any group"


@pytest.mark.parametrize("name", ["train", "tune"])
def test_each_training_flag_is_in_the_group_its_field_names(name):
    group_of = {action.dest: group.title for group in COMMANDS[name]._action_groups for action in group._group_actions}
    for item in fields(TrainConfig):
        assert item.metadata["group"] in FLAG_GROUPS, item.name
        if item.name in group_of:
            assert group_of[item.name] == item.metadata["group"], item.name


@pytest.mark.parametrize("name", PARSERS)
def test_required_flags_are_shown_as_required(name):
    parser = PARSERS[name]
    usage, text = flat(parser.format_usage()), flat(parser.format_help())
    for action in parser._actions:
        if action.required and action.option_strings:
            assert f"[{action.option_strings[0]}" not in usage, action.option_strings
            assert flat(f"{action.help} (required)") in text, action.option_strings


def test_train_shows_and_enforces_its_required_output_dir(capsys):
    parser = COMMANDS["train"]
    assert "--output-dir DIR" in flat(parser.format_usage()) and "[--output-dir" not in parser.format_usage()
    assert "--output-dir DIR where the model, checkpoints and logs go (required)" in flat(parser.format_help())
    with pytest.raises(SystemExit) as stop:
        check_arguments(["train", "--task", "SST2"])
    assert stop.value.code == 2 and "the following arguments are required: --output-dir" in capsys.readouterr().err


@pytest.mark.parametrize("name", PARSERS)
def test_no_flag_shows_a_default_of_none(name):
    assert "(default: None)" not in flat(PARSERS[name].format_help())


@pytest.mark.parametrize("name", PARSERS)
def test_help_states_no_measurements(name):
    """Speed-ups and other measurements go stale; the docs report them with their setting."""
    text = flat(PARSERS[name].format_help())
    assert not re.findall(r"\d(?:\.\d+)?x\b|\b(?:sooner|faster|slower)\b", text)


@pytest.mark.parametrize("name", [*GROUPED, "evaluate", "predict", "reproduce"])
def test_help_names_only_flags_the_command_has(name):
    """A flag named in a description or a flag's help is one of the command's own (``tune``
    has no --seed, ``compare`` no --loss)."""
    parser = COMMANDS[name]
    own = {option for action in parser._actions for option in action.option_strings}
    texts = [parser.description, *(group.description for group in parser._action_groups),
             *(action.help for action in parser._actions)]
    named = {flag for text in texts if text for flag in re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", text)}
    assert named - own == set()


def test_compare_calls_what_it_runs_methods():
    parser = COMMANDS["compare"]
    (tuning,) = [group for group in parser._action_groups if group.title == "equal-budget tuning"]
    texts = [tuning.description, *(action.help for action in tuning._group_actions),
             *(action.help for action in parser._actions if action.dest == "shard")]
    assert not [text for text in texts if re.search(r"\blosse?s?\b|\bLOSS\b", text)]


@pytest.mark.parametrize("name", COMMANDS)
def test_help_ends_with_examples_and_the_docs_page(name):
    examples, last = ending(name)
    assert 2 <= len(examples) <= 3
    assert all(shlex.split(line)[:2] == ["tripleentropy", name] for line in examples)
    match = re.fullmatch(rf"docs: (\S+) in {DOCS_HOME}", last)
    assert match and (ROOT / match.group(1)).is_file(), last


@pytest.mark.parametrize("name, line", EXAMPLES, ids=[line for _, line in EXAMPLES])
def test_each_example_passes_the_checks_of_its_command(name, line, tmp_path, monkeypatch):
    """Run as a user would, in a folder that holds the files it reads and the model folder that
    ``evaluate`` and ``predict`` read."""
    monkeypatch.chdir(tmp_path)
    argv = shlex.split(line)[1:]
    for flag, value in zip(argv, argv[1:]):
        if flag in INPUT_FLAGS:
            (tmp_path / value).write_text("text,label\na fine film,positive\na dull film,negative\n")
        if flag == "--model-dir":
            (tmp_path / value).mkdir(parents=True)
            (tmp_path / value / "config.json").write_text("{}\n")
    check_arguments(argv)
