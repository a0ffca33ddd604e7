"""The encoding type is a deployment setting: recorded in the deployment file (default type 1),
overridable per service, and refused up front where the System's shard count cannot hold it
(type 0 above 256 shards)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from haulout import cli
from haulout.chain.devchain import DevChain
from haulout.deployment import Deployment, deploy_devchain
from haulout.protocol.errors import InvalidParameters
from haulout.protocol.params import DEFAULT_ENCODING, ENCODING_RS, ENCODING_RS16
from haulout.settings import RelayerSettings


def test_new_deployments_default_to_type_1_and_record_it(tmp_path: Path) -> None:
    dep = deploy_devchain(tmp_path / "ledger.sqlite", n_nodes=4, n_shards=10)
    dep.save(tmp_path / "deployment.json")
    assert DEFAULT_ENCODING == ENCODING_RS16
    assert json.loads((tmp_path / "deployment.json").read_text())["encoding_type"] == 1
    assert Deployment.load(tmp_path / "deployment.json").encoding_type == ENCODING_RS16


def test_a_deployment_file_without_the_field_keeps_writing_type_0(tmp_path: Path) -> None:
    dep = deploy_devchain(tmp_path / "ledger.sqlite", n_nodes=4, n_shards=10)
    dep.save(tmp_path / "deployment.json")
    raw = json.loads((tmp_path / "deployment.json").read_text())
    del raw["encoding_type"]
    (tmp_path / "deployment.json").write_text(json.dumps(raw))
    assert Deployment.load(tmp_path / "deployment.json").encoding_type == ENCODING_RS


def test_a_1000_shard_deployment_over_10_nodes(tmp_path: Path) -> None:
    dep = deploy_devchain(tmp_path / "ledger.sqlite", n_nodes=10, n_shards=1000)
    system = DevChain(dep.ledger).system()
    assert system.n_shards == 1000 and dep.encoding_type == ENCODING_RS16
    assert system.committee is not None
    assert [len(m.shards) for m in system.committee.members] == [100] * 10
    assert dep.write_encoding(system.n_shards) == ENCODING_RS16
    with pytest.raises(InvalidParameters, match="between 1 and 256 for encoding type 0"):
        dep.write_encoding(system.n_shards, override=ENCODING_RS)
    with pytest.raises(InvalidParameters, match="unknown encoding type 7"):
        dep.write_encoding(system.n_shards, override=7)


def test_type_0_over_256_shards_is_refused_before_anything_is_deployed(tmp_path: Path) -> None:
    with pytest.raises(InvalidParameters, match="between 1 and 256 for encoding type 0"):
        deploy_devchain(tmp_path / "ledger.sqlite", n_nodes=4, n_shards=1000, encoding_type=0)
    assert not (tmp_path / "ledger.sqlite").exists()
    deploy_devchain(tmp_path / "ok.sqlite", n_nodes=4, n_shards=256, encoding_type=0)


def test_cli_deploy_refuses_type_0_over_256_shards(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["deploy", "--dir", str(tmp_path), "--shards", "1000", "--encoding-type", "0"]
    assert cli.main(argv) == 2
    assert "between 1 and 256 for encoding type 0" in capsys.readouterr().err
    assert not (tmp_path / "deployment.json").exists()
    argv = ["deploy", "--dir", str(tmp_path), "--nodes", "10", "--shards", "1000"]
    assert cli.main(argv) == 0
    assert Deployment.load(tmp_path / "deployment.json").encoding_type == ENCODING_RS16


def test_relayer_override_and_refusal_to_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from relayer.__main__ import build

    dep = deploy_devchain(tmp_path / "ledger.sqlite", n_nodes=4, n_shards=300)
    dep.save(tmp_path / "deployment.json")
    monkeypatch.setenv("HAULOUT_RELAYER_ENCODING_TYPE", "0")
    settings = RelayerSettings(
        deployment=str(tmp_path / "deployment.json"),
        spool_dir=str(tmp_path / "spool"),
        state_dir=str(tmp_path / "state"),
    )
    assert settings.encoding_type == ENCODING_RS
    with pytest.raises(InvalidParameters, match="between 1 and 256 for encoding type 0"):
        build(settings)
    monkeypatch.delenv("HAULOUT_RELAYER_ENCODING_TYPE")
    settings = RelayerSettings(
        deployment=str(tmp_path / "deployment.json"),
        spool_dir=str(tmp_path / "spool"),
        state_dir=str(tmp_path / "state"),
    )
    app, _index = build(settings)  # the deployment's type 1 fits 300 shards
    assert app is not None


def test_up_switches_an_existing_deployments_encoding_without_redeploying(tmp_path: Path) -> None:
    from haulout.launcher import LocalSystem

    first = LocalSystem(tmp_path, n_nodes=4, n_shards=10, encoding_type=0).deploy()
    assert first.encoding_type == ENCODING_RS
    kept = LocalSystem(tmp_path, n_nodes=4, n_shards=10).deploy()  # no type asked: keep it
    assert (kept.system_id, kept.encoding_type) == (first.system_id, ENCODING_RS)
    switched = LocalSystem(tmp_path, n_nodes=4, n_shards=10, encoding_type=1).deploy()
    assert switched.system_id == first.system_id  # same System and ledger: no data dropped
    assert Deployment.load(tmp_path / "deployment.json").encoding_type == ENCODING_RS16
    assert LocalSystem(tmp_path / "new", n_nodes=4, n_shards=10).deploy().encoding_type == 1


def test_up_refuses_switching_a_300_shard_deployment_to_type_0(tmp_path: Path) -> None:
    from haulout.launcher import LocalSystem

    LocalSystem(tmp_path, n_nodes=4, n_shards=300).deploy()
    with pytest.raises(InvalidParameters, match="between 1 and 256 for encoding type 0"):
        LocalSystem(tmp_path, n_nodes=4, n_shards=300, encoding_type=0).deploy()
    assert Deployment.load(tmp_path / "deployment.json").encoding_type == ENCODING_RS16
