"""The initiator (the daemon's order gateway): connect, log on, reconnect with backoff.

The session never queues application messages while it is down: ``send_app``
raises :class:`SessionNotReady` until the Logon handshake (and nothing else) has
completed, so the caller decides, with fresh market data, what still needs sending.
"""

from __future__ import annotations

import asyncio
import contextlib
import random

from core.backoff import Backoff, backoff_s
from core.clock import Clock, WallClock
from core.log import get_logger
from core.tasks import cancel_and_wait
from gateways.fix.connection import SessionConnection
from gateways.fix.events import LoggedOn, SessionEvent
from gateways.fix.factory import make_log, make_store
from gateways.fix.message_log import MessageLog
from gateways.fix.resend import ResendPolicy
from gateways.fix.session import EventHandler, FixSession, HeaderFields, SessionStats, State
from gateways.fix.settings import InitiatorSettings
from gateways.fix.store import MessageStore

_log = get_logger("gateways.fix.initiator")


def backoff_delay(attempt: int, settings: InitiatorSettings, rng: random.Random) -> float:
    """Seconds to wait before reconnect ``attempt`` (0-based): :func:`core.backoff.backoff_s`
    with the session's ``reconnect_*`` settings, as every connection backs off."""
    return backoff_s(
        attempt, settings.reconnect_min_s, settings.reconnect_max_s, settings.reconnect_jitter, rng
    )


class FixInitiator:
    def __init__(
        self,
        settings: InitiatorSettings,
        *,
        on_event: EventHandler | None = None,
        clock: Clock | None = None,
        store: MessageStore | None = None,
        log: MessageLog | None = None,
        rng: random.Random | None = None,
        resend_policy: ResendPolicy | None = None,
    ) -> None:
        self.settings = settings
        self.clock: Clock = clock or WallClock()
        self._user_handler = on_event
        self._rng = rng or random.Random()
        self._store = store if store is not None else make_store(settings.session)
        self._msg_log = log if log is not None else make_log(settings.session)
        self.session = FixSession(
            settings.session,
            initiator=True,
            clock=self.clock,
            store=self._store,
            log=self._msg_log,
            on_event=self._on_event,
        )
        self.session.set_resend_policy(resend_policy)
        self._logged_on = asyncio.Event()
        self._disconnected = asyncio.Event()
        self._disconnected.set()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self.connect_attempts = 0
        self.last_error = ""

    # -------------------------------------------------------------- status
    @property
    def session_id(self) -> str:
        return self.session.session_id

    @property
    def is_logged_on(self) -> bool:
        return self.session.is_logged_on

    @property
    def state(self) -> State:
        return self.session.state

    @property
    def stats(self) -> SessionStats:
        return self.session.stats

    @property
    def next_sender_seq(self) -> int:
        return self.session.next_sender_seq

    @property
    def next_target_seq(self) -> int:
        return self.session.next_target_seq

    # ------------------------------------------------------------- control
    async def start(self) -> None:
        if self._task is None:
            self._stopping = False
            self._task = asyncio.create_task(self._run(), name=f"fix-initiator-{self.session_id}")

    async def wait_logged_on(self, timeout: float | None = None) -> None:
        await asyncio.wait_for(self._logged_on.wait(), timeout)

    def send_app(self, msg_type: bytes, body: bytes, header: HeaderFields = b"") -> int:
        """Send an application message; raises SessionNotReady before logon. Returns MsgSeqNum.

        ``header``: further standard header fields (see :meth:`FixSession.send_app`).
        """
        return self.session.send_app(msg_type, body, header)

    def set_resend_policy(self, policy: ResendPolicy | None) -> None:
        """Decide which stored messages a ResendRequest resends (see gateways.fix.resend)."""
        self.session.set_resend_policy(policy)

    async def stop(self, text: str = "", timeout: float | None = None) -> None:
        """Graceful Logout (waits for the peer's Logout or the logout timeout), then stop.

        Final: the store and message log are closed; make a new initiator to reconnect.
        """
        self._stopping = True
        if self.session.state is State.LOGGED_ON:
            self.session.logout(text)
        elif self.session.state is not State.DISCONNECTED:
            self.session.disconnect("initiator stopping")
        wait = timeout if timeout is not None else self.settings.session.logout_timeout_s + 1.0
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._disconnected.wait(), wait)
        if self.session.state is not State.DISCONNECTED:
            self.session.disconnect("logout not confirmed in time")
        task, self._task = self._task, None
        await cancel_and_wait(task)
        self._store.close()
        self._msg_log.close()

    # ------------------------------------------------------------ internals
    def _on_event(self, event: SessionEvent) -> None:
        if isinstance(event, LoggedOn):
            self._logged_on.set()
        elif not self.session.is_logged_on:
            self._logged_on.clear()
        if self._user_handler is not None:
            self._user_handler(event)

    def _stop_requested(self) -> bool:
        return self._stopping

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        s = self.settings
        backoff = Backoff(
            s.reconnect_min_s, s.reconnect_max_s, jitter=s.reconnect_jitter, rng=self._rng
        )
        while not self._stopping:
            lost: asyncio.Future[None] = loop.create_future()

            def on_lost(fut: asyncio.Future[None] = lost) -> None:
                if not fut.done():
                    fut.set_result(None)

            self.connect_attempts += 1
            logons_before = self.session.stats.logons
            try:
                await asyncio.wait_for(
                    loop.create_connection(
                        lambda: SessionConnection(self.session, on_lost), s.host, s.port
                    ),
                    s.connect_timeout_s,
                )
            except (OSError, TimeoutError) as exc:
                self.last_error = f"connect to {s.host}:{s.port} failed: {exc!r}"
                _log.warning("fix_connect_failed", session=self.session_id, error=repr(exc))
            else:
                self._disconnected.clear()
                try:
                    await lost
                finally:
                    self._logged_on.clear()
                    self._disconnected.set()
                self.last_error = self.session.last_disconnect_reason
                _log.info("fix_disconnected", session=self.session_id, reason=self.last_error)
            if self.session.stats.logons > logons_before:
                backoff.reset()
            if self._stop_requested():
                break
            await self.clock.sleep(backoff.next_delay())
