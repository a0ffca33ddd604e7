"""Quilts against real processes (DevChain, 4 nodes over 40 shards, relayer): Walrus's quilt
routes and answers, a patch read fetching only its own slivers, bad input as 4xx in the error
shape, the CLI, the SDK and fsspec, and directories stored as quilts (old packs still read)."""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from haulout import cli, manifest
from haulout.client import AsyncHauloutClient, HauloutClient, HauloutError
from haulout.fs import HauloutFileSystem
from haulout.launcher import LocalSystem
from haulout.protocol.blob_id import BlobId
from haulout.protocol.hashing import hasher
from haulout.protocol.quilt import QuiltPatchId
from tests.e2e.conftest import start_system

pytestmark = pytest.mark.slow

N_SHARDS = 40  # k = 14: a quilt holds 13 patches


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalSystem]:
    s = start_system(Path(tmp_path_factory.mktemp("haulout-quilts")), n_shards=N_SHARDS)
    yield s
    s.stop()


@pytest.fixture(scope="module")
def client(system: LocalSystem) -> Iterator[HauloutClient]:
    with HauloutClient(system.relayer_url) as c:
        yield c


def metric(system: LocalSystem, name: str) -> float:
    text = httpx.get(f"{system.relayer_url}/metrics").text
    for line in text.splitlines():
        if line.startswith(f"haulout_relayer_{name} "):
            return float(line.split()[1])
    raise AssertionError(f"no metric {name}")


def settled(system: LocalSystem) -> None:
    """Wait until every node holds its slivers (no upload still being served in the tail)."""
    deadline = time.monotonic() + 30
    while metric(system, "tail_uploads_pending") and time.monotonic() < deadline:
        time.sleep(0.1)


def reason(resp: httpx.Response) -> str:
    return str(resp.json()["error"]["details"][0]["reason"])


@pytest.fixture(scope="module")
def stored(system: LocalSystem) -> dict[str, object]:
    """A quilt stored with curl's shape of request: file fields and `_metadata`."""
    files = [
        ("contract-v2", ("document.pdf", b"%PDF" + os.urandom(3000))),
        ("logo-2024", ("image.png", os.urandom(20_000))),
        ("notes/readme.txt", ("readme.txt", b"hello quilt\n")),
    ]
    meta = [{"identifier": "notes/readme.txt", "tags": {"content-type": "text/plain", "v": 1}}]
    resp = httpx.put(
        f"{system.relayer_url}/v1/quilts",
        params={"epochs": "2"},
        files=files,
        data={"_metadata": json.dumps(meta)},
        timeout=60,
    )
    assert resp.status_code == 200, resp.text
    return {"answer": resp.json(), "files": {name: body for name, (_, body) in files}}


def test_store_answers_as_walrus(stored: dict[str, object]) -> None:
    answer = stored["answer"]
    assert isinstance(answer, dict)
    blob = answer["blobStoreResult"]["newlyCreated"]["blobObject"]
    quilt_id = blob["blobId"]
    patches = answer["storedQuiltBlobs"]
    assert [p["identifier"] for p in patches] == ["contract-v2", "logo-2024", "notes/readme.txt"]
    previous_end = 1
    for p in patches:
        pid = QuiltPatchId.parse(p["quiltPatchId"])
        assert str(pid.quilt_id) == quilt_id and len(p["quiltPatchId"]) == 50
        assert p["range"] == [pid.start, pid.end] and pid.start == previous_end
        previous_end = pid.end


def test_patches_read_by_id_and_identifier_with_walrus_headers(
    system: LocalSystem, client: HauloutClient, stored: dict[str, object]
) -> None:
    answer, files = stored["answer"], stored["files"]
    assert isinstance(answer, dict) and isinstance(files, dict)
    quilt_id = answer["blobStoreResult"]["newlyCreated"]["blobObject"]["blobId"]
    for p in answer["storedQuiltBlobs"]:
        data, headers = client.read_quilt_patch(p["quiltPatchId"])
        assert data == files[p["identifier"]]
        assert headers["etag"] == quilt_id
        assert headers["x-quilt-patch-identifier"] == p["identifier"]
        assert headers["cache-control"] == "public, max-age=86400, stale-while-revalidate=3600"
        assert client.read_quilt_file(quilt_id, p["identifier"]) == files[p["identifier"]]
        head = httpx.head(f"{system.relayer_url}/v1/blobs/by-quilt-patch-id/{p['quiltPatchId']}")
        assert head.status_code == 200
        assert int(head.headers["content-length"]) == len(files[p["identifier"]])
    _, headers = client.read_quilt_patch(answer["storedQuiltBlobs"][2]["quiltPatchId"])
    assert headers["content-type"].startswith("text/plain")  # an allow-listed tag
    assert "v" not in headers  # other tags are not headers
    listed = client.list_quilt_patches(quilt_id)
    assert [(x["identifier"], x["patch_id"]) for x in listed] == [
        (p["identifier"], p["quiltPatchId"]) for p in answer["storedQuiltBlobs"]
    ]
    assert listed[2]["tags"] == {"content-type": "text/plain", "v": "1"}  # JSON values as text


