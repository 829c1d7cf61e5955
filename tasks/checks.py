"""repo.verify and repo.doctor: what is wrong with a live repository, and how to fix it."""

from __future__ import annotations

import json
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import archives, chart_source, helm, registry, signing, waits
from . import index as idx
from .errors import ToolError
from .serve import serving
from .store import INDEX, Store

PASS, WARN, FAIL = "pass", "warn", "fail"
PUBLIC_GRANTEES = ("http://acs.amazonaws.com/groups/global/AllUsers",
                   "http://acs.amazonaws.com/groups/global/AuthenticatedUsers")


@dataclass(frozen=True)
class Finding:
    kind: str  # missing, digest, package, signature, url, orphan, index
    key: str
    detail: str


def verify(store: Store, public_url: str | None = None, keyring: Path | None = None) -> list[Finding]:
    """Every entry's package exists with the entry's digest and loads in Helm as the chart the entry names, no
    package is unindexed, Helm's client loads the index; with a keyring, every package is signed (its .prov
    beside it) by a key in it.

    Nothing outside the repository is read or hashed: an entry whose url leads elsewhere is a finding itself.
    """
    if keyring is not None:
        signing.check_keyring(keyring, "--keyring")
    found = store.read(INDEX)
    if found is None:
        return [Finding("index", INDEX, "no index.yaml: not a chart repository yet; run invoke repo.publish")]
    listed = f"{store.url}/{INDEX}"
    try:
        index = idx.load(found[0], listed)
        helm_loads(found[0])
    except ToolError as exc:
        return [Finding("index", INDEX, str(exc))]
    wanted: dict[str, list[tuple[str, dict[str, Any]]]] = {}  # package key -> the entries leading to it
    findings: list[Finding] = []
    for name, versions in index.entries.items():
        for entry in versions:
            if not entry.get("urls"):  # a deploy here guesses NAME-VERSION.tgz; Helm's client has nothing to download
                findings.append(Finding("url", _entry(name, entry), "no urls in index.yaml: Helm's clients cannot "
                                        "download it (no downloadable URLs); publish the chart again to record its "
                                        "url"))
            try:
                wanted.setdefault(idx.package_key(entry, listed, (store.url, public_url)), []).append((name, entry))
            except ToolError as exc:
                findings.append(Finding("url", _entry(name, entry), str(exc)))

    def check(key: str) -> list[Finding]:
        """The package at `key`, read and loaded once, against each entry that leads to it (an edited entry may lead
        to another one's package)."""
        where, entries = f"{store.url}/{key}", wanted[key]
        found = [Finding("digest", key, f"{_entry(name, entry)}: no digest in index.yaml, so it is never deployed; "
                                        "publish the chart again to record it")
                 for name, entry in entries if not entry.get("digest")]
        entries = [(name, entry) for name, entry in entries if entry.get("digest")]
        package = store.read(key) if entries else None
        if package is None:
            return found + [Finding("missing", key, f"{_entry(name, entry)}: in index.yaml, not in the repository")
                            for name, entry in entries]
        actual = archives.digest(package[0])
        found += [Finding("digest", key, f"{_entry(name, entry)}: sha256 {actual[:12]} != index digest "
                                         f"{idx.shown(entry['digest'])[:12]}")
                  for name, entry in entries if entry["digest"] != actual]
        entries = [(name, entry) for name, entry in entries if entry["digest"] == actual]
        if not entries:
            return found
        try:  # what a client does next: Helm loads it, and it is the chart its entry names (what a deploy checks)
            loaded = helm.archive_metadata(package[0], where)
        except ToolError as exc:
            return found + [Finding("package", key, f"{exc}; no client can install it: publish the chart again as a "
                                                    "new version")]
        held = 0
        for name, entry in entries:
            try:
                idx.check_package(name, entry, loaded, where)
                held += 1
            except ToolError as exc:
                found.append(Finding("package", key, str(exc)))
        if keyring is not None and held:
            provenance = store.read(f"{key}.prov")
            try:
                signing.verify(package[0], provenance[0] if provenance else None, keyring, where)
            except ToolError as exc:
                found.append(Finding("signature", key, str(exc)))
        return found

    findings += [f for found in waits.mapped(check, sorted(wanted), 8) for f in found]
    stored = store.keys()
    orphans = [k for k in stored if k.endswith(".tgz") and k not in wanted]
    return findings + [Finding("orphan", k, "package not in index.yaml: publish its chart again, or delete it")
                       for k in orphans]


def _entry(name: str, entry: dict[str, Any]) -> str:
    """An index entry in a finding: its chart and version."""
    return f"{idx.shown(name)} {idx.shown(entry.get('version'))}"


