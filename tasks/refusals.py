"""What gets a deploy or rollback past the API server's refusal, when the refusal is one Helm users meet on
upgrades: a field Kubernetes does not let change in place (a StatefulSet's volume claims, a Job's pod template,
a workload's selector, an immutable ConfigMap), or a namespace that does not exist. Kubernetes' own words stay
in the error; this adds the step that recovers, naming the object."""

from __future__ import annotations

import re

_REFUSED = re.compile(r'\b(?P<kind>[A-Z][A-Za-z]+)(?:\.[a-z0-9.-]+)? "(?P<name>[^"]+)" is invalid: ')
_IMMUTABLE = ("field is immutable", "updates to statefulset spec for fields other than",
              "spec is immutable after creation", "may not change once set", "cannot change roleRef")
_APPLIED = re.compile(r"failed for object (?P<namespace>[^/\s]*)/")  # Helm's server-side apply names it so


def advice(message: str, environment: str, namespace: str) -> str:
    """'; ' + the step that gets past the refusal in `message`, or '' when it is not one of these."""
    if f'namespaces "{namespace}" not found' in message:
        return f"; create the namespace, or set release.environments.{environment}.create_namespace: true"
    refusals = list(_REFUSED.finditer(message))
    for index, found in enumerate(refusals):
        why = message[found.end():refusals[index + 1].start() if index + 1 < len(refusals) else len(message)]
        if any(marker in why for marker in _IMMUTABLE):
            applied = _APPLIED.search(message, 0, found.start())
            return _recreate(found["kind"], found["name"], applied["namespace"] if applied else namespace)
    return ""


def _recreate(kind: str, name: str, namespace: str) -> str:
    scope = f"--namespace {namespace} " if namespace else ""
    delete = f"kubectl {scope}delete {kind.lower()} {name}"
    if kind == "StatefulSet":
        return (f"; Kubernetes cannot change that field of a StatefulSet in place: delete StatefulSet {name} but not "
                f"its pods and volumes ({delete} --cascade=orphan), then deploy again")
    if kind == "Job":
        return (f"; a Job's pod template cannot change: delete Job {name} ({delete}) and deploy again, or make it a "
                "Helm hook that is replaced on each deploy (annotations helm.sh/hook: post-install,post-upgrade and "
                "helm.sh/hook-delete-policy: before-hook-creation)")
    if kind == "PersistentVolumeClaim":
        return (f"; a PersistentVolumeClaim's spec cannot change but for a larger storage request: keep claim {name} "
                "as it was created, or move the data to a claim with another name")
    return f"; Kubernetes cannot change that field in place: delete {kind} {name} ({delete}) and deploy again"