def test_a_patch_read_fetches_only_the_slivers_that_hold_it(
    system: LocalSystem, client: HauloutClient, stored: dict[str, object]
) -> None:
    answer = stored["answer"]
    assert isinstance(answer, dict)
    settled(system)
    first = answer["storedQuiltBlobs"][0]
    client.read_quilt_patch(first["quiltPatchId"])  # the quilt's index is known from here on
    for p in answer["storedQuiltBlobs"]:
        before = metric(system, "quilt_slivers_fetched")
        full = metric(system, "quilt_full_reads")
        client.read_quilt_patch(p["quiltPatchId"])
        start, end = p["range"]
        assert metric(system, "quilt_slivers_fetched") - before == end - start
        assert metric(system, "quilt_full_reads") == full
    assert (
        answer["storedQuiltBlobs"][1]["range"][1] - answer["storedQuiltBlobs"][1]["range"][0] < 14
    )


def test_bad_input_is_a_clear_4xx(
    system: LocalSystem, client: HauloutClient, stored: dict[str, object]
) -> None:
    url = f"{system.relayer_url}/v1/quilts"
    cases = [
        ([("a", ("a", b"1")), ("a", ("a", b"2"))], None, 400, "DUPLICATE_IDENTIFIER"),
        ([("_a", ("a", b"1"))], None, 400, "reserved"),
        ([("a ", ("a", b"1"))], None, 400, "whitespace"),
        (
            [("a", ("a", b"1"))],
            [{"identifier": "a", "tags": {"k": "v" * 70_000}}],
            400,
            "INVALID_TAGS",
        ),
        ([("a", ("a", b"1"))], [{"identifier": "zz", "tags": {}}], 400, "no file field"),
        ([("a", ("a", b"1"))], [{"identifier": "a"}, {"identifier": "a"}], 400, "twice"),
        ([(f"f{i}", ("f", b"x")) for i in range(14)], None, 400, "TOO_MANY_PATCHES"),
    ]
    for files, meta, status, words in cases:
        data = {"_metadata": json.dumps(meta)} if meta is not None else None
        resp = httpx.put(url, files=files, data=data, timeout=30)
        assert resp.status_code == status, resp.text
        assert reason(resp) == "MALFORMED_REQUEST"
        assert words in resp.json()["error"]["message"]
    resp = httpx.put(url, content=b"not a form", headers={"content-type": "text/plain"})
    assert resp.status_code == 400 and reason(resp) == "MALFORMED_REQUEST"

    answer = stored["answer"]
    assert isinstance(answer, dict)
    pid = QuiltPatchId.parse(answer["storedQuiltBlobs"][0]["quiltPatchId"])
    plain = client.store(b"just a blob" * 10)
    other = QuiltPatchId(BlobId.parse(plain.blob_id), pid.start, pid.end)
    resp = httpx.get(f"{system.relayer_url}/v1/blobs/by-quilt-patch-id/{other}")
    assert resp.status_code == 400 and reason(resp) == "NOT_A_QUILT"
    shifted = QuiltPatchId(pid.quilt_id, pid.start, pid.end + 1)  # no patch there
    resp = httpx.get(f"{system.relayer_url}/v1/blobs/by-quilt-patch-id/{shifted}")
    assert resp.status_code == 404 and reason(resp) == "QUILT_PATCH_NOT_FOUND"
    resp = httpx.get(f"{system.relayer_url}/v1/blobs/by-quilt-patch-id/not-a-patch-id")
    assert resp.status_code == 400
    resp = httpx.get(f"{system.relayer_url}/v1/blobs/by-quilt-id/{pid.quilt_id}/missing")
    assert resp.status_code == 404 and reason(resp) == "QUILT_PATCH_NOT_FOUND"
    unknown = BlobId(bytes(32))
    resp = httpx.get(f"{system.relayer_url}/v1/quilts/{unknown}/patches")
    assert resp.status_code == 404 and reason(resp) == "BLOB_NOT_FOUND"


def test_cli_store_list_and_read_quilt(
    system: LocalSystem, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "walrus.txt").write_bytes(b"walrus\n")
    (src / "seal.txt").write_bytes(b"seal\n")
    relayer = ["--relayer", system.relayer_url]
    spec = json.dumps({"path": str(src / "seal.txt"), "identifier": "seal", "tags": {"c": "grey"}})
    assert (
        cli.main(["store-quilt", "--paths", str(src / "walrus.txt"), "--blobs", spec, *relayer])
        == 0
    )
    out = capsys.readouterr().out
    quilt_id = out.split()[2]
    assert cli.main(["list-patches-in-quilt", quilt_id, *relayer]) == 0
    listed = capsys.readouterr().out
    assert "walrus.txt" in listed and "seal  c=grey" in listed
    dest = tmp_path / "out"
    assert (
        cli.main(
            [
                "read-quilt",
                "--out",
                str(dest),
                "--quilt-id",
                quilt_id,
                "--identifiers",
                "walrus.txt",
                *relayer,
            ]
        )
        == 0
    )
    assert (
        cli.main(
            [
                "read-quilt",
                "--out",
                str(dest),
                "--quilt-id",
                quilt_id,
                "--tag",
                "c",
                "grey",
                *relayer,
            ]
        )
        == 0
    )
    assert (dest / "walrus.txt").read_bytes() == b"walrus\n"
    assert (dest / "seal").read_bytes() == b"seal\n"
    capsys.readouterr()
    (src / "dup").mkdir()
    (src / "dup" / "walrus.txt").write_bytes(b"again")
    assert cli.main(["store-quilt", "--paths", str(src), *relayer]) != 0
    assert "unique" in capsys.readouterr().err


