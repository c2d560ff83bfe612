import hashlib
import os
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tripleentropy.cli import main
from tripleentropy.data import SOURCES, fetch_senteval
from tripleentropy.data.fetch import GITHUB_RAW, source_url
from tripleentropy.errors import UserError


class _Mirror(BaseHTTPRequestHandler):
    """Serves ``server.files`` (URL path -> bytes); paths in ``server.truncated`` stop half way."""

    def do_GET(self):
        body = self.server.files.get(self.path)
        if body is None:
            self.send_error(404)
            return
        truncated = self.path in self.server.truncated
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body[: len(body) // 2] if truncated else body)
        self.close_connection = True

    def log_message(self, *args):
        pass


@pytest.fixture
def mirror(senteval_dir):
    """A loopback HTTP server laid out like raw.githubusercontent.com, serving the shared files."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Mirror)
    server.files = {
        url[len(GITHUB_RAW) :]: (senteval_dir / relative).read_bytes() for relative, (url, _) in SOURCES.items()
    }
    server.truncated = set()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    server.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    yield server
    server.shutdown()
    server.server_close()


def url_path(relative):
    return SOURCES[relative][0][len(GITHUB_RAW) :]


def files_under(directory):
    return sorted(str(path.relative_to(directory)) for path in directory.rglob("*") if path.is_file())


def test_embedded_checksums_match_the_shared_sha256sums(senteval_dir):
    listed = dict(reversed(line.split()) for line in (senteval_dir / "SHA256SUMS").read_text().splitlines())
    assert {relative: checksum for relative, (_, checksum) in SOURCES.items()} == listed


def test_docs_list_every_file_with_its_address_and_checksum():
    rows = {}
    for line in (Path(__file__).parents[2] / "docs" / "data.md").read_text().splitlines():
        cells = [cell.strip(" `") for cell in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[0] in SOURCES:
            rows[cells[0]] = (cells[1], cells[2])
    assert rows == SOURCES


def test_base_url_replaces_the_github_host_and_keeps_the_path():
    url = SOURCES["CR/custrev.all"][0]
    assert url == "https://raw.githubusercontent.com/harvardnlp/sent-conv-torch/master/data/custrev.all"
    mirrored = "http://127.0.0.1:8000/harvardnlp/sent-conv-torch/master/data/custrev.all"
    assert source_url(url, "http://127.0.0.1:8000/") == mirrored
    assert source_url(url, None) == url


def test_fetch_downloads_and_verifies_every_file(mirror, tmp_path):
    previous = os.umask(0o022)
    try:
        downloaded = fetch_senteval(tmp_path, mirror.base_url, progress=False)
    finally:
        os.umask(previous)
    assert {(tmp_path / path).stat().st_mode & 0o777 for path in SOURCES} == {0o644}  # as open() would make them
    assert sorted(str(path.relative_to(tmp_path)) for path in downloaded) == sorted(SOURCES)
    assert files_under(tmp_path) == sorted(SOURCES)
    for relative, (_, checksum) in SOURCES.items():
        assert hashlib.sha256((tmp_path / relative).read_bytes()).hexdigest() == checksum
    assert fetch_senteval(tmp_path, mirror.base_url, progress=False) == []


def test_a_corrupt_download_is_refused_and_leaves_nothing(mirror, tmp_path):
    mirror.files[url_path("MPQA/mpqa.all")] = b"0 tampered\n" + mirror.files[url_path("MPQA/mpqa.all")]
    with pytest.raises(UserError, match=r"the download from http://127.0.0.1:\d+/harvardnlp/.*/mpqa.all is corrupt"):
        fetch_senteval(tmp_path, mirror.base_url, progress=False)
    assert files_under(tmp_path) == ["CR/custrev.all"]


def test_an_interrupted_download_leaves_nothing(mirror, tmp_path):
    mirror.truncated.add(url_path("CR/custrev.all"))
    with pytest.raises(UserError, match=r"could not download http://127.0.0.1:\d+/.*/custrev.all"):
        fetch_senteval(tmp_path, mirror.base_url, progress=False)
    assert files_under(tmp_path) == []


def test_a_missing_file_on_the_mirror_names_the_url(mirror, tmp_path):
    del mirror.files[url_path("CR/custrev.all")]
    with pytest.raises(UserError, match=r"could not download http://127.0.0.1:\d+/.*/custrev.all: HTTP 404"):
        fetch_senteval(tmp_path, mirror.base_url, progress=False)
    assert files_under(tmp_path) == []


def test_an_unreachable_server_names_the_url(tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(UserError, match=rf"could not download http://127.0.0.1:{port}/harvardnlp/"):
        fetch_senteval(tmp_path, f"http://127.0.0.1:{port}", timeout=5, progress=False)


def test_a_damaged_local_file_is_downloaded_again(mirror, tmp_path):
    fetch_senteval(tmp_path, mirror.base_url, progress=False)
    (tmp_path / "SST2" / "stsa.binary.dev").write_text("1 not the real file\n")
    downloaded = fetch_senteval(tmp_path, mirror.base_url, progress=False)
    assert downloaded == [tmp_path / "SST2" / "stsa.binary.dev"]


def test_fetch_command_downloads_into_dest(mirror, tmp_path, capsys):
    assert main(["data", "fetch", "--dest", str(tmp_path), "--base-url", mirror.base_url]) == 0
    assert files_under(tmp_path) == sorted(SOURCES)
    assert "16 files downloaded" in capsys.readouterr().err
    assert main(["data", "list", "--data-dir", str(tmp_path)]) == 0
    assert "no" not in capsys.readouterr().out.split()


def test_fetch_command_reports_a_corrupt_file_with_status_2(mirror, tmp_path, capsys):
    mirror.files[url_path("CR/custrev.all")] = b"corrupt"
    assert main(["data", "fetch", "--dest", str(tmp_path), "--base-url", mirror.base_url]) == 2
    error = capsys.readouterr().err
    assert error.startswith("tripleentropy: error: the download from http://127.0.0.1:")
    assert "custrev.all is corrupt" in error and "Traceback" not in error
    assert files_under(tmp_path) == []


def test_a_base_url_that_is_not_a_url_names_it(tmp_path):
    with pytest.raises(UserError, match=r"could not download mirror/harvardnlp/.*unknown url type"):
        fetch_senteval(tmp_path, "mirror", progress=False)
    assert files_under(tmp_path) == []
