"""DevChain runs the bucket scenarios of the generated Move tests
(tests/vectors/bucket_scenarios.json): same outcomes, abort module and constant, state."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from haulout.chain.accounts import Account
from haulout.chain.devchain import DevChain
from haulout.chain.errors import MoveAbort, ObjectNotOwned
from tests.unit.test_parity import run_step as run_blob_step
from tests.unit.test_parity import vector_chain
from tests.vectors import bucket_gen


def run_step(
    chain: DevChain, admin: Account, user: Account, st: dict[str, Any], step: dict[str, Any]
) -> None:
    op = step["op"]
    if op == "bucket_create":
        st["k"] = chain.create_bucket(user, bucket_gen.text(step["name"])).id
    elif op == "bucket_commit":
        chain.commit_bucket(user, st["k"], st["b"], step["base"])
    elif op == "bucket_tag":
        chain.tag_bucket(user, st["k"], step["tag"], step["version"])
    elif op == "bucket_tags":
        for tag in bucket_gen.tag_names(step["count"]):
            chain.tag_bucket(user, st["k"], tag, 1)
    elif op == "bucket_extend":
        chain.extend_bucket(user, st["k"], st["b"], step["epochs"])
    elif op == "bucket_destroy":
        chain.delete_bucket(user, st["k"])
    elif op == "bucket_check":
        k = chain.get_bucket(st["k"])
        assert k.version == step["version"]
        manifest = chain.get_blob(st["b"]).blob_id if step["version"] else None
        assert k.manifest_blob_id == manifest
        for tag, version in step.get("tags", {}).items():
            assert k.tags[tag] == version
    else:
        run_blob_step(chain, admin, user, st, step)


@pytest.mark.parametrize("scenario", bucket_gen.scenarios(), ids=lambda s: s["name"])
def test_devchain_follows_the_bucket_scenario(tmp_path: Path, scenario: dict[str, Any]) -> None:
    chain, admin, user = vector_chain(tmp_path)
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


def test_generated_move_bucket_scenarios_are_fresh() -> None:
    assert bucket_gen.TARGET.read_text() == bucket_gen.render(), (
        "run `python -m tests.vectors.bucket_gen`"
    )


def test_only_the_owner_may_use_a_bucket(tmp_path: Path) -> None:
    chain, admin, user = vector_chain(tmp_path, n_shards=10)
    other = Account.generate()
    chain.faucet(other.address)
    bucket = chain.create_bucket(user, "shared-name")
    with pytest.raises(ObjectNotOwned):
        chain.tag_bucket(other, bucket.id, "x", 1)
    assert chain.get_bucket(bucket.id).owner == user.address
