"""Which registry a command's registry credentials go to, and what a registry's tags can hold: on Debian's
docker-registry on 127.0.0.1, and a recording server standing for another registry."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import helm_python
import pytest

from tasks import registry as registries
from tests.conftest import invoke
from tests.support.registry import oci_registry

USER, PASSWORD = "alice", "A-registry-only-s3cret"
CREDENTIALS = {"HELM_REGISTRY_USERNAME": USER, "HELM_REGISTRY_PASSWORD": PASSWORD}


class _Recording(BaseHTTPRequestHandler):
    """Another registry: asks for Basic auth, records what it is sent, holds nothing."""

    sent: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        credentials = self.headers.get("Authorization")
        if credentials:
            self.sent.append(credentials)
        if not credentials:
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="other"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = json.dumps({"errors": [{"code": "NAME_UNKNOWN", "message": "repository name not known"}]}).encode()
        self.send_response(404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_HEAD = do_GET

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def other():
    _Recording.sent = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recording)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_registry_credentials_are_sent_to_the_one_registry_they_are_for(project, tmp_path, other):
    """A publish to one registry mirrored to another sent HELM_REGISTRY_USERNAME/_PASSWORD to both."""
    with oci_registry(tmp_path / "private", USER, PASSWORD) as host:
        url, mirror = f"oci://{host}/charts", f"oci://{other}/mirror"
        refused = invoke(project, "repo.publish", "--url", url, "--mirror", mirror, "--dry-run", env=CREDENTIALS,
                         check=False)
        assert (refused.returncode, refused.stdout) == (1, "")
        assert refused.stderr == (f"error: HELM_REGISTRY_USERNAME and HELM_REGISTRY_PASSWORD would be sent to each of "
                                  f"{', '.join(sorted([host, other]))}; set HELM_REGISTRY_HOST to the one they are "
                                  "for (the others are used without them, or with ECR's token)\n")
        assert _Recording.sent == []  # refused before any registry was asked
        scoped = invoke(project, "repo.publish", "--url", url, "--mirror", mirror, "--dry-run", check=False,
                        env={**CREDENTIALS, "HELM_REGISTRY_HOST": host})
        assert f"error: {mirror}: cannot list" in scoped.stderr, scoped.stderr  # asked, without the credentials
        assert _Recording.sent == []
        alone = invoke(project, "repo.publish", "--url", url, env=CREDENTIALS)  # one registry: no scope needed
        assert f"pushed to {url}: 3 new, 0 unchanged" in alone.stdout
        same = invoke(project, "repo.publish", "--url", url, "--mirror", f"{url}/", env=CREDENTIALS)
        assert same.stdout.count(f"pushed to {url}") == 1  # one registry named twice is one target


def test_a_version_longer_than_an_oci_tag_fails_alone_in_a_mirrored_publish(project, tmp_path):
    """SemVer allows a pre-release of any length; an OCI tag holds 128 characters: every push failed, every rerun."""
    long = "0.1.0-" + "x" * 130
    chart_yaml = project / "charts" / "hello-world" / "Chart.yaml"
    chart_yaml.write_text(chart_yaml.read_text().replace("version: 0.1.0", f"version: {long}"))
    with oci_registry(tmp_path / "registry") as host:
        result = invoke(project, "repo.publish", "--url", f"oci://{host}/charts", check=False)
        assert result.returncode == 1
        assert (f"error: hello-world {long}: version '{long}' is longer than an OCI tag can be (128 characters)"
                in result.stderr)
        assert "published 2, failed 1: hello-world" in result.stdout
        client = helm_python.RegistryClient(plain_http=True)
        assert client.tags(f"oci://{host}/charts/hello-api") == ["0.1.0"]
    assert registries.unlisted("hello-world", "0.1.0-" + "x" * 122) == ""  # 128 exactly


def test_a_signed_publish_says_a_registrys_versions_pushed_before_stay_as_they_were(project, tmp_path):
    """The repository gets the .prov of a version published unsigned; a registry's tag cannot be changed to add it,
    and the publish said nothing of it."""
    from tests.support.gpg import exported, new_key, signing_env

    home = tmp_path / "gnupg"
    new_key(home, "Chart Signer <signer@example.com>")
    with oci_registry(tmp_path / "registry") as host:
        mirror, folder = f"oci://{host}/charts", str(tmp_path / "repo")
        invoke(project, "repo.publish", "--url", folder, "--mirror", mirror)
        signed = invoke(project, "repo.publish", "--url", folder, "--mirror", mirror, "--sign",
                        env=signing_env(exported(home)))
        assert "signed 3 version(s) published before without a signature" in signed.stdout
        assert (f"warning: {mirror}: common 0.1.0, hello-api 0.1.0, hello-world 0.1.0 stay as pushed there before, "
                "unsigned if they were: a tag a registry holds is immutable") in signed.stderr
