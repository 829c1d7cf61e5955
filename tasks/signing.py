"""Provenance: packages signed with a PGP key from a secret source, signatures checked with a keyring.

The ASCII-armored secret key comes from HELM_SIGNING_KEY and its passphrase, if it has one, from
HELM_SIGNING_PASSPHRASE: both are secrets from the moment they are read. Helm's signer reads a binary
keyring file and a passphrase file, so both are written into a private temporary folder (mode 0700)
that is removed when signing ends; nothing else ever holds them. Helm signs and verifies: its .prov
files are what `helm pull --verify` and `helm verify` check.
"""

from __future__ import annotations

import base64
import gzip
import io
import math
import os
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from . import helm, openpgp, ui
from .errors import ToolError

KEY, PASSPHRASE = "HELM_SIGNING_KEY", "HELM_SIGNING_PASSPHRASE"
_KEYS = (openpgp.SECRET_KEY, openpgp.PUBLIC_KEY)  # the packets a keyring starts with
WARN_DAYS = 30  # a key that expires this soon is said so at every signing


def dearmor(text: str, where: str) -> bytes:
    """The binary packets of an ASCII-armored PGP private key block (RFC 4880, section 6.2)."""
    lines = [line.strip() for line in text.strip().splitlines()]
    if not lines or lines[0] != "-----BEGIN PGP PRIVATE KEY BLOCK-----" or \
            lines[-1] != "-----END PGP PRIVATE KEY BLOCK-----":
        raise ToolError(f"{where}: not an ASCII-armored PGP private key; export one with "
                        "gpg --armor --export-secret-keys KEY-ID")
    body = lines[1:-1]
    body = body[body.index("") + 1:] if "" in body else body  # armor headers end at the first blank line
    try:
        return base64.b64decode("".join(line for line in body if not line.startswith("=")), validate=True)
    except ValueError:
        raise ToolError(f"{where}: the key's armor is damaged (not base64); export it again") from None


def user_id(key: bytes, where: str) -> str:
    """The key's first User ID: what Helm's signer is told to pick from the keyring."""
    try:
        found = next((body for tag, body in openpgp.packets(key) if tag == openpgp.USER_ID), None)
    except ValueError as exc:
        raise ToolError(f"{where}: the key is damaged ({exc}); export it again") from None
    if found is None:
        raise ToolError(f"{where}: the key has no user ID; Helm's signer needs one (gpg --quick-add-uid)")
    return found.decode("utf-8", "replace")


def check_key(key: bytes, identity: str, now: float) -> str:
    """Refuse, in one line, a key whose signatures every verifier would refuse: Helm's signer signs with a revoked
    or expired key, or one not marked for signing, and the chart versions published with those signatures would be
    stuck, refused by `helm verify` until bumped. A key that expires within WARN_DAYS is a warning: its signatures,
    those made today too, stop verifying when it expires. Returns how a line names the key."""
    named = f"{KEY}: the key {identity!r}"
    try:
        found = openpgp.primary_key(key)
    except ValueError as exc:
        raise ToolError(f"{KEY}: the key is damaged ({exc}); export it again") from None
    if found is None:
        return named  # not a v4 key this reads: Helm alone decides
    fpr = found.hex_fingerprint
    named = f"{named} (fingerprint {fpr})"
    extend = (f"extend it (gpg --quick-set-expire {fpr} 1y), export it again into {KEY} "
              f"(gpg --armor --export-secret-keys {fpr}) and give verifiers its new public key (gpg --export {fpr})")
    other = ("sign with another key (gpg --quick-gen-key 'NAME <EMAIL>' rsa3072 sign never) and give verifiers its "
             "public key")
    if found.secret_withheld:
        raise ToolError(f"{named} holds no secret for its primary key (exported with --export-secret-subkeys, or "
                        f"kept on a smartcard), and Helm signs with the primary key, never a subkey: nothing was "
                        f"signed or published; export it with gpg --armor --export-secret-keys {fpr}, or {other}")
    refused = openpgp.refusal(found, now)
    if refused is not None:
        why = ", and Helm signs with the primary key, never a subkey" if refused.kind == openpgp.CANNOT_SIGN else ""
        fix = {openpgp.EXPIRED: f"{extend}, or {other}",
               openpgp.NOT_YET_VALID: f"check this machine's clock, or {other}"}.get(refused.kind, other)
        raise ToolError(f"{named} {refused.detail}{why}: helm verify would refuse its signatures, so nothing was "
                        f"signed or published; {fix}")
    if found.expires is not None and found.expires < now + WARN_DAYS * 86400:
        days = max(1, math.ceil((found.expires - now) / 86400))
        ui.warn(f"{named} expires on {openpgp.day(found.expires)}, in {days} day{'s' if days > 1 else ''}: "
                f"from then on helm verify refuses every signature it made (today's too); {extend}")
    return named


