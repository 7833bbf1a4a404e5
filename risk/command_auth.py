"""Authenticated commands: HMAC-SHA256 over (action, timestamp, nonce), fresh and used once.

Anything that loosens safety (resetting the kill switch, later perhaps resuming a
halted symbol) must come from someone holding the shared key, recently, and only
once. The signature proves the key; the timestamp bound stops an old captured command
being replayed tomorrow; remembered nonces stop it being replayed within the window.
Nonces are remembered for as long as a command carrying them could still be fresh, and
:meth:`CommandVerifier.remembered` lets the caller persist them across a restart.

The Redis control plane reuses this module for any other safety-loosening command.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

MIN_KEY_BYTES = 32
_NONCE_RE = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
_ACTION_RE = re.compile(r"^[a-z0-9_.:-]{1,128}$")
_SIG_RE = re.compile(r"^[0-9a-f]{64}$")
_DOMAIN = b"rlexec-command-v1"


class AuthFailure(StrEnum):
    MALFORMED = "malformed"
    WRONG_ACTION = "wrong_action"
    BAD_SIGNATURE = "bad_signature"
    EXPIRED = "expired"
    FROM_THE_FUTURE = "from_the_future"
    REPLAYED = "replayed"


class CommandRefused(Exception):
    """A safety-loosening command that was not accepted; ``failure`` says why."""

    def __init__(self, failure: AuthFailure | str, detail: str) -> None:
        self.failure = failure
        self.detail = detail
        super().__init__(f"command refused ({failure}): {detail}")


@dataclass(frozen=True, slots=True)
class SignedCommand:
    action: str
    ts_ns: int
    nonce: str
    signature: str  # lowercase hex HMAC-SHA256


def _message(action: str, ts_ns: int, nonce: str) -> bytes:
    return b"\n".join((_DOMAIN, action.encode(), str(ts_ns).encode(), nonce.encode()))


def sign(key: bytes, action: str, ts_ns: int, nonce: str) -> str:
    """The signature an operator tool sends along with a command."""
    return hmac.new(key, _message(action, ts_ns, nonce), hashlib.sha256).hexdigest()


def signed(key: bytes, action: str, ts_ns: int, nonce: str) -> SignedCommand:
    return SignedCommand(action, ts_ns, nonce, sign(key, action, ts_ns, nonce))


class CommandVerifier:
    """Checks signed commands against the shared key; remembers nonces it accepted.

    During a key rollover it is given two keys (the new one and the one being retired)
    and accepts a command signed with either, so operators can move over one by one;
    restarting with the new key alone retires the old one.
    """

    __slots__ = ("_keys", "_seen", "max_age_ns", "max_skew_ns")

    def __init__(
        self,
        key: bytes | Sequence[bytes],
        *,
        max_age_ns: int,
        max_skew_ns: int = 5_000_000_000,
        remembered: Mapping[str, int] | None = None,
    ) -> None:
        keys = (key,) if isinstance(key, bytes) else tuple(key)
        if not keys or any(not isinstance(k, bytes) or len(k) < MIN_KEY_BYTES for k in keys):
            raise ValueError(f"command key must be at least {MIN_KEY_BYTES} bytes")
        if max_age_ns <= 0 or max_skew_ns < 0:
            raise ValueError("max_age_ns must be > 0 and max_skew_ns >= 0")
        self._keys = keys
        self.max_age_ns = max_age_ns
        self.max_skew_ns = max_skew_ns
        self._seen: dict[str, int] = dict(remembered or {})

    def __repr__(self) -> str:  # never show the key
        return (
            f"CommandVerifier(keys={len(self._keys)}, max_age_ns={self.max_age_ns}, "
            f"nonces={len(self._seen)})"
        )

    def remembered(self, now_ns: int) -> dict[str, int]:
        """Nonces still worth remembering (their commands could still be fresh)."""
        self._forget_old(now_ns)
        return dict(self._seen)

    def _forget_old(self, now_ns: int) -> None:
        horizon = now_ns - self.max_age_ns - self.max_skew_ns
        for nonce in [n for n, ts in self._seen.items() if ts < horizon]:
            del self._seen[nonce]

    def check(self, cmd: object, action: str, now_ns: int) -> None:
        """Raise :class:`CommandRefused` unless ``cmd`` is a valid, fresh, unused ``action``.

        Does not consume the nonce; call :meth:`consume` once the action has been
        carried out (so a command that failed for another reason can be retried).
        """
        if not isinstance(cmd, SignedCommand):
            raise CommandRefused(
                AuthFailure.MALFORMED, f"not a signed command: {type(cmd).__name__}"
            )
        if (
            type(cmd.action) is not str
            or not _ACTION_RE.match(cmd.action)
            or type(cmd.ts_ns) is not int
            or type(cmd.nonce) is not str
            or not _NONCE_RE.match(cmd.nonce)
            or type(cmd.signature) is not str
            or not _SIG_RE.match(cmd.signature)
        ):
            raise CommandRefused(
                AuthFailure.MALFORMED,
                "need action [a-z0-9_.:-]{1,128}, integer ts_ns, nonce [A-Za-z0-9_-]{16,64}, "
                "64 hex chars of signature",
            )
        if cmd.action != action:
            raise CommandRefused(
                AuthFailure.WRONG_ACTION, f"signed for {cmd.action!r}, not {action!r}"
            )
        # every key compared, whichever matches: the time taken tells nothing
        matches = [
            hmac.compare_digest(sign(k, cmd.action, cmd.ts_ns, cmd.nonce), cmd.signature)
            for k in self._keys
        ]
        if not any(matches):
            raise CommandRefused(AuthFailure.BAD_SIGNATURE, "signature does not match the key")
        age = now_ns - cmd.ts_ns
        if age > self.max_age_ns:
            raise CommandRefused(
                AuthFailure.EXPIRED,
                f"signed {age / 1e9:.1f} s ago; at most {self.max_age_ns / 1e9:.0f} s accepted",
            )
        if -age > self.max_skew_ns:
            raise CommandRefused(
                AuthFailure.FROM_THE_FUTURE,
                f"timestamp {-age / 1e9:.1f} s ahead of our clock (skew allowed "
                f"{self.max_skew_ns / 1e9:.0f} s)",
            )
        self._forget_old(now_ns)
        if cmd.nonce in self._seen:
            raise CommandRefused(AuthFailure.REPLAYED, f"nonce {cmd.nonce} was already used")

    def consume(self, cmd: SignedCommand) -> None:
        """Remember ``cmd``'s nonce so the same command is refused from now on."""
        self._seen[cmd.nonce] = cmd.ts_ns

    def remember(self, nonce: str, ts_ns: int) -> None:
        """Seed a nonce used before a restart (from persisted state)."""
        self._seen[nonce] = ts_ns

    def verify(self, cmd: object, action: str, now_ns: int) -> SignedCommand:
        """:meth:`check` then :meth:`consume`, for actions that cannot fail afterwards."""
        self.check(cmd, action, now_ns)
        assert isinstance(cmd, SignedCommand)
        self.consume(cmd)
        return cmd
