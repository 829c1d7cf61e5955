"""Provenance: packages signed with a PGP key from a secret source, signatures checked with a keyring.

The ASCII-armored secret key comes from HELM_SIGNING_KEY and its passphrase, if it has one, from
HELM_SIGNING_PASSPHRASE: both are secrets from the moment they are read. Helm's signer reads a binary
keyring file and a passphrase file, so both are written into a private temporary folder (mode 0700)
that is removed when signing ends; nothing else ever holds them. Helm signs and verifies: its .prov
files are what `helm pull --verify` and `helm verify` check.
"""

from __future__ import annotations

import base64
import os
import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from . import helm, ui
from .errors import ToolError

KEY, PASSPHRASE = "HELM_SIGNING_KEY", "HELM_SIGNING_PASSPHRASE"
_USER_ID = 13  # OpenPGP packet tag of a User ID


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


def user_id(packets: bytes, where: str) -> str:
    """The key's first User ID: what Helm's signer is told to pick from the keyring."""
    at = 0
    while at < len(packets):
        header = packets[at]
        if header & 0x40:  # new format: tag in the low six bits, then a variable length
            tag, at = header & 0x3F, at + 1
            first = packets[at]
            if first < 192:
                length, at = first, at + 1
            elif first < 224:
                length, at = ((first - 192) << 8) + packets[at + 1] + 192, at + 2
            else:
                length, at = int.from_bytes(packets[at + 1:at + 5], "big"), at + 5
        else:  # old format: tag in bits 2-5, length type in bits 0-1
            tag, size = (header >> 2) & 0x0F, (1, 2, 4)[min(header & 3, 2)]
            length, at = int.from_bytes(packets[at + 1:at + 1 + size], "big"), at + 1 + size
        if tag == _USER_ID:
            return packets[at:at + length].decode("utf-8", "replace")
        at += length
    raise ToolError(f"{where}: the key has no user ID; Helm's signer needs one (gpg --quick-add-uid)")


@contextmanager
def signer(env: Mapping[str, str]) -> Iterator[Callable[[Path], Path]]:
    """sign(archive) -> its .prov beside it, signed by the key in HELM_SIGNING_KEY."""
    armored, passphrase = env.get(KEY, ""), env.get(PASSPHRASE, "")
    if not armored.strip():
        raise ToolError(f"signing is on (--sign or repo.sign) but {KEY} is not set; set it to the ASCII-armored "
                        "secret key (gpg --armor --export-secret-keys KEY-ID), and its passphrase in "
                        f"{PASSPHRASE}")
    ui.add_secret(armored)
    if passphrase:
        ui.add_secret(passphrase)
    packets = dearmor(armored, KEY)
    identity = user_id(packets, KEY)
    with tempfile.TemporaryDirectory(prefix="invoke-sign-") as tmp:
        keyring = Path(tmp) / "secring.gpg"
        keyring.write_bytes(packets)
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

        yield sign


def verify(archive: bytes, provenance: bytes | None, keyring: Path, where: str) -> list[str]:
    """Who signed `archive` (by its .prov), checked by Helm against `keyring`; refused in one line otherwise.
    `where` is the archive's address: its file name is the one the .prov names."""
    if provenance is None:
        raise ToolError(f"{where}: not signed (no {where.rsplit('/', 1)[-1]}.prov beside it); publish it with "
                        "--sign, or turn off the signature requirement")
    if not keyring.is_file():
        raise ToolError(f"{keyring}: keyring not found; export the signers' public keys there (gpg --export KEY-ID)")
    with tempfile.TemporaryDirectory(prefix="invoke-verify-") as tmp:
        path = Path(tmp) / where.rsplit("/", 1)[-1]
        path.write_bytes(archive)
        Path(f"{path}.prov").write_bytes(provenance)
        try:
            return helm.verify(path, keyring)
        except ToolError as exc:
            raise ToolError(f"{where}: signature refused ({str(exc).split(': ', 1)[-1]}); the package or its .prov "
                            "was changed, or it was signed by a key that is not in the keyring") from None
