"""The repository's web page: written beside index.yaml, served at /, rendered by a real browser."""

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
