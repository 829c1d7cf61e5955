"""What Helm only logs of a failure joins its error (tasks.helm._logged_cause), when the records are the call's own."""

import logging

import helm_python
import pytest

from tasks import helm
from tasks.errors import ToolError

RECORDS = logging.getLogger("tasks.helm.native")  # where helm_python's bridge gives Helm's records


def failing(message: str, *records: str) -> str:
    with pytest.raises(ToolError) as raised, helm._helm("uninstall sec"):
        for text in records:
            RECORDS.debug(text)
        raise helm_python.HelmError(message)
    return str(raised.value)


def test_an_error_helm_only_logged_joins_its_generic_one():
    assert failing("failed to delete release: sec", "starting delete resource name=web kind=Deployment",
                   'uninstall: Failed to delete release error=[deployments.apps "web" is forbidden: no]') == (
        'helm uninstall sec: failed to delete release: sec: deployments.apps "web" is forbidden: no')


def test_only_the_last_logged_error_counts_and_only_when_the_message_lacks_it():
    assert failing("upgrade failed: boom", "retrying error=first", "applying error=boom") == \
        "helm uninstall sec: upgrade failed: boom"
    assert failing("upgrade failed", "retrying error=first", "applying error=second") == \
        "helm uninstall sec: upgrade failed: second"
    assert failing("upgrade failed: boom", "applying error=boom") == "helm uninstall sec: upgrade failed: boom"
    assert failing("nothing logged") == "helm uninstall sec: nothing logged"


def test_records_heard_while_another_call_ran_are_not_attributed():
    with helm._helm("history other"):
        message = failing("failed to delete release: sec", "uninstall: Failed to delete release error=[theirs]")
    assert message == "helm uninstall sec: failed to delete release: sec"
    assert helm._listening == []


def test_helms_warnings_are_shown_once_each_but_not_one_that_repeats_the_failure(capsys):
    with helm._helm("upgrade sec"):
        RECORDS.warning("failed to update release name=sec revision=3 error=etcd unavailable")
        RECORDS.info("Saving 1 charts")  # Helm's CLI prints it; here it is a debug line
    shown = "warning: helm: failed to update release name=sec revision=3 error=etcd unavailable\n"
    assert capsys.readouterr().err == shown
    for text in ('Rollback "sec" failed: field is immutable', "upgrade failed name=sec error=field is immutable"):
        with pytest.raises(ToolError), helm._helm("rollback sec 1"):
            RECORDS.warning(text)
            raise helm_python.HelmError("field is immutable")
    with pytest.raises(KeyboardInterrupt), helm._helm("upgrade sec"):  # Ctrl-C: Helm's context cancelled
        RECORDS.warning("upgrade failed name=sec error=context canceled")
        raise KeyboardInterrupt
    assert capsys.readouterr().err == ""


def test_calls_that_overlap_show_their_warnings_when_the_last_ends_less_those_repeating_how_one_failed(capsys):
    """Releases deployed in parallel: each call hears every record. The one that ended first showed them all, with
    a warning that only repeated how the other one failed (`upgrade failed name=b error=...`)."""
    with helm._helm("upgrade a"):
        with pytest.raises(ToolError), helm._helm("upgrade b"):
            RECORDS.warning("upgrade failed name=b error=replicas: Invalid value")
            RECORDS.warning("resource exists on cluster name=a-web")
            raise helm_python.HelmError("replicas: Invalid value")
        assert capsys.readouterr().err == ""  # a is still running: nothing shown yet
    assert capsys.readouterr().err == "warning: helm: resource exists on cluster name=a-web\n"
    assert helm._listening == [] and helm._pending == [] and helm._failures == []
