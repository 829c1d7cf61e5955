"""The size a release is refused at is Helm's own: the estimate against the Secret Helm really stores."""

import base64
import os

import pytest
import yaml

from tasks import deploy, environments
from tasks.chart_source import Repository
from tasks.store import open_store
from tasks.values import Overrides


@pytest.mark.parametrize("blob", [
    "",  # the chart alone
    "text that compresses well; " * 20_000,
    os.urandom(200_000).hex(),  # random hex, as a generated key would be
    base64.b64encode(os.urandom(400_000)).decode(),  # a binary file, base64-encoded into the values
])
def test_the_estimate_is_within_its_margin_of_the_secret_helm_stores(cluster, tmp_path, blob):
    values = tmp_path / "big.yaml"
    values.write_text(yaml.safe_dump({"blob": blob}))
    env = {**os.environ, **cluster.emulator.ci_env("STAGING", "token-for-the-size-test")}  # Helm runs in this process
    config = yaml.safe_load((cluster.project / "invoke.yaml").read_text())["release"]
    environment, release = environments.resolve_release(cluster.project, config, env_name="staging", release_name=None)
    plan = deploy.prepare(cluster.project, environment, release, repository=Repository(open_store(
        f"file://{cluster.project}/dist/repo")), version=None, overrides=Overrides(values=(str(values),)), env=env,
        work_dir=tmp_path, typed_set={})
    result = deploy.run(plan, wait=False, timeout=30, dry_run=False, history_max=10)
    stored = cluster.emulator.store[("v1", "secrets", cluster.namespaces["staging"],
                                     f"sh.helm.release.v1.hello-world.v{result['revision']}")]
    real = len(base64.b64decode(stored["data"]["release"]))
    assert abs(plan.stored - real) <= real * deploy.ESTIMATE_ERROR, (plan.stored, real)
    if blob:
        assert plan.largest[0] == ("values blob", len(blob) + 2)
