"""SuiChain's bucket transactions, encoded offline from their one description and decoded:
an extension is one PTB with every member's `extend_blob` and then `bucket::extend`, paid from
the gas coin; a commit carries the base version as a u64 and reads the System immutably."""

from __future__ import annotations

import struct

from haulout.chain import calls
from haulout.chain.calls import Transaction
from haulout.chain.sui_tx import OwnedRef
from tests.unit.test_sui_tx import DIGEST, SENDER, SYSTEM, commands, encode, object_kind
from tests.unit.test_sui_tx import pure_bytes as pure

BUCKET = OwnedRef("0x" + "aa" * 32, 4, DIGEST)
MANIFEST = OwnedRef("0x" + "bb" * 32, 5, DIGEST)
MEMBERS = [OwnedRef("0x" + f"{i:02x}" * 32, 6, DIGEST) for i in (0xC1, 0xC2)]


def test_extension_is_one_ptb_over_members_and_manifest() -> None:
    tx = Transaction()
    for m in MEMBERS:
        tx.add(calls.blob.EXTEND_BLOB(SYSTEM.object_id, m.object_id, 3))
    tx.add(calls.bucket.EXTEND(BUCKET.object_id, SYSTEM.object_id, MANIFEST.object_id, 2))
    inputs, cmds = commands(encode(tx, BUCKET, MANIFEST, *MEMBERS))
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
    tx = Transaction()
    tx.transfer([tx.add(calls.bucket.CREATE("train-data"))], SENDER.address)
    tx.add(calls.bucket.COMMIT(BUCKET.object_id, SYSTEM.object_id, MANIFEST.object_id, 7))
    inputs, cmds = commands(encode(tx, BUCKET, MANIFEST))
    assert pure(inputs, cmds[0].value.Arguments[0]) == b"\x0atrain-data"
    assert cmds[1].enum_name == "TransferObjects"
    commit = cmds[2].value.Arguments
    assert (cmds[2].value.Module, cmds[2].value.Function) == ("bucket", "commit")
    assert object_kind(inputs, commit[1]) == ("SharedObject", SYSTEM.object_id, False)
    assert struct.unpack("<Q", pure(inputs, commit[3]))[0] == 7
    destroy = Transaction()
    destroy.add(calls.bucket.DESTROY(BUCKET.object_id))
    _, cmds = commands(encode(destroy, BUCKET))
    assert (cmds[0].value.Module, cmds[0].value.Function) == ("bucket", "destroy")
