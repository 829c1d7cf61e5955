"""What `release.deploy --dry-run` checks, as its help says: everything before the API server, nothing the API server does."""

from tests.conftest import invoke


def test_a_dry_run_passes_what_only_the_api_server_refuses_and_its_help_says_so(cluster):
    shown = " ".join(invoke(cluster.project, "--help", "release.deploy").stdout.split())
    assert "validate against the cluster" not in shown
    assert ("The API server never sees the objects: what only it refuses (a field of the wrong type, an invalid object "
            "name) fails the real deploy") in shown
    wrong_type = ("release.deploy", "--env", "staging", "--set", "replicaCount=Zebra")
    assert invoke(cluster.project, *wrong_type, "--dry-run", env=cluster.env).returncode == 0
    assert cluster.release_secrets() == []
    deployed = invoke(cluster.project, *wrong_type, env=cluster.env, check=False)
    assert deployed.returncode == 1 and ".spec.replicas: expected numeric (int or float), got string" in deployed.stderr
