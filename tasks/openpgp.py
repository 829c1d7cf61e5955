"""OpenPGP keys read in pure Python (RFC 4880, and RFC 9580's v4 keys): packets, and whether a verifier takes
signatures made by a key's primary key, decided as Helm's OpenPGP library (ProtonMail go-crypto) decides it.

Helm's signer (pkg/provenance/sign.go, ClearSign) always signs with the primary key, never a subkey, and checks
nothing about it. Its verifier takes a signature only from a key whose self-signature allows signing (key flags),
and refuses it when the key is revoked or, at the time it verifies, expired: so the primary key's revocations, its
primary user ID's newest self-signature (expiry, flags) and its creation time are all that matter here.
Signatures are read, not verified: the key is the signer's own export.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from dataclasses import dataclass

SIGNATURE, SECRET_KEY, PUBLIC_KEY, USER_ID = 2, 5, 6, 13  # packet tags (RFC 4880, section 4.3)
_NOT_THE_KEYS = (7, 14, 17)  # a secret or public subkey, a user attribute: the signatures after them are theirs
KEY_REVOCATION, CERTIFICATION_REVOCATION = 0x20, 0x30  # signature types (section 5.2.1)
_CERTIFICATIONS = range(0x10, 0x14)  # generic, persona, casual, positive: a user ID's self-signature
_CREATED, _KEY_EXPIRES, _ISSUER, _PRIMARY_USER_ID, _FLAGS, _REASON, _ISSUER_FINGERPRINT = 2, 9, 16, 25, 27, 29, 33
_USAGE = {0x01: "certify", 0x02: "sign", 0x04: "encrypt", 0x08: "encrypt", 0x20: "authenticate"}
CAN_SIGN, COMPROMISED = 0x02, 2  # a key flag; a reason for revocation
_REASONS = {1: "superseded", 2: "key compromised", 3: "retired"}
_FIXED_SIZE = {25: 32, 26: 56, 27: 32, 28: 57}  # X25519, X448, Ed25519, Ed448: public key octets
_MPIS = {1: 2, 2: 2, 3: 2, 16: 3, 17: 4, 18: 1, 19: 1, 22: 1}  # RSA, Elgamal, DSA, ECDH, ECDSA, EdDSA
_CURVES = (18, 19, 22)  # algorithms whose public key starts with a curve OID


def packets(data: bytes) -> Iterator[tuple[int, bytes]]:
    """(tag, body) of each OpenPGP packet (RFC 4880, section 4.2); ValueError where the data is not packets."""
    at = 0
    while at < len(data):
        header = data[at]
        if not header & 0x80:
            raise ValueError(f"byte {at} is not a packet header")
        try:
            if header & 0x40:  # new format: tag in the low six bits, then a variable length
                tag, (length, at) = header & 0x3F, _length(data, at + 1, two_octets_below=224)
            else:  # old format: tag in bits 2-5, length type in bits 0-1
                tag, size = (header >> 2) & 0x0F, (1, 2, 4)[min(header & 3, 2)]
                length, at = int.from_bytes(data[at + 1:at + 1 + size], "big"), at + 1 + size
        except IndexError:
            raise ValueError("a packet header runs past the end") from None
        if at + length > len(data):
            raise ValueError("a packet runs past the end")
        yield tag, data[at:at + length]
        at += length


def _length(data: bytes, at: int, two_octets_below: int) -> tuple[int, int]:
    """The new-format length at `at`, and where what it measures starts: 1, 2 or 5 octets (sections 4.2.2 and
    5.2.3.1; a packet's partial lengths, 224 to 254, which no key uses, are read as 5). IndexError past the end."""
    first = data[at]
    if first < 192:
        return first, at + 1
    if first < two_octets_below:
        return ((first - 192) << 8) + data[at + 1] + 192, at + 2
    if at + 5 > len(data):
        raise IndexError(at)
    return int.from_bytes(data[at + 1:at + 5], "big"), at + 5


def subpackets(area: bytes) -> Iterator[tuple[int, bytes]]:
    """(type, body) of each signature subpacket (section 5.2.3.1: a 1, 2 or 5-octet length, then the type, whose
    top bit only marks it critical)."""
    at = 0
    while at < len(area):
        try:
            length, at = _length(area, at, two_octets_below=255)
        except IndexError:
            raise ValueError("a signature subpacket's length runs past its signature") from None
        if length < 1 or at + length > len(area):
            raise ValueError("a signature subpacket runs past its signature")
        yield area[at] & 0x7F, area[at + 1:at + length]
        at += length


@dataclass(frozen=True)
class Signature:
    """What a v4 signature says about the key it is on; times in seconds since the epoch."""

    kind: int  # the signature type
    created: int
    issuer: bytes  # the issuer's fingerprint (20 octets) or key ID (8); b"" when it names none
    lifetime: int  # the key's validity, in seconds after its creation (key expiration time); 0: it never expires
    flags: int | None  # key flags; None when the signature gives none
    primary: bool  # marks its user ID as the primary one
    reason: int | None  # reason for revocation


def signature(body: bytes) -> Signature | None:
    """A signature packet read (section 5.2.3: version, type, algorithms, hashed then unhashed subpackets); None
    for a version other than 4. What it says of the key is taken from its hashed area only, the issuer from both."""
    if not body or body[0] != 4:
        return None
    end = 6 + int.from_bytes(body[4:6], "big")
    if len(body) < end + 2:
        raise ValueError("a signature packet is cut short")
    hashed = dict(subpackets(body[6:end]))
    unhashed = dict(subpackets(body[end + 2:end + 2 + int.from_bytes(body[end:end + 2], "big")]))
    fingerprint = hashed.get(_ISSUER_FINGERPRINT, unhashed.get(_ISSUER_FINGERPRINT, b""))[1:]
    return Signature(
        kind=body[1], created=int.from_bytes(hashed.get(_CREATED, b""), "big"),
        issuer=fingerprint or hashed.get(_ISSUER, unhashed.get(_ISSUER, b"")),
        lifetime=int.from_bytes(hashed.get(_KEY_EXPIRES, b""), "big"),
        flags=hashed[_FLAGS][0] if hashed.get(_FLAGS) else None,
        primary=any(hashed.get(_PRIMARY_USER_ID, b"")),
        reason=hashed[_REASON][0] if hashed.get(_REASON) else None,
    )


def fingerprint(body: bytes) -> bytes | None:
    """A v4 key packet's fingerprint (section 12.2: SHA-1 of its public part); None for another version or an
    algorithm not read here. A secret key packet's public part is its beginning."""
    at = _public_length(body)
    return None if at is None else \
        hashlib.sha1(b"\x99" + at.to_bytes(2, "big") + body[:at], usedforsecurity=False).digest()


def secret_withheld(body: bytes) -> bool:
    """Whether a v4 secret key packet holds no secret: GnuPG's S2K extension 101 "GNU", mode 1 (exported with
    --export-secret-subkeys: the primary key kept offline) or 2 (on a smartcard). Its usage octet (254 or 255),
    the cipher, then the specifier: type 101, a hash, "GNU" and the mode."""
    at = _public_length(body)
    return at is not None and body[at:at + 1] in (b"\xfe", b"\xff") and body[at + 2:at + 3] == b"\x65" \
        and body[at + 4:at + 7] == b"GNU" and body[at + 7:at + 8] in (b"\x01", b"\x02")


def secret_locked(body: bytes) -> bool:
    """Whether a secret key packet's secret takes a passphrase to read: its S2K usage octet, after the public part
    (section 5.5.3), is not 0. True when that cannot be told (another version, an algorithm not read here)."""
    at = _public_length(body)
    return at is None or body[at:at + 1] != b"\x00"


def _public_length(body: bytes) -> int | None:
    """How long a v4 key packet's public part is; None for another version or an algorithm not read here."""
    if len(body) < 6 or body[0] != 4:
        return None
    algorithm, at = body[5], 6
    if algorithm in _FIXED_SIZE:
        at += _FIXED_SIZE[algorithm]
    elif algorithm in _MPIS:
        try:
            at += 1 + body[at] if algorithm in _CURVES else 0
            for _ in range(_MPIS[algorithm]):  # each: a 2-octet bit count, then the number
                at += 2 + (int.from_bytes(body[at:at + 2], "big") + 7) // 8
            at += 1 + body[at] if algorithm == 18 else 0  # ECDH's KDF parameters
        except IndexError:
            raise ValueError("a key packet is cut short") from None
    else:
        return None
    if at > len(body):
        raise ValueError("a key packet is cut short")
    return at


@dataclass(frozen=True)
class UserId:
    name: str
    self_signature: Signature  # the newest
    revocations: tuple[Signature, ...]


@dataclass(frozen=True)
class PrimaryKey:
    fingerprint: bytes
    created: int
    revocations: tuple[Signature, ...]  # its own key revocation signatures
    user_ids: tuple[UserId, ...]  # those it signed itself
    secret_withheld: bool = False  # a secret key whose secret is not there (secret_withheld)

    @property
    def primary_user_id(self) -> UserId | None:
        """The user ID whose self-signature speaks for the key, as go-crypto picks it: the fewest revocations,
        then one marked primary, then the newest self-signature."""
        return max(self.user_ids, default=None,
                   key=lambda u: (-len(u.revocations), u.self_signature.primary, u.self_signature.created))

    @property
    def expires(self) -> int | None:
        """When the key expires (by its primary user ID's newest self-signature); None: never."""
        found = self.primary_user_id
        return self.created + found.self_signature.lifetime if found and found.self_signature.lifetime else None

    @property
    def hex_fingerprint(self) -> str:
        """As gpg prints it (40 hex digits), which every gpg command takes as the key's name."""
        return self.fingerprint.hex().upper()


def primary_key(data: bytes) -> PrimaryKey | None:
    """The first key of a keyring (secret or public) with its own signatures over itself and its user IDs; not its
    subkeys, nor others' certifications. None when it is not a v4 key of an algorithm read here."""
    found = list(packets(data))
    if not found or found[0][0] not in (SECRET_KEY, PUBLIC_KEY):
        return None
    key = fingerprint(found[0][1])
    if key is None:
        return None
    revocations: list[Signature] = []
    user_ids: list[tuple[str, list[Signature], list[Signature]]] = []
    owner: str | None = "key"
    for tag, body in found[1:]:
        if tag in (SECRET_KEY, PUBLIC_KEY):
            break  # the next key of the keyring
        if tag == USER_ID:
            owner = "user id"
            user_ids.append((body.decode("utf-8", "replace"), [], []))
        elif tag in _NOT_THE_KEYS:
            owner = None
        elif tag == SIGNATURE and owner:
            sig = signature(body)
            if sig is None or sig.issuer not in (key, key[-8:]):
                continue
            if owner == "key" and sig.kind == KEY_REVOCATION:
                revocations.append(sig)
            elif owner == "user id" and sig.kind in _CERTIFICATIONS:
                user_ids[-1][1].append(sig)
            elif owner == "user id" and sig.kind == CERTIFICATION_REVOCATION:
                user_ids[-1][2].append(sig)
    return PrimaryKey(key, int.from_bytes(found[0][1][1:5], "big"), tuple(revocations), tuple(
        UserId(name, max(signed, key=lambda s: s.created), tuple(revoked)) for name, signed, revoked in user_ids
        if signed), found[0][0] == SECRET_KEY and secret_withheld(found[0][1]))


REVOKED, CANNOT_SIGN, NOT_YET_VALID, EXPIRED = "revoked", "cannot sign", "not yet valid", "expired"


@dataclass(frozen=True)
class Refusal:
    """Why a verifier refuses every signature the key makes now."""

    kind: str  # REVOKED, CANNOT_SIGN, NOT_YET_VALID or EXPIRED
    detail: str  # "expired on 2020-01-02", ...


def refusal(key: PrimaryKey, now: float) -> Refusal | None:
    """What makes a verifier refuse, at time `now`, the signatures of the key's primary key; None: nothing.
    A revocation counts from its date on, or always when it says the key was compromised."""
    for sig in key.revocations:
        if sig.reason == COMPROMISED or sig.created <= now:
            reason = f" ({_REASONS[sig.reason]})" if sig.reason in _REASONS else ""
            return Refusal(REVOKED, f"was revoked on {day(sig.created)}{reason}")
    user_id = key.primary_user_id
    flags = user_id.self_signature.flags if user_id else None
    if flags is not None and not flags & CAN_SIGN:
        usage = ", ".join(dict.fromkeys(name for bit, name in _USAGE.items() if flags & bit)) or "none"
        return Refusal(CANNOT_SIGN, f"cannot sign: its primary key is not marked for signing (its usage: {usage})")
    if key.created > now:
        return Refusal(NOT_YET_VALID, f"was created on {day(key.created)}, which has not come yet")
    if key.expires is not None and key.expires < now:
        return Refusal(EXPIRED, f"expired on {day(key.expires)}")
    return None


def day(moment: float) -> str:
    """A time as its UTC date: 2020-01-02."""
    return time.strftime("%Y-%m-%d", time.gmtime(moment))

