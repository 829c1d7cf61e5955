"""Where a chart repository lives: an S3 bucket (boto3), a local folder, or plain HTTP (read only).

The only module that imports boto3 (lazily). Every store offers the same conditional writes, because
they are what keeps concurrent publishers from losing each other's charts (invariant 3):
packages are created only if absent, and index.yaml is replaced only if its ETag is still the one read.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, Protocol
from urllib.parse import urlsplit

from . import ui, urls
from .errors import ConflictError, ToolError

INDEX = "index.yaml"
INDEX_TYPE = "application/x-yaml"  # what ChartMuseum serves
INDEX_CACHE = "max-age=60"  # clients behind caches see a new version within a minute
PAGE, PAGE_TYPE = "index.html", "text/html; charset=utf-8"  # the repository's web page (tasks/page.py)
PACKAGE_TYPE = "application/gzip"
PROVENANCE_TYPE = "application/pgp-signature"  # NAME-VERSION.tgz.prov: a package's signature (tasks/signing.py)
PACKAGE_CACHE = "max-age=31536000, immutable"  # a published version never changes


class Store(Protocol):
    url: str
    writable: bool

    def read(self, key: str) -> tuple[bytes, str] | None:
        """The object's bytes and ETag, or None when it does not exist."""

    def create(self, key: str, data: bytes) -> bool:
        """Write only if absent; False when the key already exists."""

    def replace(self, key: str, data: bytes, etag: str | None) -> None:
        """Write only if the current ETag is `etag` (None: only if absent); ConflictError otherwise."""

    def overwrite(self, key: str, data: bytes) -> None:
        """Unconditional write: for --force, and to repair an index entry with the stored bytes."""

    def delete(self, key: str) -> None:
        """Remove the object, if there is one: a .prov that signs bytes --force replaced."""

    def keys(self) -> list[str]:
        """Every key in the repository."""


def provenances(store: Store) -> set[str]:
    """The .prov files the repository holds (one listing)."""
    return {key for key in store.keys() if key.endswith(".prov")}  # noqa: SIM118 - a Store, no dict


def provenance(name: str, version: str) -> str:
    """The key of the .prov beside a chart's package, as a publish names them."""
    return f"{name}-{version}.tgz.prov"


def open_store(url: str) -> Store:
    """The store for a URL already normalised by settings.normalize_repo_url."""
    scheme = urlsplit(url).scheme
    if scheme == "file":
        return LocalStore(Path(url[len("file://"):]))
    if scheme == "s3":
        return S3Store(url)
    if scheme == "oci":  # repo.index and repo.sync write index.yaml, which a registry has none of
        raise ToolError(f"{url}: an OCI registry holds no index.yaml to index or sync; publish to it with "
                        "invoke repo.publish (or name it as a mirror: repo.publish --mirror)")
    return HttpStore(url)


MAX_INDEX = 512 * 1024 * 1024  # 100,000 entries are ~80 MB: far above any real index, far below a memory problem
MAX_OBJECT = 100 * 1024 * 1024  # a package: Helm refuses a chart over 100 MiB even decompressed


def _bounded(read: Callable[[int], bytes], size: int | None, key: str, where: str) -> bytes:
    """Read an object of the (untrusted) repository within a limit: its announced size first, then the bytes."""
    limit = MAX_INDEX if key == INDEX else MAX_OBJECT
    data = b"" if size is not None and size > limit else read(limit + 1)
    if (size is not None and size > limit) or len(data) > limit:
        raise ToolError(f"{where}/{key}: larger than {limit:,} bytes, more than this tool reads from a "
                        "repository; remove or republish it")
    return data


def content_type(key: str) -> tuple[str, str]:
    """(Content-Type, Cache-Control): the index and its page change, packages never do."""
    if key == INDEX:
        return INDEX_TYPE, INDEX_CACHE
    if key == PAGE:
        return PAGE_TYPE, INDEX_CACHE
    if key.endswith(".prov"):
        return PROVENANCE_TYPE, PACKAGE_CACHE
    return PACKAGE_TYPE, PACKAGE_CACHE


