"""S3 store of avatar images, all under one prefix of a private bucket."""

from __future__ import annotations

from collections.abc import Iterator

from chalicelib.adapters.aws import backend_call
from chalicelib.avatar_keys import PREFIX as AVATARS_PREFIX
from chalicelib.ports import ListedObject, StoredObject


class AvatarStore:
    """The AvatarStorage port (chalicelib/ports.py) on S3."""

    def __init__(self, client, bucket: str) -> None:
        self._client = client
        self._bucket = bucket

    def put(self, key: str, data: bytes, content_type: str) -> StoredObject:
        with backend_call("s3", "PutObject", self._bucket):
            response = self._client.put_object(
                Bucket=self._bucket, Key=key, Body=data, ContentType=content_type,
            )
        return StoredObject(key=key, version_id=response.get("VersionId"))

    def delete(self, stored: StoredObject) -> None:
        """Undo what put() created with a plain delete: on a versioned bucket it leaves a
        delete marker, and the bucket's noncurrent-version expiry removes the bytes. No
        VersionId: the serving role has no s3:DeleteObjectVersion (it cannot purge history)."""
        request = {"Bucket": self._bucket, "Key": stored.key}
        with backend_call("s3", "DeleteObject", self._bucket):
            self._client.delete_object(**request)

    def delete_key(self, key: str) -> None:
        with backend_call("s3", "DeleteObject", self._bucket):
            self._client.delete_object(Bucket=self._bucket, Key=key)

    def list(self) -> Iterator[ListedObject]:
        paginator = self._client.get_paginator("list_objects_v2")
        with backend_call("s3", "ListObjectsV2", self._bucket):
            for page in paginator.paginate(Bucket=self._bucket, Prefix=AVATARS_PREFIX):
                for item in page.get("Contents", []):
                    yield ListedObject(key=item["Key"], last_modified=item["LastModified"])

    def ping(self) -> None:
        # ListObjectsV2 on the prefix is allowed by the app's least-privilege role;
        # HeadBucket would need s3:ListBucket without the prefix condition.
        with backend_call("s3", "ListObjectsV2", self._bucket):
            self._client.list_objects_v2(Bucket=self._bucket, Prefix=AVATARS_PREFIX, MaxKeys=1)
