"""Signing keys read from real gpg exports in pure Python, and refused as Helm's verifier would refuse them."""

import dataclasses
import time

import pytest

from tasks import openpgp, signing
from tasks.errors import ToolError
from tests.support.gpg import PASSPHRASE, exported, handmade, keys, new_key, refused_keys, usable_keys

DAY = 86400


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """Every kind of key the tests need, by name, each in its own GNUPGHOME; an RSA one that never expires too."""
    folder = tmp_path_factory.mktemp("keys")
    new_key(folder / "rsa", "RSA Signer <rsa@example.com>")
    return {**refused_keys(folder), **usable_keys(folder), "rsa": exported(folder / "rsa")}


def read(key):
    """The primary key as the signer reads it: from HELM_SIGNING_KEY's ASCII-armored secret key."""
    return openpgp.primary_key(signing.dearmor(key.armored, signing.KEY))


@pytest.mark.parametrize("kind", ["rsa", "expired", "revoked", "certify-only", "expires-soon", "expired-subkey"])
def test_the_primary_key_read_from_a_secret_export_is_the_one_gpg_lists_and_the_same_as_in_its_public_export(made,
                                                                                                          kind):
    key = made[kind]
    primary = read(key)
    record = keys(key.keyring.parent)[0]  # gpg's own reading: pub, validity, ..., creation (6), expiry (7)
    assert (primary.hex_fingerprint, primary.created, primary.expires) == (
        key.fingerprint, int(record[5]), int(record[6]) if record[6] else None)
    assert [u.name for u in primary.user_ids] == [key.user_id]
    assert openpgp.primary_key(key.keyring.read_bytes()) == primary  # no secret part: the same key, signatures too


def test_each_refused_key_is_refused_for_what_gpg_itself_says_of_it(made):
    now = time.time()
    assert [keys(made[kind].keyring.parent)[0][1] for kind in ("expired", "revoked")] == ["e", "r"]
    assert openpgp.refusal(read(made["expired"]), now) == openpgp.Refusal(openpgp.EXPIRED, "expired on 2020-01-02")
    revoked = read(made["revoked"])
    assert openpgp.refusal(revoked, now) == openpgp.Refusal(
        openpgp.REVOKED, f"was revoked on {openpgp.day(revoked.revocations[0].created)}")
    assert openpgp.refusal(read(made["certify-only"]), now) == openpgp.Refusal(
        openpgp.CANNOT_SIGN, "cannot sign: its primary key is not marked for signing (its usage: certify)")
    for kind in ("rsa", "expires-soon", "expired-subkey"):
        assert openpgp.refusal(read(made[kind]), now) is None, kind


def test_a_key_expires_at_its_creation_plus_its_newest_self_signatures_lifetime_and_is_not_valid_before_creation(made):
    soon = read(made["expires-soon"])
    assert soon.expires is not None and soon.expires - soon.created == 10 * DAY
    assert openpgp.refusal(soon, soon.expires) is None  # go-crypto: expired once now is past it
    assert openpgp.refusal(soon, soon.expires + 1) == openpgp.Refusal(openpgp.EXPIRED,
                                                                      f"expired on {openpgp.day(soon.expires)}")
    assert openpgp.refusal(soon, soon.created - 1) == openpgp.Refusal(
        openpgp.NOT_YET_VALID, f"was created on {openpgp.day(soon.created)}, which has not come yet")
    extended = read(made["expired-subkey"])  # made in 2020 without expiry, then given one a year from now
    assert extended.created < time.time() - 365 * DAY and extended.expires > time.time() + 360 * DAY


def test_a_revocation_counts_from_its_date_unless_it_says_the_key_was_compromised(made):
    revoked = read(made["revoked"])
    later = dataclasses.replace(revoked.revocations[0], created=revoked.created + DAY)
    assert openpgp.refusal(dataclasses.replace(revoked, revocations=(later,)), revoked.created) is None
    compromised = dataclasses.replace(later, reason=openpgp.COMPROMISED)
    assert openpgp.refusal(dataclasses.replace(revoked, revocations=(compromised,)), revoked.created) == \
        openpgp.Refusal(openpgp.REVOKED, f"was revoked on {openpgp.day(later.created)} (key compromised)")


