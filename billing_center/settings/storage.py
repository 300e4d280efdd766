"""Where stored documents (bank certificates, held certificates) live: this host's disk, or object storage.

STORAGE_BACKEND=local (the embedded default) keeps them under MEDIA_ROOT; every node of a
cluster has its own disk, so a certificate uploaded through one web node could not be opened
through another. STORAGE_BACKEND=s3 puts them in one bucket through django-storages: AWS S3 or
any S3-compatible store (MinIO, Huawei OBS, Alibaba OSS: set S3_ENDPOINT_URL and, where the
store wants it, S3_ADDRESSING_STYLE=path). Objects are private (no public ACL, signed requests
only) and never linked: the permission-checked download view streams them.
"""

from pathlib import Path

from .environment import env

STORAGE_BACKEND = env("STORAGE_BACKEND", "local")
S3_BUCKET = env("S3_BUCKET", "")


def s3_options(*, prefix: str) -> dict:
    """django-storages' S3Storage options for the documents under `prefix` in the bucket."""
    return {
        "bucket_name": S3_BUCKET,
        "location": prefix,
        "endpoint_url": env("S3_ENDPOINT_URL", "") or None,
        "region_name": env("S3_REGION", "") or None,
        "access_key": env("S3_ACCESS_KEY_ID", "") or None,
        "secret_key": env("S3_SECRET_ACCESS_KEY", "") or None,
        "addressing_style": env("S3_ADDRESSING_STYLE", "") or None,
        "signature_version": "s3v4",
        "default_acl": "private",  # never readable without our signature
        "querystring_auth": True,  # a URL, if one is ever made, is signed and short-lived
        "querystring_expire": 60,
        "file_overwrite": False,  # names are random; a clash gets a new name, never a replaced file
        "object_parameters": {"CacheControl": "private, no-store"},
    }


def document_storages(media_root: Path) -> dict:
    """STORAGES for the document aliases: `default` and `certificates`."""
    if STORAGE_BACKEND == "s3":
        s3 = "storages.backends.s3.S3Storage"
        return {
            "default": {"BACKEND": s3, "OPTIONS": s3_options(prefix="media")},
            "certificates": {"BACKEND": s3, "OPTIONS": s3_options(prefix="certificates")},
        }
    return {
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
        # Random names, no base URL, read only through the download view that checks the owner or finance.
        "certificates": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(media_root / "certificates"), "base_url": None},
        },
    }
