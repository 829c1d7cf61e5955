"""No secret value, nor its base64, reaches stdout or stderr of any task, in success, failure or --debug."""

import base64
import json
import re
import sys
from urllib.parse import quote

import yaml

from tests.conftest import invoke
from tests.support.http import basic_auth_server
from tests.support.leaks import PEM, SHAPES, found, found_in_files

SECRET = "s3cr3t-Value-9f3a"
TOKEN = "kube-token-4d2c-staging"
FORBIDDEN = [SECRET, base64.b64encode(SECRET.encode()).decode(), TOKEN, base64.b64encode(TOKEN.encode()).decode()]


def test_every_release_task_keeps_secret_values_out_of_all_output(cluster):
    env = {"KUBECONFIG": "/nonexistent", **cluster.emulator.ci_env("STAGING", TOKEN), "API_KEY": SECRET,
           "OTHER_KEY": SECRET + "-2"}
    secret = ("--set-secret", "secretEnv.API_KEY=API_KEY")
    runs = [
        ("release.deploy", "--env", "staging", *secret, "--set", "image.tag=v1"),
        ("release.deploy", "--env", "staging", *secret, "--dry-run"),
        ("release.diff", "--env", "staging", "--set-secret", "secretEnv.API_KEY=OTHER_KEY"),
        ("release.status", "--env", "staging"),
        ("release.status", "--env", "staging", "--json"),
        ("release.history", "--env", "staging", "--json"),
        ("--debug", "release.deploy", "--env", "staging", *secret, "--set", "image.tag=v2"),
        ("--debug", "release.deploy", "--env", "staging", *secret, "--set", "image.tag=broken", "--timeout", "2s"),
        ("--debug", "release.deploy", "--env", "staging", "--set-secret", "bad[=API_KEY"),  # Helm's parser quotes it
        ("release.rollback", "--env", "staging"),
    ]
    cluster.emulator.break_image("quay.io/honestbee/hello-drone-helm:broken")
    outputs = []
    for args in runs:
        result = invoke(cluster.project, *args, env=env, check=False)
        outputs.append((args, result.returncode, result.stdout + result.stderr))
    assert [code for _, code, _ in outputs] == [0, 0, 0, 0, 0, 0, 0, 1, 1, 0]
    for args, _, text in outputs:
        for value in FORBIDDEN:
            assert value not in text, f"{' '.join(args)} printed a secret"
    assert "***" in outputs[1][2]  # the dry run shows where the secret went, masked
    assert "-  API_KEY: '***'\n+  API_KEY: '*** (changed)'\n" in outputs[2][2]  # a changed secret shows, masked
    assert "helm upgrade --install" in outputs[6][2]  # --debug logs the Helm call, redacted
    assert "Traceback" in outputs[8][2]  # --debug shows the traceback, redacted
    stored = cluster.deployment()["spec"]["template"]["spec"]["containers"][0]["envFrom"]
    assert stored == [{"secretRef": {"name": "hello-world-hello-world"}}]
    secret_object = cluster.emulator.store[("v1", "secrets", cluster.namespaces["staging"], "hello-world-hello-world")]
    assert base64.b64decode(secret_object["data"]["API_KEY"]).decode() == SECRET  # it did reach the cluster


AWS_SECRET = "aws-secret-Key-0c9b7a"


def test_repository_tasks_never_print_the_aws_secret_key_even_with_debug_logging(project, bucket):
    env = {**bucket.env, "AWS_SECRET_ACCESS_KEY": AWS_SECRET, "AWS_SESSION_TOKEN": "session-Token-51f2"}
    forbidden = [AWS_SECRET, base64.b64encode(AWS_SECRET.encode()).decode(), "session-Token-51f2"]
    runs = [
        ("repo.publish", "--url", bucket.url),
        ("--debug", "repo.publish", "--url", bucket.url),
        ("--debug", "repo.verify", "--url", bucket.url),
        ("repo.doctor", "--url", bucket.url, "--json"),
        ("repo.package",),  # a publish that changed nothing built nothing: repo.index needs packages
        ("repo.index", "--url", bucket.url, "--json"),
        ("config", "--json"),
        ("--debug", "repo.publish", "--url", "s3://no-such-bucket-for-secrets"),
    ]
    codes = []
    for args in runs:
        result = invoke(project, *args, env=env, check=False)
        codes.append(result.returncode)
        text = result.stdout + result.stderr
        assert not [value for value in forbidden if value in text], f"{' '.join(args)} printed a secret"
    assert codes == [0, 0, 0, 0, 0, 0, 0, 1]  # the last: a missing bucket, a failure path with --debug


def test_aws_credentials_boto3_finds_itself_are_never_printed_even_with_debug_logging(project, bucket, tmp_path):
    """A profile's file (as a container's or an instance's role): no variable holds them, yet --debug logs each
    request with its session token."""
    profile = tmp_path / "credentials"
    profile.write_text(f"[ci]\naws_access_key_id = AKIAPROFILE\naws_secret_access_key = {AWS_SECRET}\n"
                       "aws_session_token = profile-Session-Token-88\n")
    env = {"AWS_ENDPOINT_URL_S3": bucket.endpoint, "AWS_DEFAULT_REGION": "us-east-1", "AWS_PROFILE": "ci",
           "AWS_SHARED_CREDENTIALS_FILE": str(profile), "AWS_CONFIG_FILE": str(tmp_path / "none")}
    for args in (("--debug", "repo.publish", "--url", bucket.url), ("--debug", "repo.list", "--url", bucket.url)):
        result = invoke(project, *args, env=env)
        text = result.stdout + result.stderr
        assert "X-Amz-Security-Token" in text  # the request log is there, the token in it masked
        assert found(text, {"secret": AWS_SECRET, "token": "profile-Session-Token-88"}) == []


def test_aws_credentials_refreshed_during_a_run_are_never_printed_even_with_debug_logging(project, bucket, tmp_path):
    """A role's credentials near their expiry are fetched again before a request (credential_process here, as a
    container's or an instance's role): each new session token is a secret too."""
    issued = tmp_path / "issued"
    process = tmp_path / "credentials.py"
    process.write_text(
        "import datetime, json, pathlib, uuid\n"
        f"log = pathlib.Path({str(issued)!r})\n"
        "token = f'refreshed-Token-{uuid.uuid4().hex}'\n"
        "log.write_text((log.read_text() if log.exists() else '') + token + '\\n')\n"
        "expires = datetime.datetime.now(datetime.UTC) + datetime.timedelta(minutes=5)  # within botocore's window\n"
        "print(json.dumps({'Version': 1, 'AccessKeyId': 'AKIAREFRESH', 'SecretAccessKey': 'refreshed-Secret-Key-2a',\n"
        "                  'SessionToken': token, 'Expiration': expires.isoformat()}))\n")
    config = tmp_path / "config"
    config.write_text(f"[profile ci]\ncredential_process = {sys.executable} {process}\n")
    env = {"AWS_ENDPOINT_URL_S3": bucket.endpoint, "AWS_DEFAULT_REGION": "us-east-1", "AWS_PROFILE": "ci",
           "AWS_CONFIG_FILE": str(config), "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none")}
    result = invoke(project, "--debug", "repo.publish", "--url", bucket.url, env=env)
    tokens = issued.read_text().split()
    assert len(tokens) > 1, tokens  # fetched again during the run
    assert found(result.stdout + result.stderr, {f"token{n}": t for n, t in enumerate(tokens)}) == []


# --- every shape a secret takes, through every task that prints values or config ------------------

def shape_env(suffix=""):
    """One variable per secret shape; names a credential scan would not guess, so only --set-secret marks them."""
    return {f"SHAPE_{name.upper()}": value + suffix for name, value in SHAPES.items()}


def set_secrets(prefix="secretEnv"):
    return [arg for name in SHAPES for arg in ("--set-secret", f"{prefix}.{name.upper()}=SHAPE_{name.upper()}")]


