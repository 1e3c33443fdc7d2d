"""Documents in S3-compatible object storage (MinIO in the compose stack), through boto3.

Objects are keyed ``sha256/ab/<sha256>``. An upload is first received into a local staging file
(hashed and checked, ``store.receive``), then sent with boto3's ``upload_file``, which streams
it from disk and switches to a multipart upload for large files; a download streams the
object's body. Credentials come from ``IDRI_S3_ACCESS_KEY_ID``/``IDRI_S3_SECRET_ACCESS_KEY``,
else boto3's own chain (``AWS_*`` variables, a profile, an instance role).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, cast

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from idri.documents.store import Received
from models import documents

if TYPE_CHECKING:
    from idri.settings import Settings


class S3Store:
    """Documents in one bucket of an S3-compatible service."""

    def __init__(self, client: Any, bucket: str, *, staging: Path, endpoint: str = "") -> None:
        self.client = client
        self.bucket = bucket
        self._staging = staging
        self._endpoint = endpoint

    @classmethod
    def from_settings(cls, settings: Settings) -> S3Store:
        if not settings.s3_bucket:
            raise ValueError("IDRI_DOCUMENT_STORE=s3 needs IDRI_S3_BUCKET (the bucket's name)")
        client = boto3.client(
            "s3",
            endpoint_url=settings.s3_endpoint_url or None,
            region_name=settings.s3_region,
            aws_access_key_id=settings.s3_access_key_id or None,
            aws_secret_access_key=settings.s3_secret_access_key or None,
            # MinIO and most S3-compatible servers address buckets by path, not by host name.
            config=Config(s3={"addressing_style": "path"}, retries={"mode": "standard"}),
        )
        staging = settings.data_dir / "documents" / ".staging"
        return cls(client, settings.s3_bucket, staging=staging, endpoint=settings.s3_endpoint_url)

    @staticmethod
    def key(sha256: str) -> str:
        if not documents.is_sha256(sha256):
            raise FileNotFoundError(f"not a SHA-256: {sha256!r}")
        return f"sha256/{sha256[:2]}/{sha256}"

    def staging_dir(self) -> Path:
        return self._staging if self._staging else Path(tempfile.gettempdir())

    def put(self, received: Received) -> None:
        try:
            if self.size_of(received.sha256) is None:
                self.client.upload_file(
                    str(received.path),
                    self.bucket,
                    self.key(received.sha256),
                    ExtraArgs={"ContentType": received.media_type},
                )
        finally:
            received.path.unlink(missing_ok=True)

    def size_of(self, sha256: str) -> int | None:
        try:
            head = self.client.head_object(Bucket=self.bucket, Key=self.key(sha256))
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return None
            raise
        return int(head["ContentLength"])

    def open(self, sha256: str) -> IO[bytes]:
        try:
            answer = self.client.get_object(Bucket=self.bucket, Key=self.key(sha256))
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in ("404", "NoSuchKey"):
                raise FileNotFoundError(sha256) from None
            raise
        return cast(IO[bytes], answer["Body"])  # botocore's StreamingBody: read(n), close()

    def describe(self) -> str:
        where = self._endpoint or "AWS S3"
        return f"s3://{self.bucket} at {where}"
