"""The chart repository's index.yaml as a small data model: load, get, add, sort, dump (cf. Helm's repo/index.go).

Bitnami-sized indexes (15,000 entries, 14 MB) make YAML the bottleneck: PyYAML's C loader needs ~9 s.
JSON is valid YAML, Helm's client reads it (`helm repo index --json` writes the same), and it loads in a
fraction of that. So the index is written as JSON (orjson: 6x faster than json to dump); a YAML index (written by Helm or another tool) is
still read, once, through a loader that keeps every scalar but booleans and nulls a string, so
`created` and `version: 1.10` round-trip exactly (invariant 4).

The JSON is laid out a chart per line and a version per line. An index in that layout is read lazily: a
chart's versions are parsed when first used and the others are written back as the bytes read, so merging
one chart into 100,000 entries parses one chart (cf. Entries).
"""

from __future__ import annotations

import gc
import posixpath
import re
from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, unquote, urlsplit, urlunsplit

import orjson
import yaml

from . import safe_yaml
from .errors import ToolError
from .store import INDEX, Store

RESTORE = ("restore it from a backup or an earlier version (publishing without it would leave out every chart this "
           "checkout does not hold)")
_LOADER = safe_yaml.go_tags(safe_yaml.unique_keys(safe_yaml.TextLoader))  # Helm refuses a key given twice
_USERINFO = re.compile(r"//[^/@]*@")  # credentials in a URL: never shown
_BELOW = ("http", "https", "s3")  # absolute urls followed below a base: repo.public_url, the repository's own URL
_SEGMENT = re.compile(r"^[A-Za-z0-9_%+-][A-Za-z0-9._~%+-]*$")  # a file or folder name in a package url


class Entries(MutableMapping[str, list[dict[str, Any]]]):
    """Chart name -> its versions, newest first. Charts of an index read in dump's layout stay bytes (`raw`:
    where their JSON list is in `data`) until first used, then are parsed and checked."""

    def __init__(self, parsed: dict[str, list[dict[str, Any]]] | None = None, data: bytes = b"",
                 raw: dict[str, tuple[int, int]] | None = None, where: str = "index.yaml") -> None:
        self._parsed = dict(parsed or {})
        self._data, self._raw, self._where = data, raw or {}, where

    def __getitem__(self, name: str) -> list[dict[str, Any]]:
        if name not in self._parsed:
            start, end = self._raw.pop(name)
            try:
                versions = orjson.loads(self._data[start:end])
            except orjson.JSONDecodeError:  # a line edited by hand: YAML still, as Helm reads it
                try:
                    versions = safe_yaml.load(bytes(self._data[start:end]), _LOADER)
                except yaml.YAMLError as exc:
                    raise ToolError(f"{self._where}: entries.{shown(name)} is not valid YAML "
                                    f"({str(exc).splitlines()[0]}); {RESTORE}") from None
            self._parsed[name] = _checked(name, versions, self._where)
        return self._parsed[name]

    def __setitem__(self, name: str, versions: list[dict[str, Any]]) -> None:
        self._raw.pop(name, None)
        self._parsed[name] = versions

    def __delitem__(self, name: str) -> None:
        if self._raw.pop(name, None) is None:
            del self._parsed[name]

    def __iter__(self) -> Iterator[str]:
        return iter([*self._parsed, *self._raw])

    def __len__(self) -> int:
        return len(self._parsed) + len(self._raw)

    def __contains__(self, name: object) -> bool:
        return name in self._parsed or name in self._raw

    def newest(self, name: str) -> tuple[dict[str, Any] | None, int]:
        """A chart's newest version and how many it has, parsing only that version."""
        if name not in self._raw:
            versions = self[name]
            return (versions[0] if versions else None), len(versions)
        start, end = self._raw[name]
        count = self._data.count(b"\n", start, end)  # a version per line
        if not count:
            return None, 0
        line_end = self._data.find(b"\n", start + 2, end)
        try:
            first = orjson.loads(self._data[start + 1:line_end if line_end >= 0 else end].rstrip(b",]"))
        except orjson.JSONDecodeError:
            first = None
        return (first if isinstance(first, dict) and "version" in first else self[name][0]), count

    def version(self, name: str, version: str) -> dict[str, Any] | None:
        """A version's entry, to look at: while its chart is bytes, parsed line by line until that version's (newest
        first: mostly the first line), so a push that changes nothing parses one version of each chart, not its
        history. Each line read must be what dump writes, "  {...}," (the last "  {...}]"), one entry that parses
        alone, or the chart is read whole. The lines after it are not read: one broken by hand is reported when the
        chart is next published, and by repo.verify, which reads every entry."""
        if name in self._raw:
            start, end = self._raw[name]
            at = self._data.find(b"\n", start, end)
            while at >= 0:
                after = self._data.find(b"\n", at + 1, end)
                line = self._data[at + 1:end if after < 0 else after]
                if not line.startswith(b"  {") or not line.endswith(b"}]" if after < 0 else b"},"):
                    break  # not dump's layout (edited by hand): a line may be part of an entry
                try:
                    entry = orjson.loads(line[:-1])
                except orjson.JSONDecodeError:
                    break
                if not isinstance(entry, dict) or "version" not in entry:
                    break  # what the whole chart's reading refuses
                if entry["version"] == version:
                    return entry
                at = after
        return next((e for e in self.get(name, ()) if e.get("version") == version), None)

    def blocks(self) -> Iterator[tuple[str, bytes | memoryview]]:
        """Each chart's versions as the bytes of their JSON list, by name: unused ones as they were read."""
        view = memoryview(self._data)
        for name in sorted(self):
            if name in self._raw:
                start, end = self._raw[name]
                yield name, view[start:end]
            else:
                yield name, b"[" + b",".join(b"\n  " + _json(e) for e in self._parsed[name]) + b"]"


