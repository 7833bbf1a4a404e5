"""The exchange's lock-step pacing as a real process over TCP on 127.0.0.1: the market
moves only as far as its follower allows (never past the follower's next wake-up), holds
without one, and answers bad input with a clear error that changes nothing.

The follower here is a bare websocket client speaking the protocol by hand, so the test
can withhold answers and send wrong ones; the real follower (daemon.lockstep) is driven
end to end by tests/e2e/test_e2e_parity.py."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import orjson

from tests.integration.exchange_service.test_exchange_process import LOBSTER

S = 1_000_000_000

# the process tests' replay (AMZN level 5, 10:00:00-10:00:30), held in lock-step
LOCKSTEP = LOBSTER.replace('mode = "asap"', 'mode = "lockstep"\nhold = true\nmax_step_s = 1.0')
assert LOCKSTEP != LOBSTER


def _clock_url(ex: Any, scheme: str) -> str:
    return ex.md_url.replace("ws://", f"{scheme}://").rsplit("/", 1)[0] + "/clock"


async def _post(http: aiohttp.ClientSession, url: str, body: Any) -> tuple[int, dict[str, Any]]:
    data = body if isinstance(body, bytes) else orjson.dumps(body)
    async with http.post(url, data=data, headers={"Content-Type": "application/json"}) as r:
        return r.status, await r.json(loads=orjson.loads)


async def _state_when(http: aiohttp.ClientSession, url: str, waiting_for: str) -> dict[str, Any]:
    """The leader's state once it waits for ``waiting_for`` (messages cross two sockets)."""
    for _ in range(500):
        status, state = await _post(http, url, {})
        assert status == 200
        if state["waiting_for"] == waiting_for:
            return state
        await asyncio.sleep(0.01)
    raise AssertionError(f"the leader waits for {state['waiting_for']!r}, not {waiting_for!r}")


async def _follow(http: aiohttp.ClientSession, url: str) -> aiohttp.ClientWebSocketResponse:
    ws = await http.ws_connect(url)
    await ws.send_bytes(
        orjson.dumps({"type": "follow", "fix_sender": "RLEXEC", "fix_target": "EXCHANGE"})
    )
    return ws


async def _tick(ws: aiohttp.ClientWebSocketResponse) -> dict[str, Any]:
    msg = await ws.receive(timeout=10)
    m = orjson.loads(msg.data)
    assert isinstance(m, dict)
    return m


async def _ready(
    ws: aiohttp.ClientWebSocketResponse, tick: dict[str, Any], next_ns: int | None
) -> None:
    await ws.send_bytes(
        orjson.dumps(
            {
                "type": "ready",
                "step": tick["step"],
                "t": tick["t"],
                "fix_seq": 0,
                "next_ns": next_ns,
            }
        )
    )


async def test_the_market_never_moves_past_the_followers_next_wake_up(start_exchange: Any) -> None:
    ex = await start_exchange(LOCKSTEP)
    async with aiohttp.ClientSession() as http:
        ws = await _follow(http, _clock_url(ex, "ws"))
        first = await _tick(ws)
        assert first["type"] == "tick" and "AMZN" in first["md_seq"]
        t0 = first["t"]
        status, state = await _post(http, _clock_url(ex, "http"), {"until_ns": t0 + 20 * S})
        assert status == 200 and state["until_ns"] == t0 + 20 * S

        wake_ups = [t0 + 2_500_000_000, t0 + 2_500_000_000 + 1, t0 + 7 * S]
        tick, seen = first, [t0]
        for wake in wake_ups:
            await _ready(ws, tick, wake)
            while True:
                tick = await _tick(ws)
                seen.append(tick["t"])
                assert tick["t"] <= wake, f"the market passed the follower's wake-up {wake}"
                if tick["t"] == wake:
                    break
                await _ready(ws, tick, wake)  # at most max_step_s (1 s) per step
        assert [t - t0 for t in seen] == [
            0, 1 * S, 2 * S, 2_500_000_000, 2_500_000_001,
            3_500_000_001, 4_500_000_001, 5_500_000_001, 6_500_000_001, 7 * S,
        ]  # fmt: skip
        await ws.close()


