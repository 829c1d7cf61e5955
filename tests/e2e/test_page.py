"""The repository's web page: written beside index.yaml, served at /, rendered by a real browser."""

import json
import re
import subprocess
import sys
import urllib.error
import urllib.request

import pytest
import yaml

from tests.conftest import invoke
from tests.support import browser

INJECTED = "<script>document.title='pwned'</script><img src=x onerror=\"document.title='pwned'\">"


@pytest.fixture
def published(project):
    chart_yaml = project / "charts" / "hello-world" / "Chart.yaml"
    meta = yaml.safe_load(chart_yaml.read_text())
    chart_yaml.write_text(yaml.safe_dump({**meta, "description": INJECTED, "deprecated": True}))
    invoke(project, "repo.publish", "--public-url", "https://charts.example.com")
    return project


def test_every_publish_writes_the_page_and_the_bucket_serves_it_as_html(project, bucket):
    invoke(project, "repo.publish", "--url", bucket.url, env=bucket.env)
    head = bucket.client().head_object(Bucket=bucket.name, Key="index.html")
    assert head["ContentType"] == "text/html; charset=utf-8" and head["CacheControl"] == "max-age=60"
    page = bucket.get("index.html").decode()
    for chart in ("common", "hello-api", "hello-world"):
        assert f"<td>{chart}</td><td>0.1.0</td>" in page
    assert "helm repo add charts URL" in page  # no public_url: the page says which address to use
    assert "<td>a library chart: use it as a dependency</td>" in page  # common cannot be installed


def test_a_landing_page_this_tool_did_not_write_is_left_as_it_is_and_its_own_is_rewritten(project, bucket):
    """A GitHub Pages or S3 website repository's own index.html was overwritten unsaid."""
    landing = b"<html><body><h1>ACME charts</h1><a href='index.yaml'>index</a></body></html>"
    bucket.client().put_object(Bucket=bucket.name, Key="index.html", Body=landing)
    chart_yaml = project / "charts" / "hello-world" / "Chart.yaml"

    def publish(version: str) -> str:
        chart_yaml.write_text(re.sub(r"(?m)^version: .*$", f"version: {version}", chart_yaml.read_text()))
        return invoke(project, "repo.publish", "--url", bucket.url, env=bucket.env).stderr

    kept = publish("0.1.0")
    assert bucket.get("index.html") == landing
    assert f"warning: {bucket.url}/index.html was not written by this tool (a landing page of your own?): left as " \
           "it is; to have this tool's page there, delete it and the invoke-charts/page annotation of index.yaml" \
           in kept
    publish("0.1.1")
    assert bucket.get("index.html") == landing  # not read again, still kept
    index = json.loads(bucket.get("index.yaml"))
    del index["annotations"]["invoke-charts/page"]
    bucket.client().put_object(Bucket=bucket.name, Key="index.yaml", Body=json.dumps(index).encode())
    bucket.client().delete_object(Bucket=bucket.name, Key="index.html")
    assert "warning" not in publish("0.1.2")
    assert "<td>hello-world</td><td>0.1.2</td>" in bucket.get("index.html").decode()
    publish("0.1.3")
    assert "<td>hello-world</td><td>0.1.3</td>" in bucket.get("index.html").decode()  # its own page: rewritten


def test_repo_serve_serves_the_page_at_the_root_and_never_a_listing_or_a_dot_file(published):
    server = subprocess.Popen([sys.executable, "-m", "invoke", "repo.serve", "--port", "0"], cwd=published,
                              stdout=subprocess.PIPE, text=True, env={"CI": "true", "PATH": "/usr/bin:/bin"})
    try:
        first = server.stdout.readline() if server.stdout else ""
        url = re.search(r"http://127\.0\.0\.1:\d+", first).group()  # type: ignore[union-attr]
        with urllib.request.urlopen(url + "/") as response:
            assert response.headers["Content-Type"] == "text/html; charset=utf-8"
            assert b"Helm chart repository" in response.read()
        for path in ("/.lock", "/sub/", "/.tmp-x"):
            with pytest.raises(urllib.error.HTTPError) as refused:
                urllib.request.urlopen(url + path)
            assert refused.value.code == 404
    finally:
        server.terminate()
        server.wait(30)


def test_a_browser_renders_every_chart_and_runs_no_script_from_chart_metadata(published, tmp_path):
    server = subprocess.Popen([sys.executable, "-m", "invoke", "repo.serve", "--port", "0"], cwd=published,
                              stdout=subprocess.PIPE, text=True, env={"CI": "true", "PATH": "/usr/bin:/bin"})
    try:
        first = server.stdout.readline() if server.stdout else ""
        url = re.search(r"http://127\.0\.0\.1:\d+", first).group() + "/"  # type: ignore[union-attr]
        dom = browser.dom(url, tmp_path / "profile")
        png = browser.screenshot(url, tmp_path / "profile", tmp_path / "page.png")
    finally:
        server.terminate()
        server.wait(30)
    assert "<title>Helm chart repository</title>" in dom  # the injected script did not run
    for chart in ("common", "hello-api", "hello-world"):
        assert f"<td>{chart}</td>" in dom
    assert "&lt;script&gt;document.title='pwned'&lt;/script&gt;" in dom  # shown as text
    assert "<script" not in dom and "<img" not in dom
    assert '<span class="deprecated">deprecated</span>' in dom
    assert "helm repo add charts https://charts.example.com" in dom
    assert png.stat().st_size > 10_000  # a rendered page, not a blank one
