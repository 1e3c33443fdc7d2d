"""The document store (issue 20, item 11): uploads streamed to a staging file, hashed, cut off
at the size limit and judged by their bytes; kept by SHA-256 in a directory (the real
filesystem) or in S3-compatible storage. The S3 backend runs against moto's standalone S3
server (``moto_server``, PyPI ``moto[server]``), a real HTTP S3 endpoint on this machine: MinIO
itself cannot run here (no Docker, no network)."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import boto3
import pytest

from idri.devserver import free_port
from idri.documents import DocumentRefused, FileStore, TooLarge, WrongType, receive
from idri.documents.s3 import S3Store
from tests.documents.samples import PDF, PNG, office

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def _chunks(data: bytes, size: int = 1000) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


async def _endless() -> AsyncIterator[bytes]:
    """A sender that never stops: 1 MiB after 1 MiB."""
    block = b"%PDF-" + b"x" * (1024 * 1024 - 5)
    while True:
        yield block


def _staged(root: Path) -> list[Path]:
    return list((root / ".staging").glob("*")) if (root / ".staging").exists() else []


async def test_an_upload_is_hashed_typed_and_kept_under_its_hash(tmp_path: Path) -> None:
    store = FileStore(tmp_path / "documents")
    got = await receive(_chunks(PDF), "创建方案.pdf", staging=store.staging_dir(), max_bytes=10**6)
    assert (got.sha256, got.size, got.media_type) == (
        hashlib.sha256(PDF).hexdigest(),
        len(PDF),
        "application/pdf",
    )
    store.put(got)
    kept = tmp_path / "documents" / got.sha256[:2] / got.sha256
    assert kept.read_bytes() == PDF and not _staged(tmp_path / "documents")
    with store.open(got.sha256) as stream:
        assert stream.read() == PDF
    assert store.size_of(got.sha256) == len(PDF)
    # The same content again is kept once.
    again = await receive(_chunks(PDF), "copy.pdf", staging=store.staging_dir(), max_bytes=10**6)
    store.put(again)
    assert [p for p in (tmp_path / "documents").rglob("*") if p.is_file()] == [kept]


async def test_an_endless_upload_is_cut_off_at_the_limit_and_leaves_nothing(tmp_path: Path) -> None:
    """A 2 GB upload (here: one that never ends) is refused as soon as it passes the limit."""
    store = FileStore(tmp_path / "documents")
    with pytest.raises(TooLarge, match="larger than the 5 MiB"):
        await receive(_endless(), "big.pdf", staging=store.staging_dir(), max_bytes=5 * 1024**2)
    assert not _staged(tmp_path / "documents")


@pytest.mark.parametrize(
    ("name", "content", "error"),
    [
        ("../../etc/passwd", PDF, DocumentRefused),
        ("plan.pdf", b"", DocumentRefused),
        ("plan.pdf", PNG, WrongType),
        ("table.xlsx", office("word"), WrongType),
        ("notes.docx", b"PK\x03\x04 not really a zip", WrongType),
    ],
)
async def test_hostile_names_and_contents_are_refused(
    tmp_path: Path, name: str, content: bytes, error: type[Exception]
) -> None:
    store = FileStore(tmp_path / "documents")
    with pytest.raises(error):
        await receive(_chunks(content), name, staging=store.staging_dir(), max_bytes=10**6)
    assert not _staged(tmp_path / "documents")


async def test_office_files_are_told_apart_by_their_contents(tmp_path: Path) -> None:
    staging = tmp_path / "staging"
    docx = await receive(_chunks(office("word")), "a.docx", staging=staging, max_bytes=10**6)
    xlsx = await receive(_chunks(office("xl")), "b.xlsx", staging=staging, max_bytes=10**6)
    assert docx.media_type.endswith("wordprocessingml.document")
    assert xlsx.media_type.endswith("spreadsheetml.sheet")


async def test_a_store_path_is_made_of_a_hash_only(tmp_path: Path) -> None:
    store = FileStore(tmp_path / "documents")
    for forged in ("../../etc/passwd", "a" * 63, "A" * 64, ""):
        with pytest.raises(FileNotFoundError):
            store.open(forged)


# --- S3, against moto's standalone server --------------------------------------------------------


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    binary = shutil.which("moto_server", path=str(Path(sys.executable).parent))
    if binary is None:
        pytest.skip("moto_server is not installed (pip install 'moto[server]')")
    port = free_port()
    process = subprocess.Popen(
        [binary, "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(url + "/moto-api/", timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(10)


@pytest.fixture
def s3_store(s3_endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> S3Store:
    for name, value in (("AWS_ACCESS_KEY_ID", "test"), ("AWS_SECRET_ACCESS_KEY", "test")):
        monkeypatch.setenv(name, value)
    client = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")
    bucket = f"idri-{os.urandom(4).hex()}"
    client.create_bucket(Bucket=bucket)
    return S3Store(client, bucket, staging=tmp_path / "staging", endpoint=s3_endpoint)


async def test_s3_keeps_and_gives_back_a_document(s3_store: S3Store) -> None:
    got = await receive(_chunks(PDF), "plan.pdf", staging=s3_store.staging_dir(), max_bytes=10**6)
    assert s3_store.size_of(got.sha256) is None
    s3_store.put(got)
    assert not got.path.exists()
    assert s3_store.size_of(got.sha256) == len(PDF)
    stream = s3_store.open(got.sha256)
    assert stream.read() == PDF
    head = s3_store.client.head_object(Bucket=s3_store.bucket, Key=S3Store.key(got.sha256))
    assert head["ContentType"] == "application/pdf"
    with pytest.raises(FileNotFoundError):
        s3_store.open("0" * 64)


async def test_s3_streams_a_large_document_in_parts(s3_store: S3Store) -> None:
    """20 MiB: boto3 sends it as a multipart upload from the staging file, and it is read back
    in chunks."""
    large = b"%PDF-1.7\n" + os.urandom(20 * 1024 * 1024)
    got = await receive(
        _chunks(large, 1024 * 1024), "scan.pdf", staging=s3_store.staging_dir(), max_bytes=10**8
    )
    s3_store.put(got)
    digest, stream = hashlib.sha256(), s3_store.open(got.sha256)
    while chunk := stream.read(1024 * 1024):
        digest.update(chunk)
    assert digest.hexdigest() == got.sha256 == hashlib.sha256(large).hexdigest()
