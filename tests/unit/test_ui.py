"""Redaction: registered values never leave, in any encoding, in text, tables, JSON or log records."""

import base64
import json
import logging
import os
from urllib.parse import quote, quote_plus

import pytest
import yaml

from tasks import ui
from tests.support.leaks import SHAPES, found, schema_quoted


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


# --- every shape a secret takes once YAML, JSON, base64 or a URL has encoded it ---------------------

def printed(value):
    """`value` as this tool's outputs print it: YAML dumps (narrow ones fold), JSON, base64, URLs, line by line."""
    document = {"deep": {"key": value}, "list": [value]}
    lines = [line for line in value.splitlines() if len(line.strip()) >= 8]
    return "\n".join([
        yaml.safe_dump(document), yaml.safe_dump(document, width=30), yaml.safe_dump(document, allow_unicode=True),
        json.dumps(document), json.dumps(document, ensure_ascii=False), json.dumps(document, indent=2),
        base64.b64encode(value.encode()).decode(), quote(value, safe=""), quote_plus(value),
        *lines, *(base64.b64encode(line.encode()).decode() for line in lines),
        f"error: {value!r} is not valid",
        f"at '/key': '{schema_quoted(value)}' does not match pattern",  # Helm's values.schema.json errors
    ])


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_every_encoding_of_every_secret_shape_is_masked(shape):
    ui.add_secret(SHAPES[shape])
    text = printed(SHAPES[shape])
    assert found(text, {shape: SHAPES[shape]})  # the scan sees the value in every one of these
    assert found(ui.redact(text), {shape: SHAPES[shape]}) == []


def test_a_pems_body_lines_are_masked_alone_but_not_its_armour_or_short_lines():
    ui.add_secret("-----BEGIN RSA PRIVATE KEY-----\nMIIBOgIBAAJBAKj34GkxFhD90vcN\nLQ==\n-----END RSA PRIVATE KEY-----\n")
    assert ui.redact("line MIIBOgIBAAJBAKj34GkxFhD90vcN alone") == "line *** alone"
    assert ui.redact("-----BEGIN RSA PRIVATE KEY-----\n-----\nLQ==\n") == "-----BEGIN RSA PRIVATE KEY-----\n-----\nLQ==\n"


def test_short_values_are_not_masked_so_they_cannot_garble_output():
    ui.add_secret("ab")
    ui.add_secret("\n\n")
    assert ui.redact("a table\n\nwith ab in it") == "a table\n\nwith ab in it"


def test_the_userinfo_of_any_url_is_masked_registered_or_not():
    text = "GET https://reader:pw%40x@charts.example.com/index.yaml failed; s3://AKIA:SECRET/x@bucket; http://host/a"
    assert ui.redact(text) == "GET https://***@charts.example.com/index.yaml failed; s3://***@bucket; http://host/a"


def test_json_and_tables_are_masked_in_the_data_before_escaping_or_wrapping(capsys):
    ui.add_secret("grüße-aus-dem-süden-7")
    ui.emit_json({"notes": "password: grüße-aus-dem-süden-7", "grüße-aus-dem-süden-7": 1})
    ui.table("t", ["k"], [("x grüße-aus-dem-süden-7",)])
    out = capsys.readouterr().out
    assert json.loads(out[:out.index("}") + 1]) == {"notes": "password: ***", "***": 1}
    assert "x ***" in out and "gr" not in out.replace("***", "")


def test_credential_names_include_drones_netrc_and_common_suffixes():
    assert all(map(ui.is_credential, ["DRONE_NETRC_PASSWORD", "DRONE_NETRC_USERNAME", "DRONE_NETRC_MACHINE",
                                      "CI_JOB_TOKEN", "PLUGIN_SECRET_KEY", "DB_PASS", "GCP_CREDENTIALS", "PASSWORD"]))
    assert not any(map(ui.is_credential, ["DRONE_BRANCH", "DRONE_COMMIT_SHA", "CI_BUILD", "MONKEY", "DRONE_TAG"]))


