"""Cluster access: which API server and credentials an environment uses, and Helm connected to it.

CI gets the cluster from <PREFIX>_API_SERVER + <PREFIX>_KUBERNETES_TOKEN (the drone-helm convention);
a laptop from its kubeconfig and the environment's kube_context. Never the current context.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

import yaml

from . import helm, ui
from .environments import Environment
from .errors import ToolError

_SHOWN: dict[str, str] = {}  # a variable the tasks read -> what its user wrote instead (see show_variables_as)


def show_variables_as(names: Mapping[str, str]) -> None:
    """Name these variables in every line as their user wrote them: the Drone plugin hands a step's KUBE_TOKEN (or
    `kube_token` setting) to the tasks as PLUGIN_KUBERNETES_TOKEN, a name the user never wrote."""
    _SHOWN.update(names)


@dataclass(frozen=True)
class Access:
    """How to reach the environment's cluster. `kubeconfig` may hold a token: never print it."""

    environment: str
    kubeconfig: str | None
    context: str | None
    namespace: str
    source: str  # for people: "kubeconfig context staging" or "STAGING_API_SERVER + STAGING_KUBERNETES_TOKEN"

    def within(self, namespace: str) -> Access:
        """The same cluster, another namespace (a release that sets its own)."""
        return replace(self, namespace=namespace)


def cluster_access(environment: Environment, env: Mapping[str, str]) -> Access:
    """CI: <PREFIX>_API_SERVER + <PREFIX>_KUBERNETES_TOKEN (+ _CERTIFICATE). Laptop: kubeconfig + kube_context.

    Never the current context, and never an unprefixed variable: either would deploy to the wrong cluster.
    """
    prefix = environment.secrets_prefix
    keys = ("API_SERVER", "KUBERNETES_TOKEN", "KUBERNETES_CERTIFICATE")
    variables = {k: f"{prefix}_{k}" for k in keys} if prefix else {}
    # As client-go reads a token file: what surrounds a value (the line break `echo ... | drone secret add` or a
    # pasted secret leaves) is not part of it; left in, Go refuses the header and the error blames the server.
    present = {k: env[n].strip() for k, n in variables.items() if env.get(n, "").strip()}
    names = {k: _SHOWN.get(n, n) for k, n in variables.items()}
    where = f"release.environments.{environment.name}"
    if present or (prefix and not environment.kube_context):
        for required in ("API_SERVER", "KUBERNETES_TOKEN"):
            if required not in present:
                raise ToolError(
                    f"{names[required]} is not set ({where}.secrets_prefix is {prefix}); set it "
                    f"(a Drone secret), or unset every {prefix}_* variable to use kube_context"
                )
        ui.add_secret(present["KUBERNETES_TOKEN"])
        if any(char.isspace() for char in present["KUBERNETES_TOKEN"]):
            raise ToolError(f"{names['KUBERNETES_TOKEN']} holds a line break or a space inside the token; set the "
                            "secret to the token alone")
        if present["API_SERVER"].lower().startswith("http://"):
            raise ToolError(f"{names['API_SERVER']} is an http:// address: Kubernetes' client sends a bearer token "
                            "over HTTPS only, so the API server would answer 401; use its https:// address")
        # No scheme (`kube.example.com:6443`): https, as client-go takes it given a CA; a token is never sent in clear
        cluster: dict[str, Any] = {"server": present["API_SERVER"] if "://" in present["API_SERVER"]
                                   else f"https://{present['API_SERVER']}"}
        if "KUBERNETES_CERTIFICATE" in present:
            # `base64` wraps its output at 76 columns; Go's decoder (kubectl's) skips the line breaks too
            cluster["certificate-authority-data"] = "".join(present["KUBERNETES_CERTIFICATE"].split())
            try:
                base64.b64decode(cluster["certificate-authority-data"], validate=True)
            except ValueError:
                raise ToolError(f"{names['KUBERNETES_CERTIFICATE']} is not base64; set the CA's PEM, base64-encoded") from None
        kubeconfig = yaml.safe_dump({
            "apiVersion": "v1", "kind": "Config", "current-context": environment.name,
            "clusters": [{"name": environment.name, "cluster": cluster}],
            "users": [{"name": environment.name, "user": {"token": present["KUBERNETES_TOKEN"]}}],
            "contexts": [{"name": environment.name, "context": {
                "cluster": environment.name, "user": environment.name, "namespace": environment.namespace}}],
        })
        return Access(environment.name, kubeconfig, environment.name, environment.namespace,
                      f"{names['API_SERVER']} + {names['KUBERNETES_TOKEN']}")
    if not environment.kube_context:
        raise ToolError(f"{where}.kube_context is not set; set it to a context of your kubeconfig "
                        "(the current context is never used)")
    return Access(environment.name, None, environment.kube_context, environment.namespace,
                  f"kubeconfig context {environment.kube_context}")


@contextmanager
def connect(access: Access) -> Iterator[Any]:
    """Helm on the environment's cluster; when it cannot be reached, the error says what was tried."""
    try:
        with helm.cluster(access.kubeconfig, access.context, access.namespace) as config:
            yield config
    except ToolError as exc:
        if "cluster unreachable" not in str(exc):
            raise
        tried = (f"context {access.context} of the kubeconfig in KUBECONFIG or ~/.kube/config"
                 if access.kubeconfig is None else f"the API server in {access.source.split(' + ')[0]}")
        raise ToolError(f"{exc} (tried {tried}; check it)") from exc
