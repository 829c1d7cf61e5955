"""Environments and releases as invoke.yaml gives them: types, known names, each error naming its key."""

from pathlib import Path

import pytest

from tasks import environments
from tasks.errors import ToolError

ROOT = Path("/project")


def environment(**raw):
    return environments.environment_settings(ROOT, "staging", {"namespace": "staging", **raw})


@pytest.mark.parametrize("key, value, message", [
    ("create_namespace", "false", "create_namespace in invoke.yaml is the text 'false', not a boolean; write true or false"),
    ("protected", "no", "protected in invoke.yaml is the text 'no', not a boolean"),
    ("protected", 1, "protected in invoke.yaml is the number 1, not a boolean"),
    ("kube_context", False, "kube_context in invoke.yaml is the boolean false, not text; quote it"),
    ("values", {"a": "b"}, "values in invoke.yaml must be a list of file paths, not a mapping"),
    ("values", "environments/staging.yaml", ("must be a list of file paths, not the text 'environments/staging.yaml'; "
                                            "write it as [PATH]")),
    ("kube_contxt", "staging", ("release.environments.staging.kube_contxt in invoke.yaml is not a setting; "
                               "did you mean kube_context?")),
    ("namespce", "staging", "namespce in invoke.yaml is not a setting; did you mean namespace?"),
])
def test_environment_settings_have_types_and_known_names(key, value, message):
    with pytest.raises(ToolError) as error:
        environment(**{key: value})
    assert message in str(error.value)
    assert str(error.value).startswith("release.environments.staging.")


def test_booleans_are_booleans_and_unset_is_false():
    assert environment(protected=True, create_namespace=False).protected is True
    assert environment().create_namespace is False and environment(protected=None).protected is False


@pytest.mark.parametrize("raw, message", [
    ({"version": 1.10}, "version in invoke.yaml is the number 1.1, not text; quote it"),
    ({"set": ["image.tag=v1"]}, "set in invoke.yaml must be a mapping of a values path (a.b.c) to its value, not a list"),
    ({"set": {"image": {"tag": "v1"}}}, "set.image is a mapping; set takes one value per dotted path"),
    ({"secrets": {"db.password": "not a variable"}}, ("secrets.db.password is the text 'not a variable'; name the "
                                                     "environment variable")),
    ({"chrat": "x"}, "release.releases.app.chrat in invoke.yaml is not a setting; did you mean chart?"),
    ({"depends_on": ["x"]}, ("depends_on in invoke.yaml is not a setting; known: chart, version, values, set, secrets, "
                             "namespace, environments, needs")),
])
def test_release_settings_have_types_and_known_names(raw, message):
    with pytest.raises(ToolError) as error:
        environments.release_settings(ROOT, "app", raw)
    assert message in str(error.value)


def test_set_values_are_written_as_helm_reads_them():
    raw = {"set": {"debug": True, "replicas": 3, "tag": "v1", "x": None}}
    release = environments.release_settings(ROOT, "app", raw)
    assert release.set == ("debug=true", "replicas=3", "tag=v1", "x=null")


def test_release_sections_that_are_not_mappings_are_named():
    with pytest.raises(ToolError, match="release.environments in invoke.yaml must be a mapping of environment name"):
        environments.resolve_release(ROOT, {"environments": ["staging"], "releases": {}}, env_name="staging",
                                     release_name=None)