class LocalStore:
    """A folder; a lock on .lock stands in for S3's conditional writes, os.replace for atomic puts."""

    writable = True

    def __init__(self, path: Path) -> None:
        self.path = path
        self.url = f"file://{path}"

    def read(self, key: str) -> tuple[bytes, str] | None:
        if not (self.path / key).resolve().is_relative_to(self.path.resolve()):  # defence in depth (invariant 9)
            raise ToolError(f"{self.url}: {key!r} resolves outside the repository folder; refused, nothing read")
        try:
            with open(self.path / key, "rb") as handle:
                found = os.fstat(handle.fileno())
                data = _bounded(handle.read, found.st_size, key, self.url)
        except FileNotFoundError:
            return None
        return data, _version(found)

    def create(self, key: str, data: bytes) -> bool:
        tmp = self._temp(data)
        try:
            os.link(tmp, self.path / key)  # atomic, and fails if the key exists
            return True
        except FileExistsError:
            return False
        finally:
            os.unlink(tmp)

    def replace(self, key: str, data: bytes, etag: str | None) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        with _exclusive(self.path / ".lock"):
            try:
                current: str | None = _version(os.stat(self.path / key))
            except FileNotFoundError:
                current = None
            if current != etag:
                raise ConflictError(f"{self.url}/{key} changed since it was read")
            self._put(key, data)

    def overwrite(self, key: str, data: bytes) -> None:
        self._put(key, data)

    def delete(self, key: str) -> None:
        (self.path / key).unlink(missing_ok=True)

    def keys(self) -> list[str]:
        return sorted(p.name for p in self.path.iterdir() if not p.name.startswith(".")) if self.path.is_dir() else []

    def _put(self, key: str, data: bytes) -> None:
        tmp = self._temp(data)
        try:
            os.replace(tmp, self.path / key)
        except BaseException:
            os.unlink(tmp)
            raise

    def _temp(self, data: bytes) -> str:
        """A new file holding `data`, beside the keys it will replace; removed again when it cannot be written whole
        (a full disk, Ctrl-C), so a failed write leaves nothing in the repository."""
        self.path.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.chmod(tmp, 0o644)
        except BaseException:
            os.unlink(tmp)
            raise
        return tmp


def _version(found: os.stat_result) -> str:
    """A file's ETag: every write is an os.replace of a new file, so a new inode and time. Stat-based, as
    web servers make theirs: hashing an 80 MB index to compare it cost more than the whole merge."""
    return f"{found.st_ino:x}-{found.st_size:x}-{found.st_mtime_ns:x}-{found.st_ctime_ns:x}"


@contextmanager
def _exclusive(path: Path) -> Iterator[None]:
    """An OS file lock: released by the OS when its process dies, so a killed publisher leaves none behind. Taken on
    a read-only handle where the file is another's (a folder a team shares): a lock needs no write permission."""
    handle: IO[bytes]
    try:
        handle = open(path, "a+b")  # noqa: SIM115 - closed below
    except PermissionError as refused:
        try:
            handle = open(path, "rb")  # noqa: SIM115
        except FileNotFoundError:  # no lock yet, in a folder this user cannot write: that is what to say
            raise refused from None
    with handle:
        if sys.platform == "win32":
            import msvcrt

            handle.seek(0)
            msvcrt.locking(handle.fileno(), msvcrt.LK_LOCK, 1)
        else:
            import fcntl

            fcntl.flock(handle, fcntl.LOCK_EX)
        yield