def test_no_secret_shape_survives_any_release_task_in_any_encoding(cluster):
    env = {**cluster.env, **shape_env()}
    changed = {**env, **shape_env("-changed")}
    runs = [
        (env, "release.deploy", "--env", "staging", *set_secrets(), "--dry-run"),
        (env, "--debug", "release.deploy", "--env", "staging", *set_secrets(), "--dry-run"),
        (env, "release.deploy", "--env", "staging", *set_secrets(), "--set", "image.tag=v1"),
        (changed, "release.diff", "--env", "staging", *set_secrets()),
        (changed, "--debug", "release.diff", "--env", "staging", *set_secrets()),
        (env, "release.status", "--env", "staging", "--json"),
        (env, "release.history", "--env", "staging", "--json"),
        (env, "--debug", "release.deploy", "--env", "staging", *set_secrets(), "--set", "image.tag=broken",
         "--timeout", "2s"),
        (env, "--debug", "release.deploy", "--env", "staging", *set_secrets("bad[")),  # not a values path
        (env, "release.deploy", "--env", "staging", "--set-secret", "image.tag=SHAPE_NON_ASCII", "--dry-run"),
    ]
    cluster.emulator.break_image("quay.io/honestbee/hello-drone-helm:broken")
    codes, leaks, outputs = [], [], []
    for run_env, *args in runs:
        result = invoke(cluster.project, *args, env=run_env, check=False)
        codes.append(result.returncode)
        outputs.append(result.stdout + result.stderr)
        leaks += [f"{' '.join(args)}: {hit}" for hit in found(result.stdout + result.stderr, shape_env())]
        leaks += [f"{' '.join(args)}: {hit}" for hit in found(result.stdout + result.stderr, shape_env("-changed"))]
    leaks += found_in_files(cluster.project / "dist", shape_env())
    assert leaks == []
    assert codes == [0, 0, 0, 0, 0, 0, 0, 1, 1, 0], [o[-600:] for o in outputs]
    dumped = yaml.safe_load(outputs[0][outputs[0].index("values (secrets masked):") + 24:].split("\n---")[0])
    assert dumped["secretEnv"] == {name.upper(): "***" for name in SHAPES}  # masked in the data, key by key
    assert all(f"{name.upper()}: '*** (changed)'" in outputs[3] for name in SHAPES)
    assert 'image: "quay.io/honestbee/hello-drone-helm:***"\n' in outputs[9]  # a secret copied into a Deployment
    secret = cluster.emulator.store[("v1", "secrets", cluster.namespaces["staging"], "hello-world-hello-world")]
    assert base64.b64decode(secret["data"]["PEM"]).decode() == PEM  # the real value did reach the cluster


# --- what a template makes of a secret -----------------------------------------------------------------

TRANSFORMS = ('  url_b64: {{ printf "postgres://%s:%s@db" .Values.db.user .Values.db.password | b64enc | quote }}\n'
              "  upper: {{ .Values.db.password | upper | quote }}\n  b32: {{ .Values.db.password | b32enc | quote }}\n")


def transforming_chart(cluster, version, extra=""):
    """A chart `sec` whose ConfigMap and NOTES.txt print what templates make of db.password, published."""
    chart = cluster.project / "charts" / "sec"
    (chart / "templates").mkdir(parents=True, exist_ok=True)
    (chart / "Chart.yaml").write_text(f"apiVersion: v2\nname: sec\nversion: {version}\n")
    (chart / "values.yaml").write_text("db: {user: app, password: changeme}\n")
    (chart / "templates" / "cm.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: sec\ndata:\n" + TRANSFORMS + extra)
    (chart / "templates" / "NOTES.txt").write_text("connect with {{ .Values.db.password | upper }}\n")
    invoke(cluster.project, "repo.publish", "--chart", "sec", env=cluster.env)


def test_what_templates_make_of_a_secret_is_rendered_masked_in_dry_runs_diffs_and_notes(cluster):
    import yaml as pyyaml

    config = pyyaml.safe_load((cluster.project / "invoke.yaml").read_text())
    config["release"]["releases"]["sec"] = {"chart": "sec"}
    (cluster.project / "invoke.yaml").write_text(pyyaml.safe_dump(config, sort_keys=False))
    transforming_chart(cluster, "0.1.0")
    secret, rotated = "hunter2-Secret-Value", "rotated-Secret-Value9"
    leaked = [form for value in (secret, rotated) for form in (
        value.upper(), base64.b32encode(value.encode()).decode().rstrip("="),
        base64.b64encode(f"postgres://app:{value}@db".encode()).decode()[:24])]

    def release(*args, value=secret):
        result = invoke(cluster.project, *args, "--env", "staging", "--release", "sec", "--set-secret",
                        "db.password=DB_PASSWORD", env={**cluster.env, "DB_PASSWORD": value})
        text = result.stdout + result.stderr
        assert [form for form in leaked if form in text] == [] and found(text, {"s": secret, "r": rotated}) == []
        return result.stdout

    dry_run = release("release.deploy", "--dry-run")
    assert '  upper: "***"\n' in dry_run and "cG9zdGdyZXM6Ly9hcHA6KioqQGRi" in dry_run  # base64 of postgres://app:***@db
    assert json.loads(release("release.deploy", "--dry-run", "--output", "json"))["notes"] == "connect with ***\n"
    assert json.loads(release("release.deploy", "--output", "json"))["notes"] == "connect with ***\n"
    assert release("release.deploy").rstrip().endswith("connect with ***")
    cm = cluster.emulator.store[("v1", "configmaps", cluster.namespaces["staging"], "sec")]
    assert cm["data"]["upper"] == secret.upper()  # the release itself got the real value
    assert release("release.diff").startswith("no changes")  # masked on both sides: an unchanged secret is no change
    changed = release("release.diff", value=rotated)
    assert '-  upper: "***"\n' in changed and '+  upper: "*** (CHANGED)"\n' in changed and "not shown" not in changed
    transforming_chart(cluster, "0.2.0", extra="  lower: {{ .Values.db.password | lower | quote }}\n")
    upgraded = release("release.diff")  # the deployed side rendered by the chart it ran, 0.1.0, from the repository
    assert [line for line in upgraded.splitlines() if line[:1] in "+-" and line[:3] not in ("+++", "---")] == [
        '+  lower: "***"']


def test_a_value_holding_url_credentials_or_a_secret_is_a_secret_with_all_templates_make_of_it(cluster, tmp_path):
    """No secret source, yet a secret: a values file's database URL with its password, a --set holding a registered
    secret's value (`--set dsn=$API_TOKEN` in a shell). Masked as they are, and as their base64, their password alone
    and their upper case, in dry runs and diffs."""
    template = ("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: urlc\ndata:\n"
                "  dsn64: {{ .Values.dsn | b64enc | quote }}\n"
                "  userinfo: {{ (urlParse .Values.dsn).userinfo | quote }}\n"
                "  upper: {{ .Values.token | upper | quote }}\n")
    cluster.folder_release("urlc", {"templates/cm.yaml": template, "values.yaml": "dsn: ''\ntoken: ''\n"})
    password, token = "Url-Pass-4471", "api-Token-Value-8c1e"
    values = tmp_path / "dsn.yaml"
    values.write_text(f"dsn: postgres://app:{password}@db:5432/x\n")
    leaked = [base64.b64encode(f"postgres://app:{password}@db:5432/x".encode()).decode()[:24], token.upper()]
    env = {**cluster.env, "API_TOKEN": token}
    given = ("-f", str(values), "--set", f"token={token}")
    for args in (("release.deploy", "--dry-run", *given), ("release.deploy", *given), ("release.diff", *given),
                 ("release.status",), ("release.history",)):
        result = invoke(cluster.project, *args, "--env", "staging", "--release", "urlc", env=env)
        text = result.stdout + result.stderr
        assert found(text, {"password": password, "token": token}) == [] and not [f for f in leaked if f in text]
        if "--dry-run" in args:  # rendered from the values with both masked whole
            assert 'dsn64: "Kioq"' in text and 'userinfo: ""' in text and 'upper: "***"' in text
    data = cluster.emulator.store[("v1", "configmaps", cluster.namespaces["staging"], "urlc")]["data"]
    assert data["userinfo"] == f"app:{password}" and data["upper"] == token.upper()  # deployed as given


