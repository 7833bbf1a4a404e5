"""Lock-step pacing: market time moves only as far as the daemon following it allows.

In every other pacing mode the replay runs on the exchange's own schedule and the
daemon keeps up as well as it can: its decisions land a little late, its orders reach
the market some wall-clock milliseconds (times the replay speed) after it decided, on
a book the feed delivered in steps. Those differences are real and worth measuring
(``bench/parity_bench.py``), but they make a live run impossible to compare record by
record with the in-process backtest. In lock-step mode they are gone:

- the exchange advances the market one step at a time, never past the follower's next
  wake-up (its next decision or timer), and at most ``max_step_s`` of market time;
- after each step it sends the follower a *tick*: the market time reached, the last
  market-data sequence number per symbol and the last FIX sequence number it sent on
  the follower's session;
- the follower (:mod:`daemon.lockstep`) waits until that market data and those
  execution reports have reached it, moves its simulated clock to the tick's time, lets
  its timers fire and its tasks act, and answers *ready* with the last FIX sequence
  number it sent and its next wake-up;
- the exchange waits until every FIX message up to that number has arrived (so the
  orders decided at this time are in, stamped with this time), then takes the next step.

Orders still cross the real FIX session and market data the real websocket; the
simulated venue applies the modelled order-entry latency (``[pacing] order_latency_us``)
in market time, as the training environment does. A market *held* at a time (``hold``,
then ``POST /clock {"until_ns": N}``) lets a test or a bench submit a parent order at
an exact market time. Without a follower the market does not move at all: in this
mode the market waits for the daemon, never the other way round.

Endpoints (on the market-data HTTP server): ``GET /clock`` is the follower's
websocket; ``POST /clock`` with ``{"until_ns": N}`` lets the market run to N (a value
past the replay's end runs it to the end), and with ``{}`` only reports the state.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import WSCloseCode, WSMsgType, web

from core.clock import NS_PER_S
from core.log import get_logger
from exchange.service.pacing import Pacer
from exchange.service.venues import SimulatedVenue
from gateways.fix.session import FixSession

log = get_logger("exchange.lockstep")

_MAX_MESSAGE_BYTES = 4096


class LockstepError(ValueError):
    """A follower's message the leader cannot act on; its text is sent back."""


@dataclass(frozen=True, slots=True)
class Ready:
    """The follower has acted on everything up to a tick's time."""

    step: int
    t: int
    fix_seq: int  # the last FIX sequence number it sent
    next_ns: int | None  # its next wake-up in market time (None: no timer set)


def parse_ready(data: str | bytes) -> Ready:
    """A follower's ``ready`` message, checked field by field."""
    try:
        m = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise LockstepError(f"not JSON: {exc}") from None
    if not isinstance(m, dict) or m.get("type") != "ready":
        raise LockstepError('expected {"type": "ready", ...}')
    out: dict[str, int | None] = {}
    for key, optional in (("step", False), ("t", False), ("fix_seq", False), ("next_ns", True)):
        value = m.get(key)
        if value is None and optional:
            out[key] = None
            continue
        if type(value) is not int or value < 0:
            raise LockstepError(f"ready.{key} must be a non-negative integer, got {value!r}")
        out[key] = value
    step, t, fix_seq = out["step"], out["t"], out["fix_seq"]
    assert step is not None and t is not None and fix_seq is not None
    return Ready(step, t, fix_seq, out["next_ns"])


class _Follower:
    __slots__ = ("changed", "gone", "name", "ready", "session", "ws")

    def __init__(self, ws: web.WebSocketResponse, session: FixSession | None, name: str) -> None:
        self.ws = ws
        self.session = session
        self.name = name
        self.ready: Ready | None = None
        self.changed = asyncio.Event()
        self.gone = False


