"""Reading a stored document front to back, as a download sends it.

django-storages' S3File reads an object by first copying all of it into a SpooledTemporaryFile
whose default size limit (AWS_S3_MAX_MEMORY_SIZE = 0) means "never roll over to disk": a 10 MB
certificate would sit whole in the web process's memory before its first byte left, once per
download in progress. `open_for_streaming` hands on object storage's response body instead, read
block by block as it arrives; a file on this host's disk is opened as it always was.
"""

import sys

from django.db.models.fields.files import FieldFile


class ObjectBody:
    """One GET of a stored object: read(n) takes the next n bytes off the connection."""

    def __init__(self, opened):
        self.name = opened.name
        self.size = opened.size  # from the HEAD S3File made when it opened the object
        self._body = opened.obj.get()["Body"]  # botocore's StreamingBody: nothing read yet

    def read(self, size: int = -1) -> bytes:
        return self._body.read(None if size < 0 else size)

    def close(self) -> None:
        self._body.close()


def open_for_streaming(file: FieldFile):
    """A readable, closable file for FileResponse: object storage's body, or the file on disk."""
    opened = file.storage.open(file.name, "rb")
    # Loaded only where settings chose S3 (importing boto3 costs a web process 0.4 s).
    s3 = sys.modules.get("storages.backends.s3")
    if s3 is not None and isinstance(opened, s3.S3File):
        return ObjectBody(opened)
    return opened