class Index:
    """Entries, and the rest of the document kept as found (serverInfo, annotations). A plain class: a
    dataclass's generated methods cost every command that reads an index ~2 ms of start-up."""

    def __init__(self, entries: Entries | dict[str, list[dict[str, Any]]] | None = None,
                 extra: dict[str, Any] | None = None) -> None:
        self.entries = entries if isinstance(entries, Entries) else Entries(entries)
        self.extra = {} if extra is None else extra

    def get(self, name: str, version: str) -> dict[str, Any] | None:
        return next((e for e in self.entries.get(name, ()) if e.get("version") == version), None)

    def add(self, entry: dict[str, Any]) -> None:
        """Add an entry, or replace the one with the same name and version, keeping its `created`."""
        versions = self.entries.setdefault(entry["name"], [])
        for i, old in enumerate(versions):
            if old.get("version") == entry["version"]:
                versions[i] = {**entry, "created": old.get("created", entry["created"])}
                break
        else:
            versions.append(entry)
        versions.sort(key=_version_key, reverse=True)

    def __len__(self) -> int:
        return sum(self.entries.newest(name)[1] for name in self.entries)


def timestamp(now: datetime | None = None) -> str:
    """RFC 3339 in UTC, as Helm writes `created` and `generated`."""
    return (now or datetime.now(UTC)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def entry(metadata: dict[str, Any], digest: str, url: str, created: str) -> dict[str, Any]:
    """An index entry: the chart's metadata plus where to get it, when it was published and its digest."""
    fields = {k: v for k, v in metadata.items() if v not in (None, "", [], {})}
    return {**fields, "urls": [url], "created": created, "digest": digest}


def complete(entry: dict[str, Any] | None) -> bool:
    """Whether an entry records what a client downloads and a deploy verifies (urls, digest): one that lacks either
    is built again by a publish, which records it (publish._classify), even when its inputs did not change."""
    return bool(entry and entry.get("digest") and entry.get("urls"))


def package_key(entry: dict[str, Any], where: str, bases: tuple[str | None, ...] = ()) -> str:
    """Where an entry's package lives in its repository; refused when that is not inside it (invariant 9).

    The index is untrusted input: a relative url is taken as it is (ChartMuseum writes charts/NAME.tgz),
    an absolute http(s) or s3 one only below one of `bases` (repo.public_url, the repository's own URL: the
    helm-s3 plugin writes s3://BUCKET/PREFIX/NAME.tgz), as the path below it. `..`, an absolute path, `//host`,
    another scheme or host, a backslash, a hidden file: each would read something else than a package of this
    repository, so none is ever followed.
    """
    urls = entry.get("urls") or [f"{entry.get('name')}-{entry.get('version')}.tgz"]
    url = urls[0] if isinstance(urls, list) else urls
    problem, key = _inside(url, bases) if isinstance(urls, list) and isinstance(url, str) else ("not a list of URLs", "")
    if problem:
        url = shown(_USERINFO.sub("//***@", str(url)))
        raise ToolError(f"{where}: {shown(entry.get('name'))} {shown(entry.get('version'))}: url {url} "
                        f"points outside the repository ({problem}); nothing was read. Remove the entry or restore "
                        "index.yaml, then publish the chart again")
    return key


def check_package(name: str, entry: dict[str, Any], metadata: dict[str, Any], where: str) -> None:
    """Refuse a package whose own Chart.yaml (`metadata`, as Helm loads it) is not the chart and version its entry
    names: an entry edited to another package's url and digest (an older signed version, say) leads elsewhere, and
    the digest alone cannot tell. `where` is the package's address."""
    if (str(metadata.get("name")), str(metadata.get("version"))) != (name, str(entry.get("version"))):
        raise ToolError(f"{where}: holds {shown(metadata.get('name'))} {shown(metadata.get('version'))}, where "
                        f"index.yaml's entry is {shown(name)} {shown(entry.get('version'))}: the index was changed to "
                        "lead elsewhere; restore index.yaml from a copy you trust, or delete that entry and publish "
                        "the chart again")


def _inside(url: str, bases: tuple[str | None, ...]) -> tuple[str, str]:
    """("", key) for a url naming a package inside the repository, else (what is wrong, "")."""
    if "\\" in url:
        return "a backslash", ""
    try:
        parts = urlsplit(url)
        if parts.scheme in _BELOW:
            bare = _bare(url) if parts.scheme != "s3" else _bare(parts._replace(path=_s3_path(parts.path)).geturl())
            under = [bare[len(b) + 1:] for b in (_bare(b) for b in bases if b) if bare.startswith(b + "/")]
            if not under:
                return "not below repo.public_url or the repository's own URL", ""
            url = under[0]
    except ValueError:
        return "not a valid URL", ""
    if parts.scheme not in ("", *_BELOW):
        return f"scheme {parts.scheme!r}", ""
    if url.startswith("/"):
        return "another host" if url.startswith("//") else "an absolute path", ""
    segments = url.split("/")
    while len(segments) > 1 and segments[0] == ".":
        segments.pop(0)
    names = [unquote(s) for s in segments]  # a url's %XX as a file name holds it (`publish` writes "a%20b-1.0.0.tgz")
    odd = [s for s, name in zip(segments, names) if not _SEGMENT.match(s) or name.startswith(".") or "/" in name
           or "\\" in name or not name.isprintable()]
    if odd:
        return f"{repr(odd[0])[:40] if odd[0] else 'an empty part'} is not a plain file or folder name", ""
    return "", "/".join(names)


def _s3_path(path: str) -> str:
    """An s3:// URL's path with its `.` and `..` segments applied and its empty ones dropped: the object it names
    is judged by where that leads (a `..` out of the repository's prefix is outside), as the helm-s3 plugin's
    URLs (`s3://BUCKET/PREFIX/NAME-VERSION.tgz`) are compared with the repository's own s3:// URL."""
    return posixpath.normpath("/" + "/".join(s for s in path.split("/") if s))


def package_url(filename: str, public_url: str | None) -> str:
    """An entry's url: the package's file name, %-encoded where a URL would read it otherwise (a chart named
    `a b` or `x?y`, which Helm accepts), below repo.public_url when there is one."""
    name = quote(filename, safe="+")
    return f"{public_url}/{name}" if public_url else name


def _bare(url: str) -> str:
    """A base URL without credentials or a trailing slash: what index urls are compared with."""
    parts = urlsplit(url.rstrip("/"))
    host = parts.hostname or ""
    return urlunsplit(parts._replace(netloc=host if parts.port is None else f"{host}:{parts.port}"))


def shown(value: Any) -> str:
    """Untrusted text for a one-line message: control characters escaped, at most 100 characters."""
    text = str(value)
    return text if text.isprintable() and len(text) <= 100 else repr(text[:100])


def read(store: Store) -> tuple[Index, str | None]:
    """The repository's index and its ETag (None: no index yet)."""
    found = store.read(INDEX)
    return load(found[0] if found else None, f"{store.url}/{INDEX}"), found[1] if found else None


def load(data: bytes | None, where: str) -> Index:
    """Parse index.yaml (JSON or YAML); `where` names it in errors. No data is an empty repository."""
    if data is None:
        return Index()
    laid_out = _laid_out(data, where)
    if laid_out is not None:
        return laid_out
    if data.startswith(b"\x1f\x8b"):
        raise ToolError(f"{where}: gzip-compressed (stored with Content-Encoding: gzip, or compressed by hand), which "
                        "Helm cannot read; store it uncompressed")
    try:
        with _gc_paused():
            doc = _parse(data)
    except safe_yaml.AliasError as exc:
        raise ToolError(f"{where}: {exc}, which Helm refuses too; {RESTORE}") from None
    except yaml.YAMLError as exc:
        raise ToolError(f"{where}: not valid YAML ({str(exc).splitlines()[0]}); {RESTORE}") from None
    if not isinstance(doc, dict) or "apiVersion" not in doc or not isinstance(doc.get("entries") or {}, dict):
        raise ToolError(f"{where}: not a Helm repository index (needs apiVersion, and entries a mapping); "
                        f"{RESTORE}")  # Helm's loadIndex: no apiVersion is an error, no entries an empty index
    entries = doc.pop("entries", None) or {}
    for name, versions in entries.items():
        _checked(name, versions, where)
    for key in ("apiVersion", "generated"):
        doc.pop(key, None)
    return Index(entries=Entries(entries, where=where), extra=doc)


def _checked(name: str, versions: Any, where: str) -> list[dict[str, Any]]:
    if not isinstance(versions, list) or not all(isinstance(e, dict) and "version" in e for e in versions):
        raise ToolError(f"{where}: entries.{shown(name)} is not a list of chart versions; {RESTORE}")
    return versions


# UTF-8 of what YAML refuses (DEL, C1 controls, U+FFFE/F) or reads as a line break (NEL, U+2028/9)
_NOT_YAML = re.compile(rb"\x7f|\xc2[\x80-\x9f]|\xef\xbf[\xbe\xbf]|\xe2\x80[\xa8\xa9]")
_OPEN, _CLOSE = b',"entries":{', b'\n},"generated":'
_CHART = re.compile(rb' ("(?:[^"\\\n]|\\.)*"):\[')  # a chart's line: its JSON-quoted name, then its versions


def _laid_out(data: bytes, where: str) -> Index | None:
    """An index in dump's layout, its charts kept as bytes (see Entries); None for any other document.

    The head (apiVersion, annotations, ...) and the tail (generated) are parsed; each chart's name is read
    from its line. JSON strings hold no raw newline, so every line that opens with ` "` is a chart's."""
    head_end = data.find(b"\n")
    tail = data.rfind(_CLOSE)
    if not data.startswith(b'{"apiVersion":') or head_end < 0 or tail < head_end \
            or not data.endswith(b"}\n") or not data[:head_end].endswith(_OPEN):
        return None
    try:
        head = orjson.loads(data[:head_end - len(_OPEN)] + b"}")
        last = orjson.loads(b"{" + data[tail + len(_CLOSE) - len(b'"generated":'):])
    except orjson.JSONDecodeError:
        return None
    if not isinstance(head, dict) or not isinstance(last, dict) or "entries" in head or "entries" in last:
        return None
    raw: dict[str, tuple[int, int]] = {}
    at = head_end  # the newline before a chart's line
    while at < tail:
        found = _CHART.match(data, at + 1)
        if found is None:
            return None
        following = data.find(b'\n "', found.end(), tail)
        stop = tail if following < 0 else following
        end = stop if following < 0 else stop - 1  # before the comma between charts
        if data[end - 1:end] != b"]" or data[end:stop] not in (b"", b","):
            return None
        name = orjson.loads(found.group(1))
        if name in raw:  # a chart's line pasted twice: Helm's JSON reader would keep the last, dropping the first
            raise ToolError(f"{where}: entries.{shown(name)} is given twice, and a reader keeps only the last, "
                            "dropping the versions of the first; merge them into one")
        raw[name] = (found.end() - 1, end)
        at = stop
    doc = {**head, **last}
    for key in ("apiVersion", "generated"):
        doc.pop(key, None)
    return Index(entries=Entries(data=data, raw=raw, where=where), extra=doc)


def _parse(data: bytes) -> Any:
    """JSON first (what this tool writes), else YAML (a flow mapping may look like JSON and not be it)."""
    if data.lstrip()[:1] == b"{":
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError:
            pass
    return safe_yaml.load(data, _LOADER)


def dump(index: Index, generated: str | None = None) -> bytes:
    """JSON-formatted YAML (Helm's client and `helm repo index --merge` read it), a chart per line and a
    version per line, which load reads back lazily."""
    parts: list[bytes | memoryview] = [_json({"apiVersion": "v1", **index.extra})[:-1], _OPEN]
    for i, (name, block) in enumerate(index.entries.blocks()):
        parts += [b",\n " if i else b"\n ", _json(name), b":", block]
    parts += [_CLOSE, orjson.dumps(generated or timestamp()), b"}\n"]
    return b"".join(parts)


def _json(value: Any) -> bytes:
    """orjson's JSON, with what YAML (so Helm's client) refuses or reads as a line break escaped: orjson
    leaves DEL, C1 controls, U+FFFE/F and U+2028/9 raw."""
    return _NOT_YAML.sub(lambda m: b"\\u%04x" % ord(m.group().decode()), orjson.dumps(value))


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Parsing allocates ~10^6 acyclic objects; the cyclic GC would rescan them repeatedly (2-3x slower), and
    again at every later collection: they are frozen (moved out of the GC's reach, freed as usual)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if enabled:
            gc.enable()


def _version_key(e: dict[str, Any]) -> tuple[int, Any]:
    """Helm's order: valid SemVer versions by precedence; unparsable ones sort below all of them."""
    import semver  # here: only adding an entry sorts versions; a push that changes nothing adds none

    text = str(e.get("version", "")).lstrip("v")
    try:
        return 1, semver.Version.parse(text, optional_minor_and_patch=True)
    except ValueError:
        return 0, text
