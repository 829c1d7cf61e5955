"""Signed charts: a throwaway gpg key per run; Helm's own verify accepts what is published, refuses tampering."""

import json
import subprocess
import time
import urllib.request

import helm_python
import pytest

from tests.conftest import invoke
from tests.support.gpg import PASSPHRASE, exported, gpg, handmade, new_key, refused_keys, signing_env, usable_keys
from tests.support.gpg import keys as gpg_keys
from tests.support.leaks import found
from tests.support.registry import oci_registry


@pytest.fixture(scope="module")
def key(tmp_path_factory):
    """A new RSA key protected by PASSPHRASE: (ASCII-armored secret key, public keyring file, ...)."""
    home = tmp_path_factory.mktemp("gnupg") / "signer"
    new_key(home, "Chart Signer <signer@example.com>")
    return exported(home)


def secret_lines(key):
    return [line for line in key[0].splitlines() if len(line) > 40] + [PASSPHRASE]


@pytest.fixture(scope="module")
def refused(tmp_path_factory):
    return refused_keys(tmp_path_factory.mktemp("refused-keys"))


@pytest.fixture(scope="module")
def usable(tmp_path_factory):
    return usable_keys(tmp_path_factory.mktemp("usable-keys"))


def test_a_signed_publish_puts_each_prov_beside_its_package_and_helms_verify_accepts_it(project, key, tmp_path):
    result = invoke(project, "--debug", "repo.publish", "--sign", env=signing_env(key))
    repo = project / "dist" / "repo"
    assert sorted(p.name for p in repo.glob("*.prov")) == [
        "common-0.1.0.tgz.prov", "hello-api-0.1.0.tgz.prov", "hello-world-0.1.0.tgz.prov"]
    for package in repo.glob("*.tgz"):  # what `helm pull --verify --keyring` does with the two files it fetched
        assert helm_python.verify(package, key[1])["signed_by"] == ["Chart Signer <signer@example.com>"]
    assert not [line for line in secret_lines(key) if line in result.stdout + result.stderr]
    assert invoke(project, "repo.verify", "--keyring", str(key[1]), "-o", "json").returncode == 0
    prov = repo / "hello-world-0.1.0.tgz.prov"
    prov.write_text(prov.read_text().replace("Hello World", "Hello Tampered"))
    (repo / "common-0.1.0.tgz.prov").unlink()
    found = invoke(project, "repo.verify", "--keyring", str(key[1]), "-o", "json", check=False)
    assert found.returncode == 1
    findings = {f["key"]: f["detail"] for f in json.loads(found.stdout)["findings"]}
    assert set(findings) == {"common-0.1.0.tgz", "hello-world-0.1.0.tgz"}
    assert "not signed" in findings["common-0.1.0.tgz"] and "signature refused" in findings["hello-world-0.1.0.tgz"]


