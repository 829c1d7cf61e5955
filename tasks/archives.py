"""Chart archives (.tgz) read as Helm's chart loader reads them: streamed, within its size limits.

A published package is untrusted input (invariant 9): a gzip bomb must not be decompressed whole. Helm
refuses a member over 5 MiB and more than 100 MiB of files in total, checking each tar header before
reading the member; so does this reader. The decompressed stream itself (headers, padding and the
extended headers tarfile reads whole) is capped too, so no single read can grow past the limits.
"""

from __future__ import annotations

import gzip
import io
import json
import tarfile
import zlib

from .errors import ToolError

MAX_CHART = 100 * 1024 * 1024  # Helm's MaxDecompressedChartSize: every file of a chart together
MAX_FILE = 5 * 1024 * 1024  # Helm's MaxDecompressedFileSize: one file
_HEADERS = 16 * 1024 * 1024  # tar headers and padding allowed on top of MAX_CHART in the stream


def read(data: bytes, where: str) -> list[tuple[tarfile.TarInfo, bytes]]:
    """Every member of a .tgz with its content (b"" for all but regular files), in archive order.

    Refused with Helm's words when a file or the whole chart is over Helm's limits, or when `data` is not
    a gzipped tar at all; `where` names the archive.
    """
    members: list[tuple[tarfile.TarInfo, bytes]] = []
    remaining = MAX_CHART
    stream = _Capped(gzip.GzipFile(fileobj=io.BytesIO(data), mode="rb"), MAX_CHART + _HEADERS, where)
    try:
        with tarfile.open(fileobj=stream, mode="r|") as tar:  # type: ignore[call-overload]
            for member in tar:
                if not member.isfile():
                    members.append((member, b""))
                    continue
                if member.size > remaining:
                    raise ToolError(_too_big(where))
                if member.size > MAX_FILE:
                    raise ToolError(f"{where}: decompressed chart file {json.dumps(member.name)} is larger than "
                                    f"the maximum file size {MAX_FILE} (Helm's limit)")
                content = tar.extractfile(member).read()  # type: ignore[union-attr]
                remaining -= len(content)
                members.append((member, content))
    except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
        raise ToolError(f"{where}: not a chart archive (a gzipped tar): {exc}") from None
    return members


def _too_big(where: str) -> str:
    return f"{where}: decompressed chart is larger than the maximum size {MAX_CHART} (Helm's limit)"


class _Capped:
    """A read-only stream that refuses to yield more than `cap` bytes in total."""

    def __init__(self, raw: gzip.GzipFile, cap: int, where: str) -> None:
        self.raw, self.left, self.where = raw, cap, where

    def read(self, size: int = -1) -> bytes:
        wanted = self.left + 1 if size < 0 else min(size, self.left + 1)
        chunk = self.raw.read(wanted)
        self.left -= len(chunk)
        if self.left < 0:
            raise ToolError(_too_big(self.where))
        return chunk
