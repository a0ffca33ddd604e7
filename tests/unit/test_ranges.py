"""Range headers on a blob (relayer.ranges): RFC 9110 §14, whatever the numbers."""

from __future__ import annotations

import pytest

from haulout.http_errors import ApiError
from relayer.ranges import byte_range

SIZE = 1000
HUGE = "9" * 5000


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("bytes=0-9", (0, 10)),
        ("bytes=10-", (10, SIZE)),
        ("bytes=-5", (995, SIZE)),
        ("bytes=990-5000", (990, SIZE)),
        ("BYTES=1-1", (1, 2)),
        (f"bytes=0-{HUGE}", (0, SIZE)),
        (f"bytes=-{HUGE}", (0, SIZE)),
        ("bytes=" + "0" * 5000 + "5-6", (5, 7)),  # leading zeros are still small numbers
        ("bytes=-2000", (0, SIZE)),
    ],
)
def test_satisfiable_ranges(header: str, expected: tuple[int, int]) -> None:
    assert byte_range(header, SIZE) == expected


@pytest.mark.parametrize(
    "header",
    [
        "bytes=abc",
        "bytes=-",
        "bytes=",
        "items=0-1",
        "bytes=0-1,5-6",
        "bytes=9-2",
        "0-1",
        "bytes 0-1",
    ],
)
def test_unparseable_or_unsupported_ranges_are_ignored(header: str) -> None:
    assert byte_range(header, SIZE) is None


@pytest.mark.parametrize(
    "header", [f"bytes={HUGE}-", f"bytes={HUGE}-{HUGE}", "bytes=1000-", "bytes=-0"]
)
def test_unsatisfiable_ranges_are_416_with_the_size(header: str) -> None:
    with pytest.raises(ApiError) as err:
        byte_range(header, SIZE)
    assert err.value.status == 416
    assert err.value.headers == {"content-range": f"bytes */{SIZE}"}
    assert HUGE not in err.value.message  # the header is not echoed
