"""Every certificate and proof of possession Haulout makes verifies under Mysten's fastcrypto
exactly as Sui's `bls12381_min_pk_verify` sees it (aggregate key of the signers, the message
bytes, the signature), and fastcrypto rejects it once a byte of the signature, a key, the
message or a signer bit changes. Our own verifier must give the same verdict every time."""

from __future__ import annotations

import json
from pathlib import Path

import pysui_fastcrypto as fc
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from haulout.protocol import bls
from haulout.protocol.blob_id import BlobId
from haulout.protocol.certificate import Certificate, aggregate, verify_certificate
from haulout.protocol.committee import Committee, Member, even_shards
from haulout.protocol.errors import InvalidCertificate, InvalidKey, InvalidSignature
from haulout.protocol.messages import (
    BlobCertification,
    Intent,
    invalid_blob_message,
    proof_of_possession,
)

from .fastcrypto_view import (
    accepts,
    accepts_aggregate,
    move_accepts_certificate,
    move_vectors,
    pop_message,
    signer_positions,
)

VECTORS = json.loads(
    (Path(__file__).resolve().parents[1] / "vectors" / "certificate.json").read_text()
)


def _flip(data: bytes, position: int, mask: int) -> bytes:
    out = bytearray(data)
    out[position % len(out)] ^= mask
    return bytes(out)


def _ours_accepts(committee: Committee, cert: Certificate) -> bool:
    """Our verifier's verdict on the signature alone (quorum and epoch set aside)."""
    try:
        keys = [committee.parsed_keys[p] for p in signer_positions(cert.signers)]
        return bls.verify(bls.aggregate_public_keys(keys), cert.message, cert.signature)
    except Exception:
        return False


# -- pinned vectors ----------------------------------------------------------------------------


@pytest.mark.parametrize("cert", VECTORS["certificates"], ids=lambda c: c["label"])
def test_pinned_certificate_verifies_under_fastcrypto(cert: dict) -> None:  # type: ignore[type-arg]
    keys = [bytes.fromhex(m["public_key"]) for m in VECTORS["members"]]
    sig, signers, msg = (bytes.fromhex(cert[k]) for k in ("signature", "signers", "message"))
    assert signer_positions(signers) == cert["signers_positions"]
    assert move_accepts_certificate(keys, sig, signers, msg)
    # the aggregate is fastcrypto's aggregate of the members' own signatures, byte for byte
    secrets = [bls.BlsKeyPair.from_secret(bytes.fromhex(m["secret"])) for m in VECTORS["members"]]
    singles = [secrets[p].sign(msg) for p in cert["signers_positions"]]
    assert all(
        accepts(keys[p], s, msg) for p, s in zip(cert["signers_positions"], singles, strict=True)
    )
    assert bytes(fc.bls_aggregate(singles)) == sig


def test_pinned_proofs_of_possession_verify_under_fastcrypto() -> None:
    for m in VECTORS["members"]:
        key, pop, addr = (bytes.fromhex(m[k]) for k in ("public_key", "pop", "address"))
        assert proof_of_possession(0, key, addr) == pop_message(0, key, addr)
        assert accepts(key, pop, pop_message(0, key, addr))
        assert not accepts(key, pop, pop_message(1, key, addr))  # bound to the epoch


def test_move_test_vectors_verify_under_fastcrypto() -> None:
    """The hex the Move tests hand to `bls12381_min_pk_verify` (move/tests/test_vectors.move):
    certificates whose outcome the tests expect to rest on a valid signature verify, and each
    node's proof of possession verifies for its key and address at epoch 0."""
    mv = move_vectors()
    assert len(mv.public_keys) == len(mv.pops) == len(mv.addresses) == 4
    for key, pop, addr in zip(mv.public_keys, mv.pops, mv.addresses, strict=True):
        assert accepts(key, pop, pop_message(0, key, addr))
    names = {c.name for c in mv.certs}
    assert names == {c["label"] for c in VECTORS["certificates"]}
    for c in mv.certs:
        assert move_accepts_certificate(mv.public_keys, c.signature, c.signers, c.message), c.name
    # crypto_tests.move: permanent_quorum (signed by 0, 1, 2) claimed as 0, 1, 3 must fail
    quorum = next(c for c in mv.certs if c.name == "permanent_quorum")
    assert not move_accepts_certificate(mv.public_keys, quorum.signature, b"\x0b", quorum.message)
    # ... and a proof of possession for another key
    assert not accepts(
        mv.public_keys[1], mv.pops[0], pop_message(0, mv.public_keys[1], mv.addresses[1])
    )


