"""The ``models`` command: the ``--model`` shortcuts, whether each is installed, its size and license."""

from __future__ import annotations

import argparse
import json

from ..cli_help import add_command
from .packaged import PACKAGED_MODELS, model_cache_dir, model_status


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``models`` command."""
    parser = add_command(
        subparsers,
        "models",
        help="list the --model shortcuts: installed?, parameters, disk, license",
        description=(
            "List the pretrained encoders that --model names by a shortcut, whether each is installed "
            "and ready to load (mpnet is unzipped into the user cache on first use), its parameters, "
            "the disk its files take now, its license, and how to install it. Changes nothing."
        ),
        examples=["tripleentropy models", "tripleentropy models --json"],
        docs="docs/guide.md",
    )
    parser.add_argument("--json", action="store_true", help="print a JSON list of objects instead of a table")
    parser.set_defaults(handler=_list)


def _rows() -> list[dict]:
    rows = []
    for shortcut, model in PACKAGED_MODELS.items():
        status = model_status(shortcut)
        rows.append({
            "shortcut": shortcut,
            "model_id": model.model_id,
            "architecture": model.architecture,
            "parameters": model.parameters,
            "license": model.license,
            "installed": status.installed,
            "ready": status.ready,
            "path": str(status.path) if status.path else None,
            "disk_bytes": status.disk_bytes,
            "requirements": model.requirements,
            "install_command": model.install_command(),
            "problem": status.problem,
            "partial_assemblies": [str(path) for path in status.leftovers],
        })
    return rows


def _state(row: dict) -> str:
    if row["ready"]:
        return "ready"
    if row["installed"]:
        return "installed; unzipped on first use"
    return "not installed"


def _list(args: argparse.Namespace) -> int:
    rows = _rows()
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    header = ["shortcut", "model", "architecture", "parameters", "disk", "license", "state"]
    table = [
        [
            row["shortcut"],
            row["model_id"],
            row["architecture"],
            f"{row['parameters'] / 1e6:.1f}M",
            f"{row['disk_bytes'] / 1e6:,.1f} MB" if row["disk_bytes"] else "-",
            row["license"],
            _state(row),
        ]
        for row in rows
    ]
    widths = [max(len(line[i]) for line in [header, *table]) for i in range(len(header))]
    for line in [header, *table]:
        print("  ".join(cell.ljust(width) for cell, width in zip(line, widths)).rstrip())
    print("\ndisk: the model's files now (for mpnet, its packages plus the copy unzipped into the cache)")
    print(f"unzipped models: {model_cache_dir()}")
    for row in rows:
        if row["problem"]:
            print(f"{row['shortcut']}: {row['problem']}")
        for path in row["partial_assemblies"]:
            print(f"{row['shortcut']}: {path} was left by an interrupted assembly; remove it when no "
                  f"tripleentropy process is assembling")
    return 0
