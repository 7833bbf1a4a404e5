"""The node's side of a lock-stepped clock: follow the exchange's market time step by step.

With ``[clock] mode = "lockstep"`` the node runs on a :class:`~core.clock.SimClock`
that only this follower moves, and the exchange (``[pacing] mode = "lockstep"``,
:mod:`exchange.service.lockstep`) never moves the market past the node's next
wake-up. Per step the exchange sends a tick; the follower

1. waits until the market data (sequence numbers per symbol) and the FIX messages
   (sequence number on our session) the exchange sent up to that tick have been
   applied here, so the node sees exactly the market and the reports of that time;
2. moves the clock to the tick's time, which fires the runners' timers;
3. lets the loop run until the node is quiet: no timer set and no FIX message sent
   for ``quiet_rounds`` consecutive loop turns, so every decision of that time has
   sent its orders (a decision is synchronous once its runner wakes, and a runner
   goes back to sleep within a few turns; the count is of loop turns, not of time,
   so load cannot change it);
4. answers with the last FIX sequence number it sent and its next timer.

Only the clock the runners decide on is lock-stepped. Feed health, the timeouts
guarding network replies and command signatures stay on the wall and monotonic
clocks, as in every other mode.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson

from core.clock import SimClock
from core.log import get_logger
from daemon.config import DaemonConfig
from daemon.fix_router import FixRouter
from gateways.marketdata.client import BookStatus, MarketDataClient

log = get_logger("rlexec.lockstep")


class TickError(ValueError):
    """A tick the follower cannot act on (the message says which field)."""


@dataclass(frozen=True, slots=True)
class Tick:
    step: int
    t: int
    md_seq: dict[str, int]
    fix_seq: int


def parse_tick(data: str | bytes) -> Tick | None:
    """A tick, or None for another message the follower has no use for (the leader's
    errors are logged by the caller)."""
    try:
        m = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise TickError(f"not JSON: {exc}") from None
    if not isinstance(m, dict):
        raise TickError("expected a JSON object")
    if m.get("type") != "tick":
        return None
    step, t, fix_seq, md_seq = m.get("step"), m.get("t"), m.get("fix_seq"), m.get("md_seq")
    for name, value in (("step", step), ("t", t), ("fix_seq", fix_seq)):
        if type(value) is not int or value < 0:
            raise TickError(f"tick.{name} must be a non-negative integer, got {value!r}")
    if not isinstance(md_seq, dict) or not all(
        isinstance(k, str) and type(v) is int for k, v in md_seq.items()
    ):
        raise TickError("tick.md_seq must map symbols to integer sequence numbers")
    assert isinstance(step, int) and isinstance(t, int) and isinstance(fix_seq, int)
    return Tick(step, t, md_seq, fix_seq)


def clock_url(md_url: str) -> str:
    """The exchange's clock endpoint next to its market-data endpoint."""
    scheme, _, rest = md_url.partition("://")
    host = rest.split("/", 1)[0]
    return f"{scheme}://{host}/clock"


