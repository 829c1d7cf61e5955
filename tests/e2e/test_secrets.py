"""No secret value, nor its base64, reaches stdout or stderr of any task, in success, failure or --debug."""

import base64

from tests.conftest import invoke

SECRET = "s3cr3t-Value-9f3a"
TOKEN = "kube-token-4d2c-staging"
FORBIDDEN = [SECRET, base64.b64encode(SECRET.encode()).decode(), TOKEN, base64.b64encode(TOKEN.encode()).decode()]


def test_every_release_task_keeps_secret_values_out_of_all_output(cluster):
    env = {"KUBECONFIG": "/nonexistent", "STAGING_API_SERVER": cluster.emulator.url,
           "STAGING_KUBERNETES_TOKEN": TOKEN, "API_KEY": SECRET, "OTHER_KEY": SECRET + "-2"}
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
    assert codes == [0, 0, 0, 0, 0, 0, 1]  # the last: a missing bucket, a failure path with --debug
