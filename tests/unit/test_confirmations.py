"""The relayer keeps only confirmations that sign this blob for the current epoch under the
member's registered key; stale, wrong and forged ones are dropped with the reason."""

from __future__ import annotations

import pytest

from haulout.chain.objects import BlobObject, StorageResource
from haulout.http_errors import ApiError
from haulout.node_client import Confirmation
from haulout.protocol.blob_id import BlobId
from haulout.protocol.bls import BlsKeyPair
from haulout.protocol.certificate import verify_certificate
from haulout.protocol.committee import Committee, Member, even_shards
from haulout.protocol.messages import BlobCertification
from relayer.controller import Distribution, StoreController, select_confirmations

KEYS = [BlsKeyPair.generate(bytes([i + 40]) * 32) for i in range(4)]
COMMITTEE = Committee(
    5,
    10,
    tuple(
        Member(f"n{i}", f"node-{i}", "", k.public_key, s)
        for i, (k, s) in enumerate(zip(KEYS, even_shards(10, 4), strict=True))
    ),
)


def blob(deletable: bool = False) -> BlobObject:
    return BlobObject(
        "0x" + "ab" * 32,
        5,
        BlobId(b"\x07" * 32),
        10,
        0,
        None,
        StorageResource("0x" + "cd" * 32, 5, 8, 1000),
        deletable,
    )


def conf(position: int, message: bytes, epoch: int, key: BlsKeyPair | None = None) -> Confirmation:
    return Confirmation(epoch, message, (key or KEYS[position]).sign(message))


def test_stale_forged_and_wrong_confirmations_are_rejected_with_reasons() -> None:
    b = blob()
    msg = BlobCertification(b.blob_id).message(5)
    confirmations = {
        0: conf(0, msg, 5),
        1: conf(1, BlobCertification(b.blob_id).message(4), 4),  # stale
        2: conf(2, msg, 5, key=KEYS[3]),  # forged: someone else's key
        3: conf(3, BlobCertification(BlobId(b"\x01" * 32)).message(5), 5),  # another blob
    }
    good, rejected = select_confirmations(COMMITTEE, b, confirmations, 5)
    assert list(good) == [0]
    assert "stale: signed for epoch 4" in rejected["node-1"]
    assert "does not verify" in rejected["node-2"]
    assert "another message" in rejected["node-3"]


def test_deletable_confirmations_must_name_the_object() -> None:
    b = blob(deletable=True)
    right = BlobCertification(b.blob_id, bytes.fromhex(b.id[2:])).message(5)
    permanent = BlobCertification(b.blob_id).message(5)
    good, rejected = select_confirmations(
        COMMITTEE, b, {0: conf(0, right, 5), 1: conf(1, permanent, 5)}, 5
    )
    assert list(good) == [0] and "another message" in rejected["node-1"]


def test_quorum_of_current_confirmations_certifies_and_short_one_says_who_failed() -> None:
    b = blob()
    msg = BlobCertification(b.blob_id).message(5)
    good, _ = select_confirmations(COMMITTEE, b, {p: conf(p, msg, 5) for p in (0, 1, 2)}, 5)
    controller = StoreController.__new__(StoreController)
    cert = controller.certificate(Distribution(signatures=good), b, COMMITTEE, 5)
    assert verify_certificate(COMMITTEE, cert, 5) == [0, 1, 2]
    with pytest.raises(ApiError) as err:
        controller.certificate(
            Distribution(signatures={0: good[0]}, failures={"node-1": "stale"}), b, COMMITTEE, 5
        )
    assert err.value.status == 503 and "node-1: stale" in err.value.message


def _certificate_known_to_verify(dist: Distribution, msg: bytes) -> bool:
    """Whether the certificate of `dist.signatures` is remembered as verified (the chain in
    this process then checks it without a pairing)."""
    from haulout.protocol import bls

    cert = StoreController.certificate(None, dist, blob(), COMMITTEE, 5)  # type: ignore[arg-type]
    keys = [COMMITTEE.parsed_keys[p] for p in sorted(dist.signatures)]
    key = (bls.encode_public_key(bls.aggregate_public_keys(keys)), msg, cert.signature)
    return key in bls._VERIFIED


def test_a_certificate_of_whole_verified_groups_is_remembered_but_not_part_of_one() -> None:
    """The sum of a group that verified together verifies; part of it need not (two signers
    may cancel each other out), so a certificate of part of a group is not remembered."""
    msg = BlobCertification(blob().blob_id, None).message(5)
    dist = Distribution()
    confs = {p: conf(p, msg, 5) for p in range(3)}
    dist.signatures, _ = select_confirmations(
        COMMITTEE, blob(), confs, 5, verified=dist.verified, groups=dist.groups
    )
    late, _ = select_confirmations(
        COMMITTEE, blob(), {3: conf(3, msg, 5)}, 5, verified=dist.verified, groups=dist.groups
    )
    assert len(dist.groups) == 2 and set(late) == {3}
    assert _certificate_known_to_verify(dist, msg)
    dist.signatures.update(late)
    assert _certificate_known_to_verify(dist, msg)
    dist.signatures = {p: s for p, s in dist.signatures.items() if p in (1, 2, 3)}
    assert not _certificate_known_to_verify(dist, msg)  # 1 and 2 are part of the first group


def test_a_remembered_verification_does_not_pass_another_signature() -> None:
    from haulout.protocol import bls

    msg = b"remembered message"
    good = KEYS[0].sign(msg)
    assert bls.verify(KEYS[0].public_key, msg, good)
    assert bls.verify(KEYS[0].public_key, msg, good)  # from memory
    assert not bls.verify(KEYS[0].public_key, msg, KEYS[1].sign(msg))
    assert not bls.verify(KEYS[1].public_key, msg, good)
    assert not bls.verify(KEYS[0].public_key, msg + b"!", good)
