"""repo.verify and repo.doctor against live repositories: a folder and moto buckets set up right and wrong."""

import hashlib
import json

import pytest
import yaml

from tests.conftest import invoke

ARTICLE_POLICY = {"Version": "2012-10-17", "Statement": [{
    "Sid": "Access-to-specific-VPC-only", "Effect": "Allow", "Principal": {"AWS": ["*"]}, "Action": ["s3:GetObject"],
    "Resource": ["arn:aws:s3:::{bucket}/*"], "Condition": {"StringEquals": {"aws:sourceVpce": "vpce-1a2b3c4d"}}}]}


def findings(project, url, env=None):
    result = invoke(project, "repo.verify", "--url", url, "--json", env=env, check=False)
    return result.returncode, {(f["kind"], f["key"]) for f in json.loads(result.stdout)["findings"]}, result.stderr


def test_a_freshly_published_repository_verifies_clean(project, bucket):
    invoke(project, "repo.publish", "--url", bucket.url, env=bucket.env)
    result = invoke(project, "repo.verify", "--url", bucket.url, env=bucket.env)
    assert "index.yaml loads in Helm, every package present with its digest, no strays" in result.stdout


def test_other_repositories_below_a_buckets_root_repository_are_not_its_strays(project, bucket):
    """`s3://bucket` and `s3://bucket/team-a` are two repositories (README): verify of the first called the second's
    packages orphans, `publish its chart again, or delete it`, for good."""
    invoke(project, "repo.publish", "--url", f"{bucket.url}/team-a", env=bucket.env)
    invoke(project, "repo.publish", "--url", bucket.url, env=bucket.env)
    bucket.client().put_object(Bucket=bucket.name, Key="stray-9.9.9.tgz", Body=b"not indexed")
    assert findings(project, bucket.url, env=bucket.env)[:2] == (1, {("orphan", "stray-9.9.9.tgz")})
    assert findings(project, f"{bucket.url}/team-a", env=bucket.env)[:2] == (0, set())


def test_an_entry_without_urls_is_a_finding_and_a_publish_records_its_url(project):
    """Helm's clients cannot download it (`no downloadable URLs`); verify passed it, and a deploy guessed the file."""
    invoke(project, "repo.publish")
    repo = project / "dist" / "repo"
    index = json.loads((repo / "index.yaml").read_text())
    del index["entries"]["hello-api"][0]["urls"]
    (repo / "index.yaml").write_text(json.dumps(index))
    code, found, _ = findings(project, "dist/repo")
    assert (code, found) == (1, {("url", "hello-api 0.1.0")})
    repaired = invoke(project, "repo.publish")
    assert "url recorded: index.yaml had none (nothing uploaded)" in repaired.stdout
    assert json.loads((repo / "index.yaml").read_text())["entries"]["hello-api"][0]["urls"] == ["hello-api-0.1.0.tgz"]
    assert findings(project, "dist/repo")[:2] == (0, set())


def test_verify_finds_missing_tampered_and_stray_packages(project):
    invoke(project, "repo.publish")
    repo = project / "dist" / "repo"
    (repo / "common-0.1.0.tgz").unlink()
    tampered = repo / "hello-api-0.1.0.tgz"
    tampered.write_bytes(tampered.read_bytes() + b"\0")
    (repo / "stray-9.9.9.tgz").write_bytes(b"not indexed")
    code, found, stderr = findings(project, "dist/repo")
    assert code == 1
    assert found == {("missing", "common-0.1.0.tgz"), ("digest", "hello-api-0.1.0.tgz"), ("orphan", "stray-9.9.9.tgz")}
    assert stderr.strip().endswith("3 finding(s); the json document says what to do for each")  # no table printed


def test_verify_finds_a_package_whose_digest_matches_but_helm_cannot_load_or_that_holds_another_chart(project):
    """An index written to match what is stored (by hand, by another tool): the digest alone vouches for nothing."""
    invoke(project, "repo.publish")
    repo = project / "dist" / "repo"
    index = yaml.safe_load((repo / "index.yaml").read_text())
    broken = b"\x1f\x8b" + bytes(40)  # gzip magic, then nothing Helm can read
    (repo / "hello-api-0.1.0.tgz").write_bytes(broken)
    index["entries"]["hello-api"][0]["digest"] = hashlib.sha256(broken).hexdigest()
    other = (repo / "common-0.1.0.tgz").read_bytes()
    (repo / "hello-world-0.1.0.tgz").write_bytes(other)
    index["entries"]["hello-world"][0]["digest"] = hashlib.sha256(other).hexdigest()
    (repo / "index.yaml").write_text(json.dumps(index))
    result = invoke(project, "repo.verify", "--json", check=False)
    assert result.returncode == 1
    found = {f["key"]: f["detail"] for f in json.loads(result.stdout)["findings"] if f["kind"] == "package"}
    assert set(found) == {"hello-api-0.1.0.tgz", "hello-world-0.1.0.tgz"}
    assert found["hello-api-0.1.0.tgz"].endswith("no client can install it: publish the chart again as a new version")
    assert found["hello-world-0.1.0.tgz"] == (
        f"{repo.as_uri()}/hello-world-0.1.0.tgz: holds common 0.1.0, where index.yaml's entry is hello-world 0.1.0: "
        "the index was changed to lead elsewhere; restore index.yaml from a copy you trust, or delete that entry and "
        "publish the chart again")  # a deploy's words


