"""When a node starts recovering a blob it lacks: not while its upload may still come, later
under load, and again after a transient failure (with backoff)."""

from __future__ import annotations

import os
import time
from pathlib import Path

from haulout.protocol.blob_id import BlobId
from storage_node.recovery import Recovery
from storage_node.registry import Registry
from storage_node.service import NodeService
from storage_node.store import SliverStore
from tests.conftest import World, register, sign_certificate


def certified(world: World) -> BlobId:
    blob = register(world, os.urandom(3000))
    world.chain.certify_blob(world.user, blob.id, sign_certificate(world, blob, [0, 1, 2, 3]))
    return blob.blob_id


def test_recovery_waits_for_uploads_and_backs_off(world: World, tmp_path: Path) -> None:
    node = world.deployment.nodes[0]
    service = NodeService(
        world.chain,
        SliverStore(tmp_path / "slivers"),
        Registry(tmp_path / "registry.sqlite"),
        node.bls,
        node.node_id,
    )
    shift = [0.0]
    recovery = Recovery(
        service, grace=1.0, grace_max=10.0, backoff=2.0, clock=lambda: time.monotonic() + shift[0]
    )
    idle, uploading, other = certified(world), certified(world), certified(world)
    while service.follow_once():
        pass
    with service.uploading(uploading):
        assert recovery.due() == []  # first seen missing
        shift[0] = 1.5
        assert recovery.due() == []  # past the grace, but uploads are arriving: grace_max
        shift[0] = 10.5
        assert set(recovery.due()) == {idle, other}
        shift[0] = 1000
        assert uploading not in recovery.due()  # never while its own upload is in progress
    shift[0] = 0.5
    assert uploading not in recovery.due()  # its upload ended just now: the grace again
    shift[0] = 1000
    assert set(recovery.due()) == {idle, other, uploading}  # it ended long ago, no data came

    recovery._later(idle, RuntimeError("only 3 of the 4 slivers"))
    assert idle not in recovery.due()
    shift[0] += 2.1
    assert idle in recovery.due()
    recovery._later(idle, RuntimeError("only 3 of the 4 slivers"))
    shift[0] += 2.1
    assert idle not in recovery.due()  # the second backoff is twice as long
    shift[0] += 2.0
    assert idle in recovery.due() and service.stats.recovery_retries == 2