def test_the_signer_refuses_an_expired_key_in_one_line_naming_it_and_how_to_extend_it(made):
    key = made["expires-soon"]
    primary = read(key)
    with pytest.raises(ToolError) as refused:
        signing.check_key(signing.dearmor(key.armored, signing.KEY), key.user_id, primary.expires + DAY)
    fpr = key.fingerprint
    assert str(refused.value) == (
        f"HELM_SIGNING_KEY: the key {key.user_id!r} (fingerprint {fpr}) expired on {openpgp.day(primary.expires)}: "
        f"helm verify would refuse its signatures, so nothing was signed or published; extend it (gpg "
        f"--quick-set-expire {fpr} 1y), export it again into HELM_SIGNING_KEY (gpg --armor --export-secret-keys {fpr}) "
        f"and give verifiers its new public key (gpg --export {fpr}), or sign with another key (gpg --quick-gen-key "
        "'NAME <EMAIL>' rsa3072 sign never) and give verifiers its public key")
    assert "\n" not in str(refused.value)


@pytest.mark.parametrize("days_left, warned", [(31, ""), (29.5, "in 30 days"), (0.5, "in 1 day")])
def test_the_signer_warns_of_a_key_that_expires_within_30_days_and_signs(made, capsys, days_left, warned):
    key = made["expired-subkey"]  # made in 2020, expires in a year: any day of the year before is valid
    expires = read(key).expires
    signing.check_key(signing.dearmor(key.armored, signing.KEY), key.user_id, expires - days_left * DAY)
    err = capsys.readouterr().err
    if not warned:
        assert err == ""
    else:
        assert err.startswith(f"warning: HELM_SIGNING_KEY: the key {key.user_id!r} (fingerprint {key.fingerprint}) "
                              f"expires on {openpgp.day(expires)}, {warned}: from then on helm verify refuses every "
                              "signature it made (today's too); extend it (gpg --quick-set-expire ")
        assert err.count("\n") == 1


def test_a_key_that_is_not_read_here_is_left_to_helm_and_damaged_signatures_are_one_line(made):
    signing.check_key(b"", "nobody", time.time())  # no key at all: Helm's own error says so
    data = bytearray(signing.dearmor(made["rsa"].armored, signing.KEY))
    at = data.find(next(body for tag, body in openpgp.packets(data) if tag == openpgp.SIGNATURE))  # the user ID's
    data[at + 4:at + 6] = (0xFFFF).to_bytes(2, "big")  # its hashed subpackets said to run past the packet
    with pytest.raises(ToolError, match=r"^HELM_SIGNING_KEY: the key is damaged \(a signature packet is cut short\); "
                                        r"export it again$"):
        signing.check_key(bytes(data), "RSA Signer <rsa@example.com>", time.time())


@pytest.mark.parametrize("area, found", [
    (b"\x05\x02\x5f\x00\x00\x00", [(2, b"\x5f\x00\x00\x00")]),  # a 1-octet length; signature creation time
    (b"\xc0\x00" + b"\x14" + b"n" * 191, [(20, b"n" * 191)]),  # 2 octets: (0xc0 - 192) * 256 + 0x00 + 192 = 192
    (b"\xff\x00\x00\x00\x02" + b"\x9b\x03", [(27, b"\x03")]),  # 5 octets, and the critical bit dropped: key flags
    (b"\x02\x19\x01\x02\x1b\x01", [(25, b"\x01"), (27, b"\x01")]),  # one after the other
])
def test_signature_subpacket_lengths_of_one_two_and_five_octets(area, found):
    assert list(openpgp.subpackets(area)) == found


@pytest.mark.parametrize("area", [b"\x05\x02\x00", b"\xc0", b"\xff\x00\x00", b"\x00"])
def test_a_subpacket_that_runs_past_its_signature_is_an_error(area):
    with pytest.raises(ValueError, match="runs past its signature"):
        list(openpgp.subpackets(area))