def test_the_articles_three_steps_sign_as_a_publish_does_when_invoke_yaml_says_repo_sign(project, key):
    """`repo.package`, `repo.index`, `repo.sync` with `repo.sign: true`: the packages went up without a .prov."""
    import yaml

    config = yaml.safe_load((project / "invoke.yaml").read_text())
    config["repo"]["sign"] = True
    (project / "invoke.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    outputs = [invoke(project, task, env=signing_env(key)) for task in ("repo.package", "repo.index", "repo.sync")]
    repo = project / "dist" / "repo"
    assert sorted(p.name for p in repo.glob("*.prov")) == [
        "common-0.1.0.tgz.prov", "hello-api-0.1.0.tgz.prov", "hello-world-0.1.0.tgz.prov"]
    assert invoke(project, "repo.verify", "--keyring", str(key[1])).returncode == 0
    assert not [line for line in secret_lines(key) for o in outputs if line in o.stdout + o.stderr]


def test_signing_a_repository_published_unsigned_adds_each_prov_beside_the_same_bytes(project, key):
    """Signing turned on for a repository published without it: each version published before gets its .prov (built
    again, the same bytes, signed: a version is immutable, its signature can be added), and the line says which. A
    push that changes nothing then is one again; a .prov lost later is added back by the next signed publish."""
    import hashlib

    invoke(project, "repo.publish")
    repo = project / "dist" / "repo"
    before = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in [*repo.glob("*.tgz"), repo / "index.yaml"]}
    assert not list(repo.glob("*.prov"))
    signed = invoke(project, "repo.publish", "--sign", env=signing_env(key))
    assert "signed 3 version(s) published before without a signature (.prov added beside the same bytes): common " \
           "0.1.0, hello-api 0.1.0, hello-world 0.1.0\n" in signed.stdout
    assert sorted(p.name for p in repo.glob("*.prov")) == [
        "common-0.1.0.tgz.prov", "hello-api-0.1.0.tgz.prov", "hello-world-0.1.0.tgz.prov"]
    assert {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in repo.glob("*.tgz")} == \
        {k: v for k, v in before.items() if k.endswith(".tgz")}
    assert invoke(project, "repo.verify", "--keyring", str(key[1])).returncode == 0
    again = invoke(project, "repo.publish", "--sign", env=signing_env(key))
    assert again.stdout.endswith("0 new, 3 unchanged (3 not rebuilt: inputs unchanged)\n") and "signed" not in \
        again.stdout
    (repo / "hello-api-0.1.0.tgz.prov").unlink()
    assert invoke(project, "repo.publish").stdout.endswith("(3 not rebuilt: inputs unchanged)\n")  # unsigned: as is
    assert not (repo / "hello-api-0.1.0.tgz.prov").exists()
    outputs = [invoke(project, task, "--sign", env=signing_env(key)) for task in ("repo.publish", "repo.sync")]
    assert "signed 1 version(s) published before without a signature (.prov added beside the same bytes): " \
           "hello-api 0.1.0\n" in outputs[0].stdout and "signed" not in outputs[1].stdout
    (repo / "common-0.1.0.tgz.prov").unlink()  # the article's steps: package, then sync signs what lacks a .prov
    invoke(project, "repo.package")
    outputs.append(invoke(project, "repo.sync", "--sign", env=signing_env(key)))
    assert "signed 1 version(s) published before without a signature (.prov added beside the same bytes): " \
           "common 0.1.0\n" in outputs[-1].stdout
    assert invoke(project, "repo.verify", "--keyring", str(key[1])).returncode == 0
    assert not [line for line in secret_lines(key) for o in [signed, *outputs] if line in o.stdout + o.stderr]


def test_a_version_another_tool_published_with_other_bytes_gets_no_prov_of_ours(project, key, tmp_path):
    """Helm's `helm package` of our chart: the same files, other bytes (unchanged to a publish). Our .prov names our
    archive's sha256, so beside theirs it would say "tampered": it is left unsigned, and the line says why."""
    repo = tmp_path / "repo"
    repo.mkdir()
    helm_python.package(project / "charts" / "hello-world", destination=repo)
    helm_python.repo_index_generate(repo)
    theirs = (repo / "hello-world-0.1.0.tgz").read_bytes()
    result = invoke(project, "repo.publish", "--sign", "--url", f"file://{repo}", env=signing_env(key))
    assert (repo / "hello-world-0.1.0.tgz").read_bytes() == theirs and not (repo / "hello-world-0.1.0.tgz.prov").exists()
    assert ("hello-world 0.1.0 stays unsigned: the repository holds another tool's archive of it (the same files, "
            "other bytes), and a .prov of ours would not sign those bytes; bump its version to publish it signed\n"
            ) in result.stderr
    for package in repo.glob("*.tgz.prov"):
        assert helm_python.verify(package.with_suffix(""), key[1])["signed_by"]