class LockstepLeader:
    """Drives a :class:`SimulatedVenue` in lock-step with one follower (module doc)."""

    def __init__(
        self,
        venue: SimulatedVenue,
        pacer: Pacer,
        md_seq: Callable[[], Mapping[str, int]],
        *,
        end_ns: int,
        max_step_s: float = 1.0,
        hold: bool = False,
    ) -> None:
        if max_step_s <= 0:
            raise ValueError(f"max_step_s must be > 0, got {max_step_s}")
        self.venue = venue
        self.pacer = pacer
        self.md_seq = md_seq
        self.end_ns = end_ns
        self.max_step_ns = max(1, round(max_step_s * NS_PER_S))
        self.now_ns = venue.now_ns
        self.until_ns = self.now_ns if hold else end_ns
        self.steps = 0
        self.waiting_for = "start"
        self._tick = 0
        self._sessions: Mapping[str, FixSession] = {}
        self._follower: _Follower | None = None
        self._changed = asyncio.Event()

    def attach_fix(self, sessions: Mapping[str, FixSession]) -> None:
        """The FIX acceptor's sessions: a follower's orders are waited for on its own."""
        self._sessions = sessions

    def state(self) -> dict[str, Any]:
        f = self._follower
        return {
            "mode": "lockstep",
            "now_ns": self.now_ns,
            "until_ns": self.until_ns,
            "end_ns": self.end_ns,
            "steps": self.steps,
            "follower": f.name if f is not None else None,
            "waiting_for": self.waiting_for,
        }

    # ------------------------------------------------------------------ the market
    async def run(self) -> None:
        """The exchange's market source: step until the replay's end."""
        venue = self.venue
        t = self.now_ns
        self.pacer.mark(t)
        while t < self.end_ns and not venue.done:
            next_ns = await self._follower_settled(t)
            limit = min(self.until_ns, self.end_ns)
            if next_ns is not None:
                limit = min(limit, next_ns)
            if limit <= t:
                self.waiting_for = "run" if next_ns is None or next_ns > t else "follower timers"
                await self._wait_change()
                continue  # ask again: the follower may have acted since its last answer
            t = min(limit, t + self.max_step_ns)
            self.pacer.mark(t)
            venue.advance_all(t)
            self.now_ns = t
            self.steps += 1
        self.waiting_for = "nothing (replay finished)"
        log.info("lockstep_finished", event_time_ns=t, steps=self.steps)

    async def _follower_settled(self, t: int) -> int | None:
        """Tell the follower the market is at ``t``; return its next wake-up once it
        has acted and every FIX message it sent meanwhile has been handled here."""
        while True:
            f = self._follower
            if f is None:
                self.waiting_for = "follower"
                await self._wait_change()
                continue
            self._tick += 1
            step = self._tick
            seq = f.session.next_sender_seq - 1 if f.session is not None else 0
            tick = {"type": "tick", "step": step, "t": t, "md_seq": dict(self.md_seq())}
            tick["fix_seq"] = seq
            try:
                await f.ws.send_bytes(orjson.dumps(tick))
            except (ConnectionError, RuntimeError):
                await self._drop(f, "tick could not be sent")
                continue
            self.waiting_for = "follower ready"
            ready = await self._ready(f, step)
            if ready is None:
                continue
            self.waiting_for = "follower's FIX messages"
            if not await self._inbound(f, ready.fix_seq):
                continue
            return ready.next_ns

    async def _ready(self, f: _Follower, step: int) -> Ready | None:
        while not f.gone:
            if f.ready is not None and f.ready.step == step:
                return f.ready
            f.changed.clear()
            await f.changed.wait()
        return None

    async def _inbound(self, f: _Follower, seq: int) -> bool:
        """Wait until the follower's FIX session has handled message ``seq``."""
        session = f.session
        if session is None:
            return True
        spins = 0
        while session.next_target_seq <= seq:
            if f.gone:
                return False
            spins += 1
            # the messages are on the socket already: a few loop turns usually do
            await asyncio.sleep(0 if spins < 32 else 0.0005)
        return True

    async def _wait_change(self) -> None:
        self._changed.clear()
        await self._changed.wait()

    # ------------------------------------------------------------------ endpoints
    async def follow(self, request: web.Request) -> web.WebSocketResponse:
        """``GET /clock``: one follower at a time; its first message names its FIX session."""
        ws = web.WebSocketResponse(max_msg_size=_MAX_MESSAGE_BYTES, heartbeat=None)
        await ws.prepare(request)
        try:
            first = await ws.receive(timeout=10)
            name, session = self._follow_request(first)
        except (LockstepError, TimeoutError) as exc:
            why = str(exc) or "no follow message within 10 s"
            log.warning("lockstep_follower_refused", peer=request.remote, reason=why)
            await _refuse(ws, why)
            return ws
        if self._follower is not None:
            why = f"already followed by {self._follower.name}"
            log.warning("lockstep_follower_refused", peer=request.remote, reason=why)
            await _refuse(ws, why)
            return ws
        f = self._follower = _Follower(ws, session, name)
        log.info("lockstep_follower_joined", follower=name, market_time_ns=self.now_ns)
        self._changed.set()
        try:
            async for msg in ws:
                if msg.type not in (WSMsgType.TEXT, WSMsgType.BINARY):
                    break
                try:
                    ready = parse_ready(msg.data)
                except LockstepError as exc:
                    log.warning("lockstep_bad_message", follower=name, reason=str(exc))
                    await ws.send_bytes(orjson.dumps({"type": "error", "message": str(exc)}))
                    continue
                f.ready = ready
                f.changed.set()
        finally:
            await self._drop(f, "connection closed")
        return ws

    def _follow_request(self, msg: Any) -> tuple[str, FixSession | None]:
        if msg.type not in (WSMsgType.TEXT, WSMsgType.BINARY):
            raise LockstepError("expected a follow message")
        try:
            m = orjson.loads(msg.data)
        except orjson.JSONDecodeError as exc:
            raise LockstepError(f"not JSON: {exc}") from None
        if not isinstance(m, dict) or m.get("type") != "follow":
            raise LockstepError('expected {"type": "follow", "fix_sender": ..., "fix_target": ...}')
        sender, target = m.get("fix_sender"), m.get("fix_target")
        if not isinstance(sender, str) or not isinstance(target, str):
            raise LockstepError("follow.fix_sender and follow.fix_target must be strings")
        name = f"{sender}->{target}"
        if not self._sessions:
            return name, None  # no FIX order entry here: nothing to wait for
        for session in self._sessions.values():
            s = session.settings
            if s.sender_comp_id == target and s.target_comp_id == sender:
                return name, session
        raise LockstepError(
            f"no FIX session {target}->{sender} at this exchange: lock-step waits for the "
            "follower's orders on its own session"
        )

    async def _drop(self, f: _Follower, why: str) -> None:
        if f.gone:
            return
        f.gone = True
        f.changed.set()
        if self._follower is f:
            self._follower = None
            self._changed.set()
            log.warning(
                "lockstep_follower_left",
                follower=f.name,
                reason=why,
                market_time_ns=self.now_ns,
                detail="the market holds until a follower joins",
            )
        with contextlib.suppress(Exception):
            await f.ws.close()

    async def control(self, request: web.Request) -> web.Response:
        """``POST /clock``: ``{"until_ns": N}`` lets the market run to N; ``{}`` reports."""
        try:
            body = await request.json(loads=orjson.loads)
        except (ValueError, orjson.JSONDecodeError) as exc:
            return _bad(f"body is not JSON: {exc}")
        if not isinstance(body, dict):
            return _bad('expected a JSON object such as {"until_ns": 1340288100000000000}')
        unknown = sorted(set(body) - {"until_ns"})
        if unknown:
            return _bad(f"unknown key(s) {', '.join(unknown)}; the only key is until_ns")
        if "until_ns" in body:
            until = body["until_ns"]
            if type(until) is not int or until <= 0:
                return _bad(f"until_ns must be a positive integer (ns), got {until!r}")
            if until != self.until_ns:
                log.info("lockstep_run", until_ns=until, market_time_ns=self.now_ns)
                self.until_ns = until
                self._changed.set()
        return web.json_response(self.state(), dumps=lambda o: orjson.dumps(o).decode())


def _bad(message: str) -> web.Response:
    return web.json_response({"error": message}, status=400)


async def _refuse(ws: web.WebSocketResponse, why: str) -> None:
    with contextlib.suppress(Exception):
        await ws.send_bytes(orjson.dumps({"type": "error", "message": why}))
        await ws.close(code=WSCloseCode.POLICY_VIOLATION, message=why.encode()[:120])