# -- fresh random committees -------------------------------------------------------------------


def _random_committee(
    seed: bytes, n_shards: int, n_members: int, epoch: int
) -> tuple[Committee, list[bls.BlsKeyPair]]:
    keys = [bls.BlsKeyPair.generate(seed + i.to_bytes(4, "little")) for i in range(n_members)]
    members = tuple(
        Member(f"0x{i:064x}", f"node-{i}", "", k.public_key, s)
        for i, (k, s) in enumerate(zip(keys, even_shards(n_shards, n_members), strict=True))
    )
    return Committee(epoch, n_shards, members), keys


@st.composite
def certificates(draw: st.DrawFn, max_members: int = 12) -> tuple[Committee, Certificate, Intent]:
    n_members = draw(st.integers(1, max_members))
    n_shards = draw(st.integers(n_members, 3 * max_members))
    epoch = draw(st.integers(0, 2**32 - 1))
    committee, keys = _random_committee(
        draw(st.binary(min_size=8, max_size=8)), n_shards, n_members, epoch
    )
    blob_id = BlobId(draw(st.binary(min_size=32, max_size=32)))
    kind = draw(st.sampled_from(["permanent", "deletable", "invalidate"]))
    if kind == "invalidate":
        message, intent = invalid_blob_message(epoch, blob_id), Intent.INVALID_BLOB_ID
    else:
        object_id = draw(st.binary(min_size=32, max_size=32)) if kind == "deletable" else None
        message, intent = (
            BlobCertification(blob_id, object_id).message(epoch),
            Intent.BLOB_CERTIFICATION,
        )
    signers = draw(st.sets(st.integers(0, n_members - 1), min_size=1))
    cert = aggregate(committee, message, {p: keys[p].sign(message) for p in signers})
    return committee, cert, intent


def _keys(committee: Committee) -> list[bytes]:
    return [m.public_key for m in committee.members]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(certificates())