def test_a_log_records_traceback_is_redacted_too():
    records = []

    class Keep(logging.Handler):
        def emit(self, record):
            records.append(self.format(record))

    handler = Keep()
    logging.getLogger().addHandler(handler)
    try:
        ui.add_secret("trace-secret-456")
        ui.guard({})
        try:
            raise ValueError("bad value trace-secret-456")
        except ValueError:
            logging.getLogger("tasks.test").exception("failed")
    finally:
        logging.getLogger().removeHandler(handler)
    assert "trace-secret-456" not in records[0] and "ValueError: bad value ***" in records[0]


GO_QUOTE = """package main

import ("bufio"; "encoding/json"; "fmt"; "os"; "strconv")

func main() {
	var values []string
	json.NewDecoder(bufio.NewReader(os.Stdin)).Decode(&values)
	for _, v := range values { fmt.Println(strconv.Quote(v)) }
}
"""


def test_a_secret_as_an_api_server_quotes_it_with_gos_q_is_masked(tmp_path):
    """Kubernetes' `Invalid value: "..."` is Go's %q: printable characters raw (ä too), others escaped (a
    no-break space \\u00a0, a tab \\t, DEL \\x7f), where JSON writes them otherwise. Quoted here by Go itself."""
    import shutil
    import subprocess

    go = shutil.which("go")
    assert go, "Go is needed: apt-get install golang-go (.ci/run does)"
    (tmp_path / "quote.go").write_text(GO_QUOTE)
    values = ["Pässwort\u00a0Lbl9", "Tab\tDel\x7fpass9", 'quote"back\\slash-9', "emoji\U0001F600-sec\u2028ret"]
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "GOCACHE": str(tmp_path / "cache"), "GOPROXY": "off",
           "GO111MODULE": "off", "CGO_ENABLED": "0"}
    quoted = subprocess.run([go, "run", str(tmp_path / "quote.go")], input=json.dumps(values), env=env,
                            capture_output=True, text=True, timeout=300, check=True).stdout.splitlines()
    assert len(quoted) == len(values) and quoted[0] == '"Pässwort\\u00a0Lbl9"'
    for value, shown in zip(values, quoted):
        ui.add_secret(value)
        assert ui.redact(f"metadata.labels: Invalid value: {shown}: a valid label") == \
            'metadata.labels: Invalid value: "***": a valid label', shown


def test_a_secret_that_is_not_utf8_is_masked_as_its_bytes_are_written():
    value = "caf\udce9-latin1-pass"  # os.environ's text for the bytes b"caf\xe9-latin1-pass"
    ui.add_secret(value)
    raw = value.encode(errors="surrogateescape")
    for text in (value, raw.decode(errors="replace"), "caf\\xe9-latin1-pass", base64.b64encode(raw).decode(),
                 quote(raw, safe="")):
        assert ui.redact(f"x {text} y") == "x *** y", text


def test_printable_shows_control_characters_as_escapes_after_masking_secrets():
    ui.add_secret("pa\x1bss-Word-77")  # a secret holding one is masked whole, not escaped into a form left unmasked
    assert ui.printable("a\x1b[2Jb\rc\x07d\u202ee\tf\ng pa\x1bss-Word-77") == "a\\x1b[2Jb\\x0dc\\x07d\\u202ee\tf\ng ***"
    assert ui.printable("one\ntwo", lines=False) == "one\\x0atwo"  # a table cell is one line
    assert ui.printable(os.fsdecode(b"caf\xe9")) == "caf\\xe9"  # a name not in UTF-8: its byte, not \udce9


def test_plain_tables_align_wide_characters_by_the_columns_a_terminal_gives_them(capsys, monkeypatch):
    monkeypatch.setenv("CI", "true")
    ui.table("charts", ["name", "app", "next"], [["a", "版本一 🚀", "x"], ["b", "1.0", "y"], ["c", "e\u0301", "z"]])
    lines = capsys.readouterr().out.splitlines()
    assert lines[1:] == ["name  app        next", "a     版本一 🚀  x", "b     1.0        y", "c     e\u0301          z"]


def test_a_warning_is_said_once_a_run(capsys):
    """An environment's releases each read the same --set: its warning was printed once per release."""
    for _ in range(3):
        ui.warn("--set image.tag: a whole number of 7 digits or more")
    ui.warn("another")
    assert capsys.readouterr().err.splitlines() == ["warning: --set image.tag: a whole number of 7 digits or more",
                                                    "warning: another"]