class S3Store:
    """An S3 bucket (or MinIO, or a VPC endpoint: boto3 honours AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL)."""

    writable = True

    def __init__(self, url: str) -> None:
        from botocore.config import Config

        parts = urlsplit(url)
        self.url, self.bucket = url, parts.netloc
        self.prefix = parts.path.strip("/") + "/" if parts.path.strip("/") else ""
        self.client = aws_client("s3", config=Config(retries={"max_attempts": 3, "mode": "standard"}))
        self.requests: Counter[str] = Counter()  # by operation, for the summary and the benchmarks

    def read(self, key: str) -> tuple[bytes, str] | None:
        try:
            response = self._call("GetObject", key)
        except _NotFound:
            return None
        with response["Body"] as body:
            return _bounded(body.read, response.get("ContentLength"), key, self.url), response["ETag"]

    def create(self, key: str, data: bytes) -> bool:
        try:
            self._put(key, data, IfNoneMatch="*")
            return True
        except ConflictError:
            return False

    def replace(self, key: str, data: bytes, etag: str | None) -> None:
        self._put(key, data, **({"IfMatch": etag} if etag else {"IfNoneMatch": "*"}))

    def overwrite(self, key: str, data: bytes) -> None:
        self._put(key, data)

    def delete(self, key: str) -> None:
        self._call("DeleteObject", key)

    def keys(self) -> list[str]:
        pages = self._call("ListObjectsV2", None, Prefix=self.prefix, Delimiter="/")  # not other repositories below
        return sorted(o["Key"][len(self.prefix):] for page in pages for o in page.get("Contents", []))

    def settings(self) -> dict[str, Any]:
        """What repo.doctor judges: bucket policy, public access block, ACL grants, website, index headers."""
        found: dict[str, Any] = {}
        for name, operation, pick in (
            ("policy", "GetBucketPolicy", lambda r: r["Policy"]),
            ("public_access_block", "GetPublicAccessBlock", lambda r: r["PublicAccessBlockConfiguration"]),
            ("acl_grants", "GetBucketAcl", lambda r: r["Grants"]),
            ("website", "GetBucketWebsite", lambda r: {k: v for k, v in r.items() if k != "ResponseMetadata"}),
        ):
            try:
                found[name] = pick(self._call(operation, None))
            except _NotFound:
                found[name] = None
        try:
            head = self._call("HeadObject", INDEX)
            found["index"] = {"ContentType": head.get("ContentType"), "CacheControl": head.get("CacheControl")}
        except _NotFound:
            found["index"] = None
        return found

    def _put(self, key: str, data: bytes, **condition: str) -> None:
        kind, cache = content_type(key)
        self._call("PutObject", key, Body=data, ContentType=kind, CacheControl=cache, **condition)

    def _call(self, operation: str, key: str | None, **request: Any) -> Any:
        """One S3 request (bucket-level when key is None); failures become errors naming the bucket and the fix."""
        from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

        where = f"{self.url}/{key}" if key else self.url
        self.requests[operation] += 1
        params = {"Bucket": self.bucket, **({"Key": self.prefix + key} if key else {}), **request}
        try:
            if operation == "ListObjectsV2":
                return list(self.client.get_paginator("list_objects_v2").paginate(**params))
            return getattr(self.client, re.sub(r"(?<!^)(?=[A-Z])", "_", operation).lower())(**params)
        except NoCredentialsError:
            raise ToolError(
                f"{where}: no AWS credentials; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE)"
            ) from None
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if code in ("NoSuchKey", "404") or (status == 404 and code != "NoSuchBucket"):
                raise _NotFound() from None
            if status in (409, 412) or code in ("PreconditionFailed", "ConditionalRequestConflict"):
                raise ConflictError(f"{where}: changed since it was read ({code})") from None
            if code == "NoSuchBucket":
                raise ToolError(f"{where}: bucket {self.bucket!r} does not exist; create it or fix repo.url") from None
            if code in ("AccessDenied", "403", "InvalidAccessKeyId", "SignatureDoesNotMatch"):
                raise ToolError(f"{where}: access denied ({code}); check the AWS credentials and bucket policy") from None
            raise ToolError(f"{where}: S3 {operation} failed ({code or status}); retry, or check the endpoint") from None
        except BotoCoreError as exc:
            raise ToolError(f"{where}: S3 {operation} failed ({exc}); check AWS_ENDPOINT_URL_S3 and the network") from None


class _NotFound(Exception):
    pass


