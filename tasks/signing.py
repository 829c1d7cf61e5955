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
_OTHER = ("sign with another key (gpg --quick-gen-key 'NAME <EMAIL>' rsa3072 sign never) and give verifiers its "
          "public key")


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
    if found.secret_withheld:
        raise ToolError(f"{named} holds no secret for its primary key (exported with --export-secret-subkeys, or "
                        f"kept on a smartcard), and Helm signs with the primary key, never a subkey: nothing was "
                        f"signed or published; export it with gpg --armor --export-secret-keys {fpr}, or {_OTHER}")
    refused = openpgp.refusal(found, now)
    if refused is not None:
        why = ", and Helm signs with the primary key, never a subkey" if refused.kind == openpgp.CANNOT_SIGN else ""
        fix = {openpgp.EXPIRED: f"{extend}, or {_OTHER}",
               openpgp.NOT_YET_VALID: f"check this machine's clock, or {_OTHER}"}.get(refused.kind, _OTHER)
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
    refuses (check_key, then Helm's own verify of a throwaway chart it signed: see _probe), or that Helm's signer
    cannot use (its passphrase wrong or missing, or the key itself) is refused then, in one line, so a dry run says
    what the publish would."""
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
                hint = f"; {_passphrase_fix(passphrase)}" if _unlock_failed(key, str(exc)) else ""
                raise ToolError(f"{archive.name}: cannot be signed with the key in {KEY} ({exc}){hint}") from None

        probe = _probe(Path(tmp))
        try:
            helm.sign(probe, key=identity, keyring=keyring, passphrase_file=secret)
        except ToolError as exc:  # Helm's words, after the command it ran
            reason = str(exc).split(": ", 1)[-1]
            fix = _passphrase_fix(passphrase) if _unlock_failed(key, reason) else _key_fix(key, reason)
            raise ToolError(f"{named} cannot be used by Helm's signer ({reason}), so nothing was built, signed or "
                            f"published; {fix}") from None
        try:  # as a verifier does: Helm's keyring reader takes the secret key, and checks with its public part
            helm.verify(probe, keyring)
        except ToolError as exc:
            reason = str(exc).split(": ", 1)[-1]
            why, fix = _verify_refusal(key, reason)
            raise ToolError(f"{named} makes signatures helm verify refuses ({reason}){why}, so nothing was built, "
                            f"signed or published; {fix}") from None
        yield sign


def _probe(folder: Path) -> Path:
    """A throwaway chart archive in `folder`, for the signer to sign first and Helm to verify: Helm's signer unlocks
    the key with the passphrase each time it signs, and its verifier has rules check_key only partly copies (a
    self-signature dated in the future, or without key flags in its hashed area), so a key either refuses is found
    before any chart is built, at the cost of one more unlock (the key's own S2K count: tens of milliseconds), one
    verify (about a millisecond) and an archive of one small file."""
    archive, chart_yaml = folder / "signing-probe-0.0.0.tgz", b"apiVersion: v2\nname: signing-probe\nversion: 0.0.0\n"
    with gzip.GzipFile(archive, "wb", mtime=0) as gz, tarfile.open(fileobj=gz, mode="w") as tar:
        info = tarfile.TarInfo("signing-probe/Chart.yaml")
        info.size = len(chart_yaml)
        tar.addfile(info, io.BytesIO(chart_yaml))
    return archive


_UNLOCKING = ("private key checksum failure", "message authentication failed")  # go-crypto's PrivateKey.Decrypt


def _unlock_failed(key: bytes, error: str) -> bool:
    """Whether Helm's signer failed to unlock the key with the passphrase: the secret, read with it, does not hold
    (its checksum, or an AEAD-protected one's tag), and the secret is one a passphrase protects (a damaged secret
    in the clear gives the same words)."""
    first = next(openpgp.packets(key), None)
    return any(words in error for words in _UNLOCKING) and first is not None and openpgp.secret_locked(first[1])


def _passphrase_fix(passphrase: str) -> str:
    return f"check {PASSPHRASE}: it must be the key's passphrase" if passphrase else \
        f"set {PASSPHRASE} to the key's passphrase"


def _key_fix(key: bytes, reason: str) -> str:
    """What to do about a key Helm's signer cannot use though the passphrase is not the cause."""
    found = openpgp.primary_key(key)
    fpr = found.hex_fingerprint if found else "KEY-ID"
    if "without any identities" in reason:  # go-crypto drops a user ID whose self-signature's hash it rejects
        expiry = "never" if found is None or found.expires is None else "1y"
        return (f"Helm takes none of its user IDs: their self-signatures use a hash it rejects, such as RIPEMD160; "
                f"renew them (gpg --cert-digest-algo SHA256 --quick-set-expire {fpr} {expiry}), export it again into "
                f"{KEY} (gpg --armor --export-secret-keys {fpr}) and give verifiers its new public key, or {_OTHER}")
    return f"export it again into {KEY} (gpg --armor --export-secret-keys {fpr}), or {_OTHER}"


def _verify_refusal(key: bytes, reason: str) -> tuple[str, str]:
    """Why Helm's verifier refused a signature of a key check_key let through (": WHY", or ""), and what to do. A
    self-signature dated in the future expires nothing: it only waits for its date."""
    found = openpgp.primary_key(key)
    signed = found.primary_user_id if found else None
    if "signature expired" in reason and signed and signed.self_signature.created > time.time():
        dated = openpgp.day(signed.self_signature.created)
        return f": its self-signature is dated {dated}, which has not come yet (made where the clock ran fast)", \
            f"wait until then, or {_OTHER}"
    if "signature expired" in reason:
        return ": its self-signature has expired", _OTHER
    if "unknown entity" in reason:
        return ": its self-signature does not mark it for signing (no key flags in its hashed area)", _OTHER
    return "", _OTHER


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
