"""Chart archives (.tgz): read as Helm's chart loader reads them (streamed, within its size limits), and
rewritten so their bytes depend on their content alone (normalized: invariant 5).

A published package is untrusted input (invariant 9): a gzip bomb must not be decompressed whole. Helm
refuses a member over 5 MiB and more than 100 MiB of files in total, checking each tar header before
reading the member; so does this reader. The decompressed stream itself (headers, padding and the
extended headers tarfile reads whole) is capped too, so no single read can grow past the limits.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import itertools
import json
import tarfile
import zlib

from .errors import ToolError

MAX_CHART = 100 * 1024 * 1024  # Helm's MaxDecompressedChartSize: every file of a chart together
MAX_FILE = 5 * 1024 * 1024  # Helm's MaxDecompressedFileSize: one file
COMPRESSION = 6  # gzip level: Go's default, as Helm's own packages (9 costs 3x the CPU for 1-2% smaller)
_HEADERS = 16 * 1024 * 1024  # tar headers and padding allowed on top of MAX_CHART in the stream


class TooBig(ToolError):
    """An archive over Helm's size limits: a chart's own package says so with the fix for its author."""


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
                    raise TooBig(_too_big(where))
                if member.size > MAX_FILE:
                    raise TooBig(f"{where}: decompressed chart file {json.dumps(member.name)} is larger than "
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
            raise TooBig(_too_big(self.where))
        return chunk


def normalized(data: bytes, mtime: int, where: str = "Helm's package") -> tuple[bytes, dict[str, bytes]]:
    """A chart archive rewritten so its bytes depend only on its content and `mtime` (read within Helm's
    limits), and its files by name (read once for both). One that holds a name twice is refused (`where`: the
    chart): Helm packages two subcharts of one name both under charts/NAME (one vendored in charts/, one its
    dependency build fetched), and which one a reader installs is left to the order of the entries."""
    fast = _normalize_ustar(data, mtime)
    if fast is not None:
        return fast
    members = sorted(read(data, where), key=lambda m: m[0].name)
    twice = next((a.name for (a, _), (b, _) in itertools.pairwise(members) if a.name == b.name), None)
    if twice is not None:
        raise ToolError(f"{where}: its package would hold {twice} twice (two subcharts of one name: one vendored in "
                        "charts/, one fetched by the dependency build?), and which one installs would be left to "
                        "chance; keep one (remove the vendored copy, or that dependency)")
    out = io.BytesIO()
    with (
        gzip.GzipFile(filename="", mode="wb", fileobj=out, mtime=0, compresslevel=COMPRESSION) as gz,
        tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as dst,
    ):
        for member, content in members:
            if not member.isfile():
                raise ToolError(f"{member.name}: unexpected {member.type!r} entry in Helm's archive")
            info = tarfile.TarInfo(member.name)
            info.size, info.mode, info.mtime = len(content), member.mode & 0o777, mtime
            dst.addfile(info, io.BytesIO(content))
    return out.getvalue(), {member.name: content for member, content in members}


_USTAR_TAIL = b"0" + bytes(100) + b"ustar\x0000" + bytes(247)  # a file's header after its checksum: ustar, no owner
_USTAR_SUM = 8 * ord(" ") + sum(_USTAR_TAIL)


def _normalize_ustar(data: bytes, mtime: int) -> tuple[bytes, dict[str, bytes]] | None:
    """normalized() for the archives Helm writes (plain ustar files, short ASCII names once each, within its
    limits), byte for byte what tarfile's PAX writer and GzipFile give, at a fraction of their cost; None for
    anything else, which takes the general path (and its errors)."""
    inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        tar = inflate.decompress(data, MAX_CHART)
    except zlib.error:
        return None
    if inflate.unconsumed_tail or not inflate.eof:
        return None
    files: list[tuple[bytes, int, bytes]] = []
    at = 0
    while at + 512 <= len(tar) and tar[at:at + 512] != bytes(512):
        header = tar[at:at + 512]
        try:
            size, mode = int(header[124:136].strip(b"\0 ") or b"0", 8), int(header[100:108].strip(b"\0 ") or b"0", 8)
        except ValueError:
            return None
        name = header[0:100].rstrip(b"\0")
        if header[257:262] == b"ustar" and header[345:500].strip(b"\0"):
            name = header[345:500].rstrip(b"\0") + b"/" + name
        if header[156:157] not in (b"0", b"\0") or size > MAX_FILE or len(name) > 100 or not name.isascii():
            return None
        files.append((name, mode & 0o777, tar[at + 512:at + 512 + size]))
        at += 512 + -(-size // 512) * 512
    files.sort()
    if any(a[0] == b[0] for a, b in itertools.pairwise(files)):
        return None
    out = bytearray()
    for name, mode, content in files:
        fields = b"%07o\0%07o\0%07o\0%011o\0%011o\0" % (mode, 0, 0, len(content), mtime)
        checksum = sum(name) + sum(fields) + _USTAR_SUM  # the header's bytes with 8 spaces for the checksum itself
        out += name.ljust(100, b"\0") + fields + b"%06o\0 " % checksum + _USTAR_TAIL + content
        out += bytes(-len(content) % 512)
    out += bytes(1024)
    out += bytes(-len(out) % tarfile.RECORDSIZE)
    deflate = zlib.compressobj(COMPRESSION, zlib.DEFLATED, -zlib.MAX_WBITS, zlib.DEF_MEM_LEVEL, 0)
    body = deflate.compress(out) + deflate.flush()
    trailer = (zlib.crc32(out) & 0xFFFFFFFF).to_bytes(4, "little") + (len(out) & 0xFFFFFFFF).to_bytes(4, "little")
    gzipped = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff" + body + trailer  # no name, mtime 0, level 6: xfl 0
    return gzipped, {name.decode(): content for name, _, content in files}


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def archive_files(data: bytes, where: str = "chart archive") -> dict[str, bytes]:
    """Every file in a chart archive by name: what two archives must share to hold the same chart."""
    return {member.name: content for member, content in read(data, where) if member.isfile()}
