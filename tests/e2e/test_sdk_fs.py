"""The Python SDK, large-file chunking, directory manifests and the `haulout://` fsspec
filesystem, against a real local system."""

from __future__ import annotations

import asyncio
import io
import json
import os
from pathlib import Path

import fsspec
import pytest

from haulout import manifest
from haulout.client import AsyncHauloutClient, BlobNotFound, HauloutClient, HauloutError
from haulout.fs import HauloutFileSystem
from haulout.launcher import LocalSystem

from .conftest import MAX_BLOB

pytestmark = pytest.mark.slow


def test_sdk_store_read_range_stream_status_and_attributes(
    client: HauloutClient, tmp_path: Path
) -> None:
    data = os.urandom(300_000)
    seen: list[tuple[int, int]] = []
    src = tmp_path / "f.bin"
    src.write_bytes(data)
    stored = client.store_file(
        src, epochs=2, deletable=False, progress=lambda done, total: seen.append((done, total))
    )
    assert seen[-1] == (300_000, 300_000)
    assert client.read(stored.blob_id) == data
    assert client.read(stored.blob_id, 1000, 2000) == data[1000:2000]
    assert b"".join(client.read_stream(stored.blob_id, chunk=65536)) == data
    assert client.status(stored.blob_id)["status"] == "certified"
    assert client.store(iter([b"a" * 10, b"b" * 10])).blob_id != stored.blob_id
    assert client.store(io.BytesIO(b"file-like")).newly_created
    assert stored.object_id
    client.set_attribute(stored.object_id, "content-type", "application/x-test")
    _, headers = client.read_by_object(stored.object_id)
    assert headers["content-type"] == "application/x-test"
    client.remove_attribute(stored.object_id, "content-type")
    assert client.extend(stored.object_id, 2)["blobObject"]["storage"]["endEpoch"] == 4
    with pytest.raises(BlobNotFound):
        client.read("A" * 43)
    with pytest.raises(HauloutError) as err:
        client.delete(stored.object_id)  # permanent
    assert err.value.status == 409 and "ENotDeletable" in err.value.reason  # the client's own


def test_async_client(system: LocalSystem) -> None:
    async def go() -> None:
        async with AsyncHauloutClient(system.relayer_url) as c:
            stored = await c.store(b"async bytes" * 1000, deletable=True)
            assert await c.read(stored.blob_id) == b"async bytes" * 1000
            assert await c.read(stored.blob_id, 0, 5) == b"async"
            assert (
                b"".join([p async for p in c.read_stream(stored.blob_id)]) == b"async bytes" * 1000
            )
            assert (await c.status(stored.blob_id))["status"] == "certified"
            assert stored.object_id
            await c.delete(stored.object_id)
            with pytest.raises(BlobNotFound):
                await c.read(stored.blob_id)

    asyncio.run(go())


def test_file_over_the_maximum_is_chunked_automatically(
    client: HauloutClient, tmp_path: Path
) -> None:
    src = tmp_path / "big.bin"
    with open(src, "wb") as fh:
        fh.write(os.urandom(MAX_BLOB + (1 << 20)))
    stored = manifest.store_file_auto(client, src)
    doc = json.loads(client.read(stored.blob_id))
    assert doc["kind"] == "file" and len(doc["chunks"]) == 3 and doc["size"] == MAX_BLOB + (1 << 20)
    out = tmp_path / "back.bin"
    assert manifest.restore(client, stored.blob_id, out) == src.stat().st_size
    assert out.read_bytes() == src.read_bytes()


def test_chunked_file_range_across_a_chunk_edge(
    system: LocalSystem, client: HauloutClient, tmp_path: Path
) -> None:
    data = os.urandom(1_000_000)
    src = tmp_path / "weights.bin"
    src.write_bytes(data)
    stored = manifest.store_file_chunked(client, src, chunk_size=256 << 10)
    fs = HauloutFileSystem(relayer_url=system.relayer_url)
    edge = 256 << 10
    assert fs.cat_file(stored.blob_id, edge - 10, edge + 10) == data[edge - 10 : edge + 10]
    assert fs.info(stored.blob_id)["size"] == 1_000_000
    with fs.open(stored.blob_id, "rb") as fh:
        fh.seek(999_000)
        assert fh.read() == data[999_000:]
    assert (
        b"".join(
            manifest.iter_file(client, manifest.Manifest.parse(client.read(stored.blob_id)).doc)
        )
        == data
    )  # type: ignore[union-attr]


