"""`invoke config`: every resolved setting and where it came from; secret values never shown.

Credentials are shown by name (set / NOT SET), URLs without their userinfo (https://***@host).
"""

from __future__ import annotations

import os
from typing import Any

from invoke import Context

from . import settings, ui, urls
from .cli import ROOT, task
from .errors import ToolError


def _rows(c: Context) -> list[dict[str, str]]:
    repo = settings.resolve_repo(ROOT, c.config.get("repo", {}))
    rows = [{"setting": f"repo.{name}", "value": urls.redact(str(getattr(repo, name) or "")),
             "source": repo.sources[name]} for name in ("url", "public_url", "charts_dir", "build_dir")]
    release = c.config.get("release", {})
    for env_name, raw in (release.get("environments") or {}).items():
        environment = settings.environment_settings(ROOT, env_name, raw)
        where = f"release.environments.{env_name}"
        rows += [
            {"setting": f"{where}.namespace", "value": environment.namespace, "source": "invoke.yaml"},
            {"setting": f"{where}.cluster", "value": _cluster(environment), "source": "invoke.yaml + env"},
            {"setting": f"{where}.values", "value": ", ".join(_relative(p) for p in environment.values),
             "source": "invoke.yaml"},
            {"setting": f"{where}.protected", "value": str(environment.protected).lower(), "source": "invoke.yaml"},
            {"setting": f"{where}.create_namespace", "value": str(environment.create_namespace).lower(),
             "source": "invoke.yaml"},
        ]
    for name, raw in (release.get("releases") or {}).items():
        rel = settings.release_settings(ROOT, name, raw)
        where = f"release.releases.{name}"
        rows += [
            {"setting": f"{where}.chart", "value": f"{rel.chart} {rel.version or '(newest)'}", "source": "invoke.yaml"},
            {"setting": f"{where}.values", "value": ", ".join(_relative(p) for p in rel.values), "source": "invoke.yaml"},
            *({"setting": f"{where}.set", "value": expression, "source": "invoke.yaml"} for expression in rel.set),
            *({"setting": f"{where}.secrets.{path}", "value": f"${variable} ({_presence(variable)})",
               "source": "invoke.yaml + env"} for path, variable in rel.secrets),
        ]
    rows += [{"setting": name, "value": _presence(name) if ui.is_credential(name) else urls.redact(os.environ[name]),
              "source": "env"} for name in sorted(os.environ) if name.startswith(("DRONE_", "PLUGIN_"))]
    return rows


def _cluster(environment: settings.Environment) -> str:
    try:
        from . import deploy  # here, not at the top: `invoke --list` imports this module

        return deploy.cluster_access(environment, os.environ).source
    except ToolError as exc:
        return f"not usable: {exc}"


def _presence(variable: str) -> str:
    return "set" if os.environ.get(variable) else "NOT SET"


def _relative(path: Any) -> str:
    try:
        return str(path.relative_to(ROOT))
    except ValueError:
        return str(path)


@task(help={"output": "table (default), json or yaml", "json": "the same as --output json"})
def config(c, output=None, json=False):
    """Show every setting, its value and where it came from."""
    fmt = ui.output_format(output, json)
    rows = _rows(c)
    ui.render(rows, fmt, lambda: ui.table("settings (task flag > PLUGIN_* > INVOKE_* / invoke.yaml > default)",
                                          ["setting", "value", "source"], [tuple(r.values()) for r in rows]))
