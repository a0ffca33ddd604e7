"""`PUT /v1/blobs/<id>/upload`: a store's one request per node. The confirmation comes back
only for what is stored and checked; a bad sliver stores nothing; hostile bodies are bounded."""

from __future__ import annotations

import base64
import os
import struct
from pathlib import Path

from fastapi.testclient import TestClient

from haulout.protocol import bls, codec
from haulout.protocol.frames import frame_header
from haulout.protocol.messages import BlobCertification
from storage_node.app import create_app
from storage_node.registry import Registry
from storage_node.service import NodeService
from storage_node.store import SliverStore
from tests.conftest import make_world


def body(metadata: bytes, slivers: dict[int, bytes]) -> bytes:
    """The upload body: metadata length, metadata, frames."""
    frames = b"".join(frame_header(i, len(s)) + s for i, s in sorted(slivers.items()))
    return struct.pack("<I", len(metadata)) + metadata + frames


def test_one_request_stores_metadata_and_slivers_and_answers_the_confirmation(
    tmp_path: Path,
) -> None:
    w = make_world(tmp_path)
    data = os.urandom(30_000)
    enc = codec.encode(data, w.chain.system().n_shards, 1)
    blob = w.chain.reserve_and_register(
        w.user, enc.blob_id, enc.metadata.root, len(data), 1, 3, True
    )
    node = w.deployment.nodes[0]
    service = NodeService(
        w.chain,
        SliverStore(tmp_path / "slivers"),
        Registry(tmp_path / "registry.sqlite"),
        node.bls,
        node.node_id,
        confirmation_wait=0.5,
    )
    while service.follow_once():
        pass
    http = TestClient(create_app(service))
    owned = service.owned_slivers(enc.blob_id)
    url = f"/v1/blobs/{enc.blob_id}/upload?object_id={blob.id}"

    bad = {i: enc.slivers[i] for i in owned}
    bad[owned[-1]] = bytes(len(bad[owned[-1]]))  # one forged sliver: nothing is stored
    resp = http.put(url, content=body(enc.metadata.to_bytes(), bad))
    assert resp.status_code == 400
    assert service.store.has_slivers(enc.blob_id, owned) == owned

    short = body(enc.metadata.to_bytes(), {i: enc.slivers[i] for i in owned})[:-3]
    assert http.put(url, content=short).status_code == 400  # cut inside a frame

    huge = struct.pack("<I", 1 << 30)  # a metadata length no committee has
    assert http.put(url, content=huge).status_code == 413

    resp = http.put(url, content=body(enc.metadata.to_bytes(), {i: enc.slivers[i] for i in owned}))
    assert resp.status_code == 200, resp.text
    answer = resp.json()
    message = BlobCertification(enc.blob_id, bytes.fromhex(blob.id[2:])).message(answer["epoch"])
    assert base64.b64decode(answer["message"]) == message
    assert bls.verify(node.bls.public_key, message, base64.b64decode(answer["signature"]))
    assert service.store.has_slivers(enc.blob_id, owned) == []
    assert service.store.get_metadata(enc.blob_id) == enc.metadata.to_bytes()
    # the same upload again (a retry): the same answer, nothing stored twice
    again = http.put(url, content=body(enc.metadata.to_bytes(), {i: enc.slivers[i] for i in owned}))
    assert again.status_code == 200
    # more bytes than this node's slivers can take: refused from the Content-Length
    extra = body(enc.metadata.to_bytes(), {i: enc.slivers[i] for i in owned}) + b"x" * 10
    assert http.put(url, content=extra).status_code == 413


def test_a_store_begun_before_an_epoch_change_still_lands_at_the_old_owner(tmp_path: Path) -> None:
    """The relayer split a store by the committee it read before the change; the node then
    lost one of its shards. Its one request (metadata and the old committee's slivers) is
    taken whole, as the batch route takes it, and answered with the confirmation: the sliver
    of the shard it lost waits there for the new owner to pull it. Refusing the request as
    too large left that sliver nowhere, and stores racing a change without a quorum."""
    w = make_world(tmp_path)
    data = os.urandom(30_000)
    enc = codec.encode(data, w.chain.system().n_shards, 1)
    blob = w.chain.reserve_and_register(
        w.user, enc.blob_id, enc.metadata.root, len(data), 1, 3, True
    )
    node = w.deployment.nodes[0]
    service = NodeService(
        w.chain,
        SliverStore(tmp_path / "slivers"),
        Registry(tmp_path / "registry.sqlite"),
        node.bls,
        node.node_id,
        confirmation_wait=0.5,
    )
    while service.follow_once():
        pass
    before = w.chain.system().require_committee()
    split_by_old = service.owned_slivers(enc.blob_id)  # what the relayer sends node-0

    shards = [list(m.shards) for m in before.members]
    lost = shards[0].pop()  # node-0 gives one shard to node-3 (as to a node that joins)
    shards[3].append(lost)
    w.chain.set_committee(w.deployment.admin, [m.node_id for m in before.members], shards)
    while service.follow_once():
        pass
    kept = service.owned_slivers(enc.blob_id)
    assert set(kept) < set(split_by_old)  # the change reached the node before the store

    http = TestClient(create_app(service))
    url = f"/v1/blobs/{enc.blob_id}/upload?object_id={blob.id}"
    sent = {i: enc.slivers[i] for i in split_by_old}
    resp = http.put(url, content=body(enc.metadata.to_bytes(), sent))
    assert resp.status_code == 200, resp.text
    answer = resp.json()
    message = BlobCertification(enc.blob_id, bytes.fromhex(blob.id[2:])).message(answer["epoch"])
    assert bls.verify(node.bls.public_key, message, base64.b64decode(answer["signature"]))
    assert service.store.has_slivers(enc.blob_id, split_by_old) == []  # the lost one waits too
    assert service.foreign_writes == 1  # the handover looks for it once the blob is certified

    stray = {i: enc.slivers[i] for i in range(enc.metadata.n_shards) if i not in split_by_old}
    resp = http.put(url, content=body(enc.metadata.to_bytes(), {**sent, **stray}))
    assert resp.status_code == 413  # never owned here: still refused
