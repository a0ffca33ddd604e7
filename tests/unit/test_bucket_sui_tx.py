"""SuiChain's bucket transactions, built offline and decoded: an extension is one PTB with
every member's `extend_blob` and then `bucket::extend`, paid from the gas coin; a commit
carries the base version as a u64."""

from __future__ import annotations

import struct

from haulout.chain.sui_bucket import bucket_commit, bucket_create, bucket_destroy, bucket_extend
from haulout.chain.sui_tx import HauloutTransaction, OwnedRef
from tests.unit.test_sui_tx import DIGEST, GAS, PACKAGE, SENDER, SYSTEM, commands, object_kind
from tests.unit.test_sui_tx import pure_bytes as pure

BUCKET = OwnedRef("0x" + "aa" * 32, 4, DIGEST)
MANIFEST = OwnedRef("0x" + "bb" * 32, 5, DIGEST)
MEMBERS = [OwnedRef("0x" + f"{i:02x}" * 32, 6, DIGEST) for i in (0xC1, 0xC2)]


def test_extension_is_one_ptb_over_members_and_manifest() -> None:
    tx = HauloutTransaction(PACKAGE)
    for m in MEMBERS:
        tx.extend_blob(SYSTEM, m, 3)
    bucket_extend(tx, BUCKET, SYSTEM, MANIFEST, 2)
    inputs, cmds = commands(tx.transaction_data(SENDER.address, GAS, 1000, 10**7))
    assert [(c.value.Module, c.value.Function) for c in cmds] == [
        ("blob", "extend_blob"),
        ("blob", "extend_blob"),
        ("bucket", "extend"),
    ]
    args = cmds[2].value.Arguments
    assert object_kind(inputs, args[0]) == ("ImmOrOwnedObject", BUCKET.object_id, None)
    assert object_kind(inputs, args[1]) == ("SharedObject", SYSTEM.object_id, True)
    assert args[1].value == cmds[0].value.Arguments[0].value  # one System input
    assert object_kind(inputs, args[2]) == ("ImmOrOwnedObject", MANIFEST.object_id, None)
    assert struct.unpack("<I", pure(inputs, args[3]))[0] == 2
    assert args[4].enum_name == "GasCoin"


def test_create_commit_and_destroy_values() -> None:
    tx = HauloutTransaction(PACKAGE)
    new = bucket_create(tx, "train-data")
    tx.transfer([new], SENDER.address)
    bucket_commit(tx, BUCKET, SYSTEM, MANIFEST, 7)
    bucket_destroy(tx, BUCKET)
    inputs, cmds = commands(tx.transaction_data(SENDER.address, GAS, 1000, 10**7))
    assert pure(inputs, cmds[0].value.Arguments[0]) == b"\x0atrain-data"
    assert cmds[1].enum_name == "TransferObjects"
    commit = cmds[2].value.Arguments
    assert (cmds[2].value.Module, cmds[2].value.Function) == ("bucket", "commit")
    assert struct.unpack("<Q", pure(inputs, commit[3]))[0] == 7
    assert (cmds[3].value.Module, cmds[3].value.Function) == ("bucket", "destroy")