def check_keyring(path: Path, setting: str) -> None:
    """Helm reads a binary OpenPGP keyring and nothing else: any other file would make every package look
    tampered with, so it is refused once, before any package is checked."""
    export = f"gpg --export KEY-ID > {path.with_name('signers.gpg') if path.exists() else path}"  # never over a file
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ToolError(f"{setting} {path}: keyring not found; export the signers' public keys there ({export})") from None
    except OSError as exc:
        raise ToolError(f"{setting} {path}: cannot be read ({exc.strerror}); check the path") from None
    what = _not_a_keyring(data)
    if what:
        raise ToolError(f"{setting} {path}: {what}, not the binary keyring Helm reads; export one: {export}")


def _not_a_keyring(data: bytes) -> str:
    """What the file holds instead of a binary keyring; "" when it is one."""
    if data.lstrip().startswith(b"-----BEGIN PGP"):
        return "ASCII-armored"
    if data[8:12] == b"KBXf":
        return "a GnuPG keybox (what gpg keeps as pubring.kbx)"
    try:
        tags = [tag for tag, _ in openpgp.packets(data)]
    except ValueError as exc:
        return f"not OpenPGP data ({exc})"
    if not tags:
        return "empty"
    return "" if tags[0] in _KEYS else "not OpenPGP keys"


@contextmanager
def signer(env: Mapping[str, str]) -> Iterator[Callable[[Path], Path]]:
    """sign(archive) -> its .prov beside it, signed by the key in HELM_SIGNING_KEY.

    Entered before anything is built (a dry run too): a key that is not set, is damaged, makes signatures a verifier
    refuses (check_key), or that Helm's signer cannot use (its passphrase wrong or missing: see _probe) is refused
    then, in one line, so a dry run says what the publish would."""
    armored, passphrase = env.get(KEY, ""), env.get(PASSPHRASE, "")
    if not armored.strip():
        raise ToolError(f"signing is on (--sign or repo.sign) but {KEY} is not set; set it to the ASCII-armored "
                        "secret key (gpg --armor --export-secret-keys KEY-ID), and its passphrase in "
                        f"{PASSPHRASE}")
    ui.add_secret(armored)
    if passphrase:
        ui.add_secret(passphrase)
    key = dearmor(armored, KEY)
    identity = user_id(key, KEY)
    named = check_key(key, identity, time.time())
    with tempfile.TemporaryDirectory(prefix="invoke-sign-") as tmp:
        keyring = Path(tmp) / "secring.gpg"
        keyring.write_bytes(key)
        secret = None
        if passphrase:
            secret = Path(tmp) / "passphrase"
            secret.write_text(passphrase + "\n")
        for written in (keyring, secret):
            if written is not None:
                os.chmod(written, 0o600)

        def sign(archive: Path) -> Path:
            try:
                return helm.sign(archive, key=identity, keyring=keyring, passphrase_file=secret)
            except ToolError as exc:
                hint = f"; set {PASSPHRASE}" if not passphrase else f"; check {PASSPHRASE}"
                raise ToolError(f"{archive.name}: cannot be signed with the key in {KEY} ({exc}){hint}") from None

        try:
            helm.sign(_probe(Path(tmp)), key=identity, keyring=keyring, passphrase_file=secret)
        except ToolError as exc:  # Helm's words, after the command it ran
            fix = f"check {PASSPHRASE}: it must be the key's passphrase" if passphrase else \
                f"set {PASSPHRASE} to the key's passphrase"
            raise ToolError(f"{named} cannot be used by Helm's signer ({str(exc).split(': ', 1)[-1]}), so nothing was "
                            f"built, signed or published; {fix}") from None
        yield sign


def _probe(folder: Path) -> Path:
    """A throwaway chart archive in `folder`, for the signer to sign first: Helm's signer unlocks the key with the
    passphrase each time it signs, so one it refuses is found before any chart is built, at the cost of one more
    unlock (the key's own S2K count: tens of milliseconds) and an archive of one small file."""
    archive, chart_yaml = folder / "signing-probe-0.0.0.tgz", b"apiVersion: v2\nname: signing-probe\nversion: 0.0.0\n"
    with gzip.GzipFile(archive, "wb", mtime=0) as gz, tarfile.open(fileobj=gz, mode="w") as tar:
        info = tarfile.TarInfo("signing-probe/Chart.yaml")
        info.size = len(chart_yaml)
        tar.addfile(info, io.BytesIO(chart_yaml))
    return archive


def verify(archive: bytes, provenance: bytes | None, keyring: Path, where: str) -> list[str]:
    """Who signed `archive` (by its .prov), checked by Helm against `keyring`; refused in one line otherwise.
    `where` is the archive's address: its file name is the one the .prov names."""
    if provenance is None:
        raise ToolError(f"{where}: not signed (no {where.rsplit('/', 1)[-1]}.prov beside it); publish it with "
                        "--sign, or turn off the signature requirement")
    with tempfile.TemporaryDirectory(prefix="invoke-verify-") as tmp:
        path = Path(tmp) / where.rsplit("/", 1)[-1]
        path.write_bytes(archive)
        Path(f"{path}.prov").write_bytes(provenance)
        try:
            return helm.verify(path, keyring)
        except ToolError as exc:
            raise ToolError(f"{where}: signature refused ({str(exc).split(': ', 1)[-1]}); the package or its .prov "
                            "was changed, or it was signed by a key that is not in the keyring") from None
