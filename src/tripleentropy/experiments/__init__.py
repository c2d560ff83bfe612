"""Experiments: a grid of runs -> one JSON per run -> paired statistics -> report and plots.

A ``compare`` command is a thin layer over this package::

    specs = make_grid(["ce", "tripleentropy"], [20, 100, "full"], range(5),
                      model=model, data_fingerprint=fingerprint, settings=settings)
    records = run_grid(specs, RunStore(output_dir), run_fn)      # skips finished runs
    summary = write_outputs(records, output_dir, title=..., context=...)
    print(format_summary_table(summary))
"""

from typing import Any

from .grid import FULL, RunSpec, make_grid, run_grid
from .stats import paired_differences, paired_test, summarize
from .store import RunStore, fingerprint_examples, run_key

# The report functions import matplotlib (about a second): loaded on first use only.
_REPORT_NAMES = ("format_summary_table", "write_outputs", "write_report")


def __getattr__(name: str) -> Any:
    if name in _REPORT_NAMES:
        from . import report

        return getattr(report, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "FULL",
    "RunSpec",
    "RunStore",
    "fingerprint_examples",
    "format_summary_table",
    "make_grid",
    "paired_differences",
    "paired_test",
    "run_grid",
    "run_key",
    "summarize",
    "write_outputs",
    "write_report",
]
