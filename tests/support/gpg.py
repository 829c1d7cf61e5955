"""Throwaway OpenPGP keys made by gpg, each in its own private GNUPGHOME: a good one, and the kinds Helm's signer
takes but its verifier refuses (expired, revoked, a primary key that may not sign)."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import NamedTuple

PASSPHRASE = "correct horse battery staple"
PAST = "20200101T000000"  # what --faked-system-time makes an old key with


def gpg(home: Path, *args: str, at: str | None = None) -> bytes:
    """gpg's stdout, with the passphrase given; `at` (YYYYMMDDTHHMMSS) is the time gpg believes it is."""
    faked = ["--faked-system-time", at] if at else []
    return subprocess.run(["gpg", "--homedir", str(home), "--batch", "--pinentry-mode", "loopback", "--passphrase",
                           PASSPHRASE, *faked, *args], check=True, capture_output=True).stdout


def new_key(home: Path, user_id: str, algorithm: str = "rsa2048", usage: str = "sign", expire: str = "never",
            at: str | None = None) -> str:
    """A new primary key in `home` (made a private GNUPGHOME if it is not one yet); its fingerprint."""
    if not home.exists():
        home.mkdir(parents=True, mode=0o700)
        (home / "gpg-agent.conf").write_text("s2k-count 65536\n")  # not seconds of key stretching per key
    status = gpg(home, "--status-fd", "1", "--quick-gen-key", user_id, algorithm, usage, expire, at=at).decode()
    return next(line.split()[3] for line in status.splitlines() if line.startswith("[GNUPG:] KEY_CREATED "))


def keys(home: Path) -> list[list[str]]:
    """gpg's --with-colons records of the home's primary keys and subkeys ("pub", "sub"), split on ':' (gpg's
    field N at index N - 1: 6 creation, 7 expiry)."""
    listing = gpg(home, "--with-colons", "--list-keys").decode()
    return [line.split(":") for line in listing.splitlines() if line.startswith(("pub:", "sub:"))]


def revoke(home: Path, key: str) -> None:
    """Import the revocation certificate gpg wrote when it made the key (its first ':' keeps it from being
    imported by mistake)."""
    certificate = home / "openpgp-revocs.d" / f"{key}.rev"
    armored = certificate.read_text().replace(":-----BEGIN PGP PUBLIC KEY BLOCK-----",
                                              "-----BEGIN PGP PUBLIC KEY BLOCK-----")
    (home / "revocation.asc").write_text(armored)
    gpg(home, "--import", str(home / "revocation.asc"))


class Exported(NamedTuple):
    """A key as a signer and its verifiers get it: HELM_SIGNING_KEY's value and a binary public keyring (in the
    key's GNUPGHOME); its fingerprint and first user ID as gpg lists them."""

    armored: str
    keyring: Path
    fingerprint: str
    user_id: str


def exported(home: Path) -> Exported:
    """The home's key, exported; its gpg-agent stopped (nothing else here needs the secret key)."""
    keyring = home / "pubring.export"
    keyring.write_bytes(gpg(home, "--export"))
    armored = gpg(home, "--armor", "--export-secret-keys").decode()
    subprocess.run(["gpgconf", "--homedir", str(home), "--kill", "gpg-agent"], check=True, capture_output=True)
    records = [line.split(":") for line in gpg(home, "--with-colons", "--list-keys").decode().splitlines()]
    return Exported(armored, keyring, next(r[9] for r in records if r[0] == "fpr"),
                    next(r[9] for r in records if r[0] == "uid"))


def signing_env(key: Exported) -> dict[str, str]:
    return {"HELM_SIGNING_KEY": key.armored, "HELM_SIGNING_PASSPHRASE": PASSPHRASE}


def refused_keys(folder: Path) -> dict[str, Exported]:
    """One exported key per way a verifier refuses what Helm signs with it, by name: expired, revoked, and
    certify-only (its primary key may not sign; a good signing subkey beside it does not help: Helm never signs
    with a subkey)."""
    expired = folder / "expired"
    new_key(expired, "Expired Signer <expired@example.com>", "ed25519", "sign", "1d", at=PAST)
    revoked = folder / "revoked"
    revoke(revoked, new_key(revoked, "Revoked Signer <revoked@example.com>", "ed25519"))
    certify = folder / "certify-only"
    primary = new_key(certify, "Certifying Signer <certify@example.com>", "ed25519", "cert")
    gpg(certify, "--quick-add-key", primary, "ed25519", "sign", "never")
    return {"expired": exported(expired), "revoked": exported(revoked), "certify-only": exported(certify)}