def test_directory_small_files_go_into_quilts(
    system: LocalSystem, client: HauloutClient, tmp_path: Path
) -> None:
    src = tmp_path / "data"
    (src / "train").mkdir(parents=True)
    for i in range(30):
        (src / "train" / f"part-{i}.csv").write_text(f"{i}," * (10 + 40 * i))
    (src / "_config.yml").write_text("reserved: prefix\n")
    (src / "weights.bin").write_bytes(os.urandom(1_100_000))
    stored = manifest.store_directory(client, src, epochs=1)
    doc = manifest.Manifest.parse(client.read(stored.blob_id))
    assert doc is not None
    quilts = doc.doc["quilts"]
    assert 3 <= len(quilts) <= 6  # 31 small files, 13 per quilt at most
    roles = dict(manifest.member_blob_ids(doc))
    assert {roles[q] for q in quilts} == {"quilt"}
    small = [e for e in doc.doc["files"] if "patch" in e]
    assert len(small) == 31 and {e["identifier"] for e in small} >= {"./_config.yml"}
    out = tmp_path / "restored"
    manifest.restore(client, stored.blob_id, out)
    for p in src.rglob("*"):
        if p.is_file():
            assert (out / p.relative_to(src)).read_bytes() == p.read_bytes(), p
    fs = HauloutFileSystem(relayer_url=system.relayer_url)
    assert fs.cat_file(f"haulout://{stored.blob_id}/train/part-7.csv") == b"7," * 290
    entry = next(e for e in small if e["path"] == "train/part-3.csv")
    quilt_id = str(QuiltPatchId.parse(entry["patch"]).quilt_id)
    with fs.open(f"haulout://{quilt_id}/train/part-3.csv", "rb") as fh:
        assert fh.read() == b"3," * 130
    assert fs.info(f"haulout://{quilt_id}/train/part-3.csv")["size"] == 260
    with pytest.raises(FileNotFoundError):
        fs.cat_file(f"haulout://{quilt_id}/train/nope.csv")


def test_old_manifests_with_packs_stay_readable(client: HauloutClient, tmp_path: Path) -> None:
    files = {"a.txt": b"first file\n", "b/c.txt": b"second\n"}
    pack = client.store(b"".join(files.values()))
    entries, offset = [], 0
    for path, data in files.items():
        h = hasher()
        h.update(data)
        entries.append(
            {"path": path, "size": len(data), "offset": offset, "pack": 0, "blake2b": h.hexdigest()}
        )
        offset += len(data)
    doc = {
        "kind": "directory",
        "name": "old",
        "size": offset,
        "packs": [pack.blob_id],
        "files": entries,
    }
    stored = client.store(manifest.Manifest(doc).to_bytes())
    manifest.restore(client, stored.blob_id, tmp_path / "old")
    for path, data in files.items():
        assert (tmp_path / "old" / path).read_bytes() == data


def test_sdk_refusals_carry_the_reason(client: HauloutClient) -> None:
    with pytest.raises(HauloutError) as err:
        client.store_quilt([("x", b"1", None), ("x", b"2", None)])
    assert err.value.status == 400 and err.value.reason == "MALFORMED_REQUEST"


def test_the_async_client_stores_and_reads_quilts(system: LocalSystem) -> None:
    """The same quilt calls on `AsyncHauloutClient`: store with tags, read a patch by id and
    by identifier, list the patches, and a refusal with its reason."""
    files = {"a.txt": b"first " * 50, "dir/b.bin": os.urandom(5000)}

    async def go() -> None:
        async with AsyncHauloutClient(system.relayer_url) as c:
            quilt = await c.store_quilt(
                [(name, data, {"content-type": "text/plain"}) for name, data in files.items()],
                epochs=2,
            )
            assert sorted(quilt.patches) == sorted(files)
            for name, data in files.items():
                body, headers = await c.read_quilt_patch(quilt.patches[name])
                assert body == data and headers["x-quilt-patch-identifier"] == name
                assert await c.read_quilt_file(quilt.quilt_id, name) == data
            listed = await c.list_quilt_patches(quilt.quilt_id)
            assert {x["identifier"]: x["tags"] for x in listed} == {
                name: {"content-type": "text/plain"} for name in files
            }
            with pytest.raises(HauloutError) as err:
                await c.store_quilt([("x", b"1", None), ("x", b"2", None)])
            assert err.value.status == 400 and err.value.reason == "MALFORMED_REQUEST"

    asyncio.run(go())