def test_random_certificates_verify_under_fastcrypto(
    case: tuple[Committee, Certificate, Intent],
) -> None:
    committee, cert, intent = case
    assert move_accepts_certificate(_keys(committee), cert.signature, cert.signers, cert.message)
    try:  # where our verifier accepts the whole certificate, so does fastcrypto (shown above)
        verify_certificate(committee, cert, committee.epoch, intent)
    except InvalidCertificate as exc:
        assert "short of the threshold" in str(exc)  # the only reason left: too little weight


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    certificates(max_members=6),
    st.sampled_from(["signature", "key", "message", "signer"]),
    st.integers(0, 10_000),
    st.integers(1, 255),
)
def test_one_changed_byte_is_rejected_by_fastcrypto_and_by_us(
    case: tuple[Committee, Certificate, Intent], part: str, position: int, mask: int
) -> None:
    committee, cert, _ = case
    keys = _keys(committee)
    sig, bitmap, msg = cert.signature, cert.signers, cert.message
    if part == "signature":
        sig = _flip(sig, position, mask)
    elif part == "message":
        msg = _flip(msg, position, mask)
    elif part == "key":
        signer = signer_positions(bitmap)[position % len(signer_positions(bitmap))]
        keys[signer] = _flip(keys[signer], position // 7, mask)
    else:
        bit = position % len(keys)
        bitmap = _flip(bitmap, bit // 8, 1 << (bit % 8))
    assert not move_accepts_certificate(keys, sig, bitmap, msg)
    try:
        changed = Committee(
            committee.epoch,
            committee.n_shards,
            tuple(
                Member(m.node_id, m.name, m.url, k, m.shards)
                for m, k in zip(committee.members, keys, strict=True)
            ),
        )
    except Exception:  # pragma: no cover - Committee does not parse keys eagerly
        return
    assert not _ours_accepts(changed, Certificate(sig, bitmap, msg))


@pytest.mark.parametrize(
    ("n_shards", "n_members"), [(1, 1), (10, 4), (100, 33), (1000, 1000)], ids=str
)
def test_committee_sizes_up_to_1000_shards(n_shards: int, n_members: int) -> None:
    """A quorum certificate (the fewest members reaching `3w >= 2n+1`, plus one) over committees
    up to 1000 shards held by 1000 members (a 125-byte bitmap), as the relayer builds it."""
    committee, keys = _random_committee(b"size%d" % n_shards, n_shards, n_members, 7)
    message = BlobCertification(BlobId(bytes(range(32))), b"\x05" * 32).message(7)
    order = list(range(n_members))[::-1]
    signers, weight = [], 0
    for p in order:
        if 3 * weight >= 2 * n_shards + 1:
            break
        signers.append(p)
        weight += committee.members[p].weight
    sigs = {p: keys[p].sign(message) for p in signers}
    cert = aggregate(committee, message, sigs)
    assert sorted(verify_certificate(committee, cert, 7)) == sorted(signers)
    assert move_accepts_certificate(_keys(committee), cert.signature, cert.signers, cert.message)
    assert bytes(fc.bls_aggregate([sigs[p] for p in sorted(signers)])) == cert.signature
    # drop the last signer's bit, or add one who did not sign: rejected
    dropped = _flip(cert.signers, signers[-1] // 8, 1 << (signers[-1] % 8))
    assert not move_accepts_certificate(_keys(committee), cert.signature, dropped, cert.message)
    if len(signers) < n_members:
        extra = next(p for p in range(n_members) if p not in sigs)
        added = _flip(cert.signers, extra // 8, 1 << (extra % 8))
        assert not move_accepts_certificate(_keys(committee), cert.signature, added, cert.message)


@settings(max_examples=25, deadline=None)
@given(
    st.binary(min_size=8, max_size=8),
    st.integers(0, 2**32 - 1),
    st.binary(min_size=32, max_size=32),
    st.sampled_from(["none", "pop", "key", "address", "epoch"]),
    st.integers(0, 10_000),
    st.integers(1, 255),
)
def test_random_proofs_of_possession(
    seed: bytes, epoch: int, address: bytes, part: str, position: int, mask: int
) -> None:
    """A node's proof of possession (as deployment registers it) verifies under fastcrypto
    exactly for its own key, address and epoch."""
    key = bls.BlsKeyPair.generate(seed)
    pop = key.sign(proof_of_possession(epoch, key.public_key, address))
    pk, addr, ep = key.public_key, address, epoch
    if part == "pop":
        pop = _flip(pop, position, mask)
    elif part == "key":
        pk = _flip(pk, position, mask)
    elif part == "address":
        addr = _flip(addr, position, mask)
    elif part == "epoch":
        ep = epoch ^ mask
    assert accepts(pk, pop, pop_message(ep, pk, addr)) is (part == "none")
    assert bls.verify(pk, pop_message(ep, pk, addr), pop) is (part == "none")


def _parses(parse: object, data: bytes) -> bool:
    try:
        parse(data)  # type: ignore[operator]
        return True
    except (ValueError, InvalidKey):
        return False


def test_fastcrypto_and_we_agree_on_which_keys_parse_and_signatures_verify() -> None:
    """Every single-bit change of a key's and a signature's flag byte, next byte and last byte:
    a key parses for us exactly when fastcrypto parses it (subgroup, identity and canonical
    checks), and a changed signature is rejected by both."""
    key = bls.BlsKeyPair.generate(b"parse")
    sig = key.sign(b"m")
    for position in (0, 1, 2, 47):
        for bit in range(8):
            changed = _flip(key.public_key, position, 1 << bit)
            ours = _parses(bls.parse_public_key, changed)
            assert ours == _parses(fc.bls_g1_compress, changed), (position, bit)
            assert not accepts(changed, sig, b"m")
            assert not bls.verify(changed, b"m", sig)
    for position in (0, 1, 2, 48, 95):
        for bit in range(8):
            changed = _flip(sig, position, 1 << bit)
            assert not accepts(key.public_key, changed, b"m"), (position, bit)
            assert not bls.verify(key.public_key, b"m", changed), (position, bit)
    assert not accepts_aggregate([], sig, b"m")


@pytest.mark.parametrize("flag", [0xC0, 0xE0])
def test_non_canonical_identity_is_no_key_and_no_signature(flag: int) -> None:
    """Found by this cross-check: arkworks reads `0xc0 ‖ any bytes` (and `0xe0 ‖ zeros`) as the
    identity, and our byte comparison with the canonical identity let it through, so such a
    "key" with such a "signature" verified ANY message, and a node registered with it would
    have added its shards' weight to a certificate without signing. fastcrypto (Sui) rejects
    both; so do we now."""
    tail = bytes([1]) if flag == 0xC0 else b"\0"
    rogue_key = bytes([flag]) + tail + bytes(46)
    rogue_sig = bytes([flag]) + tail + bytes(94)
    for message in (b"", b"any message", pop_message(0, rogue_key, bytes(32))):
        assert not accepts(rogue_key, rogue_sig, message)
        assert not bls.verify(rogue_key, message, rogue_sig)
    assert not _parses(fc.bls_g1_compress, rogue_key)
    with pytest.raises(InvalidKey):
        bls.parse_public_key(rogue_key)
    with pytest.raises(InvalidSignature):
        bls.parse_signature(rogue_sig)
    # an honest signer's signature does not carry a rogue member's bit
    honest = bls.BlsKeyPair.generate(b"honest")
    committee = Committee(
        1, 2, (Member("a", "a", "", honest.public_key, (0,)), Member("b", "b", "", rogue_key, (1,)))
    )
    msg = BlobCertification(BlobId(bytes(32))).message(1)
    cert = Certificate(honest.sign(msg), b"\x03", msg)
    assert not move_accepts_certificate(_keys(committee), cert.signature, cert.signers, msg)
    with pytest.raises(InvalidKey):
        verify_certificate(committee, cert, 1)


def test_devchain_refuses_a_node_registered_with_a_non_canonical_identity_key(
    tmp_path: Path,
) -> None:
    """What the identity bug allowed: DevChain registering a node whose "key" is `0xc0 ‖ …`
    with a "proof of possession" that proves nothing; Sui refuses it (fastcrypto), so must we."""
    from haulout.chain.accounts import Account
    from haulout.chain.devchain import DevChain
    from haulout.chain.errors import MoveAbort

    chain = DevChain(tmp_path / "rogue.sqlite")
    admin = Account.generate()
    chain.faucet(admin.address)
    chain.publish(admin)
    chain.create_system(admin, 10, 1000, 1000, 2000, 1 << 40, 53)
    rogue_key, rogue_pop = bytes([0xC0, 1]) + bytes(46), bytes([0xC0, 1]) + bytes(94)
    address = "0x" + "77" * 32
    assert not accepts(rogue_key, rogue_pop, pop_message(0, rogue_key, bytes.fromhex("77" * 32)))
    with pytest.raises(MoveAbort) as refused:
        chain.register_node(admin, "rogue", "", rogue_key, rogue_pop, address)
    assert "EInvalidProofOfPossession" in str(refused.value)
    honest = bls.BlsKeyPair.generate(b"honest")
    pop = honest.sign(proof_of_possession(0, honest.public_key, bytes.fromhex("77" * 32)))
    assert chain.register_node(admin, "honest", "", honest.public_key, pop, address)


def test_a_deployments_proofs_and_certificates_verify_under_fastcrypto(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The proofs of possession `deploy_devchain` registers, and certificates made the way
    the relayer makes them and accepted by DevChain, verify under fastcrypto with the keys
    the chain holds."""
    from haulout.chain.devchain import DevChain
    from tests.conftest import make_world, register, sign_certificate

    registered: list[tuple[bytes, bytes, str]] = []
    original = DevChain.register_node

    def recording(
        self: DevChain, admin: object, name: str, url: str, key: bytes, pop: bytes, address: str
    ) -> str:
        registered.append((key, pop, address))
        return original(self, admin, name, url, key, pop, address)  # type: ignore[arg-type]

    monkeypatch.setattr(DevChain, "register_node", recording)
    world = make_world(tmp_path)
    assert len(registered) == 4
    for key, pop, address in registered:
        assert accepts(key, pop, pop_message(0, key, bytes.fromhex(address.removeprefix("0x"))))
    keys = [m.public_key for m in world.committee.members]
    assert sorted(keys) == sorted(k for k, _, _ in registered)
    for deletable in (False, True):
        blob = register(world, b"cross-checked %d" % deletable, deletable=deletable)
        cert = sign_certificate(world, blob, [0, 1, 2])
        assert move_accepts_certificate(keys, cert.signature, cert.signers, cert.message)
        assert world.chain.certify_blob(world.user, blob.id, cert).certified_epoch is not None
        tampered = _flip(cert.message, len(cert.message) - 1, 1)
        assert not move_accepts_certificate(keys, cert.signature, cert.signers, tampered)
