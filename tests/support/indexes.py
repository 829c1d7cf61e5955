"""Index files as other tools write them, and what Helm's own repository client reads from one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

# Valid for Helm: YAML anchors and merge keys, in block and flow mappings, a list of versions and one version merged
MERGE_KEYS = """apiVersion: v1
entries:
  jiralert:
  - &jira
    <<: &jirabase
      name: jiralert
      apiVersion: v2
      annotations: &team
        team: observability
        oncall: "#obs"
    version: 1.9.0
    created: "2021-01-02T03:04:05Z"
    digest: 5baf5e88cfda0fc5599f209f1af1e5ab6f9f6c532d77c7d9315748392862bdae
    urls: [jiralert-1.9.0.tgz]
  - <<: *jirabase
    version: 1.8.0
    created: "2020-01-02T03:04:05Z"
    digest: 6baf5e88cfda0fc5599f209f1af1e5ab6f9f6c532d77c7d9315748392862bdae
    urls: [jiralert-1.8.0.tgz]
  jiralert-mirror:
  - {<<: *jira}
  prometheus-pushgateway:
  - name: prometheus-pushgateway
    version: 3.8.0
    apiVersion: v2
    created: "2021-01-02T03:04:05Z"
    digest: b7aa3024c651b62d66c2f591ad51e803c59705076d40565ccba7d9c4662045c3
    urls: [prometheus-pushgateway-3.8.0.tgz]
    annotations:
      <<: *team
      category: monitoring
generated: "2021-01-02T03:04:05Z"
"""


def helm_reads(folder: Path) -> dict[str, Any]:
    """The entries Helm's own repository client reads from the folder's index.yaml, served on loopback."""
    from tasks import helm
    from tasks.serve import serving

    with serving(folder) as server:
        entries: dict[str, Any] = helm.repo_index(f"http://127.0.0.1:{server.server_port}")["entries"]
        return entries
