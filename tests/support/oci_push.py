"""A raw OCI push of a chart archive, as any client could make it: a tag holds whatever was pushed under it."""

from __future__ import annotations

import hashlib
import json
import urllib.request
from typing import Any

CONFIG = "application/vnd.cncf.helm.config.v1+json"
CONTENT = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"
MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def _blob(host: str, repository: str, data: bytes) -> dict[str, Any]:
    digest = f"sha256:{hashlib.sha256(data).hexdigest()}"
    started = urllib.request.Request(f"http://{host}/v2/{repository}/blobs/uploads/", b"", method="POST")
    with urllib.request.urlopen(started) as response:
        location = response.headers["Location"]
    location = f"http://{host}{location}" if location.startswith("/") else location
    upload = urllib.request.Request(f"{location}{'&' if '?' in location else '?'}digest={digest}", data, method="PUT",
                                    headers={"Content-Type": "application/octet-stream"})
    urllib.request.urlopen(upload).close()
    return {"digest": digest, "size": len(data)}


def push_chart(host: str, repository: str, tag: str, archive: bytes, config: dict[str, Any]) -> None:
    """`archive` as the Helm chart HOST/REPOSITORY:TAG (repository e.g. charts/hello-world), whatever it holds;
    `config` is the manifest's config (Helm writes the chart's Chart.yaml there)."""
    manifest = {"schemaVersion": 2, "mediaType": MANIFEST,
                "config": {"mediaType": CONFIG, **_blob(host, repository, json.dumps(config).encode())},
                "layers": [{"mediaType": CONTENT, **_blob(host, repository, archive)}]}
    request = urllib.request.Request(f"http://{host}/v2/{repository}/manifests/{tag}", json.dumps(manifest).encode(),
                                     method="PUT", headers={"Content-Type": MANIFEST})
    urllib.request.urlopen(request).close()
