import subprocess
import sys

from tripleentropy import __version__
from tripleentropy.cli import main


def test_version_flag(capsys):
    try:
        main(["--version"])
    except SystemExit as stop:
        assert stop.code == 0
    assert __version__ in capsys.readouterr().out


def test_module_entry_point_prints_help():
    result = subprocess.run([sys.executable, "-m", "tripleentropy", "--help"], capture_output=True, text=True)
    assert result.returncode == 0
    assert "usage: tripleentropy" in result.stdout
