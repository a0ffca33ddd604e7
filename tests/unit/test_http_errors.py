"""Error mapping (haulout.http_errors): whose fault an error is, and what a 500 may say."""

from __future__ import annotations

import logging

import pytest

from haulout.chain.errors import ChainError, InvalidTransactionSignature, MoveAbort
from haulout.http_errors import to_api_error
from haulout.protocol.attributes import InvalidAttribute


@pytest.mark.parametrize(
    ("module", "name", "status"),
    [
        ("blob", "ENotDeletable", 409),
        ("blob", "EAttributeNotFound", 404),
        ("system", "EInvalidEpochsAhead", 400),
        ("blob", "EInvalidExtension", 400),
    ],
)
def test_a_clients_own_mistake_stays_4xx(module: str, name: str, status: int) -> None:
    api = to_api_error(MoveAbort.named(module, name))
    assert api.status == status and api.reason == f"MOVE_ABORT_{module.upper()}_{name}"


@pytest.mark.parametrize(
    ("module", "name"),
    [
        ("committee", "EWrongEpoch"),  # the epoch changed under the relayer's certificate
        ("committee", "ENotEnoughWeight"),
        ("blob", "EResourceBounds"),
        ("system", "EInsufficientPayment"),  # the relayer's own wallet
        ("system", "EStorageExceeded"),
        ("messages", "EIncorrectIntentType"),
    ],
)
def test_server_side_aborts_are_503_with_retry_after(module: str, name: str) -> None:
    api = to_api_error(MoveAbort.named(module, name))
    assert api.status == 503 and api.headers["retry-after"]
    assert name in api.reason and "not a fault of the request" in api.message


def test_an_unknown_abort_code_is_not_blamed_on_the_client() -> None:
    assert to_api_error(MoveAbort("blob", 99)).status == 503


def test_chain_unavailable_is_503_without_the_exception_text() -> None:
    for exc in (
        ChainError("Sui RPC at http://10.0.0.7:9000 failed: secret detail"),
        InvalidTransactionSignature("transaction rejected: secret detail"),
    ):
        api = to_api_error(exc)
        assert api.status == 503 and api.reason == "CHAIN_UNAVAILABLE"
        assert "secret" not in api.message and "request id" in api.message


def test_a_500_never_carries_the_exception_text_but_the_log_has_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.ERROR, logger="haulout.http"):
        api = to_api_error(KeyError("/srv/haulout/secret.sqlite SELECT * FROM x"))
    assert api.status == 500 and api.reason == "INTERNAL"
    assert "secret" not in api.message and "KeyError" not in api.message
    request_id = api.message.split("request id ")[1].split(",")[0]
    record = caplog.records[-1]
    assert record.__dict__["fields"]["request_id"] == request_id
    assert record.exc_info is not None and "secret" in str(record.exc_info[1])


def test_invalid_attribute_is_400() -> None:
    api = to_api_error(InvalidAttribute("attribute value must be printable ASCII"))
    assert (api.status, api.reason) == (400, "INVALID_ATTRIBUTE")
