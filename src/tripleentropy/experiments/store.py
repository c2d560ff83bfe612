"""The run store: one JSON file per finished run under ``<output_dir>/runs/``, written atomically.

A run is identified by :func:`run_key`, a SHA-256 over everything that affects its result, so a
restarted grid finds its finished runs and a changed setting never reuses a stale one.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import time
import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from ..outputs import write_bytes_atomic

try:
    import fcntl
except ImportError:  # Windows: no advisory locks, so no claims (every claim is granted)
    fcntl = None  # type: ignore[assignment]

# Bump when the meaning of a key changes (what goes into it, or how a run is computed), so that
# every run stored under the old meaning is redone instead of silently reused. 2: every setting a
# run trains with, the model by its content. 3: "method" (a loss, logreg, setfit, ...) replaced
# "loss", and a method's key holds exactly the settings it reads (with the model's fingerprint).
KEY_VERSION = 3

# The layout of a comparison's folder (compare, and each task of reproduce): one file per run in
# RUNS_DIR, the statistics in SUMMARY_FILE.
RUNS_DIR = "runs"
SUMMARY_FILE = "summary.json"
CLAIM_SUFFIX = ".claim"

RECORD_KEYS = ("key", "method", "train_size", "seed", "metrics", "config", "data_fingerprint", "seconds", "finished_at")


def canonical_json(value: Any) -> str:
    """Serialise ``value`` to one canonical JSON string: sorted keys, no spaces, no NaN.

    Raises ``TypeError`` for values JSON cannot represent exactly (a ``Path``, a set, an object):
    convert them explicitly, so that two different settings never hash alike by accident.
    """
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def run_key(spec: Mapping[str, Any]) -> str:
    """The stable SHA-256 hex digest of ``spec``, a mapping of everything that affects a result.

    Dictionary order does not matter; any changed value (including ``1`` against ``1.0``, which
    JSON keeps apart) gives a different key.
    """
    payload = canonical_json({"key_version": KEY_VERSION, "spec": dict(spec)})
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def fingerprint_examples(items: Iterable[Any]) -> str:
    """SHA-256 over an ordered list of examples: ``(text, text_pair, label)`` tuples (or lists) or objects
    with ``.text``, ``.text_pair`` and ``.label`` attributes (the data layer's ``Example``).

    The order counts: the same examples in another order fingerprint differently, because the
    order can change what sampling and training produce.
    """
    digest = hashlib.sha256()
    for item in items:
        if isinstance(item, (tuple, list)):
            text, text_pair, label = item
        else:
            text, text_pair, label = item.text, item.text_pair, item.label
        digest.update(canonical_json([text, text_pair, int(label)]).encode("utf-8"))
        digest.update(b"\n")
    return digest.hexdigest()


def fingerprint_split(pool: Iterable[Any], held_out_name: str, held_out: Iterable[Any] | None, how: str) -> str:
    """The fingerprint of data split in two: every example of ``pool``, then every example held
    out under ``held_out_name`` (a test or validation set, or none), then ``how`` the held-out
    sets are drawn (folds, sample caps)."""
    return fingerprint_examples(
        [(e.text, e.text_pair, e.label) for e in pool]
        + [(f"<{held_out_name}>", None, -1)]
        + [(e.text, e.text_pair, e.label) for e in (held_out or [])]
        + [(how, None, -1)]
    )


def write_json_atomic(path: str | os.PathLike, value: Any) -> None:
    """Write ``value`` as strict JSON (no NaN or inf), indented, with :func:`write_bytes_atomic`."""
    text = json.dumps(value, indent=2, ensure_ascii=False, allow_nan=False) + "\n"
    write_bytes_atomic(path, text.encode("utf-8"))


def _problem(record: Any, key: str) -> str | None:
    """Why ``record`` is not a valid finished run stored under ``key``, or None if it is."""
    if not isinstance(record, dict):
        return "not a JSON object"
    missing = [name for name in RECORD_KEYS if name not in record]
    if missing:
        return f"missing {', '.join(missing)}"
    if record["key"] != key:
        return f"its key {record['key']!r} does not match the file name"
    accuracy = record["metrics"].get("accuracy") if isinstance(record["metrics"], dict) else None
    if not isinstance(accuracy, (int, float)) or not 0.0 <= accuracy <= 1.0:
        return "metrics.accuracy is not a fraction in [0, 1]"
    return None


def holds_comparison(directory: str | os.PathLike) -> bool:
    """Whether ``directory`` holds the stored runs or the summary of a ``compare`` or ``reproduce``.

    A trained model's folder may hold a ``runs/`` folder too (``--report-to tensorboard`` logs
    into ``runs/<time>/``), but never run files.
    """
    directory = Path(directory)
    return (directory / SUMMARY_FILE).is_file() or any((directory / RUNS_DIR).glob("*.json"))


def _same_file(descriptor: int, path: Path) -> bool:
    """Whether ``path`` still names the file open as ``descriptor``."""
    try:
        named = path.stat()
    except FileNotFoundError:
        return False
    opened = os.fstat(descriptor)
    return (named.st_dev, named.st_ino) == (opened.st_dev, opened.st_ino)


class RunStore:
    """One JSON file per finished run, in ``<output_dir>/runs/<key>.json``.

    ``save`` is atomic, so a run killed at any moment leaves either no file or a complete one.
    A file that cannot be read as a valid record (corrupt, truncated by a foreign writer, key
    mismatch) is moved aside to ``<key>.json.corrupt-<time>`` with a warning and counts as
    missing, so the run is simply redone.

    Processes that share one store take each run with :meth:`claim` before training it, so no
    two of them train the same run. A claim is an exclusive ``flock`` on ``<key>.claim``, which
    the operating system drops when its process ends, however it ends: a killed process leaves
    at most an unlocked file, which the next claim takes over. ``saved_keys`` are the runs this
    object stored.
    """

    def __init__(self, output_dir: str | os.PathLike) -> None:
        self.output_dir = Path(output_dir)
        self.runs_dir = self.output_dir / RUNS_DIR
        self.runs_dir.mkdir(parents=True, exist_ok=True)
        self.saved_keys: set[str] = set()
        self._claims: dict[str, int] = {}

    def path_for(self, key: str) -> Path:
        """The file that holds (or will hold) the run with this key."""
        return self.runs_dir / f"{key}.json"

    def claim_path_for(self, key: str) -> Path:
        """The file whose lock is the claim on the run with this key."""
        return self.runs_dir / f"{key}{CLAIM_SUFFIX}"

    def claim(self, key: str, wait: bool = False) -> bool:
        """Take the run with this key for this store object: False while anyone else holds it,
        or with ``wait``, block until they release it.

        Load the run after claiming it: a run that another process finished (and released) just
        before is stored by then. Release the claim with :meth:`release` once the run is stored
        or abandoned.
        """
        if key in self._claims:
            return True
        path = self.claim_path_for(key)
        while True:
            descriptor = os.open(path, os.O_CREAT | os.O_RDWR, 0o644)
            try:
                if fcntl is not None:
                    fcntl.flock(descriptor, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
                if _same_file(descriptor, path):
                    os.ftruncate(descriptor, 0)
                    os.write(descriptor, f"{socket.gethostname()} pid {os.getpid()}\n".encode())
                    self._claims[key] = descriptor
                    return True
            except BlockingIOError:
                os.close(descriptor)
                return False
            except BaseException:
                os.close(descriptor)
                raise
            os.close(descriptor)  # locked a file its holder had just removed: open the new one

    def release(self, key: str) -> None:
        """Give up the claim on ``key`` (nothing if this object holds none) and remove its file."""
        descriptor = self._claims.pop(key, None)
        if descriptor is None:
            return
        try:
            os.unlink(self.claim_path_for(key))
        except FileNotFoundError:
            pass
        finally:
            os.close(descriptor)

    def release_all(self) -> None:
        """Give up every claim this object holds."""
        for key in list(self._claims):
            self.release(key)

    def load(self, key: str) -> dict | None:
        """The finished run stored under ``key``, or None if there is none (or it was corrupt)."""
        path = self.path_for(key)
        try:
            with open(path, encoding="utf-8") as file:
                record = json.load(file)
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            self._quarantine(path, f"unreadable ({error})")
            return None
        problem = _problem(record, key)
        if problem is not None:
            self._quarantine(path, problem)
            return None
        return record

    def save(self, key: str, record: Mapping[str, Any]) -> Path:
        """Store ``record`` (a finished run; see :data:`RECORD_KEYS`) atomically under ``key``."""
        record = dict(record)
        problem = _problem(record, key)
        if problem is not None:
            raise ValueError(f"not a valid run record for key {key}: {problem}")
        path = self.path_for(key)
        try:
            write_json_atomic(path, record)
        except (TypeError, ValueError) as error:
            raise ValueError(f"run record {key} is not strict JSON ({error}): NaN, inf and objects are not allowed") from error
        self.saved_keys.add(key)
        return path

    def all_records(self) -> list[dict]:
        """Every valid finished run in the store, in file-name (key) order.

        The store may hold runs of earlier grids with other settings: to summarise one grid, use
        the records that :func:`~tripleentropy.experiments.grid.run_grid` returns instead.
        """
        records = []
        for path in sorted(self.runs_dir.glob("*.json")):
            record = self.load(path.stem)
            if record is not None:
                records.append(record)
        return records

    def _quarantine(self, path: Path, reason: str) -> None:
        target = path.with_name(f"{path.name}.corrupt-{time.time_ns()}")
        try:
            os.replace(path, target)
        except FileNotFoundError:
            return
        warnings.warn(f"ignoring run file {path}: {reason}; moved to {target.name}, the run will be redone", stacklevel=3)

