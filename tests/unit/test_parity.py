"""DevChain runs the same scenarios as the generated Move tests (tests/vectors/scenarios.json):
same outcomes, same abort module and constant, same object state."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from haulout.chain.accounts import Account
from haulout.chain.devchain import DevChain
from haulout.chain.errors import MoveAbort
from haulout.protocol.blob_id import BlobId
from haulout.protocol.certificate import Certificate
from tests.vectors import scenario_gen

VECTORS = Path(__file__).parents[1] / "vectors"
CERTS = json.loads((VECTORS / "certificate.json").read_text())
VECTOR_BLOB = BlobId.parse(CERTS["blob_id"])
VECTOR_ROOT = bytes(range(32))


def vector_chain(tmp: Path, n_shards: int | None = None) -> tuple[DevChain, Account, Account]:
    """The Move tests' setup: pinned committee, 10 shards, epoch 1; or with `n_shards`, a
    System of that many shards and no committee (the generated `setup_bare`), epoch 1."""
    chain = DevChain(tmp / "parity.sqlite")
    admin, user = Account.generate(), Account.generate()
    chain.faucet(admin.address)
    chain.faucet(user.address, 10**12)
    chain.publish(admin)
    chain.create_system(admin, n_shards or 10, 1000, 1000, 2000, 1 << 40, 53)
    if n_shards is not None:
        chain.force_advance_epoch(admin)
        return chain, admin, user
    ids = [
        chain.register_node(
            admin,
            "node",
            "http://127.0.0.1",
            bytes.fromhex(m["public_key"]),
            bytes.fromhex(m["pop"]),
            "0x" + m["address"],
        )
        for m in CERTS["members"]
    ]
    chain.set_committee(admin, ids, [m["shards"] for m in CERTS["members"]])
    chain.force_advance_epoch(admin)
    return chain, admin, user


def cert(label: str, signers: str | None = None) -> Certificate:
    c = next(c for c in CERTS["certificates"] if c["label"] == label)
    return Certificate(
        bytes.fromhex(c["signature"]),
        bytes.fromhex(signers or c["signers"]),
        bytes.fromhex(c["message"]),
    )


def run_step(
    chain: DevChain, admin: Account, user: Account, st: dict[str, Any], step: dict[str, Any]
) -> None:
    op = step["op"]
    t = step.get("encoding_type", 0)
    if op == "reserve_register":
        if step.get("blob") == "other":
            root = scenario_gen.OTHER_ROOT.to_bytes(32, "little")
            bid, size = BlobId.derive(t, scenario_gen.OTHER_SIZE, root), scenario_gen.OTHER_SIZE
        else:
            root, size = VECTOR_ROOT, step.get("size", 5)
            bid = BlobId.derive(t, size, root)
            assert (t, size) != (0, 5) or bid == VECTOR_BLOB
        st["b"] = chain.reserve_and_register(
            user, bid, root, size, t, step["epochs"], step["deletable"]
        ).id
    elif op == "reserve":
        st["st"] = chain.reserve_space(user, step["size"], step["epochs"]).id
    elif op == "register":
        root = (int.from_bytes(VECTOR_ROOT, "little") + step.get("root_delta", 0)).to_bytes(
            32, "little"
        )
        size = step.get("size", 5)
        bid = BlobId.derive(t, size, VECTOR_ROOT)
        st["b"] = chain.register_blob(user, st["st"], bid, root, size, t, False).id
    elif op == "certify":
        chain.certify_blob(user, st["b"], cert(step["cert"], step.get("signers")))
    elif op == "extend":
        chain.extend_blob(user, st["b"], step["epochs"])
    elif op == "delete":
        st["st"] = chain.delete_blob(user, st["b"]).id
    elif op == "set_attribute":
        chain.set_attribute(
            user,
            st["b"],
            scenario_gen.attribute_text(step["key"]),
            scenario_gen.attribute_text(step["value"]),
        )
    elif op == "remove_attribute":
        chain.remove_attribute(user, st["b"], step["key"])
    elif op == "invalidate":
        chain.invalidate_blob_id(user, cert(step["cert"]))
    elif op == "create_system":
        chain.create_system(admin, step["n_shards"], 1000, 1000, 2000, 1 << 40, 53)
    elif op == "advance":
        chain.force_advance_epoch(admin)
    elif op == "split_epoch":
        st["late"] = chain.split_storage_by_epoch(user, st["st"], step["epoch"]).id
    elif op == "split_size":
        st["part"] = chain.split_storage_by_size(user, st["st"], step["size"]).id
    elif op == "fuse_size":
        chain.fuse_storage(user, st["st"], st["part"])
    elif op == "fuse_epoch":
        chain.fuse_storage(user, st["st"], st["late"])
    elif op == "check":
        b = chain.get_blob(st["b"])
        assert (b.certified_epoch, b.end_epoch) == (step["certified_epoch"], step["end_epoch"])
    elif op == "check_storage":
        s = chain.get_storage(st["st"])
        assert (s.start_epoch, s.end_epoch) == (step["start_epoch"], step["end_epoch"])
        if "size" in step:
            assert s.storage_size == step["size"]
    else:
        raise ValueError(op)


@pytest.mark.parametrize("scenario", scenario_gen.scenarios(), ids=lambda s: s["name"])
def test_devchain_follows_the_scenario(tmp_path: Path, scenario: dict[str, Any]) -> None:
    chain, admin, user = vector_chain(tmp_path, scenario.get("n_shards"))
    state: dict[str, Any] = {}
    for step in scenario["steps"]:
        if "abort" in step:
            before = len(chain.events())
            with pytest.raises(MoveAbort) as err:
                run_step(chain, admin, user, state, step)
            assert [err.value.module, err.value.name] == step["abort"]
            assert len(chain.events()) == before
        else:
            run_step(chain, admin, user, state, step)


def test_generated_move_scenarios_are_fresh() -> None:
    assert scenario_gen.TARGET.read_text() == scenario_gen.render(), (
        "run `python -m tests.vectors.scenario_gen`"
    )