class HttpStore:
    """A repository served over HTTP(S), with Basic auth when the URL has USER:PASSWORD@; never written.

    `url` is what people see (userinfo as ***); the credentials travel only in an Authorization header
    that urllib does not carry over to wherever a redirect points.
    """

    writable = False

    def __init__(self, url: str) -> None:
        self.url = urls.redact(url)
        self._base, user, password = urls.split(url)
        self._auth = urls.basic_auth(user, password) if user is not None else None

    def read(self, key: str) -> tuple[bytes, str] | None:
        import http.client  # here, not at the top: only a repository served over HTTP needs urllib's client
        import urllib.error
        import urllib.request

        request = urllib.request.Request(f"{self._base}/{key}")
        if self._auth:
            request.add_unredirected_header("Authorization", self._auth)
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                size = response.headers.get("Content-Length")
                data = _bounded(response.read, int(size) if size and size.isdigit() else None, key, self.url)
                return data, response.headers.get("ETag", "")
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return None
            if exc.code in (401, 403):
                fix = ("check the user name and password in repo.url" if self._auth else
                       "the repository needs a user name and password: repo.url http(s)://USER:PASSWORD@HOST/...")
                raise ToolError(f"{self.url}/{key}: HTTP {exc.code} ({'unauthorized' if exc.code == 401 else 'forbidden'}"
                                f"); {fix}") from None
            raise ToolError(f"{self.url}/{key}: HTTP {exc.code}; check repo.url") from None
        except urllib.error.URLError as exc:
            raise ToolError(f"{self.url}/{key}: {exc.reason}; check repo.url") from None
        except (OSError, http.client.HTTPException, ValueError) as exc:  # a reset, a timeout, a malformed answer
            raise ToolError(f"{self.url}/{key}: {exc or type(exc).__name__}; check repo.url") from None

    def create(self, key: str, data: bytes) -> bool:
        raise read_only(self)

    def replace(self, key: str, data: bytes, etag: str | None) -> None:
        raise read_only(self)

    def overwrite(self, key: str, data: bytes) -> None:
        raise read_only(self)

    def delete(self, key: str) -> None:
        raise read_only(self)

    def keys(self) -> list[str]:
        raise ToolError(f"repo.url {self.url}: an HTTP repository cannot be listed; check the bucket or folder behind it")


_ECR = re.compile(r"^(\d{12})\.dkr\.ecr(?:-fips)?\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?$")


def aws_client(service: str, **options: Any) -> Any:
    """A boto3 client whose credentials are secrets before its first request, and each session token as a request is
    signed with it: those boto3 finds itself (a profile's file, a container's or an instance's role, refreshed as it
    expires), which no variable held, are in `--debug`'s log of each request. botocore's logs of response bodies (ECR's
    holds a registry password) and of what it signs (logged as it signs, before any handler sees the token) are off."""
    import logging

    import boto3

    for quiet in ("botocore.parsers", "botocore.auth"):  # response bodies; a signature's canonical request (its token)
        logging.getLogger(quiet).setLevel(logging.INFO)
    session = boto3.session.Session()
    found = session.get_credentials()
    frozen = found.get_frozen_credentials() if found else None
    for secret in (frozen.secret_key, frozen.token) if frozen else ():
        if secret:
            ui.add_secret(secret)

    def signed_with(request: Any = None, **_: Any) -> None:  # a role's token, refreshed as it expires, as signed
        token = request.headers.get("X-Amz-Security-Token") if request is not None else None
        if token:
            ui.add_secret(token.decode() if isinstance(token, bytes) else token)

    client = session.client(service, **options)
    client.meta.events.register_last("request-created", signed_with)  # after the signer, before the request's log
    return client


def ecr_credentials(host: str) -> tuple[str, str] | None:
    """(user, password) for an Amazon ECR registry, from ECR's authorization token through boto3's standard
    credential chain (no docker, no aws CLI); None for any other host. The token and the password are secrets."""
    match = _ECR.match(host)
    if match is None:
        return None
    import base64

    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

    try:
        ecr = aws_client("ecr", region_name=match.group(2))
        token = ecr.get_authorization_token(registryIds=[match.group(1)])["authorizationData"][0]["authorizationToken"]
        ui.add_secret(token)
    except NoCredentialsError:
        raise ToolError(f"oci://{host}: no AWS credentials for ECR; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY "
                        "(or AWS_PROFILE)") from None
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        raise ToolError(f"oci://{host}: ECR refused an authorization token ({code}); check the AWS credentials and "
                        "their ecr:GetAuthorizationToken permission") from None
    except BotoCoreError as exc:
        raise ToolError(f"oci://{host}: ECR authorization failed ({exc}); check AWS_ENDPOINT_URL_ECR and the "
                        "network") from None
    user, _, password = base64.b64decode(token).decode().partition(":")
    ui.add_secret(password)
    return user, password


def read_only(store: Store) -> ToolError:
    return ToolError(f"repo.url {store.url}: an HTTP repository is read only; publish to s3:// or a folder")
