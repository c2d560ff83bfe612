"""What the source cites must be there for a user who has only the repository."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_source_comments_cite_only_files_in_the_repository():
    cited = re.compile(r"(?<![\w/.])((?:docs|benchmarks|tests|src)/[\w./-]+|[\w-]+\.md)\b")
    missing = []
    for path in sorted([*ROOT.glob("src/**/*.py"), *ROOT.glob("benchmarks/*.py"), *ROOT.glob("examples/*")]):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            for name in cited.findall(line):
                name = name.rstrip(".")
                if "://" in line and name.endswith(".py"):
                    continue  # a file of another repository, named with its address
                if not (ROOT / name).exists() and not list(ROOT.rglob(Path(name).name)):
                    missing.append(f"{path.relative_to(ROOT)}:{number}: {name}")
    assert missing == []