def test_verify_finds_an_entry_that_leads_to_another_versions_package_with_its_digest(project):
    """hello-world 0.2.0's entry edited to 0.1.0's url and digest, as a deploy refuses it: the digest matches and no
    package is missing or stray, and verify read that package once, for the 0.1.0 entry, and passed it."""
    invoke(project, "repo.publish")
    assert invoke(project, "repo.verify").returncode == 0
    repo = project / "dist" / "repo"
    index = yaml.safe_load((repo / "index.yaml").read_text())
    versions = index["entries"]["hello-world"]
    versions.insert(0, {**versions[0], "version": "0.2.0"})  # newest first, as Helm sorts them
    (repo / "index.yaml").write_text(json.dumps(index))
    result = invoke(project, "repo.verify", "--json", check=False)
    assert result.returncode == 1
    assert json.loads(result.stdout)["findings"] == [{"kind": "package", "key": "hello-world-0.1.0.tgz", "detail": (
        f"{repo.as_uri()}/hello-world-0.1.0.tgz: holds hello-world 0.1.0, where index.yaml's entry is hello-world "
        "0.2.0: the index was changed to lead elsewhere; restore index.yaml from a copy you trust, or delete that "
        "entry and publish the chart again")}]


@pytest.mark.parametrize("content, detail", [
    (b"entries: [", "index.yaml: not valid YAML"),
    (b"apiVersion: v1\nentries: {}\napiVersion: v1\n", "`apiVersion` is given twice in one mapping, first at line 1"),
    (b"apiVersion: v1\nentries:\n  a:\n  - {name: a, version: 1.0.0, created: 2021-03-04, urls: [a-1.0.0.tgz]}\n",
     'parsing time \\"2021-03-04\\"'),  # only Helm minds
])
def test_verify_reports_an_index_that_we_or_helm_cannot_load(project, content, detail):
    invoke(project, "repo.publish")
    (project / "dist" / "repo" / "index.yaml").write_bytes(content)
    result = invoke(project, "repo.verify", "--json", check=False)
    assert result.returncode == 1
    assert [f["kind"] for f in json.loads(result.stdout)["findings"]] == ["index"] and detail in result.stdout


def doctor(project, bucket):
    result = invoke(project, "repo.doctor", "--url", bucket.url, "--json", env=bucket.env, check=False)
    return result.returncode, {c["name"]: c["status"] for c in json.loads(result.stdout)["checks"]}, result


def test_doctor_passes_the_articles_private_bucket(project, bucket):
    client = bucket.client()
    invoke(project, "repo.publish", "--url", bucket.url, env=bucket.env)
    policy = json.dumps(ARTICLE_POLICY).replace("{bucket}", bucket.name)
    client.put_bucket_policy(Bucket=bucket.name, Policy=policy)
    client.put_public_access_block(Bucket=bucket.name, PublicAccessBlockConfiguration={
        "BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True, "RestrictPublicBuckets": True})
    client.put_bucket_website(Bucket=bucket.name, WebsiteConfiguration={"IndexDocument": {"Suffix": "index.html"}})
    code, statuses, _ = doctor(project, bucket)
    assert code == 0
    assert statuses == {"bucket policy": "pass", "public access block": "pass", "bucket ACL": "pass",
                        "website hosting": "pass", "index.yaml": "pass"}


def test_doctor_fails_a_public_bucket_and_says_how_to_fix_it(project, bucket):
    client = bucket.client()
    bucket.make_public()  # s3:GetObject for anyone, no condition
    client.put_bucket_acl(Bucket=bucket.name, ACL="public-read")
    client.put_object(Bucket=bucket.name, Key="index.yaml", Body=b"apiVersion: v1\nentries: {}\n",
                      ContentType="binary/octet-stream")
    code, statuses, result = doctor(project, bucket)
    assert code == 1
    assert statuses == {"bucket policy": "fail", "public access block": "warn", "bucket ACL": "fail",
                        "website hosting": "warn", "index.yaml": "warn"}
    checks = {c["name"]: c for c in json.loads(result.stdout)["checks"]}
    assert "aws:sourceVpce" in checks["bucket policy"]["fix"]
    assert "READ to AllUsers" in checks["bucket ACL"]["detail"]
    assert result.stderr.strip() == f"error: {bucket.url}: bucket policy, bucket ACL failed; apply the fixes in the json document"


def test_doctor_is_for_s3_repositories(project):
    result = invoke(project, "repo.doctor", check=False)
    assert result.returncode == 1 and "repo.doctor checks an S3 repository" in result.stderr
