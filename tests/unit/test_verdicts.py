"""Consistency verdicts are remembered across a restart and never invented."""

from __future__ import annotations

import os
from pathlib import Path

from haulout.protocol.blob_id import BlobId
from relayer.verdicts import ConsistencyVerdicts


def test_verdicts_persist_and_unknown_ids_are_not_known(tmp_path: Path) -> None:
    path = tmp_path / "state" / "consistency.sqlite"
    good, other = BlobId(os.urandom(32)), BlobId(os.urandom(32))
    first = ConsistencyVerdicts(path)
    assert not first.known(good)
    first.record(good, "checked")
    first.record(good, "encoded")  # a second verdict for the same id changes nothing
    first.close()
    reopened = ConsistencyVerdicts(path)
    assert reopened.known(good) and not reopened.known(other) and len(reopened) == 1