def test_signed_to_s3_and_to_an_oci_mirror_which_stores_the_prov_as_helm_does(project, key, bucket, tmp_path):
    with oci_registry(tmp_path / "registry") as host:
        invoke(project, "repo.publish", "--sign", "--url", bucket.url, "--mirror", f"oci://{host}/charts",
               env={**bucket.env, **signing_env(key)})
        with urllib.request.urlopen(urllib.request.Request(
                f"http://{host}/v2/charts/hello-world/manifests/0.1.0",
                headers={"Accept": "application/vnd.oci.image.manifest.v1+json"})) as response:
            layers = [layer["mediaType"] for layer in json.loads(response.read())["layers"]]
    assert "application/vnd.cncf.helm.chart.provenance.v1.prov" in layers
    head = bucket.client().head_object(Bucket=bucket.name, Key="hello-world-0.1.0.tgz.prov")
    assert head["ContentType"] == "application/pgp-signature"
    archive, prov = tmp_path / "hello-world-0.1.0.tgz", tmp_path / "hello-world-0.1.0.tgz.prov"
    archive.write_bytes(bucket.get("hello-world-0.1.0.tgz"))
    prov.write_bytes(bucket.get("hello-world-0.1.0.tgz.prov"))
    assert helm_python.verify(archive, key[1])["signed_by"] == ["Chart Signer <signer@example.com>"]


def test_signing_without_a_key_or_with_a_wrong_passphrase_is_one_line_before_anything_is_built_in_a_dry_run_too(
        project, key):
    """Helm's signer unlocks the key only when it signs: a throwaway chart is signed first, so a passphrase it refuses
    stops the publish before any chart is built, and the dry run says so too instead of a plan."""
    named = (f"error: HELM_SIGNING_KEY: the key {key.user_id!r} (fingerprint {key.fingerprint}) cannot be used by "
             "Helm's signer (")
    built = "), so nothing was built, signed or published; "
    for env, starts, ends in [
        ({}, "error: signing is on (--sign or repo.sign) but HELM_SIGNING_KEY is not set;", "HELM_SIGNING_PASSPHRASE"),
        ({"HELM_SIGNING_KEY": key.armored, "HELM_SIGNING_PASSPHRASE": "not it at all"}, named,
         f"{built}check HELM_SIGNING_PASSPHRASE: it must be the key's passphrase"),
        ({"HELM_SIGNING_KEY": key.armored}, named, f"{built}set HELM_SIGNING_PASSPHRASE to the key's passphrase"),
    ]:
        for dry_run in ([], ["--dry-run"]):
            result = invoke(project, "repo.publish", "--sign", *dry_run, env=env, check=False)
            assert (result.returncode, result.stdout) == (1, ""), result.stdout
            [line] = result.stderr.strip().splitlines()
            assert line.startswith(starts) and line.endswith(ends), line
            assert found(line, {"key": key.armored, "passphrase": PASSPHRASE, "wrong": "not it at all"}) == []
    assert not (project / "dist").exists()  # no package built (dist/packages), none published (dist/repo)


