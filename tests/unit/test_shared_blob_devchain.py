"""DevChain's `shared_blob` follows the Move module (move/sources/shared_blob.move and its
tests in move/tests/haulout_tests.move): same outcomes, same aborts, same payments."""

from __future__ import annotations

from pathlib import Path

import pytest

from haulout.chain.accounts import Account
from haulout.chain.devchain import DevChain
from haulout.chain.errors import MoveAbort, ObjectNotOwned
from haulout.chain.events import SharedBlobCreated, SharedBlobFunded
from haulout.protocol.params import storage_units

from .test_parity import VECTOR_BLOB, VECTOR_ROOT, cert, vector_chain

STORAGE_PRICE = 1000


def certified_blob(chain: DevChain, user: Account) -> str:
    """The vector blob, permanent, stored 2 epochs from epoch 1 and certified."""
    b = chain.reserve_and_register(user, VECTOR_BLOB, VECTOR_ROOT, 5, 0, 2, False)
    chain.certify_blob(user, b.id, cert("permanent_quorum"))
    return b.id


def test_another_account_funds_and_extends(tmp_path: Path) -> None:
    chain, _, user = vector_chain(tmp_path)
    other = Account.generate()
    chain.faucet(other.address, 10**12)
    shared = chain.share_blob(user, certified_blob(chain, user))
    assert chain.owner_of(shared) is None  # a shared object
    view = chain.fund_shared_blob(other, shared, 10**9)
    assert view.funds == 10**9
    view = chain.extend_shared_blob(other, shared, 3)
    assert view.blob.end_epoch == 6
    assert view.funds == 10**9 - STORAGE_PRICE * storage_units(view.blob.storage.storage_size) * 3
    kinds = [type(e.event) for e in chain.events()]
    assert SharedBlobCreated in kinds and SharedBlobFunded in kinds


def test_the_wrapped_blob_is_no_longer_the_uploaders(tmp_path: Path) -> None:
    chain, _, user = vector_chain(tmp_path)
    blob_id = certified_blob(chain, user)
    chain.share_blob(user, blob_id)
    with pytest.raises(ObjectNotOwned):
        chain.extend_blob(user, blob_id, 1)  # only through the SharedBlob now


def test_sharing_an_uncertified_blob_aborts(tmp_path: Path) -> None:
    chain, _, user = vector_chain(tmp_path)
    b = chain.reserve_and_register(user, VECTOR_BLOB, VECTOR_ROOT, 5, 0, 2, False)
    with pytest.raises(MoveAbort) as err:
        chain.share_blob(user, b.id)
    assert (err.value.module, err.value.name) == ("shared_blob", "ENotCertified")


def test_extending_without_funds_aborts(tmp_path: Path) -> None:
    chain, _, user = vector_chain(tmp_path)
    shared = chain.share_blob(user, certified_blob(chain, user))
    with pytest.raises(MoveAbort) as err:
        chain.extend_shared_blob(user, shared, 1)
    assert (err.value.module, err.value.name) == ("system", "EInsufficientPayment")


def test_funding_with_nothing_aborts(tmp_path: Path) -> None:
    chain, _, user = vector_chain(tmp_path)
    shared = chain.share_blob(user, certified_blob(chain, user))
    with pytest.raises(MoveAbort) as err:
        chain.fund_shared_blob(user, shared, 0)
    assert (err.value.module, err.value.name) == ("shared_blob", "EZeroFunding")