class LockstepFollower:
    def __init__(
        self,
        url: str,
        clock: SimClock,
        md: MarketDataClient,
        router: FixRouter,
        fix_ids: tuple[str, str],
        *,
        quiet_rounds: int = 32,
    ) -> None:
        if quiet_rounds < 1:
            raise ValueError(f"quiet_rounds must be >= 1, got {quiet_rounds}")
        self.url = url
        self.clock = clock
        self.md = md
        self.router = router
        self.fix_ids = fix_ids  # (our SenderCompID, the exchange's)
        self.quiet_rounds = quiet_rounds
        self.steps = 0
        self.connected = False

    # ------------------------------------------------------------------ connection
    async def run(self) -> None:
        """Follow until cancelled, reconnecting with a short backoff."""
        delay = 0.1
        async with aiohttp.ClientSession() as http:
            while True:
                try:
                    async with http.ws_connect(self.url, heartbeat=None, autoping=True) as ws:
                        self.connected = True
                        log.info("lockstep_following", url=self.url)
                        delay = 0.1
                        await ws.send_bytes(
                            orjson.dumps(
                                {
                                    "type": "follow",
                                    "fix_sender": self.fix_ids[0],
                                    "fix_target": self.fix_ids[1],
                                }
                            )
                        )
                        await self._follow(ws)
                    log.warning("lockstep_disconnected", url=self.url)
                except (aiohttp.ClientError, OSError) as exc:
                    log.warning("lockstep_connect_failed", url=self.url, error=str(exc))
                finally:
                    self.connected = False
                await asyncio.sleep(delay)
                delay = min(2.0, delay * 2)

    async def _follow(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        async for msg in ws:
            if msg.type not in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
                break
            try:
                tick = parse_tick(msg.data)
            except TickError as exc:
                log.error("lockstep_bad_tick", error=str(exc))
                continue
            if tick is None:
                with contextlib.suppress(orjson.JSONDecodeError):
                    log.error("lockstep_leader_says", message=orjson.loads(msg.data))
                continue
            ready = await self.step(tick)
            await ws.send_bytes(orjson.dumps(ready))

    # ------------------------------------------------------------------ one step
    async def step(self, tick: Tick) -> dict[str, Any]:
        """Act on one tick; the ready answer to send back."""
        await self._caught_up(tick)
        clock = self.clock
        if tick.t > clock.now_ns():
            clock.advance_to(tick.t)
        elif tick.t < clock.now_ns():
            log.error(
                "lockstep_market_behind",
                market_ns=tick.t,
                clock_ns=clock.now_ns(),
                detail="the exchange's time is behind ours (restarted?): the clock stays",
            )
        await self._settle()
        self.steps += 1
        return {
            "type": "ready",
            "step": tick.step,
            "t": tick.t,
            "fix_seq": self.router.next_sender_seq - 1,
            "next_ns": clock.next_timer_ns,
        }

    def _missing(self, tick: Tick) -> str:
        """What has not reached us yet ("" once everything has)."""
        if not self.router.ready:
            return "FIX logon"
        if self.router.next_target_seq <= tick.fix_seq:
            return f"FIX message {tick.fix_seq} (next in: {self.router.next_target_seq})"
        for symbol in self.md.symbols:
            if self.md.status[symbol] is not BookStatus.SYNCED:
                return f"{symbol} market data in sync ({self.md.status[symbol].value})"
            seq = tick.md_seq.get(symbol)
            have = self.md.builders[symbol].last_seq
            if seq is not None and have < seq:
                return f"{symbol} market data {seq} (have {have})"
        return ""

    async def _caught_up(self, tick: Tick) -> None:
        spins = 0
        since = time.monotonic()
        told = False
        while missing := self._missing(tick):
            spins += 1
            # the messages are on their sockets already: a few loop turns usually do
            await asyncio.sleep(0 if spins < 32 else 0.0005)
            if not told and time.monotonic() - since > 5.0:
                told = True
                log.warning("lockstep_waiting", step=tick.step, market_ns=tick.t, waits_for=missing)

    def _activity(self) -> tuple[int, int]:
        return self.clock.scheduled, self.router.next_sender_seq

    async def _settle(self) -> None:
        """Run the loop until nothing the clock woke is still acting (module doc, 3)."""
        clock = self.clock
        quiet = 0
        last = self._activity()
        while quiet < self.quiet_rounds:
            await asyncio.sleep(0)
            due = clock.next_timer_ns
            fired = 0
            if due is not None and due <= clock.now_ns():
                fired = clock.advance_to(clock.now_ns())  # a timer set for now (a zero sleep)
            seen = self._activity()
            if fired or seen != last:
                last = seen
                quiet = 0
            else:
                quiet += 1


def follower_for(
    cfg: DaemonConfig, clock: SimClock, md: MarketDataClient, router: FixRouter
) -> LockstepFollower:
    """The node's follower, from its configuration."""
    session = cfg.fix.session
    return LockstepFollower(
        cfg.clock.lockstep_url or clock_url(cfg.marketdata.url),
        clock,
        md,
        router,
        (session.sender_comp_id, session.target_comp_id),
    )
