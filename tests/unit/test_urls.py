"""Credentials inside URLs: split off for HTTP clients and Helm, masked everywhere, refused where they do not belong."""

from pathlib import Path

import pytest

from tasks import settings, ui, urls
from tasks.errors import ToolError


@pytest.mark.parametrize("url, bare, user, password", [
    ("https://reader:s3cr%40t@charts.example.com/stable", "https://charts.example.com/stable", "reader", "s3cr@t"),
    ("https://reader:p@ss@host:8443", "https://host:8443", "reader", "p@ss"),  # an unencoded @: the last one splits
    ("https://token@host", "https://host", "token", None),
    ("http://%C3%BCser:%20x@127.0.0.1:9", "http://127.0.0.1:9", "üser", " x"),
    ("https://host/path", "https://host/path", None, None),
])
def test_split_gives_the_url_without_userinfo_and_the_decoded_credentials(url, bare, user, password):
    assert urls.split(url) == (bare, user, password)


def test_credentials_are_every_userinfo_and_password_as_written_and_decoded():
    found = urls.credentials("charts=https://reader:s3cr%40t@a.example.com,other=https://tok@b.example.com")
    assert found == ["reader:s3cr%40t", "reader:s3cr@t", "s3cr%40t", "s3cr@t", "tok"]


def test_basic_auth_is_rfc_7617():
    assert urls.basic_auth("Aladdin", "open sesame") == "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="


def test_a_repository_url_keeps_its_credentials_for_the_store_and_registers_them_as_secrets():
    url = settings.normalize_repo_url("https://reader:Unit-pw-4242@charts.example.com/", Path("/p"))
    assert url == "https://reader:Unit-pw-4242@charts.example.com"
    assert ui.redact("Unit-pw-4242 and reader:Unit-pw-4242") == "*** and ***"


@pytest.mark.parametrize("url, message", [
    ("s3://AKIAUNIT:unit%2Fsecret-77@bucket",
     "repo.url 's3://***@bucket': credentials do not belong in the URL; remove them and set AWS_ACCESS_KEY_ID"),
    ("https://[::1", "repo.url 'https://[::1': not a valid URL (Invalid IPv6 URL)"),
    ("https://u:unit-secret-77@[::1", "repo.url 'https://***@[::1': not a valid URL"),
    ("http://127.0.0.1:80x", "repo.url 'http://127.0.0.1:80x': not a valid URL (Port could not be cast"),
    ("https://u:unit/secret-77@host", "repo.url 'https://***@host': '@' after '/', '?' or '#' is ambiguous"),
    ("https:///path", "repo.url 'https:///path': no host"),
])
def test_bad_or_credential_bearing_urls_are_one_line_that_never_shows_the_secret(url, message):
    with pytest.raises(ToolError) as refused:
        settings.normalize_repo_url(url, Path("/p"))
    assert str(refused.value).startswith(message)
    assert "secret-77" not in str(refused.value) and "AKIAUNIT" not in str(refused.value)


@pytest.mark.parametrize("value, credentials", [
    ("https://deploy:Sl/ash-Pass-31@git.example.com/acme", ["deploy:Sl/ash-Pass-31"]),  # a / typed in the password
    ("https://TOKEN@github.com/org/@scope/pkg", ["TOKEN"]),  # a token, and an @ in the path after it
    ("http://u:pw@chartmuseum:8080", ["u:pw"]),  # a service name without a dot
    ("https:/u:s3cret@host", ["u:s3cret"]),  # one slash: a typo, still credentials
    ("http://depuser:DepPass-5521@127.0.0.1:9", ["depuser:DepPass-5521"]),
    ("https://www.npmjs.com/package/@acme/ui", []),  # an @ in a path
    ("https://git.example.com:8443/acme/@ui", []),  # after a port
    ("https://cdn.jsdelivr.net/npm/vue@3.4.0/x", []),  # a version after the @ is no host
    ("git+ssh://git@github.com:org/repo@v1", []),  # ssh's user name is no secret
    ("ssh://git@github.com/acme/charts", []),
    ("https://api.example.com/x?token=Tok-3344&page=2", ["Tok-3344"]),  # a credential in a query
    ("jdbc:postgresql://db:5432/x?user=app&password=Jdbc-Pass-1", ["Jdbc-Pass-1"]),
    ("x.tgz?X-Amz-Credential=AKIAUNIT%2F1&X-Amz-Signature=f00dcafe99&X-Amz-Security-Token=FQoGZXIvYXdz",
     ["AKIAUNIT%2F1", "f00dcafe99", "FQoGZXIvYXdz"]),
    ("https://a.example/cb#access_token=Frag-Tok-77&accessToken=Camel-Tok-88", ["Frag-Tok-77", "Camel-Tok-88"]),
    ("https://maps.example.com/api?monkey=1&keyword=helm&tokens=2&passport=3&author=me", []),  # names, not credentials
    ("https://x.example/list?sort_key=name&auth=true&key=shortish&sig=abc", []),  # masked where printed, no more
])
def test_credentials_in_reads_a_urls_userinfo_as_a_url_parser_does(value, credentials):
    assert urls.credentials_in(value) == credentials


def test_redact_masks_the_userinfo_of_a_url_typed_with_one_slash():
    assert urls.redact("repo https:/reader:Pa55@charts.example.com/x") == "repo https:/***@charts.example.com/x"
    assert urls.credentials("https:/reader:Pa55@charts.example.com/x") == ["reader:Pa55", "Pa55"]


def test_a_credential_in_a_query_is_masked_anywhere_in_text_and_registered_as_written_and_decoded():
    """An index entry's `urls: [x.tgz?token=...]` was printed whole by repo.verify and release.deploy."""
    assert urls.redact("url jiralert-1.9.0.tgz?token=S3cr3tT0ken points outside the repository") == (
        "url jiralert-1.9.0.tgz?token=*** points outside the repository")
    assert urls.redact("https://h/x?a=1&api_key=K-1;sig=S-2#top") == "https://h/x?a=1&api_key=***;sig=***#top"
    assert urls.redact("https://a/?clientSecret=C-9&x=1#access_token=F-1") == (
        "https://a/?clientSecret=***&x=1#access_token=***")
    assert urls.credentials("jdbc:mysql://db/x?password=pa%22ss-long") == ["pa%22ss-long", 'pa"ss-long']
