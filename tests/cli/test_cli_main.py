"""The command itself: help, version, global options, errors and exit codes, the console script."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import orjson
import pytest

import shipyard
from shipyard.cli import NOUNS, build_parser, main

if TYPE_CHECKING:
    from tests.cli.conftest import Cli, Data


def test_help_lists_every_noun(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for noun in NOUNS:
        assert noun in out


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"shipyard {shipyard.__version__}"


@pytest.mark.parametrize("argv", [[], ["runs"], ["models", "alias"], ["runs", "frobnicate"],
                                  ["runs", "list", "--max-results", "0"], ["experiments", "create"]])
def test_usage_errors_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    assert "usage: shipyard" in capsys.readouterr().err


def test_every_verb_takes_json_after_the_verb() -> None:
    parser = build_parser()
    args = parser.parse_args(["runs", "list", "--json"])
    assert args.json is True
    assert parser.parse_args(["--json", "runs", "list"]).json is True
    assert parser.parse_args(["runs", "list"]).json is False


def test_tracking_uri_overrides_the_environment(cli: Cli, tmp_path: Path) -> None:
    other = tmp_path / "other.db"
    uri = f"sqlite:///{other}"
    assert cli("--tracking-uri", uri, "experiments", "create", "elsewhere").code == 0
    assert other.exists()
    names = [e["name"] for e in cli("experiments", "list", "--json", "--tracking-uri", uri).json()]
    assert names == ["elsewhere"]
    assert cli("experiments", "create", "here").code == 0
    assert [e["name"] for e in cli("experiments", "list", "--json").json()] == ["here"]


@pytest.mark.parametrize("argv", [["runs", "list"], ["models", "list"], ["deployments", "list"],
                                  ["models", "versions", "x"], ["monitors", "list"]])
def test_a_read_command_never_creates_a_store(cli: Cli, shipyard_home: Path, monkeypatch: pytest.MonkeyPatch,
                                              argv: list[str]) -> None:
    missing = shipyard_home / "shipyard.db"
    assert not missing.exists()
    result = cli(*argv)
    assert result.code == 1 and result.out == ""
    assert f"no shipyard store at {missing}" in result.err and "SHIPYARD_HOME" in result.err
    assert not missing.exists()
    typo = shipyard_home.parent / "typo.db"
    monkeypatch.setenv("SHIPYARD_TRACKING_URI", f"sqlite:///{typo}")
    result = cli(*argv)
    assert result.code == 1 and f"no shipyard store at {typo} (chosen by SHIPYARD_TRACKING_URI)" in result.err
    assert not typo.exists()


def test_a_bad_tracking_uri_is_an_error_not_a_traceback(cli: Cli) -> None:
    result = cli("--tracking-uri", "nosuch://x", "runs", "list")
    assert result.code == 1
    assert result.err.startswith("error: store URI 'nosuch://x' has no known scheme")
    assert "Traceback" not in result.err


def test_markup_in_a_message_is_printed_literally(cli: Cli, empty_store: Path) -> None:
    result = cli("runs", "show", "[bold]nope[/bold]")
    assert result.code == 1
    assert "'[bold]nope[/bold]'" in result.err


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHIPYARD_")}
    env["SHIPYARD_HOME"] = str(home)
    return env


def test_console_script_runs_list_json(data: Data, shipyard_home: Path) -> None:
    script = Path(sys.executable).parent / "shipyard"
    assert script.exists(), "reinstall: .venv/bin/pip install -e ."
    proc = subprocess.run([str(script), "runs", "list", "--json"], env=_env(shipyard_home),
                          capture_output=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr.decode()
    assert sorted(r["run_id"] for r in orjson.loads(proc.stdout)) == sorted(data.run_ids)


def test_python_dash_m_shipyard(empty_store: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "shipyard", "runs", "show", "0" * 32],
                          env=_env(empty_store), capture_output=True, timeout=60, check=False)
    assert proc.returncode == 1
    assert proc.stdout == b""
    assert proc.stderr.decode().startswith("error: run '00000000000000000000000000000000' not found")


def test_help_does_not_import_the_store() -> None:
    code = ("import sys; from shipyard.cli import main\n"
            "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
            "heavy = [m for m in ('sqlalchemy', 'numpy', 'rich', 'shipyard.store.sql') if m in sys.modules]\n"
            "print(heavy)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=60, check=True)
    assert proc.stdout.decode().strip().endswith("[]")