async def test_a_held_market_stays_where_it_is_until_told_to_run(start_exchange: Any) -> None:
    ex = await start_exchange(LOCKSTEP)
    async with aiohttp.ClientSession() as http:
        ws = await _follow(http, _clock_url(ex, "ws"))
        tick = await _tick(ws)
        await _ready(ws, tick, None)  # no timer: the market may run as far as it is let

        state = await _state_when(http, _clock_url(ex, "http"), "run")
        assert state["now_ns"] == tick["t"]
        health = await ex.health()
        assert health["lockstep"]["now_ns"] == tick["t"]

        await _post(http, _clock_url(ex, "http"), {"until_ns": tick["t"] + 1_500_000_000})
        again = await _tick(ws)  # told to run, it first asks whether the follower acted
        assert again["t"] == tick["t"] and again["step"] == tick["step"] + 1
        await _ready(ws, again, None)
        assert (await _tick(ws))["t"] == tick["t"] + S
        await ws.close()


async def test_bad_clock_requests_get_a_clear_error_and_change_nothing(start_exchange: Any) -> None:
    ex = await start_exchange(LOCKSTEP)
    url = _clock_url(ex, "http")
    async with aiohttp.ClientSession() as http:
        _, before = await _post(http, url, {})
        for body, says in (
            (b"{not json", "not JSON"),
            ([1, 2], "JSON object"),
            ({"until": 5}, "unknown key(s) until"),
            ({"until_ns": "soon"}, "positive integer"),
            ({"until_ns": -1}, "positive integer"),
            ({"until_ns": True}, "positive integer"),
        ):
            status, answer = await _post(http, url, body)
            assert status == 400 and says in answer["error"], (body, answer)
        _, after = await _post(http, url, {})
        assert after == before


async def test_a_follower_without_a_fix_session_here_is_refused_and_told_why(
    start_exchange: Any,
) -> None:
    ex = await start_exchange(LOCKSTEP)
    async with aiohttp.ClientSession() as http:
        ws = await http.ws_connect(_clock_url(ex, "ws"))
        await ws.send_bytes(orjson.dumps({"type": "follow", "fix_sender": "X", "fix_target": "Y"}))
        answer = await _tick(ws)
        assert answer["type"] == "error" and "no FIX session Y->X" in answer["message"]
        await ws.receive(timeout=10)  # the close
        assert ws.closed


async def test_a_second_follower_is_refused_while_the_first_follows(start_exchange: Any) -> None:
    ex = await start_exchange(LOCKSTEP)
    async with aiohttp.ClientSession() as http:
        first = await _follow(http, _clock_url(ex, "ws"))
        await _tick(first)
        second = await _follow(http, _clock_url(ex, "ws"))
        answer = await _tick(second)
        assert (
            answer["type"] == "error"
            and "already followed by RLEXEC->EXCHANGE" in answer["message"]
        )
        await first.close()


async def test_a_malformed_ready_is_answered_and_the_market_waits_for_a_good_one(
    start_exchange: Any,
) -> None:
    ex = await start_exchange(LOCKSTEP)
    async with aiohttp.ClientSession() as http:
        ws = await _follow(http, _clock_url(ex, "ws"))
        tick = await _tick(ws)
        await _post(http, _clock_url(ex, "http"), {"until_ns": tick["t"] + 10 * S})
        await ws.send_bytes(orjson.dumps({"type": "ready", "step": tick["step"], "t": -5}))
        answer = await _tick(ws)
        assert (
            answer["type"] == "error"
            and "ready.t must be a non-negative integer" in answer["message"]
        )
        state = await _state_when(http, _clock_url(ex, "http"), "follower ready")
        assert state["now_ns"] == tick["t"]

        await _ready(ws, tick, None)
        assert (await _tick(ws))["t"] == tick["t"] + S
        await ws.close()