def verify_registry(target: registry.Registry, charts: list[str]) -> tuple[list[Finding], int]:
    """(findings, versions checked) for an OCI registry, which has no index to start from: every version of
    each chart of the checkout is pulled (the pull checks its digest: a registry is content-addressed) and
    must load in Helm as the chart and version its tag stands for (what a deploy checks)."""
    findings, checked = [], 0
    for name in charts:
        for version in registry.versions(target, name):
            checked += 1
            where = f"{name}:{registry.tag(version)}"
            try:
                chart_source.check_tagged(name, version, registry.fetch(target, name, version),
                                          f"{target.reference(name)}:{registry.tag(version)}")
            except ToolError as exc:
                findings.append(Finding("package", where, str(exc)))
    return findings, checked


def helm_loads(data: bytes) -> None:
    """Hand index.yaml to Helm's own repository client, served on loopback: it must load it."""
    with tempfile.TemporaryDirectory() as folder:
        Path(folder, INDEX).write_bytes(data)
        with serving(Path(folder)) as server:
            helm.repo_index(f"http://127.0.0.1:{server.server_port}")


@dataclass(frozen=True)
class Check:
    name: str
    status: str
    detail: str
    fix: str = ""


def doctor(settings: dict[str, Any]) -> list[Check]:
    """The article's security model for an S3 repository, checked setting by setting."""
    return [_policy(settings["policy"]), _public_access_block(settings["public_access_block"]),
            _acl(settings["acl_grants"] or []), _website(settings["website"]), _index(settings["index"])]


def _policy(policy: str | None) -> Check:
    if policy is None:
        return Check("bucket policy", WARN, "no bucket policy: only IAM principals can read the charts",
                     "allow s3:GetObject to readers under an aws:sourceVpce condition (the article's policy)")
    statements = json.loads(policy).get("Statement", [])
    statements = statements if isinstance(statements, list) else [statements]
    public = [s for s in statements if s.get("Effect") == "Allow" and _anyone(s.get("Principal"))
              and _reads(s.get("Action"))]
    open_ = [s for s in public if not s.get("Condition")]
    if open_:
        return Check("bucket policy", FAIL,
                     "s3:GetObject is allowed to anyone, with no condition: the charts are public",
                     "add a Condition, e.g. StringEquals aws:sourceVpce: vpce-..., to that statement")
    if public:
        keys = sorted({k for s in public for test in s["Condition"].values() for k in test})
        return Check("bucket policy", PASS, f"anonymous s3:GetObject only under a condition ({', '.join(keys)})")
    return Check("bucket policy", PASS, "no anonymous read access")


def _anyone(principal: Any) -> bool:
    return principal == "*" or (isinstance(principal, dict) and "*" in _as_list(principal.get("AWS")))


def _reads(action: Any) -> bool:
    return any(a in ("*", "s3:*", "s3:GetObject", "s3:Get*") for a in _as_list(action))


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _public_access_block(block: dict[str, bool] | None) -> Check:
    flags = ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")
    if block is None:
        return Check("public access block", WARN, "not configured", f"turn on all four: {', '.join(flags)}")
    off = [f for f in flags if not block.get(f)]
    if off:
        return Check("public access block", WARN, f"off: {', '.join(off)}", "turn them on (a VPC-endpoint policy "
                     "is not public, so the article's policy still works)")
    return Check("public access block", PASS, "all four settings on")


def _acl(grants: list[dict[str, Any]]) -> Check:
    public = [f"{g.get('Permission')} to {g['Grantee']['URI'].rsplit('/', 1)[-1]}" for g in grants
              if g.get("Grantee", {}).get("URI") in PUBLIC_GRANTEES]
    if public:
        return Check("bucket ACL", FAIL, f"public grants: {', '.join(public)}",
                     "remove them (aws s3api put-bucket-acl --acl private)")
    return Check("bucket ACL", PASS, "no public grants")


def _website(website: dict[str, Any] | None) -> Check:
    if not website:
        return Check("website hosting", WARN, "off", "enable it with index document index.html, as the article does, "
                     "if readers use the website endpoint")
    document = website.get("IndexDocument", {}).get("Suffix")
    if not document:
        return Check("website hosting", WARN, "on, without an index document", "set IndexDocument to index.html")
    return Check("website hosting", PASS, f"on, index document {document}")


def _index(headers: dict[str, str | None] | None) -> Check:
    if headers is None:
        return Check("index.yaml", FAIL, "missing: not a chart repository yet", "run invoke repo.publish")
    problems = []
    if headers.get("ContentType") not in ("application/x-yaml", "application/yaml", "text/yaml", "application/json"):
        problems.append(f"Content-Type {headers.get('ContentType')}")
    age = re.search(r"max-age=(\d+)", headers.get("CacheControl") or "")
    if age is None or int(age.group(1)) > 300:
        problems.append(f"Cache-Control {headers.get('CacheControl')!r} (clients may not see new versions)")
    if problems:
        return Check("index.yaml", WARN, "; ".join(problems), "publish again with invoke repo.publish: it sets both")
    return Check("index.yaml", PASS, f"{headers['ContentType']}, {headers['CacheControl']}")
