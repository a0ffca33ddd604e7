"""JSON nested past Python's recursion limit is a client's malformed input, not a server error:
`json.loads` raises RecursionError (not a ValueError) for it, which every parser of
request-supplied JSON let through as a 500 (a quilt's `_metadata` and a batch's `_quilts`
field, a JWT's header, an indexer page cursor)."""

from __future__ import annotations

import base64

import pytest
from starlette.datastructures import FormData

from haulout.http_errors import ApiError
from indexer.queries import decode_cursor
from relayer.auth import JwtAuth
from relayer.quilts import QUILTS_FIELD, _groups, _metadata

DEEP = "[" * 5000 + "]" * 5000


def b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).rstrip(b"=").decode()


def test_quilt_metadata_and_batch_counts_nested_too_deep_are_400() -> None:
    with pytest.raises(ApiError) as err:
        _metadata(DEEP)
    assert err.value.status == 400 and err.value.reason == "MALFORMED_REQUEST"
    with pytest.raises(ApiError) as err:
        _groups(FormData([(QUILTS_FIELD, DEEP)]), [], 33)
    assert err.value.status == 400 and err.value.reason == "MALFORMED_REQUEST"


def test_a_jwt_nested_too_deep_is_an_invalid_token() -> None:
    deep = "[" * 3000 + "]" * 3000  # within the 8 KiB token bound once encoded
    token = f"{b64(deep)}.{b64('{}')}.sig"
    with pytest.raises(ApiError) as err:
        JwtAuth(secret="s3cret").decode(token)
    assert err.value.status == 400 and err.value.reason == "INVALID_TOKEN"


def test_a_cursor_nested_too_deep_is_invalid() -> None:
    with pytest.raises(ApiError) as err:
        decode_cursor(b64(DEEP))
    assert err.value.status == 400 and err.value.reason == "INVALID_CURSOR"