def test_a_key_exported_without_its_primary_secret_is_refused_as_helm_cannot_sign_with_it(tmp_path):
    """`gpg --export-secret-subkeys` keeps the primary key offline (a GNU dummy in its place); Helm signs with the
    primary key, so no passphrase helps: the refusal says so, and what to export instead."""
    import subprocess

    from tests.support.gpg import gpg

    home = tmp_path / "offline"
    primary = new_key(home, "Offline Primary <offline@example.com>")
    gpg(home, "--quick-add-key", primary, "ed25519", "sign", "never")
    armored = gpg(home, "--armor", "--export-secret-subkeys").decode()
    whole = gpg(home, "--armor", "--export-secret-keys").decode()
    subprocess.run(["gpgconf", "--homedir", str(home), "--kill", "gpg-agent"], check=True, capture_output=True)
    key = signing.dearmor(armored, signing.KEY)
    with pytest.raises(ToolError) as refused:
        signing.check_key(key, signing.user_id(key, signing.KEY), time.time())
    assert "holds no secret for its primary key (exported with --export-secret-subkeys" in str(refused.value)
    assert "export it with gpg --armor --export-secret-keys" in str(refused.value)
    full = signing.dearmor(whole, signing.KEY)
    assert signing.check_key(full, signing.user_id(full, signing.KEY), time.time())  # the whole key is fine


def test_a_secret_is_locked_when_a_passphrase_protects_it_and_not_when_it_is_in_the_clear(made, tmp_path):
    def secret(key):
        return next(body for _, body in openpgp.packets(signing.dearmor(key.armored, signing.KEY)))

    assert openpgp.secret_locked(secret(made["rsa"])) is True  # gpg's export, PASSPHRASE protecting it
    assert openpgp.secret_locked(secret(handmade(tmp_path, "Clear Signer <clear@example.com>"))) is False


def test_a_damaged_secret_in_the_clear_is_not_blamed_on_the_passphrase(tmp_path):
    """Helm's signer says 'private key checksum failure' of a wrong passphrase, and of a secret in the clear whose
    bytes were changed: only the first is the passphrase's doing."""
    import base64

    key = handmade(tmp_path, "Clear Signer <clear@example.com>")
    data = bytearray(signing.dearmor(key.armored, signing.KEY))
    data[-700] ^= 0xFF  # in the secret's numbers, before the user ID and its signature (about 300 bytes)
    damaged = "\n".join(["-----BEGIN PGP PRIVATE KEY BLOCK-----", "", base64.b64encode(bytes(data)).decode(),
                         "-----END PGP PRIVATE KEY BLOCK-----"])
    for env in ({signing.KEY: damaged}, {signing.KEY: damaged, signing.PASSPHRASE: PASSPHRASE}):
        with pytest.raises(ToolError) as refused, signing.signer(env):
            pass
        fpr = key.fingerprint
        assert str(refused.value) == (
            f"HELM_SIGNING_KEY: the key {key.user_id!r} (fingerprint {fpr}) cannot be used by Helm's signer "
            "(openpgp: invalid data: private key checksum failure), so nothing was built, signed or published; export "
            f"it again into HELM_SIGNING_KEY (gpg --armor --export-secret-keys {fpr}), or sign with another "
            "key (gpg --quick-gen-key 'NAME <EMAIL>' rsa3072 sign never) and give verifiers its public key")


def test_a_chart_the_signer_fails_to_sign_after_its_throwaway_one_is_not_blamed_on_the_passphrase(made, tmp_path,
                                                                                                  monkeypatch):
    key = made["rsa"]
    with signing.signer({signing.KEY: key.armored, signing.PASSPHRASE: PASSPHRASE}) as sign:
        def full(archive, **_):
            raise ToolError(f"helm sign {archive.name} --key <key> --keyring <private keyring>: open "
                            f"{archive}.prov: no space left on device")

        monkeypatch.setattr(signing.helm, "sign", full)
        with pytest.raises(ToolError) as refused:
            sign(tmp_path / "hello-world-0.1.0.tgz")
    assert str(refused.value).endswith(": no space left on device)")
    assert "PASSPHRASE" not in str(refused.value)
