"""Redaction: registered values and their base64 never leave, in text, tables, JSON or log records."""

import base64
import json
import logging

from tasks import ui


def test_a_secret_and_its_base64_are_masked_everywhere(capsys):
    ui.add_secret("p4ssw0rd-value")
    ui.table("t", ["k", "v"], [("password", "p4ssw0rd-value")])
    ui.emit_json({"encoded": base64.b64encode(b"p4ssw0rd-value").decode()})
    ui.say("plain p4ssw0rd-value")
    out = capsys.readouterr().out
    assert "p4ssw0rd" not in out and base64.b64encode(b"p4ssw0rd-value").decode() not in out
    assert out.count("***") == 3
    assert json.loads(out[out.index("{"):out.index("}") + 1]) == {"encoded": "***"}


def test_credential_variables_are_secrets_but_short_flags_are_not(caplog):
    ui.guard({"STAGING_KUBERNETES_TOKEN": "eyJhbGciOiJSUzI1NiJ9.token", "USE_TOKEN": "yes",
              "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG", "DRONE_BRANCH": "main-branch-name"})
    assert ui.redact("eyJhbGciOiJSUzI1NiJ9.token wJalrXUtnFEMI/K7MDENG yes main-branch-name") == \
        "*** *** yes main-branch-name"


def test_log_records_are_redacted_by_the_handlers_filter():
    records = []

    class Keep(logging.Handler):
        def emit(self, record):
            records.append(self.format(record))

    handler = Keep()
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        ui.add_secret("log-secret-123")
        ui.guard({})
        logging.getLogger("tasks.test").warning("value %s", "log-secret-123")
    finally:
        root.removeHandler(handler)
    assert records == ["value ***"]
