"""Signed commands: HMAC-SHA256 over (action, timestamp, nonce), fresh, used once."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from risk.command_auth import (
    AuthFailure,
    CommandRefused,
    CommandVerifier,
    SignedCommand,
    sign,
    signed,
)

KEY = b"k" * 32
NOW = 1_700_000_000_000_000_000
S = 1_000_000_000
ACTION = "kill_switch.reset"


def verifier(**kw: int) -> CommandVerifier:
    return CommandVerifier(
        KEY, max_age_ns=kw.get("max_age_ns", 60 * S), max_skew_ns=kw.get("skew", 5 * S)
    )


def refused(
    v: CommandVerifier, cmd: object, now: int = NOW, action: str = ACTION
) -> AuthFailure | str:
    with pytest.raises(CommandRefused) as exc:
        v.check(cmd, action, now)
    return exc.value.failure


def test_signature_is_hmac_sha256_over_domain_action_timestamp_and_nonce():
    expected = hmac.new(
        KEY, b"rlexec-command-v1\nkill_switch.reset\n123\nnonce-000000000000", hashlib.sha256
    ).hexdigest()
    assert sign(KEY, ACTION, 123, "nonce-000000000000") == expected


def test_a_fresh_correctly_signed_command_passes():
    verifier().verify(signed(KEY, ACTION, NOW, "nonce-000000000001"), ACTION, NOW)


def test_a_key_shorter_than_32_bytes_is_refused():
    with pytest.raises(ValueError, match="32 bytes"):
        CommandVerifier(b"short", max_age_ns=S)


def test_the_verifier_never_shows_its_key():
    assert "kkkk" not in repr(verifier())


def test_a_tampered_field_breaks_the_signature():
    good = signed(KEY, ACTION, NOW, "nonce-000000000002")
    for bad in (
        SignedCommand(ACTION, NOW + 1, good.nonce, good.signature),
        SignedCommand(ACTION, NOW, "nonce-000000000003", good.signature),
    ):
        assert refused(verifier(), bad) is AuthFailure.BAD_SIGNATURE


def test_the_signature_is_checked_before_the_age_so_a_forger_learns_nothing():
    forged = SignedCommand(ACTION, NOW - 3600 * S, "nonce-000000000004", "0" * 64)
    assert refused(verifier(), forged) is AuthFailure.BAD_SIGNATURE


@pytest.mark.parametrize(
    "cmd",
    [
        SignedCommand(ACTION, NOW, "short", "0" * 64),
        SignedCommand(ACTION, NOW, "nonce with spaces!!", "0" * 64),
        SignedCommand(ACTION, NOW, "nonce-000000000005", "XYZ"),
        SignedCommand(ACTION, float(NOW), "nonce-000000000005", "0" * 64),  # type: ignore[arg-type]
        SignedCommand("Kill Switch", NOW, "nonce-000000000005", "0" * 64),
        SignedCommand(ACTION, NOW, "n" * 65, "0" * 64),
        "kill_switch.reset",
        None,
    ],
)
def test_malformed_commands_are_refused_as_malformed(cmd: object):
    assert refused(verifier(), cmd) is AuthFailure.MALFORMED


def test_age_boundary_is_inclusive():
    v = verifier()
    v.check(signed(KEY, ACTION, NOW - 60 * S, "nonce-000000000006"), ACTION, NOW)
    assert (
        refused(v, signed(KEY, ACTION, NOW - 60 * S - 1, "nonce-000000000007"))
        is AuthFailure.EXPIRED
    )


def test_clock_skew_boundary_is_inclusive():
    v = verifier()
    v.check(signed(KEY, ACTION, NOW + 5 * S, "nonce-000000000008"), ACTION, NOW)
    cmd = signed(KEY, ACTION, NOW + 5 * S + 1, "nonce-000000000009")
    assert refused(v, cmd) is AuthFailure.FROM_THE_FUTURE


def test_check_does_not_consume_the_nonce_but_verify_does():
    v = verifier()
    cmd = signed(KEY, ACTION, NOW, "nonce-000000000010")
    v.check(cmd, ACTION, NOW)
    v.check(cmd, ACTION, NOW)
    v.verify(cmd, ACTION, NOW)
    assert refused(v, cmd) is AuthFailure.REPLAYED


def test_nonces_are_forgotten_once_their_commands_could_no_longer_be_fresh():
    v = verifier()
    cmd = signed(KEY, ACTION, NOW, "nonce-000000000011")
    v.verify(cmd, ACTION, NOW)
    assert "nonce-000000000011" in v.remembered(NOW + 65 * S)
    assert v.remembered(NOW + 65 * S + 1) == {}


def test_remembered_nonces_survive_into_a_new_verifier():
    v1 = verifier()
    cmd = signed(KEY, ACTION, NOW, "nonce-000000000012")
    v1.verify(cmd, ACTION, NOW)
    v2 = CommandVerifier(KEY, max_age_ns=60 * S, remembered=v1.remembered(NOW))
    assert refused(v2, cmd, NOW + S) is AuthFailure.REPLAYED


def test_a_command_for_another_action_is_refused():
    cmd = signed(KEY, "symbol.resume", NOW, "nonce-000000000013")
    assert refused(verifier(), cmd) is AuthFailure.WRONG_ACTION
