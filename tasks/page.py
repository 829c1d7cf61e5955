"""The repository's web page: index.html beside index.yaml, for a person who opens the repository's address.

The article serves the bucket as an S3 website whose index document is index.html; this is that page.
Chart metadata is untrusted text: every value is HTML-escaped, nothing from it becomes a link or an
attribute, and a Content-Security-Policy forbids any script, so the page is readable with none.
"""

from __future__ import annotations

from html import escape
from typing import Any

from . import index as idx

_STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:2rem auto;max-width:72rem;padding:0 1rem;color:#222}
h1{font-size:1.5rem}code,pre{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:.9em}
pre{background:#f4f4f4;padding:.75rem;overflow-x:auto}table{border-collapse:collapse;width:100%}
th,td{text-align:left;padding:.4rem .6rem;border-bottom:1px solid #ddd;vertical-align:top}
th{background:#fafafa}.deprecated{color:#a00;font-weight:bold}.muted{color:#777}
"""


_HEAD = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">"""


def ours(page: bytes) -> bool:
    """Whether a page is one this tool wrote (every version has begun so): another is someone's own landing page."""
    return page.startswith(_HEAD.encode())


def render(index: idx.Index, public_url: str | None, name: str = "charts") -> bytes:
    """The page for `index`: each chart's newest version, and how to use this repository with Helm."""
    address = escape(public_url) if public_url else "URL"  # without repo.public_url the address is unknown here
    newest = [index.entries.newest(chart) for chart in sorted(index.entries)]
    rows = "".join(_row(entry, versions, name) for entry, versions in newest if entry)
    count, total = len(index.entries), sum(versions for _, versions in newest)
    return f"""{_HEAD}
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Helm chart repository</title><style>{_STYLE}</style></head>
<body>
<h1>Helm chart repository</h1>
<p>{count} chart{'' if count == 1 else 's'}, {total} version{'' if total == 1 else 's'}. To use it:</p>
<pre>helm repo add {escape(name)} {address}{'' if public_url else '   # URL: the address of this page'}
helm repo update
helm search repo {escape(name)}/</pre>
<table>
<thead><tr><th>chart</th><th>version</th><th>app version</th><th>description</th><th>versions</th>
<th>digest</th><th>install</th></tr></thead>
<tbody>
{rows}</tbody>
</table>
</body></html>
""".encode()


def _row(entry: dict[str, Any], versions: int, repo: str) -> str:
    chart, version = escape(str(entry.get("name", ""))), escape(str(entry.get("version", "")))
    deprecated = '<span class="deprecated">deprecated</span> ' if entry.get("deprecated") is True else ""
    digest = escape(str(entry.get("digest", "")))
    install = "a library chart: use it as a dependency" if entry.get("type") == "library" else \
        f"<code>helm install {chart} {escape(repo)}/{chart} --version {version}</code>"
    return (f"<tr><td>{chart}</td><td>{version}</td><td>{escape(str(entry.get('appVersion', '')))}</td>"
            f"<td>{deprecated}{escape(str(entry.get('description', '')))}</td><td>{versions}</td>"
            f'<td><code title="sha256:{digest}">{digest[:12]}</code></td>'
            f"<td>{install}</td></tr>\n")