def test_where_a_deploy_put_secrets_is_recorded_so_later_tasks_without_them_show_no_rendering_of_one(cluster):
    """A --set-secret is given to the deploy only: status and diff run later (another pipeline, a laptop) know
    nothing of it but what the revision recorded, and must still show no rendering of the secret."""
    config = yaml.safe_load((cluster.project / "invoke.yaml").read_text())
    config["release"]["releases"]["sec"] = {"chart": "sec"}
    (cluster.project / "invoke.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    transforming_chart(cluster, "0.1.0")
    secret = "hunter2-Secret-Value"
    leaked = [secret, secret.upper(), base64.b32encode(secret.encode()).decode().rstrip("="),
              base64.b64encode(f"postgres://app:{secret}@db".encode()).decode()[:24]]
    invoke(cluster.project, "release.deploy", "--env", "staging", "--release", "sec", "--set-secret",
           "db.password=DB_PASSWORD", "--set-secret", "tls.certificates.internal-service-key[0]=DB_PASSWORD",
           env={**cluster.env, "DB_PASSWORD": secret})  # two paths: more than one label's 63 characters

    def later(*args):
        result = invoke(cluster.project, *args, "--env", "staging", "--release", "sec", env=cluster.env)
        assert [form for form in leaked if form in result.stdout + result.stderr] == []
        return result

    status = later("release.status")  # the notes rendered again by the published chart, from masked values
    assert status.stdout.rstrip().endswith("connect with ***") and status.stderr == ""
    assert json.loads(later("release.status", "--output", "json").stdout)["notes"] == "connect with ***\n"
    diffed = later("release.diff").stdout  # without the secret, this deploy would set the chart's own password
    assert '-  upper: "***"\n' in diffed and '+  upper: "CHANGEME"\n' in diffed
    labels = cluster.emulator.store[("v1", "secrets", cluster.namespaces["staging"], "sh.helm.release.v1.sec.v1")][
        "metadata"]["labels"]
    assert sorted(k for k in labels if k.startswith("secret-paths.")) == ["secret-paths.0", "secret-paths.1",
                                                                          "secret-paths.count", "secret-paths.keys"]
    assert not [text for text in labels.values() for form in leaked if form in text]
    del labels["secret-paths.0"]  # a record that does not read: nothing is shown as if it held no secret
    assert later("release.status").stderr == ("warning: sec: notes not shown: revision 1 was deployed with secret "
                                              "values; where revision 1's values hold secrets, as recorded (labels "
                                              "secret-paths.*), does not read\n")
    refused = invoke(cluster.project, "release.diff", "--env", "staging", "--release", "sec", env=cluster.env,
                     check=False)
    assert refused.returncode == 1 and refused.stderr.startswith("error: sec: no diff: where revision 1's values hold secrets")


def test_a_deploy_with_no_values_of_its_own_deploys_the_charts_defaults_not_the_last_revisions_secrets(cluster):
    """Helm's upgrade reuses the last revision's values when given none (reuseValues): a deploy that no longer
    passes --set-secret would deploy, print and diff the old secret."""
    config = yaml.safe_load((cluster.project / "invoke.yaml").read_text())
    config["release"]["releases"]["sec"] = {"chart": "sec"}
    del config["release"]["environments"]["staging"]["values"]  # so that this deploy has no values at all
    (cluster.project / "invoke.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    transforming_chart(cluster, "0.1.0")
    secret = "hunter2-Secret-Value"

    def run(*args):
        result = invoke(cluster.project, *args, "--env", "staging", "--release", "sec",
                        env={**cluster.env, "DB_PASSWORD": secret})
        assert secret.upper() not in result.stdout + result.stderr
        return result.stdout

    run("release.deploy", "--set-secret", "db.password=DB_PASSWORD")
    diffed = run("release.diff")
    assert '-  upper: "***"\n' in diffed and '+  upper: "CHANGEME"\n' in diffed
    assert run("release.deploy").rstrip().endswith("connect with CHANGEME")
    deployed = cluster.emulator.store[("v1", "configmaps", cluster.namespaces["staging"], "sec")]["data"]
    assert deployed["upper"] == "CHANGEME"


def test_status_shows_notes_of_a_revision_with_secrets_only_as_its_chart_renders_them_again_masked(cluster):
    config = yaml.safe_load((cluster.project / "invoke.yaml").read_text())
    config["release"]["releases"]["sec"] = {"chart": "sec", "secrets": {"db.password": "DB_PASSWORD"}}
    (cluster.project / "invoke.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    transforming_chart(cluster, "0.1.0")
    (cluster.project / "charts" / "sec" / "templates" / "NOTES.txt").write_text(
        "revision {{ .Release.Revision }}: {{ .Values.db.password | upper }}\n")
    invoke(cluster.project, "repo.publish", "--chart", "sec", "--force", env=cluster.env)
    secret = "hunter2-Secret-Value"
    env = {**cluster.env, "DB_PASSWORD": secret}

    def run(task):
        result = invoke(cluster.project, task, "--env", "staging", "--release", "sec", env=env)
        assert secret.upper() not in result.stdout + result.stderr
        return result

    run("release.deploy")
    first = run("release.status")
    assert first.stdout.rstrip().endswith("revision 1: ***") and first.stderr == ""
    run("release.deploy")  # revision 2: rendered again now, as an upgrade, its notes would say revision 3
    assert run("release.status").stderr == (
        "warning: sec: notes not shown: revision 2 was deployed with secret values; its chart renders them otherwise "
        "now (randomness, lookup, or a chart republished)\n")
    for revision in (1, 2):  # as a release deployed before revisions recorded where their secrets are
        key = ("v1", "secrets", cluster.namespaces["staging"], f"sh.helm.release.v1.sec.v{revision}")
        labels = cluster.emulator.store[key]["metadata"]["labels"]
        for name in [k for k in labels if k.startswith("secret-paths.")]:
            del labels[name]
    assert run("release.status").stderr == (
        "warning: sec: notes not shown: revision 2 was deployed with secret values; revision 2 does not record where "
        "its values hold secrets (deployed before this tool recorded it, or by another tool)\n")


def test_a_revision_whose_record_is_not_of_its_values_is_shown_as_one_that_may_hold_secrets_anywhere(cluster):
    """Helm's upgrade merges the last revision's labels into the new one's, and its rollback copies the target's:
    a plain `helm upgrade` that puts a secret in the values keeps a record of this tool's that says there is
    none. Status and diff must not take it at its word."""
    config = yaml.safe_load((cluster.project / "invoke.yaml").read_text())
    config["release"]["releases"]["sec"] = {"chart": "sec"}
    (cluster.project / "invoke.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    transforming_chart(cluster, "0.1.0")
    secret = "hunter2-Secret-Value"

    def run(*args, check=True):
        result = invoke(cluster.project, *args, "--env", "staging", "--release", "sec", check=check,
                        env={**cluster.env, "DB_PASSWORD": "tool-Secret-Value"})
        assert [v for v in (secret.upper(), "TOOL-SECRET-VALUE") if v in result.stdout + result.stderr] == []
        return result

    run("release.deploy")  # revision 1: no secrets, recorded as none
    assert run("release.status").stdout.rstrip().endswith("connect with CHANGEME")
    with cluster.helm() as helm:  # revision 2: plain Helm, a secret given as a value
        helm.upgrade(str(cluster.project / "dist" / "repo" / "sec-0.1.0.tgz"), "sec", {"db": {"password": secret}})
    labels = cluster.emulator.store[("v1", "secrets", cluster.namespaces["staging"], "sh.helm.release.v1.sec.v2")][
        "metadata"]["labels"]
    assert labels["secret-paths.count"] == "0"  # what Helm kept from revision 1
    unknown = "revision 2 does not record where its values hold secrets (deployed before this tool recorded it, or by "
    assert run("release.status").stderr.startswith(f"warning: sec: notes not shown: revision 2 was deployed with "
                                                   f"secret values; {unknown}")
    refused = run("release.diff", check=False)
    assert refused.returncode == 1 and refused.stderr.startswith(f"error: sec: no diff: {unknown}")
    run("release.deploy", "--set-secret", "db.password=DB_PASSWORD")  # revision 3 records where
    rolled = run("release.rollback", "--revision", "2").stdout  # revision 4: revision 2's values and labels
    assert "now revision 4" in rolled
    shown = json.loads(run("release.status", "--output", "json").stdout)
    assert shown["revision"] == 4 and shown["notes"] == ""


def test_what_templates_make_of_a_secret_is_masked_in_errors_that_quote_it_and_in_the_history_that_stores_them(
        cluster):
    """An API server refuses a name a template built from a secret and quotes it (`Invalid value: "..."`): the
    deploy masks it, as what the chart's templates make of the secret. Helm stores that error as the failed
    revision's description, which history prints and where nothing tells what to mask: it is left out."""
    config = yaml.safe_load((cluster.project / "invoke.yaml").read_text())
    config["release"]["releases"]["sec"] = {"chart": "sec", "secrets": {"db.password": "DB_PASSWORD"}}
    (cluster.project / "invoke.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    transforming_chart(cluster, "0.1.0")
    secret = "hunter2-Secret-Value"

    def run(*args, check=True):
        result = invoke(cluster.project, *args, "--env", "staging", "--release", "sec", check=check,
                        env={**cluster.env, "DB_PASSWORD": secret})
        assert [form for form in (secret.upper(), secret.lower()) if form in result.stdout + result.stderr] == []
        return result

    run("release.deploy")
    (cluster.project / "charts" / "sec" / "templates" / "named.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: db-{{ .Values.db.password | upper }}\n"
        "  labels:\n    user: {{ .Values.db.password | lower | quote }}\n")
    transforming_chart(cluster, "0.2.0")
    failed = run("release.deploy", "--no-wait", check=False)
    assert failed.returncode == 1 and 'ConfigMap "db-***" is invalid: metadata.name: Invalid value: "db-***": ' \
        "a lowercase RFC 1123 subdomain" in failed.stderr
    rows = json.loads(run("release.history", "--output", "json").stdout)
    assert [r["status"] for r in rows] == ["deployed", "failed"]
    left_out = 'Upgrade "sec" failed (the error is not shown: it may quote what a template made of a secret value)'
    assert rows[1]["description"] == left_out and left_out in run("release.history").stdout
    assert json.loads(run("release.status", "--output", "json").stdout)["description"] == left_out
    run("release.rollback")
    rows = json.loads(run("release.history", "--output", "json").stdout)
    assert [r["status"] for r in rows] == ["superseded", "failed", "deployed"] and rows[1]["description"] == left_out
    assert rows[0]["description"].startswith("sec-0.1.0; ")  # the descriptions of others are as they were


def test_notes_and_diffs_a_chart_cannot_render_with_masked_secrets_are_withheld_with_the_reason(cluster):
    cluster.folder_release("strict", {
        "values.schema.json": '{"properties": {"password": {"type": "string", "minLength": 8}}}',
        "templates/cm.yaml": ("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: strict\ndata:\n"
                              "  p: {{ .Values.password | upper | quote }}\n"),
        "templates/NOTES.txt": "password {{ .Values.password | upper }}\n",
    }, secrets={"password": "DB_PASSWORD"})
    env = {**cluster.env, "DB_PASSWORD": "long-enough-Secret"}
    deployed = invoke(cluster.project, "release.deploy", "--env", "staging", "--release", "strict", env=env)
    reason = ("rendered with its secrets masked, the chart fails (helm upgrade --install strict strict --version 0.1.0 "
              f"--namespace {cluster.namespaces['staging']} (kubeconfig context staging) --dry-run=server --history-max "
              "10: values don't meet the specifications of the schema(s) in the following chart(s): strict: - at "
              "'/password': minLength: got 3, want 8)")
    assert deployed.stderr == f"warning: strict: notes not shown: {reason}\n"
    assert "password" not in deployed.stdout and "LONG-ENOUGH" not in deployed.stdout
    diffed = invoke(cluster.project, "release.diff", "--env", "staging", "--release", "strict", env=env, check=False)
    assert diffed.returncode == 1 and diffed.stderr.startswith("error: strict: no diff: rendered with its secrets masked")
    assert "LONG-ENOUGH" not in diffed.stdout + diffed.stderr


def test_config_shows_credentials_by_name_and_urls_without_userinfo(project):
    password = SHAPES["url_special"]
    env = {"PLUGIN_SECRET_KEY": "plugin-secret-key-61", "DRONE_NETRC_PASSWORD": "netrc-password-61",
           "DRONE_NETRC_USERNAME": "netrc-user-token-61", "PLUGIN_KUBE_TOKEN": "kube-token-6161",
           "PLUGIN_HELM_REPOS": f"charts=https://reader:{quote(password, safe='')}@charts.example.com/stable",
           "INVOKE_REPO_URL": f"https://reader:{quote(password, safe='')}@127.0.0.1:9/charts"}
    secrets = {"password": password, **{k: v for k, v in env.items() if "61" in v}}
    for args in (("config",), ("config", "--json"), ("--debug", "config")):
        result = invoke(project, *args, env=env)
        assert found(result.stdout + result.stderr, secrets) == [], args
    rows = {r["setting"]: r["value"] for r in json.loads(invoke(project, "config", "--json", env=env).stdout)}
    assert rows["repo.url"] == "https://***@127.0.0.1:9/charts"
    assert rows["PLUGIN_HELM_REPOS"] == "charts=https://***@charts.example.com/stable"
    assert rows["PLUGIN_SECRET_KEY"] == rows["DRONE_NETRC_PASSWORD"] == rows["DRONE_NETRC_USERNAME"] == "set"


def test_credentials_in_an_s3_url_or_a_broken_url_are_one_line_and_never_printed(project):
    for url, message in [
        ("s3://AKIAEXAMPLEKEY61:aws-Secret%2Fkey-61@charts-bucket",
         "error: repo.url 's3://***@charts-bucket': credentials do not belong in the URL"),
        ("https://[::1", "error: repo.url 'https://[::1': not a valid URL"),
        ("https://reader:Pw-61@[::1", "error: repo.url 'https://***@[::1': not a valid URL"),
    ]:
        for args in (("repo.list", "--url", url), ("--debug", "repo.list", "--url", url)):
            result = invoke(project, *args, check=False)
            assert result.returncode == 1, result.stderr
            assert result.stderr.strip().splitlines()[-1].startswith(message), result.stderr
            assert "(a bug" not in result.stderr
            if args[0] != "--debug":
                assert len(result.stderr.strip().splitlines()) == 1
            assert found(result.stdout + result.stderr, {"key": "aws-Secret/key-61"}) == []
            assert not {"AKIAEXAMPLEKEY61", "Pw-61"} & set(re.findall(r"[\w-]+", result.stdout + result.stderr))


def test_drone_credential_variables_never_expand_into_values(project):
    for name in ("DRONE_NETRC_PASSWORD", "DRONE_NETRC_USERNAME", "CI_JOB_TOKEN", "DRONE_DEPLOY_KEY"):
        result = invoke(project, "release.deploy", "--env", "staging", "--set", f"image.tag=${{{name}}}",
                        env={name: "credential-value-61"}, check=False)
        assert result.returncode == 1
        assert result.stderr.startswith(f"error: --set image.tag=${{{name}}}: ${{{name}}} is a credential"), result.stderr
        assert "credential-value-61" not in result.stdout + result.stderr


def test_a_bad_secret_path_is_refused_before_any_part_of_the_secret_meets_helms_parser(project):
    secret = "Secret-Value]x,y=z"  # Helm's parser read a[=... up to the `]` and quoted that much in its error
    for args in (("--set-secret", "a[=DB_PASSWORD"), ("--set-secret", "a[0=DB_PASSWORD"),
                 ("--debug", "--set-secret", "a[=DB_PASSWORD")):
        debug, flags = (args[:1], args[1:]) if args[0] == "--debug" else ((), args)
        result = invoke(project, *debug, "release.deploy", "--env", "staging", *flags, "--dry-run", "--output", "json",
                        env={"DB_PASSWORD": secret}, check=False)
        assert result.returncode == 1 and result.stdout == ""
        assert result.stderr.strip().splitlines()[-1] == (f"error: --set-secret {flags[1]!r}: not a values path; use "
                                                          "dotted keys like db.password (list items as hosts[0])")
        assert not [part for part in ("Secret", "Value", "x,y", "y=z") if part in result.stderr], result.stderr


def test_a_secret_meets_no_error_message_however_it_is_misplaced(project):
    """Registered before any flag is parsed (a --set's error quotes the item); given to --set-secret in place of a
    variable's name; not UTF-8 (bytes os.environ keeps as surrogate escapes, which every command registers)."""
    config = yaml.safe_load((project / "invoke.yaml").read_text())
    config["release"]["releases"]["hello-world"]["secrets"] = {"secretEnv.PW": "DB_PW"}
    (project / "invoke.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    latin1 = "caf\udce9-latin1-pass"  # b"caf\xe9-latin1-pass" in the environment
    env = {"DB_PW": SECRET, "LEGACY_PASSWORD": latin1}
    deploy = ("release.deploy", "--env", "staging", "--dry-run")
    cases = [
        ((*deploy, "--set", f"extra.pw={SECRET},oops"), "error: --set #1 (not shown: it holds a secret): "),
        ((*deploy, "--set-string", f"x={SECRET},bad"), "error: --set-string #1 (not shown: it holds a secret): "),
        ((*deploy, "--set-secret", f"db.password={SECRET}"),
         "error: --set-secret 'db.password=...': what follows = is the value of DB_PW, not a variable's name; "),
        ((*deploy, "--set-secret", "db.password=pa ss/word"),
         ("error: --set-secret 'db.password=...': what follows = is not a variable's name (not shown: it may be the "
         "secret itself); ")),
        ((*deploy, "--set-secret", "db.password=LEGACY_PASSWORD"),
         "error: --set-secret 'db.password=LEGACY_PASSWORD': environment variable LEGACY_PASSWORD is not UTF-8 text"),
    ]
    for args, message in cases:
        result = invoke(project, *args, env=env, check=False)
        assert (result.returncode, result.stdout) == (1, ""), result.stderr
        assert result.stderr.startswith(message) and result.stderr.count("\n") == 1, result.stderr
        assert found(result.stderr, {"secret": SECRET, "words": "pa ss/word", "latin1": latin1}) == []
    listed = invoke(project, "--list", env=env)  # every command registers LEGACY_PASSWORD: no traceback
    assert "release.deploy" in listed.stdout and listed.stderr == ""


def test_a_release_secret_that_is_missing_or_misplaced_names_its_release_and_setting(cluster):
    config = yaml.safe_load((cluster.project / "invoke.yaml").read_text())
    config["release"]["releases"]["api"] = {"chart": "hello-world", "secrets": {"db.password": "MISSING_VAR"}}
    (cluster.project / "invoke.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    refused = invoke(cluster.project, "release.deploy", "--env", "staging", env=cluster.env, check=False)
    assert (refused.returncode, refused.stdout) == (1, "")
    assert refused.stderr == ("error: release.releases.api.secrets.db.password: environment variable MISSING_VAR is "
                              "not set; set it (a Drone secret)\n")
    config["release"]["releases"]["api"]["secrets"] = {"db[": "DB_PASSWORD"}
    (cluster.project / "invoke.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    refused = invoke(cluster.project, "release.deploy", "--env", "staging", env={**cluster.env, "DB_PASSWORD": SECRET},
                     check=False)
    assert refused.stderr == ("error: release.releases.api.secrets.db[: not a values path; use dotted keys like "
                              "db.password (list items as hosts[0])\n")
    assert cluster.release_secrets() == []  # every release is planned first: hello-world was not deployed either


# --- a repository behind HTTP basic auth ------------------------------------------------------------

def test_a_basic_auth_repository_works_and_its_password_is_never_printed(cluster):
    password = SHAPES["url_special"]
    with basic_auth_server(cluster.project / "dist" / "repo", "reader", password) as server:
        url = f"http://reader:{quote(password, safe='')}@127.0.0.1:{server.port}"
        wrong = f"http://reader:wrong-{quote(password, safe='')}@127.0.0.1:{server.port}"
        listed = invoke(cluster.project, "repo.list", "--url", url, "--json", env=cluster.env)
        debug_list = invoke(cluster.project, "--debug", "repo.list", "--url", url, env=cluster.env)
        deployed = invoke(cluster.project, "release.deploy", "--env", "staging", "--url", url,
                          "--set", "image.tag=behind-auth", env=cluster.env)
        refused = invoke(cluster.project, "repo.list", "--url", wrong, env=cluster.env, check=False)
        debug_refused = invoke(cluster.project, "--debug", "repo.list", "--url", wrong, env=cluster.env, check=False)
    assert "hello-world" in [e["chart"] for e in json.loads(listed.stdout)]
    assert cluster.image() == "quay.io/honestbee/hello-drone-helm:behind-auth"
    assert server.authorized >= 3 and server.unauthorized >= 2
    assert refused.returncode == 1 and debug_refused.returncode == 1
    assert refused.stderr == (f"error: http://***@127.0.0.1:{server.port}/index.yaml: HTTP 401 (unauthorized); "
                              "check the user name and password in repo.url\n")
    for result in (listed, debug_list, deployed, refused, debug_refused):
        assert found(result.stdout + result.stderr, {"password": password, "wrong": "wrong-" + password}) == []
        assert "reader:" not in result.stdout + result.stderr
    assert found_in_files(cluster.project / "dist", {"password": password}) == []


def test_a_password_in_invoke_yaml_is_masked_even_in_invokes_own_debug_log(project):
    config = project / "invoke.yaml"
    config.write_text(config.read_text().replace("url: dist/repo", "url: https://reader:Yaml-Pw-4711@127.0.0.1:9/c"))
    for args in (("--debug", "config"), ("--debug", "repo.list"), ("repo.list",)):
        result = invoke(project, *args, check=False)
        assert "Yaml-Pw-4711" not in result.stdout + result.stderr, args
        assert "https://***@127.0.0.1:9/c" in result.stdout + result.stderr


def deployment_named_from_the_secret(cluster, version, name):
    """Release `sec` (its secret db.password from DB_PASSWORD): chart `version`, a Deployment named `name` (a
    template expression), published."""
    config = yaml.safe_load((cluster.project / "invoke.yaml").read_text())
    config["release"]["releases"]["sec"] = {"chart": "sec", "secrets": {"db.password": "DB_PASSWORD"}}
    (cluster.project / "invoke.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    chart = cluster.project / "charts" / "sec"
    (chart / "templates").mkdir(parents=True, exist_ok=True)
    (chart / "Chart.yaml").write_text(f"apiVersion: v2\nname: sec\nversion: {version}\n")
    (chart / "values.yaml").write_text("db: {password: changeme}\n")
    (chart / "templates" / "web.yaml").write_text(
        f"apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}\nspec:\n"
        "  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n"
        "    spec: {containers: [{name: web, image: nginx}]}\n")
    invoke(cluster.project, "repo.publish", "--chart", "sec", env=cluster.env)


def recreated_with_another_selector(cluster, name, deployed):
    """The Deployment `name`, as `deployed` (copied while it ran), back in the cluster with another selector: what
    someone recreated by hand. A rollback to the revision that made it first finds it, then cannot apply it."""
    key = ("apps/v1", "deployments", cluster.namespaces["staging"], name)
    assert key not in cluster.emulator.store  # the next revision removed it
    deployed["spec"]["selector"] = {"matchLabels": {"app": "other"}}
    deployed["spec"]["template"]["metadata"]["labels"] = {"app": "other"}
    cluster.emulator.store[key] = deployed


def test_a_rollback_masks_the_secret_its_target_revision_stored_though_it_was_rotated_since(cluster):
    """A rollback applies a revision's stored values again: a secret rotated since is in no environment, yet the
    API server may quote it. Helm's Go code warns of the recreated Deployment on the process's stderr itself, and
    the API server refuses the rollback, both naming it."""
    import copy

    deployment_named_from_the_secret(cluster, "0.1.0", "web-{{ .Values.db.password }}")
    old, rotated = "hunter2-old-secret9", "rotated-new-secret7"
    invoke(cluster.project, "release.deploy", "--env", "staging", "--release", "sec",
           env={**cluster.env, "DB_PASSWORD": old})
    deployed = copy.deepcopy(cluster.emulator.store[("apps/v1", "deployments", cluster.namespaces["staging"],
                                                     f"web-{old}")])
    invoke(cluster.project, "release.deploy", "--env", "staging", "--release", "sec",
           env={**cluster.env, "DB_PASSWORD": rotated})
    recreated_with_another_selector(cluster, f"web-{old}", deployed)
    failed = invoke(cluster.project, "release.rollback", "--env", "staging", "--release", "sec", "--revision", "1",
                    env={**cluster.env, "DB_PASSWORD": rotated}, check=False)
    assert old not in failed.stdout + failed.stderr
    assert failed.returncode == 1 and 'Deployment.apps "web-***" is invalid: spec.selector' in failed.stderr
    assert "warning: helm: resource exists on cluster but not in original release" in failed.stderr  # Helm's, masked
    assert "name=web-*** kind=Deployment" in failed.stderr


def test_a_rollback_masks_what_the_target_revisions_templates_made_of_its_secret(cluster):
    """The same, with the name a template's `lower` of the secret: the target revision's chart, fetched from the
    repository, is rendered again from its stored values and from them masked, and what differs is masked."""
    import copy

    secret = "Hunter2-Mixed-Secret"
    deployment_named_from_the_secret(cluster, "0.1.0", "web-{{ .Values.db.password | lower }}")

    def run(*args, check=True):
        result = invoke(cluster.project, *args, "--env", "staging", "--release", "sec", check=check,
                        env={**cluster.env, "DB_PASSWORD": secret})
        assert [form for form in (secret, secret.lower()) if form in result.stdout + result.stderr] == []
        return result

    run("release.deploy")
    deployed = copy.deepcopy(cluster.emulator.store[("apps/v1", "deployments", cluster.namespaces["staging"],
                                                     f"web-{secret.lower()}")])
    deployment_named_from_the_secret(cluster, "0.2.0", "app-{{ .Values.db.password | lower }}")
    run("release.deploy")
    recreated_with_another_selector(cluster, f"web-{secret.lower()}", deployed)
    failed = run("release.rollback", "--revision", "1", check=False)
    assert failed.returncode == 1 and 'Deployment.apps "web-***" is invalid: spec.selector' in failed.stderr
    del cluster.emulator.store[("apps/v1", "deployments", cluster.namespaces["staging"], f"web-{secret.lower()}")]
    (cluster.project / "dist" / "repo" / "sec-0.1.0.tgz").unlink()  # its chart gone: said, and the rollback goes on
    rolled = run("release.rollback", "--revision", "1")
    assert "warning: sec: what the templates of sec-0.1.0 (revision 1) made of its secrets is not known, and not " \
           "masked: " in rolled.stderr and "now revision 4 deployed" in rolled.stdout


def test_release_test_and_uninstall_mask_what_the_templates_made_of_a_secret(cluster):
    """`helm test` names a failed test pod, and an uninstall the resources the API server would not delete (Helm only
    logs those: the error says why); named by a template's `lower` of the secret, each is masked, as a deploy masks
    it: the current revision's chart is fetched and rendered again from its stored values and from them masked."""
    secret = "Hunter2-Mixed-Secret"
    tests = cluster.project / "charts" / "sec" / "templates" / "tests"
    tests.mkdir(parents=True)
    (tests / "check.yaml").write_text(
        'apiVersion: v1\nkind: Pod\nmetadata:\n  name: check-{{ .Values.db.password | lower }}\n  annotations:\n'
        '    "helm.sh/hook": test\nspec:\n  restartPolicy: Never\n  containers:\n'
        '    - {name: check, image: "busybox:fails", command: ["true"]}\n')
    deployment_named_from_the_secret(cluster, "0.1.0", "web-{{ .Values.db.password | lower }}")
    env = {**cluster.env, "DB_PASSWORD": secret}
    invoke(cluster.project, "release.deploy", "--env", "staging", "--release", "sec", env=env)
    cluster.emulator.break_image("busybox:fails")
    failed = invoke(cluster.project, "release.test", "--env", "staging", "--release", "sec", env=env, check=False)
    assert failed.returncode == 1 and "check-*** failed" in failed.stderr, failed.stderr
    namespace = cluster.namespaces["staging"]
    web = ("apps/v1", "deployments", namespace, f"web-{secret.lower()}")
    cluster.emulator.forbid_delete(web)
    refused = invoke(cluster.project, "release.uninstall", "--env", "staging", "--release", "sec", "--yes", env=env,
                     check=False)
    assert refused.returncode == 1 and refused.stderr == (
        'error: helm uninstall sec: failed to delete release: sec: deployments.apps "web-***" is forbidden: User '
        '"system:serviceaccount:ci:deployer" cannot delete resource "deployments" in API group "apps" in the '
        f'namespace "{namespace}"\n')
    debugged = invoke(cluster.project, "--debug", "release.uninstall", "--env", "staging", "--release", "sec", "--yes",
                      env=env, check=False)
    assert "helm: starting delete resource namespace=" in debugged.stderr  # Helm's own debug records, as helm --debug
    cluster.emulator.forbid_delete(web, forbidden=False)  # RBAC fixed: the release, left uninstalling, is uninstalled
    invoke(cluster.project, "release.uninstall", "--env", "staging", "--release", "sec", "--yes", env=env)
    assert cluster.release_secrets() == [] and web not in cluster.emulator.store
    for result in (failed, refused, debugged):
        assert [form for form in (secret, secret.lower()) if form in result.stdout + result.stderr] == []


def test_a_deploy_with_debug_masks_the_names_the_last_revisions_secret_gave_the_objects_it_replaces(cluster):
    """Rotated (or renamed by a chart change), the objects the last revision named from its secret are deleted, and
    Helm's --debug log names each: that revision's stored secret and its templates' forms are masked too."""
    deployment_named_from_the_secret(cluster, "0.1.0", "web-{{ .Values.db.password | lower }}")
    old, rotated = "Hunter2-Old-Secret9", "Rotated-New-Secret7"
    invoke(cluster.project, "release.deploy", "--env", "staging", "--release", "sec",
           env={**cluster.env, "DB_PASSWORD": old})
    rotation = invoke(cluster.project, "--debug", "release.deploy", "--env", "staging", "--release", "sec",
                      env={**cluster.env, "DB_PASSWORD": rotated})
    text = rotation.stdout + rotation.stderr
    assert "name=web-***" in text  # Helm's record of the Deployment it deletes, masked
    assert [form for value in (old, rotated) for form in (value, value.lower()) if form in text] == []


def test_a_chart_refusing_a_secret_never_quotes_it_in_a_fail_message_or_a_schema_error(cluster):
    """A `fail` message built from a secret's `upper`, and Helm's schema error that quotes the value (`'O\\'Brien'`):
    the deploy and its dry run print neither. A message that only the real value produces is the secret's doing."""
    deployment_named_from_the_secret(cluster, "0.1.0", "web")
    chart = cluster.project / "charts" / "sec"
    (chart / "values.schema.json").write_text(json.dumps(
        {"properties": {"db": {"properties": {"user": {"type": "string", "pattern": "^[a-z]{1,5}$"}}}}}))
    (chart / "templates" / "check.yaml").write_text(
        '{{- if ne .Values.db.password "changeme" }}{{ fail (printf "db password %s is wrong" '
        "(upper .Values.db.password)) }}{{ end }}\n")
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: sec\nversion: 0.2.0\n")
    invoke(cluster.project, "repo.publish", "--chart", "sec", env=cluster.env)
    secret, user = "Hunter2-Xylophone-Q9", "O'Brien-secret-42"
    env = {**cluster.env, "DB_PASSWORD": secret, "DB_USER": user}
    runs = [invoke(cluster.project, "release.deploy", "--env", "staging", "--release", "sec", *args, env=env,
                   check=False) for args in ([], ["--dry-run"], ["--set-secret", "db.user=DB_USER"])]
    texts = [r.stdout + r.stderr for r in runs]
    assert [r.returncode for r in runs] == [1, 1, 1]
    assert "db password *** is wrong" in texts[0] and "db password *** is wrong" in texts[1]
    assert "'***' does not match pattern '^[a-z]{1,5}$'" in texts[2], texts[2]
    assert [form for form in (secret, secret.upper(), user, user.replace("'", "\\'")) if form in "".join(texts)] == []
    (chart / "templates" / "check.yaml").write_text(  # only the real value fails: the whole message is its doing
        '{{- if eq .Values.db.password "Hunter2-Xylophone-Q9" }}{{ fail (printf "%s is known to be leaked" '
        "(upper .Values.db.password)) }}{{ end }}\n")
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: sec\nversion: 0.3.0\n")
    invoke(cluster.project, "repo.publish", "--chart", "sec", env=cluster.env)
    known = invoke(cluster.project, "release.deploy", "--env", "staging", "--release", "sec", env=env, check=False)
    assert known.returncode == 1 and secret.upper() not in known.stdout + known.stderr
    assert "warning: sec: the chart fails to render with its secrets, and not with them masked: its error depends on " \
           "a secret's value, so is not shown" in known.stderr


def test_a_url_with_a_blank_in_its_password_or_credentials_in_the_public_url_is_refused_and_never_printed(project):
    """A blank ends a URL in any text, so a password with one would not be masked; credentials in public_url would be
    written into index.yaml and index.html for every reader. Both are refused, by flag and by variable, naming no
    part of the password; nothing is written."""
    runs = [
        (("repo.list", "--url", "https://reader:Pass word 61x@127.0.0.1:9/charts"), {},
         "error: repo.url holds a space or another blank, which a URL cannot: percent-encode it"),
        (("release.deploy", "--env", "staging", "--dry-run"), {"INVOKE_REPO_URL": "https://reader:Pass word 61x@h.x"},
         "error: repo.url holds a space or another blank, which a URL cannot: percent-encode it"),
        (("repo.publish", "--public-url", "https://reader:Pass-word-61x@charts.example.com/x"), {},
         ("error: repo.public_url 'https://***@charts.example.com/x': credentials do not belong in it: it is written "
          "into index.yaml and index.html for every client to read")),
        (("repo.publish", "--public-url", "https://reader:Pass word 61x@charts.example.com/x"), {},
         "error: repo.public_url holds a space or another blank"),
        (("repo.list", "--url", "http://reader:Pass/word 61x@127.0.0.1:9/"), {},  # a / or @ in it too
         "error: repo.url holds a space or another blank"),
        (("repo.list",), {"INVOKE_REPO_URL": "http://reader:Pass@word 61x@127.0.0.1:9/"},
         "error: repo.url holds a space or another blank"),
    ]
    for args, env, message in runs:
        for debug in ((), ("--debug",)):
            result = invoke(project, *debug, *args, env=env, check=False)
            assert result.returncode == 1 and result.stderr.strip().splitlines()[-1].startswith(message), result.stderr
            assert not re.search(r"Pass.word.61x|word 61x|61x@", result.stdout + result.stderr), result.stderr
    assert not (project / "dist").exists() or not list((project / "dist").rglob("index.yaml"))


def test_a_chart_whose_metadata_holds_credentials_in_a_url_is_refused_and_they_are_never_published(project):
    """A dependency repository, home or sources URL with a password (or a token as its user name) in Chart.yaml or
    requirements.yaml: the package carries the file and the index copies it, for every reader. That chart fails
    alone, its URL masked; the others are published; no file written holds the credential."""
    cases = {
        "dep": "dependencies:\n- {name: redis, version: 1.0.0, repository: 'http://depuser:DepPass-5521@127.0.0.1:9'}\n",
        "home": "home: https://ghp_T0kenT0ken55@github.com/acme/charts\n",
        "src": "sources:\n- ssh://git@github.com/acme/charts\n- 'https://builder:Src-Pass-77@git.example.com/x'\n",
        "slash": "home: https://deploy:Sl/ash-Pass-31@git.example.com/acme\n",  # an AWS-style secret: / unencoded
    }
    for name, extra in cases.items():
        chart = project / "charts" / name
        chart.mkdir()
        (chart / "Chart.yaml").write_text(f"apiVersion: v2\nname: {name}\nversion: 0.1.0\n{extra}")
    (project / "charts" / "v1req").mkdir()
    (project / "charts" / "v1req" / "Chart.yaml").write_text("apiVersion: v1\nname: v1req\nversion: 0.1.0\n")
    (project / "charts" / "v1req" / "requirements.yaml").write_text(
        "dependencies:\n- {name: x, version: 1.0.0, repository: 'https://u:Req-Pass-99@127.0.0.1:9/c'}\n")
    (project / "charts" / "fine").mkdir()
    (project / "charts" / "fine" / "Chart.yaml").write_text(  # an @ in a path is no userinfo, nor one after a port
        "apiVersion: v2\nname: fine\nversion: 0.1.0\nsources: [ssh://git@github.com/acme/charts, "
        "'https://www.npmjs.com/package/@acme/ui', 'https://git.example.com:8443/acme/@ui']\n")
    result = invoke(project, "repo.publish", check=False)
    text = result.stdout + result.stderr
    assert result.returncode == 1
    for name, shown in [("dep", "http://***@127.0.0.1:9"), ("home", "https://***@github.com/acme/charts"),
                        ("src", "https://***@git.example.com/x"), ("slash", "https://***@git.example.com/acme")]:
        assert f"error: charts/{name}/Chart.yaml: '{shown}' holds credentials, which the package and the " \
               "repository's index would publish to every reader" in text, text
    assert "error: charts/v1req/requirements.yaml: 'https://***@127.0.0.1:9/c' holds credentials" in text
    assert "published 4, failed 5: dep, home, slash, src, v1req" in text
    assert not re.search(r"DepPass-5521|T0kenT0ken55|Src-Pass-77|Req-Pass-99|ash-Pass-31", text)
    leaked = [p for p in project.rglob("*") if p.is_file() and "/charts/" not in str(p)
              and re.search(rb"DepPass-5521|T0kenT0ken55|Src-Pass-77|Req-Pass-99|ash-Pass-31", p.read_bytes())]
    assert leaked == []
    index = (project / "dist" / "repo" / "index.yaml").read_text()
    assert '"fine"' in index and '"hello-world"' in index and '"dep"' not in index


def test_a_chart_that_refuses_the_mask_still_has_what_its_templates_make_of_a_secret_masked(cluster):
    """A schema's minLength refuses `***`: the forms were compared with nothing, and a 422 printed the name made
    from the secret's `lower`. Stand-ins of the secret's shape take the mask's place."""
    deployment_named_from_the_secret(cluster, "0.1.0", "db-{{ .Values.db.password | lower }}")
    chart = cluster.project / "charts" / "sec"
    (chart / "values.schema.json").write_text(json.dumps(
        {"properties": {"db": {"properties": {"password": {"type": "string", "minLength": 8}}}}}))
    (chart / "values.yaml").write_text("db: {password: changeme-long}\n")
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: sec\nversion: 0.2.0\n")
    invoke(cluster.project, "repo.publish", "--chart", "sec", env=cluster.env)
    secret = "Hunter2Hunter2_X"  # its lower makes a name the API server refuses, and quotes
    result = invoke(cluster.project, "release.deploy", "--env", "staging", "--release", "sec", "--no-wait",
                    env={**cluster.env, "DB_PASSWORD": secret}, check=False)
    assert result.returncode == 1 and 'Deployment.apps "db-***" is invalid' in result.stderr, result.stderr
    assert [form for form in (secret, secret.lower()) if form in result.stdout + result.stderr] == []


def test_a_deploy_after_a_failed_one_masks_what_the_last_deployed_revision_made_of_its_secret(cluster):
    """Helm's upgrade after a failed revision replaces the objects of the last deployed one: named from that
    revision's secret (rotated twice since), its --debug log printed them."""
    deployment_named_from_the_secret(cluster, "0.1.0", "web-{{ .Values.db.password | lower }}")
    first, bad, third = "Alpha1Koala-Pw", "Bad_2_Lynx-Pw", "Gamma3Okapi-Pw"
    for value, check in ((first, True), (bad, False)):  # the second fails: an underscore in a name
        invoke(cluster.project, "release.deploy", "--env", "staging", "--release", "sec", "--no-wait",
               env={**cluster.env, "DB_PASSWORD": value}, check=check)
    result = invoke(cluster.project, "--debug", "release.deploy", "--env", "staging", "--release", "sec", "--no-wait",
                    env={**cluster.env, "DB_PASSWORD": third})
    text = result.stdout + result.stderr
    assert "name=web-***" in text
    assert [form for value in (first, bad, third) for form in (value, value.lower()) if form in text] == []


def test_a_release_from_a_chart_folder_masks_what_its_templates_made_of_a_stored_secret(cluster):
    """A folder chart (Drone's previews, the plugin's chart: ./charts/...) has no published version to render a
    stored revision again with: the folder as it is now renders it, for a deploy, a test and an uninstall."""
    deployment_named_from_the_secret(cluster, "0.1.0", "data-{{ .Values.db.password | lower }}")
    config = yaml.safe_load((cluster.project / "invoke.yaml").read_text())
    config["release"]["releases"]["sec"]["chart"] = "./charts/sec"
    (cluster.project / "invoke.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    old, rotated = "Local7Marmot-Pw", "Rotated8Heron-Pw"

    def run(*args, value):
        result = invoke(cluster.project, *args, env={**cluster.env, "DB_PASSWORD": value})
        text = result.stdout + result.stderr
        assert [form for v in (old, rotated) for form in (v, v.lower()) if form in text] == [], args
        return text

    run("release.deploy", "--env", "staging", "--release", "sec", "--no-wait", value=old)
    assert "name=data-***" in run("--debug", "release.deploy", "--env", "staging", "--release", "sec", "--no-wait",
                                  value=rotated)
    assert "name=data-***" in run("--debug", "release.uninstall", "--env", "staging", "--release", "sec", "--yes",
                                  value=old)


def test_a_diff_the_chart_refuses_for_its_values_says_so_not_that_the_masks_were_refused(cluster):
    """A chart failing on a value given with --set (nothing to do with its secrets) was reported as `no diff:
    rendered with its secrets masked, the chart fails`, pointing at the masks."""
    deployment_named_from_the_secret(cluster, "0.1.0", "web")
    (cluster.project / "charts" / "sec" / "templates" / "check.yaml").write_text(
        '{{- if .Values.broken }}{{ fail "broken is set: unset it" }}{{ end }}\n')
    (cluster.project / "charts" / "sec" / "Chart.yaml").write_text("apiVersion: v2\nname: sec\nversion: 0.2.0\n")
    invoke(cluster.project, "repo.publish", "--chart", "sec", env=cluster.env)
    env = {**cluster.env, "DB_PASSWORD": "Hunter2-Diff-Secret"}
    invoke(cluster.project, "release.deploy", "--env", "staging", "--release", "sec", env=env)
    result = invoke(cluster.project, "release.diff", "--env", "staging", "--release", "sec", "-s", "broken=true",
                    env=env, check=False)
    assert result.returncode == 1 and "broken is set: unset it" in result.stderr, result.stderr
    assert "rendered with its secrets masked" not in result.stderr and "Hunter2-Diff-Secret" not in result.stderr


def test_a_jobs_refused_change_quoting_its_whole_pod_template_shows_no_secret_and_says_what_recovers(cluster):
    """An API server refusing a change to a Job's pod template quotes the whole template, as Go prints it
    (%#v, strings as strconv.Quote): every secret the chart put in its environment is in that message."""
    env = {**cluster.env, **shape_env()}
    cluster.folder_release("jobs", {"values.yaml": "secretEnv: {}\nimage: busybox:1\n", "templates/job.yaml": (
        "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: migrate\nspec:\n  template:\n    spec:\n"
        "      restartPolicy: Never\n      containers:\n        - name: m\n          image: {{ .Values.image }}\n"
        "          env:\n          {{- range $k, $v := .Values.secretEnv }}\n            - name: {{ $k }}\n"
        "              value: {{ $v | quote }}\n          {{- end }}\n")})
    deploy = ("release.deploy", "--env", "staging", "--release", "jobs", *set_secrets())
    invoke(cluster.project, *deploy, env=env)
    outputs = [invoke(cluster.project, *debug, *deploy, "--set", "image=busybox:2", env=env, check=False)
               for debug in ((), ("--debug",))]
    for result in outputs:
        assert result.returncode == 1
        assert found(result.stdout + result.stderr, shape_env()) == []
        assert 'spec.template: Invalid value: core.PodTemplateSpec{' in result.stderr
        assert 'core.EnvVar{Name:"PEM", Value:"***"}' in result.stderr  # the API server quoted it: masked
    namespace = cluster.namespaces["staging"]
    assert outputs[0].stderr.strip().endswith(
        f"a Job's pod template cannot change: delete Job migrate (kubectl --namespace {namespace} delete job migrate) "
        "and deploy again, or make it a Helm hook that is replaced on each deploy (annotations helm.sh/hook: "
        "post-install,post-upgrade and helm.sh/hook-delete-policy: before-hook-creation)")


def test_status_never_shows_a_workload_name_made_of_a_secret(cluster):
    """Status names each workload: one named from a secret (`lower` of it) shows masked, as the chart makes it of the
    revision's stored secret; when that chart cannot be fetched, the names are withheld, not guessed."""
    deployment_named_from_the_secret(cluster, "0.1.0", "web-{{ .Values.db.password | lower }}")
    secret = "Hunter2-Tenant-Q7"
    invoke(cluster.project, "release.deploy", "--env", "staging", "--release", "sec",
           env={**cluster.env, "DB_PASSWORD": secret})
    status = ("release.status", "--env", "staging", "--release", "sec")
    shown = [invoke(cluster.project, *status, *output, env=cluster.env) for output in ((), ("--output", "json"))]
    assert not [o for o in shown if secret.lower() in o.stdout + o.stderr or secret in o.stdout + o.stderr]
    assert [w["name"] for w in json.loads(shown[1].stdout)["workloads"]] == ["web-***"]
    (cluster.project / "dist" / "repo" / "sec-0.1.0.tgz").unlink()  # its chart gone from the repository
    gone = invoke(cluster.project, *status, "--output", "json", env=cluster.env)
    assert secret.lower() not in gone.stdout + gone.stderr
    assert [w["name"] for w in json.loads(gone.stdout)["workloads"]] == ["(not shown: may be made of a secret)"]