def test_directory_of_a_thousand_files_round_trips(
    system: LocalSystem, client: HauloutClient, tmp_path: Path
) -> None:
    src = tmp_path / "dataset"
    for i in range(1000):
        d = src / f"shard-{i % 10}"
        d.mkdir(parents=True, exist_ok=True)
        (d / f"{i:04}.txt").write_bytes(f"sample {i}\n".encode() * (i % 7 + 1))
    (src / "model.bin").write_bytes(os.urandom(1_200_000))
    stored = manifest.store_directory(client, src, chunk_size=512 << 10)
    doc = json.loads(client.read(stored.blob_id))
    assert doc["kind"] == "directory" and len(doc["files"]) == 1001
    out = tmp_path / "restored"
    manifest.restore(client, stored.blob_id, out)
    for p in src.rglob("*"):
        if p.is_file():
            assert (out / p.relative_to(src)).read_bytes() == p.read_bytes()
    fs = HauloutFileSystem(relayer_url=system.relayer_url)
    names = fs.ls(stored.blob_id, detail=False)
    assert f"{stored.blob_id}/model.bin" in names and f"{stored.blob_id}/shard-3" in names
    assert fs.info(f"{stored.blob_id}/shard-3")["type"] == "directory"
    assert fs.cat_file(f"{stored.blob_id}/shard-3/0013.txt") == b"sample 13\n" * 7
    assert (
        fs.cat_file(f"{stored.blob_id}/model.bin", 600_000, 600_100)
        == (src / "model.bin").read_bytes()[600_000:600_100]
    )
    with pytest.raises(FileNotFoundError):
        fs.info(f"{stored.blob_id}/nope.txt")


def test_restore_refuses_paths_escaping_the_target(client: HauloutClient, tmp_path: Path) -> None:
    pack = client.store(b"evil")
    evil = manifest.Manifest(
        {
            manifest.MAGIC: 1,
            "kind": "directory",
            "name": "x",
            "size": 4,
            "packs": [pack.blob_id],
            "files": [{"path": "../escape.txt", "size": 4, "offset": 0, "pack": 0, "blake2b": ""}],
        }
    )
    stored = client.store(evil.to_bytes())
    with pytest.raises(manifest.ManifestError, match="escapes"):
        manifest.restore(client, stored.blob_id, tmp_path / "out")
    assert not (tmp_path / "escape.txt").exists()


def test_pandas_reads_parquet_and_numpy_loads_arrays(system: LocalSystem) -> None:
    np = pytest.importorskip("numpy")
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    opts = {"relayer_url": system.relayer_url}
    frame = pd.DataFrame({"x": range(1000), "y": [f"row {i}" for i in range(1000)]})
    buf = io.BytesIO()
    frame.to_parquet(buf)
    stored = HauloutClient(system.relayer_url).store(buf.getvalue())
    back = pd.read_parquet(f"haulout://{stored.blob_id}", storage_options=opts)
    assert back.equals(frame)
    arr = np.arange(50_000, dtype=np.float32).reshape(500, 100)
    fs = fsspec.filesystem("haulout", **opts)
    with fs.open("new", "wb") as fh:
        np.save(fh, arr)
    blob_id = fs.last_stored.blob_id
    with fsspec.open(f"haulout://{blob_id}", "rb", **opts) as fh:
        assert (np.load(fh) == arr).all()


def test_manifest_hash_mismatch_is_refused_and_leaves_no_file(
    client: HauloutClient, tmp_path: Path
) -> None:
    chunk = client.store(b"x" * 1000)
    bad = manifest.Manifest(
        {
            manifest.MAGIC: 1,
            "kind": "file",
            "name": "f",
            "size": 1000,
            "blake2b": "00" * 32,
            "content_type": "application/octet-stream",
            "chunks": [{"blob_id": chunk.blob_id, "size": 1000}],
        }
    )
    stored = client.store(bad.to_bytes())
    out = tmp_path / "f.bin"
    with pytest.raises(manifest.ManifestError, match="does not match its hash"):
        manifest.restore(client, stored.blob_id, out)
    assert not out.exists() and not (tmp_path / "f.bin.part").exists()


class _BlobSamples:
    """A map-style dataset whose samples are files of a stored directory, read via haulout://."""

    def __init__(self, relayer_url: str, root: str, names: list[str]) -> None:
        self.relayer_url, self.root, self.names = relayer_url, root, names

    def __len__(self) -> int:
        return len(self.names)

    def __getitem__(self, i: int):  # type: ignore[no-untyped-def]
        import numpy as np
        import torch

        with fsspec.open(
            f"haulout://{self.root}/{self.names[i]}", "rb", relayer_url=self.relayer_url
        ) as fh:
            return torch.from_numpy(np.load(fh))


def test_pytorch_dataloader_reads_samples_from_haulout(
    system: LocalSystem, client: HauloutClient, tmp_path: Path
) -> None:
    torch = pytest.importorskip(
        "torch", reason="torch is installed by the dev extras on x86_64 / Python 3.11 only"
    )
    np = pytest.importorskip("numpy")
    src = tmp_path / "samples"
    src.mkdir()
    for i in range(12):
        np.save(src / f"{i:02}.npy", np.full((4, 3), i, dtype=np.float32))
    stored = manifest.store_directory(client, src)
    names = [f"{i:02}.npy" for i in range(12)]
    loader = torch.utils.data.DataLoader(
        _BlobSamples(system.relayer_url, stored.blob_id, names), batch_size=4, num_workers=2
    )
    batches = list(loader)
    assert [tuple(b.shape) for b in batches] == [(4, 4, 3)] * 3
    assert torch.equal(torch.cat(batches)[:, 0, 0], torch.arange(12, dtype=torch.float32))
