"""Clinical documents in an S3-compatible bucket (django-storages), kept private.

Settings name this class when DOCUMENTS_STORAGE_BACKEND is `s3` (or django-storages' own S3Storage): it is that
backend with the choices a clinic needs fixed in code, so no environment variable can loosen them.

- Private: no ACL is sent, so each object has the bucket's own (owner only); the bucket must block public access.
- No address to hand out: url() refuses. Documents go out only through the portal's authorised, audited views
  (documents.downloads), never as a link to the store, signed or not.
- S3 keeps a SHA-256 of each object (ChecksumAlgorithm): the store checks the upload against it, and it can be
  read back with the object (HeadObject with ChecksumMode ENABLED) beside the one the database recorded.
- Overwrite, not rename: a document's name carries its id and version (documents.storage.storage_name), so a
  name is written once, or again with the same document (a retried run). Saving under a free name instead would
  cost a HEAD before every PUT and, for a retried run, leave the row pointing at a second copy.
- Short time-outs and few retries: a store that does not answer fails a download in seconds (a clear "try again"
  page) and a render into Celery's retries, rather than holding a web or worker process.
- A document is read with one GET, not django-storages' HEAD then GET: half the round trips, and S3's answer then
  tells a missing object (NoSuchKey) from a missing bucket (NoSuchBucket: the store's configuration, not the
  document), which a HEAD's bare 404 cannot.
"""

from collections.abc import Iterator

from botocore.config import Config
from django.core.files.base import ContentFile
from storages.backends.s3 import S3Storage
from storages.utils import clean_name


class PrivateS3Storage(S3Storage):
    default_acl = None
    file_overwrite = True
    object_parameters = {"ChecksumAlgorithm": "SHA256"}
    # Only for url(), which refuses anyway: were it ever reached, the link would be signed and short-lived.
    querystring_auth = True
    querystring_expire = 60
    client_config: Config

    def get_default_settings(self) -> dict:
        timeouts = {"connect_timeout": 3, "read_timeout": 10, "max_attempts": 3}
        return {**super().get_default_settings(), **timeouts}

    def __init__(self, **settings) -> None:
        super().__init__(**settings)
        # Standard retries (with backoff) cover a dropped connection or a 5xx; `max_attempts` counts the first try.
        limits = Config(
            connect_timeout=self.connect_timeout,
            read_timeout=self.read_timeout,
            retries={"max_attempts": self.max_attempts, "mode": "standard"},
        )
        self.client_config = self.client_config.merge(limits)

    def _open(self, name, mode="rb"):
        if mode != "rb":
            return super()._open(name, mode)
        answer = self.bucket.Object(self._normalize_name(clean_name(name))).get()
        return ContentFile(answer["Body"].read(), name=name)

    def url(self, name, parameters=None, expire=None, http_method=None) -> str:
        raise NotImplementedError(
            "Documents have no address in the store: send them through documents.downloads.document_response."
        )

    def names(self) -> Iterator[str]:
        """Every stored name, from one flat listing (a folder walk would cost a request per session)."""
        prefix = f"{self.location.strip('/')}/" if self.location.strip("/") else ""
        pages = self.connection.meta.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket_name, Prefix=prefix
        )
        for page in pages:
            for entry in page.get("Contents", ()):
                yield entry["Key"][len(prefix) :]