def usable_keys(folder: Path) -> dict[str, Exported]:
    """Exported keys a verifier takes, by name: one that expires in 10 days, and one that expires in a year whose
    signing subkey expired long ago (Helm signs with the primary key)."""
    soon = folder / "expires-soon"
    new_key(soon, "Soon Expiring Signer <soon@example.com>", "ed25519", "sign", "10d")
    subkey = folder / "expired-subkey"
    primary = new_key(subkey, "Subkey Signer <subkey@example.com>", "ed25519", "sign", "never", at=PAST)
    gpg(subkey, "--quick-add-key", primary, "ed25519", "sign", "1d", at=PAST)
    gpg(subkey, "--quick-set-expire", primary, "1y")
    return {"expires-soon": exported(soon), "expired-subkey": exported(subkey)}


def handmade(folder: Path, user_id: str, *, key_flags: str | None = "hashed", lifetime: int | None = None,
             age: int = 3600) -> Exported:
    """A v4 RSA key made here, not by gpg, for self-signatures gpg never makes: key flags (certify, sign) in the
    hashed area, only in the unhashed one (which a verifier ignores) or none (key_flags "hashed", "unhashed", None);
    key and self-signature made `age` seconds ago, the self-signature valid for `lifetime` seconds (None: for ever).
    Its secret is in the clear: no passphrase is needed. Its public keyring is written into `folder`."""
    import base64
    import hashlib
    import time

    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding, rsa

    def mpi(n: int) -> bytes:
        return n.bit_length().to_bytes(2, "big") + n.to_bytes((n.bit_length() + 7) // 8, "big")

    def packet(tag: int, body: bytes) -> bytes:  # new format, a 5-octet length
        return bytes([0xC0 | tag, 0xFF]) + len(body).to_bytes(4, "big") + body

    def subpacket(kind: int, body: bytes) -> bytes:
        return bytes([len(body) + 1, kind]) + body

    signature_tag, secret_key, public_key, user_id_tag = 2, 5, 6, 13  # packet tags (RFC 4880, section 4.3)
    created = int(time.time()) - age
    secret = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    numbers = secret.private_numbers()
    p, q = sorted([numbers.p, numbers.q])
    public = b"\x04" + created.to_bytes(4, "big") + b"\x01" + mpi(numbers.public_numbers.n) + mpi(65537)
    fingerprint = hashlib.sha1(b"\x99" + len(public).to_bytes(2, "big") + public, usedforsecurity=False).digest()
    hashed = subpacket(2, created.to_bytes(4, "big")) + subpacket(33, b"\x04" + fingerprint)
    hashed += subpacket(3, lifetime.to_bytes(4, "big")) if lifetime is not None else b""
    hashed += subpacket(27, b"\x03") if key_flags == "hashed" else b""
    unhashed = subpacket(16, fingerprint[-8:]) + (subpacket(27, b"\x03") if key_flags == "unhashed" else b"")
    uid = user_id.encode()
    signed = b"\x04\x13\x01\x08" + len(hashed).to_bytes(2, "big") + hashed  # v4, positive certification, RSA, SHA256
    data = (b"\x99" + len(public).to_bytes(2, "big") + public + b"\xb4" + len(uid).to_bytes(4, "big") + uid + signed
            + b"\x04\xff" + len(signed).to_bytes(4, "big"))
    signature = int.from_bytes(secret.sign(data, padding.PKCS1v15(), hashes.SHA256()), "big")
    user = packet(user_id_tag, uid) + packet(signature_tag, signed + len(unhashed).to_bytes(2, "big") + unhashed
                                             + hashlib.sha256(data).digest()[:2] + mpi(signature))
    secrets = mpi(numbers.d) + mpi(p) + mpi(q) + mpi(pow(p, -1, q))
    key = packet(secret_key, public + b"\x00" + secrets + (sum(secrets) % 65536).to_bytes(2, "big")) + user
    keyring = folder / f"{fingerprint.hex()}.gpg"
    keyring.write_bytes(packet(public_key, public) + user)
    body = base64.b64encode(key).decode()  # armored without the optional checksum line (RFC 9580, section 6.2)
    lines = [body[at:at + 64] for at in range(0, len(body), 64)]
    armored = "\n".join(["-----BEGIN PGP PRIVATE KEY BLOCK-----", "", *lines, "-----END PGP PRIVATE KEY BLOCK-----"])
    return Exported(armored, keyring, fingerprint.hex().upper(), user_id)