def test_an_environment_with_a_keyring_deploys_only_charts_signed_by_a_key_in_it(cluster, key):
    import yaml

    config = yaml.safe_load((cluster.project / "invoke.yaml").read_text())
    config["release"]["environments"]["staging"]["verify_keyring"] = str(key[1])
    (cluster.project / "invoke.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    deploy = ("release.deploy", "--env", "staging", "--release", "hello-world")
    unsigned = invoke(cluster.project, *deploy, env=cluster.env, check=False)
    assert unsigned.returncode == 1
    assert "hello-world-0.1.0.tgz: not signed (no hello-world-0.1.0.tgz.prov beside it)" in unsigned.stderr
    assert ("apps/v1", "deployments", cluster.namespaces["staging"], "hello-world-hello-world") not in cluster.emulator.store
    chart_yaml = cluster.project / "charts" / "hello-world" / "Chart.yaml"
    chart_yaml.write_text(chart_yaml.read_text().replace("version: 0.1.0", "version: 0.1.1"))
    invoke(cluster.project, "repo.publish", "--sign", env=signing_env(key))
    invoke(cluster.project, *deploy, env=cluster.env)
    status = invoke(cluster.project, "release.status", "--env", "staging", "--release", "hello-world", "-o", "json",
                    env=cluster.env)
    assert json.loads(status.stdout)["chart"] == "hello-world-0.1.1"
    prov = cluster.project / "dist" / "repo" / "hello-world-0.1.1.tgz.prov"
    prov.write_text(prov.read_text().replace("sha256:", "sha256:0", 1))
    tampered = invoke(cluster.project, *deploy, env=cluster.env, check=False)
    assert tampered.returncode == 1 and "hello-world-0.1.1.tgz: signature refused" in tampered.stderr


@pytest.mark.parametrize("kind", ["folder", "s3"])
def test_a_forced_replace_keeps_no_prov_of_the_replaced_bytes_and_a_signed_one_signs_the_new(project, key, kind,
                                                                                              request):
    bucket = request.getfixturevalue("bucket") if kind == "s3" else None
    target, env = (["--url", bucket.url], bucket.env) if bucket else ([], {})
    invoke(project, "repo.publish", *target, "--sign", "-c", "hello-world", env={**env, **signing_env(key)})
    values = project / "charts" / "hello-world" / "values.yaml"
    values.write_text(values.read_text().replace("replicaCount: 1", "replicaCount: 3"))
    forced = invoke(project, "repo.publish", *target, "--force", "-c", "hello-world", env=env)
    assert ("; hello-world-0.1.0.tgz.prov deleted: it signed the replaced bytes (publish with --sign to sign these), "
            "now sha256:") in forced.stderr
    verify = ("repo.verify", *target, "--keyring", str(key[1]), "-o", "json")
    unsigned = invoke(project, *verify, env=env, check=False)
    assert [f["detail"].split(": ", 1)[1] for f in json.loads(unsigned.stdout)["findings"]] == [
        ("not signed (no hello-world-0.1.0.tgz.prov beside it); publish it with --sign, or turn off the signature "
         "requirement")]
    values.write_text(values.read_text().replace("replicaCount: 3", "replicaCount: 4"))
    resigned = invoke(project, "repo.publish", *target, "--force", "--sign", "-c", "hello-world",
                      env={**env, **signing_env(key)})
    assert ".prov deleted" not in resigned.stderr
    assert json.loads(invoke(project, *verify, env=env).stdout)["ok"] is True


def unusable_keyrings(key, folder):
    """(file, what it is) for the keyrings people have at hand that Helm cannot read: gpg's armored export and
    its own keybox."""
    home = key[1].parent
    armored = folder / "pubring.asc"
    armored.write_bytes(subprocess.run(["gpg", "--homedir", str(home), "--armor", "--export"], check=True,
                                       capture_output=True).stdout)
    return [(armored, "ASCII-armored"), (home / "pubring.kbx", "a GnuPG keybox (what gpg keeps as pubring.kbx)")]


def test_repo_verify_refuses_a_keyring_helm_cannot_read_in_one_line_instead_of_a_finding_per_package(project, key,
                                                                                                   tmp_path):
    invoke(project, "repo.publish", "--sign", env=signing_env(key))
    for keyring, what in unusable_keyrings(key, tmp_path):
        refused = invoke(project, "repo.verify", "--keyring", str(keyring), check=False)
        assert (refused.returncode, refused.stdout) == (1, "")
        assert refused.stderr.strip().splitlines() == [
            (f"error: --keyring {keyring}: {what}, not the binary keyring Helm reads; export one: "
             f"gpg --export KEY-ID > {keyring.with_name('signers.gpg')}")]  # a new file: never over the one given


def test_an_environment_whose_keyring_helm_cannot_read_deploys_nothing_and_says_why_in_one_line(cluster, key,
                                                                                                tmp_path):
    import yaml

    (keyring, what), _ = unusable_keyrings(key, tmp_path)
    config = yaml.safe_load((cluster.project / "invoke.yaml").read_text())
    config["release"]["environments"]["staging"]["verify_keyring"] = str(keyring)
    (cluster.project / "invoke.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    refused = invoke(cluster.project, "release.deploy", "--env", "staging", env=cluster.env, check=False)
    assert refused.returncode == 1
    assert refused.stderr.strip().splitlines() == [
        (f"error: verify_keyring {keyring}: {what}, not the binary keyring Helm reads; export one: "
         f"gpg --export KEY-ID > {keyring.with_name('signers.gpg')}")]
    assert cluster.release_secrets() == []


def test_an_environment_with_a_keyring_refuses_a_local_chart_folder_which_has_no_signature(cluster, key):
    import yaml

    config = yaml.safe_load((cluster.project / "invoke.yaml").read_text())
    config["release"]["environments"]["staging"]["verify_keyring"] = str(key[1])
    config["release"]["releases"]["hello-world"]["chart"] = "./charts/hello-world"
    (cluster.project / "invoke.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    refused = invoke(cluster.project, "release.deploy", "--env", "staging", "--release", "hello-world",
                     env=cluster.env, check=False)
    assert refused.returncode == 1
    assert refused.stderr.strip().splitlines() == [
        ("error: release.environments.staging.verify_keyring: release hello-world's chart ./charts/hello-world is a "
         "folder, which has no signature to check; deploy it from the chart repository (chart: NAME, published with "
         "--sign), or to an environment without verify_keyring")]
    assert cluster.release_secrets() == []
    assert invoke(cluster.project, "release.deploy", "--env", "production", "--release", "hello-world", "--yes",
                  env=cluster.env).returncode == 0  # no keyring there: the folder deploys


def files(folder):
    return {path.relative_to(folder): path.read_bytes() for path in folder.rglob("*") if path.is_file()}


@pytest.mark.parametrize("kind", ["expired", "revoked", "certify-only"])
def test_a_key_whose_signatures_helm_verify_refuses_is_refused_before_anything_is_built_and_by_a_dry_run(project,
                                                                                                      refused, kind):
    invoke(project, "repo.publish")
    repo, packages = project / "dist" / "repo", project / "dist" / "packages"
    before, built = files(repo), (packages.stat().st_ino, files(packages))  # a build replaces dist/packages whole
    chart_yaml = project / "charts" / "hello-world" / "Chart.yaml"
    chart_yaml.write_text(chart_yaml.read_text().replace("version: 0.1.0", "version: 0.1.1"))
    key = refused[kind]
    dry_run = invoke(project, "repo.publish", "--sign", "--dry-run", env=signing_env(key), check=False)
    result = invoke(project, "repo.publish", "--sign", env=signing_env(key), check=False)
    assert (dry_run.returncode, dry_run.stdout, dry_run.stderr) == (1, "", result.stderr)  # a dry run says the same
    assert (packages.stat().st_ino, files(packages)) == built  # not rebuilt: no hello-world-0.1.1.tgz
    assert (result.returncode, result.stdout) == (1, "")
    named = f"error: HELM_SIGNING_KEY: the key {key.user_id!r} (fingerprint {key.fingerprint})"
    refusal = "helm verify would refuse its signatures, so nothing was signed or published"
    other = ("sign with another key (gpg --quick-gen-key 'NAME <EMAIL>' rsa3072 sign never) and give verifiers its "
             "public key")
    fpr, created = key.fingerprint, time.gmtime(int(gpg_keys(key.keyring.parent)[0][5]))
    assert result.stderr.strip().splitlines() == [{
        "expired": (f"{named} expired on 2020-01-02: {refusal}; extend it (gpg --quick-set-expire {fpr} 1y), export "
                    f"it again into HELM_SIGNING_KEY (gpg --armor --export-secret-keys {fpr}) and give verifiers its "
                    f"new public key (gpg --export {fpr}), or {other}"),
        "revoked": f"{named} was revoked on {time.strftime('%Y-%m-%d', created)}: {refusal}; {other}",  # made with it
        "certify-only": (f"{named} cannot sign: its primary key is not marked for signing (its usage: certify), and "
                         f"Helm signs with the primary key, never a subkey: {refusal}; {other}"),
    }[kind]]
    assert files(repo) == before and not list(repo.glob("*.prov"))
    assert found(result.stdout + result.stderr, {"key": key.armored, "passphrase": PASSPHRASE}) == []


@pytest.mark.parametrize("kind", ["expires-soon", "expired-subkey"])
def test_a_key_that_has_not_expired_signs_what_helm_verify_accepts_and_one_that_expires_soon_says_so(project, usable,
                                                                                                   kind):
    key = usable[kind]
    result = invoke(project, "repo.publish", "--sign", "-c", "hello-world", env=signing_env(key))
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning: HELM_SIGNING_KEY")]
    if kind == "expires-soon":
        fpr = key.fingerprint
        expires = time.strftime("%Y-%m-%d", time.gmtime(int(gpg_keys(key.keyring.parent)[0][6])))
        assert warnings == [
            (f"warning: HELM_SIGNING_KEY: the key {key.user_id!r} (fingerprint {fpr}) expires on {expires}, in 10 days: "
             "from then on helm verify refuses every signature it made (today's too); extend it (gpg "
             f"--quick-set-expire {fpr} 1y), export it again into HELM_SIGNING_KEY (gpg --armor --export-secret-keys "
             f"{fpr}) and give verifiers its new public key (gpg --export {fpr})")]
    else:
        assert warnings == []  # it expires in a year; its signing subkey expired in 2020, and Helm never uses it
    package = project / "dist" / "repo" / "hello-world-0.1.0.tgz"
    assert helm_python.verify(package, key.keyring)["signed_by"] == [key.user_id]
    assert invoke(project, "repo.verify", "--keyring", str(key.keyring)).returncode == 0
    assert found(result.stdout + result.stderr, {"key": key.armored, "passphrase": PASSPHRASE}) == []


DAY = 86400
OTHER_KEY = ("sign with another key (gpg --quick-gen-key 'NAME <EMAIL>' rsa3072 sign never) and give verifiers its "
             "public key")


@pytest.fixture(scope="module")
def unverifiable(tmp_path_factory):
    """Keys whose packets pass every check of the signer's own and whose signatures Helm's verifier refuses, by name:
    one whose expiry was extended by a gpg whose clock ran 3 days fast (its newest self-signature is dated then), and
    hand-made ones whose self-signature has no key flags, has them only where a verifier ignores them, or expired."""
    folder = tmp_path_factory.mktemp("unverifiable-keys")
    skewed = folder / "skewed-clock"
    fpr = new_key(skewed, "Skewed Signer <skewed@example.com>", "ed25519", "sign", "1y")
    gpg(skewed, "--quick-set-expire", fpr, "2y", at=time.strftime("%Y%m%dT%H%M%S", time.gmtime(time.time() + 3 * DAY)))
    return {"skewed-clock": exported(skewed),
            "no-key-flags": handmade(folder, "Flagless Signer <flagless@example.com>", key_flags=None),
            "unhashed-key-flags": handmade(folder, "Unhashed Signer <unhashed@example.com>", key_flags="unhashed"),
            "expired-self-signature": handmade(folder, "Lapsed Signer <lapsed@example.com>", lifetime=60, age=30 * DAY)}


@pytest.mark.parametrize("kind", ["skewed-clock", "no-key-flags", "unhashed-key-flags", "expired-self-signature"])
def test_a_key_whose_throwaway_signature_helm_verify_refuses_is_refused_before_anything_is_built_and_by_a_dry_run(
        project, unverifiable, kind):
    """What the signer's own reading of the key lets through, Helm's verify of the throwaway chart it signed catches:
    those keys published charts whose every .prov `helm verify` refused."""
    key = unverifiable[kind]
    dry_run = invoke(project, "repo.publish", "--sign", "--dry-run", env=signing_env(key), check=False)
    result = invoke(project, "repo.publish", "--sign", env=signing_env(key), check=False)
    assert (dry_run.returncode, dry_run.stdout, dry_run.stderr) == (1, "", result.stderr)  # a dry run says the same
    assert (result.returncode, result.stdout) == (1, "")
    assert not (project / "dist").exists()  # no package built (dist/packages), none published (dist/repo)
    refused = f"error: HELM_SIGNING_KEY: the key {key.user_id!r} (fingerprint {key.fingerprint}) makes signatures " \
        "helm verify refuses (openpgp: "
    nothing = "so nothing was built, signed or published"
    if kind == "skewed-clock":
        listing = gpg(key.keyring.parent, "--with-colons", "--list-sigs").decode().splitlines()
        newest = max(int(record.split(":")[5]) for record in listing if record.startswith("sig:"))  # field 6: made
        dated = time.strftime("%Y-%m-%d", time.gmtime(newest))
        expected = (f"{refused}signature expired): its self-signature is dated {dated}, which has not come yet (made "
                    f"where the clock ran fast), {nothing}; wait until then, or {OTHER_KEY}")
    elif kind == "expired-self-signature":
        expected = f"{refused}signature expired): its self-signature has expired, {nothing}; {OTHER_KEY}"
    else:
        expected = (f"{refused}signature made by unknown entity): its self-signature does not mark it for signing (no "
                    f"key flags in its hashed area), {nothing}; {OTHER_KEY}")
    assert result.stderr.strip().splitlines() == [expected]
    assert found(result.stdout + result.stderr, {"key": key.armored, "passphrase": PASSPHRASE}) == []


def test_a_key_helms_signer_cannot_read_is_not_blamed_on_the_passphrase_and_the_fix_given_makes_it_sign(project,
                                                                                                     tmp_path):
    """Self-signatures made with RIPEMD160 (an old gpg's --cert-digest-algo): Helm's OpenPGP library drops every user
    ID they sign, and its signer says 'v4 entity without any identities', with or without the right passphrase."""
    home = tmp_path / "ripemd160"
    home.mkdir(mode=0o700)
    (home / "gpg-agent.conf").write_text("s2k-count 65536\n")
    gpg(home, "--cert-digest-algo", "RIPEMD160", "--quick-gen-key", "Old Hash <old-hash@example.com>", "rsa2048",
        "sign", "never")
    key = exported(home)
    fpr = key.fingerprint
    for env in (signing_env(key), {"HELM_SIGNING_KEY": key.armored}):
        result = invoke(project, "repo.publish", "--sign", "-c", "hello-world", env=env, check=False)
        assert (result.returncode, result.stdout) == (1, "")
        assert result.stderr.strip().splitlines() == [
            (f"error: HELM_SIGNING_KEY: the key {key.user_id!r} (fingerprint {fpr}) cannot be used by Helm's signer "
             "(openpgp: invalid data: v4 entity without any identities), so nothing was built, signed or published; "
             "Helm takes none of its user IDs: their self-signatures use a hash it rejects, such as RIPEMD160; renew "
             f"them (gpg --cert-digest-algo SHA256 --quick-set-expire {fpr} never), export it again into "
             f"HELM_SIGNING_KEY (gpg --armor --export-secret-keys {fpr}) and give verifiers its new public key, or "
             f"{OTHER_KEY}")]
        assert found(result.stderr, {"key": key.armored, "passphrase": PASSPHRASE}) == []
    assert not (project / "dist").exists()
    gpg(home, "--cert-digest-algo", "SHA256", "--quick-set-expire", fpr, "never")  # the fix, as the line gives it
    renewed = exported(home)
    invoke(project, "repo.publish", "--sign", "-c", "hello-world", env=signing_env(renewed))
    package = project / "dist" / "repo" / "hello-world-0.1.0.tgz"
    assert helm_python.verify(package, renewed.keyring)["signed_by"] == [key.user_id]
