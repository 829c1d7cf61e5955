"""`invoke config`: every resolved setting and where it came from; secret values never shown.

Credentials are shown by name (set / NOT SET), URLs without their userinfo (https://***@host).
"""

from __future__ import annotations

import os
from typing import Any

from invoke import Context

from . import environments, settings, ui, urls
from .cli import ROOT, task
from .errors import ToolError


def _rows(c: Context) -> list[dict[str, str]]:
    repo = settings.resolve_repo(ROOT, c.config.get("repo", {}))
    source = {name: _source(c, "repo", name, found) for name, found in repo.sources.items()}
    rows = [{"setting": f"repo.{name}", "value": urls.redact(str(getattr(repo, name) or "")),
             "source": source[name]} for name in ("url", "public_url", "charts_dir", "build_dir")]
    rows += [{"setting": "repo.atomic", "value": str(repo.atomic).lower(), "source": source["atomic"]},
             {"setting": "repo.sign", "value": str(repo.sign).lower(), "source": source["sign"]},
             {"setting": "repo.mirrors", "value": ", ".join(urls.redact(m) for m in repo.mirrors),
              "source": source["mirrors"]}]
    rows += [{"setting": f"repo.dependency_repositories.{name}", "source": "invoke.yaml",
              "value": urls.redact(str(raw.get("url") if isinstance(raw, dict) else raw))}
             for name, raw in repo.dependency_repositories.items()]
    release = c.config.get("release", {})
    for env_name, raw in (release.get("environments") or {}).items():
        environment = environments.environment_settings(ROOT, env_name, raw)
        where = f"release.environments.{env_name}"
        rows += [
            {"setting": f"{where}.namespace", "value": environment.namespace, "source": "invoke.yaml"},
            {"setting": f"{where}.cluster", "value": _cluster(environment), "source": "invoke.yaml + env"},
            {"setting": f"{where}.values", "value": ", ".join(_relative(p) for p in environment.values),
             "source": "invoke.yaml"},
            {"setting": f"{where}.protected", "value": str(environment.protected).lower(), "source": "invoke.yaml"},
            {"setting": f"{where}.create_namespace", "value": str(environment.create_namespace).lower(),
             "source": "invoke.yaml"},
            {"setting": f"{where}.history_max", "value": str(environment.history_max), "source": "invoke.yaml"},
            {"setting": f"{where}.verify_keyring",
             "value": _relative(environment.verify_keyring) if environment.verify_keyring else "",
             "source": "invoke.yaml"},
        ]
    found = settings.pick("parallel", None, None, os.environ, release, environments.DEFAULTS, "release")[1]
    rows.append({"setting": "release.parallel", "value": str(environments.resolve_parallel(release, None)),
                 "source": _source(c, "release", "parallel", found)})
    for name, raw in (release.get("releases") or {}).items():
        rel = environments.release_settings(ROOT, name, raw)
        where = f"release.releases.{name}"
        rows += [
            {"setting": f"{where}.chart", "value": f"{rel.chart} {rel.version or '(newest)'}", "source": "invoke.yaml"},
            {"setting": f"{where}.namespace", "value": rel.namespace or "(the environment's)", "source": "invoke.yaml"},
            {"setting": f"{where}.environments", "value": ", ".join(rel.environments or ("(every one)",)),
             "source": "invoke.yaml"},
            {"setting": f"{where}.needs", "value": ", ".join(rel.needs), "source": "invoke.yaml"},
            {"setting": f"{where}.values", "value": ", ".join(_relative(p) for p in rel.values), "source": "invoke.yaml"},
            *({"setting": f"{where}.set", "value": expression, "source": "invoke.yaml"} for expression in rel.set),
            *({"setting": f"{where}.secrets.{path}", "value": f"${variable} ({_presence(variable)})",
               "source": "invoke.yaml + env"} for path, variable in rel.secrets),
        ]
    rows += [{"setting": name,
              "value": _presence(name) if ui.is_credential(name) else urls.redact_value(os.environ[name]),
              "source": "env"} for name in sorted(os.environ) if name.startswith(("DRONE_", "PLUGIN_"))]
    return rows


def _source(c: Context, section: str, name: str, found: str) -> str:
    """Where settings.pick found section.name; a file that gives it the default's own value is still its source."""
    return "invoke.yaml" if found == "default" and _in_a_file(c, section, name) else found


def _in_a_file(c: Context, section: str, name: str) -> bool:
    """Whether a config file (invoke.yaml, `invoke -f FILE`, ~/.invoke.yaml) sets section.name. Invoke merges the
    files over tasks.py's defaults, so settings can tell a file's value from the default only when they differ."""
    return any(((getattr(c.config, f"_{layer}", None) or {}).get(section) or {}).get(name) is not None
               for layer in ("project", "runtime", "user", "system"))


def _cluster(environment: environments.Environment) -> str:
    try:
        from . import cluster  # here, not at the top: `invoke --list` imports this module

        return cluster.cluster_access(environment, os.environ).source
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
                                          ["setting", "value", "source"],
                                          [(r["setting"], r["value"], r["source"]) for r in rows]))
