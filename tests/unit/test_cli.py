"""The `haulout` command's parsing and its one-line errors (no services needed)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from haulout.cli import _ids_as_positionals, build_parser, main
from haulout.launcher import free_port

DASHED = "-ia-cWHbXv3mW7gkq1iU2hYzO0nN5pQe8rT9sUaVbCd"  # 43 characters, as blob ids are
EXE = [sys.executable, "-m", "haulout.cli"]


def parse(argv: list[str]) -> object:
    parser = build_parser()
    return parser.parse_args(_ids_as_positionals(argv, parser))


@pytest.mark.parametrize(
    "argv",
    [
        ["status", DASHED],
        ["status", DASHED, "--relayer", "http://127.0.0.1:1"],
        ["status", "--relayer", "http://127.0.0.1:1", DASHED],
        ["delete", DASHED],
        ["extend", DASHED, "--epochs", "2"],
        ["read", DASHED, "-o", "out"],
        ["read", "-o", "out", DASHED],
    ],
)
def test_an_id_that_begins_with_a_dash_is_the_id(argv: list[str]) -> None:
    a = parse(argv)
    assert DASHED in (
        getattr(a, "id", None),
        getattr(a, "blob_id", None),
        getattr(a, "object_id", None),
    )


def test_an_option_value_that_looks_like_an_id_stays_the_value() -> None:
    a = parse(["read", "abc", "-o", DASHED])
    assert (a.blob_id, a.out) == ("abc", DASHED)  # type: ignore[attr-defined]


def test_an_unreachable_relayer_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["status", DASHED, "--relayer", f"http://127.0.0.1:{free_port()}"])
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1 and "cannot reach the relayer" in err


def test_a_relayer_that_is_no_url_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["status", DASHED, "--relayer", "notaurl"])
    assert exit_.value.code == 2 and "http://" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [["store", "x", "--epochs", "0"], ["up", "--relayer-port", "0"]])
def test_bad_numbers_are_refused_before_anything_runs(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        build_parser().parse_args(argv)
    assert exit_.value.code == 2


def test_deploy_with_no_sui_node_is_one_line(tmp_path: object) -> None:
    """It used to print a 71-line httpx traceback (after building the Move package)."""
    r = subprocess.run(
        [*EXE, "deploy", "--dir", str(tmp_path), "--rpc", f"http://127.0.0.1:{free_port()}"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode != 0
    assert r.stderr.count("\n") == 1 and "Traceback" not in r.stderr
    assert "no Sui node answers" in r.stderr and "haulout localnet" in r.stderr


def test_a_missing_file_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["blob-id", "/nonexistent/file"]) == 1
    err = capsys.readouterr().err
    assert err == "error: No such file or directory: /nonexistent/file\n"
