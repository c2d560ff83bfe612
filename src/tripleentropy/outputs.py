"""Where the commands write, checked before any work: a bad location must not cost a training run."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from .errors import UserError


def _cannot_create(target: Path) -> str | None:
    """Why nothing can be created at ``target`` (its nearest existing part decides), or None."""
    for candidate in (target, *target.parents):
        if not candidate.exists():
            continue
        if not candidate.is_dir():
            return f"{candidate} is a file, not a directory"
        if not os.access(candidate, os.W_OK | os.X_OK):
            return f"no permission to write in {candidate}"
        return None
    return None


def check_output_dir(path: str | os.PathLike, flag: str = "--output-dir") -> Path:
    """``path`` as a directory this process can create or write into, else ``UserError`` naming
    ``flag``. Nothing is created here."""
    target = Path(path).expanduser()
    problem = _cannot_create(target)
    if problem is not None:
        raise UserError(f"{flag} {path}: {problem}; choose another {flag}")
    return target


def check_output_file(path: str | os.PathLike, flag: str = "--output") -> Path:
    """``path`` as a file this process can create or overwrite, else ``UserError`` naming ``flag``."""
    target = Path(path).expanduser()
    if target.is_dir():
        problem = f"{target} is a directory, not a file"
    elif target.exists():
        problem = None if os.access(target, os.W_OK) else f"no permission to overwrite {target}"
    else:
        problem = _cannot_create(target.parent)
    if problem is not None:
        raise UserError(f"{flag} {path}: {problem}; choose another {flag}")
    return target


def temporary_file_beside(target: Path, suffix: str) -> tuple[int, str]:
    """A new hidden temporary file in ``target``'s folder, to be renamed over ``target`` when
    complete: an open descriptor and its name. It gets the permissions that ``open`` would give
    ``target`` (0666 less the umask), not ``mkstemp``'s 0600, which would hide run stores and data
    from the rest of a group that shares them."""
    handle, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=suffix, dir=target.parent)
    umask = os.umask(0)
    os.umask(umask)
    os.fchmod(handle, 0o666 & ~umask)
    return handle, name


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the whole new one.

    The bytes go to a temporary file in the same folder, are flushed and fsynced, then renamed
    over ``path`` with ``os.replace`` (atomic on POSIX and Windows); the folder is fsynced too so
    the rename survives a power cut. On any error the temporary file is removed.
    """
    path = Path(path)
    handle, temp_name = temporary_file_beside(path, ".tmp")
    try:
        with os.fdopen(handle, "wb") as temp_file:
            temp_file.write(data)
            temp_file.flush()
            os.fsync(temp_file.fileno())
        os.replace(temp_name, path)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise
    _fsync_directory(path.parent)


def _fsync_directory(folder: Path) -> None:
    if os.name != "posix":
        return
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
