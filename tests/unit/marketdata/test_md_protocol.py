"""rlexec market-data protocol: request parsing (bad input -> named error), encoding."""

from __future__ import annotations

from decimal import Decimal

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.instruments import Instrument
from core.types import Side
from gateways.marketdata import protocol as proto


def test_subscribe_roundtrip() -> None:
    req = proto.Subscribe(("AMZN", "AAPL"), 7)
    assert proto.parse_request(proto.encode_request(req)) == req
    assert proto.parse_request(b'{"op":"unsubscribe","symbols":["AMZN"]}') == proto.Unsubscribe(
        ("AMZN",), None
    )
    assert proto.parse_request('{"op":"ping","id":"a"}') == proto.Ping("a")


def test_duplicate_symbols_are_folded() -> None:
    req = proto.parse_request(b'{"op":"subscribe","symbols":["A","B","A"]}')
    assert isinstance(req, proto.Subscribe)
    assert req.symbols == ("A", "B")


@pytest.mark.parametrize(
    ("raw", "code", "words"),
    [
        (b"not json", "bad_json", "not valid JSON"),
        (b"[1,2]", "bad_request", "JSON object"),
        (b'{"op":"subscribe"}', "bad_request", "'symbols'"),
        (b'{"op":"subscribe","symbols":[]}', "bad_request", "non-empty"),
        (b'{"op":"subscribe","symbols":"AMZN"}', "bad_request", "'symbols'"),
        (b'{"op":"subscribe","symbols":[1]}', "bad_request", "'symbols'"),
        (b'{"op":"subscribe","symbols":[""]}', "bad_request", "'symbols'"),
        (b'{"op":"fly","symbols":["A"]}', "unknown_op", "'op' must be one of"),
        (b'{"symbols":["A"]}', "unknown_op", "'op'"),
        (b'{"op":"subscribe","symbols":["A"],"depth":5}', "bad_request", "unknown field(s): depth"),
        (b'{"op":"ping","id":true}', "bad_request", "'id'"),
        (b'{"op":"ping","id":[1]}', "bad_request", "'id'"),
        (b'{"op":"ping","id":"' + b"x" * 65 + b'"}', "bad_request", "longer"),
        (b" " * (proto.MAX_REQUEST_BYTES + 1), "too_large", "exceeds"),
    ],
)
def test_bad_requests_name_the_problem(raw: bytes, code: str, words: str) -> None:
    with pytest.raises(proto.ProtocolError) as info:
        proto.parse_request(raw)
    assert info.value.code == code
    assert words in info.value.message


def test_error_keeps_the_request_id_when_readable() -> None:
    with pytest.raises(proto.ProtocolError) as info:
        proto.parse_request(b'{"op":"subscribe","symbols":[],"id":42}')
    assert info.value.request_id == 42
    frame = orjson.loads(proto.encode_error(info.value.code, info.value.message, 42))
    assert frame == {
        "type": "error",
        "code": "bad_request",
        "message": info.value.message,
        "id": 42,
    }


def test_too_many_symbols() -> None:
    syms = [f"S{i}" for i in range(proto.MAX_SYMBOLS_PER_REQUEST + 1)]
    with pytest.raises(proto.ProtocolError, match="at most"):
        proto.parse_request(orjson.dumps({"op": "subscribe", "symbols": syms}))


@settings(max_examples=300, deadline=None)
@given(raw=st.one_of(st.binary(max_size=200), st.text(max_size=200)))
def test_arbitrary_input_only_ever_raises_protocol_error(raw: bytes | str) -> None:
    try:
        proto.parse_request(raw)
    except proto.ProtocolError as exc:
        assert exc.code and exc.message


@settings(max_examples=150, deadline=None)
@given(
    msg=st.dictionaries(
        st.sampled_from(["op", "symbols", "id", "x"]),
        st.one_of(
            st.none(),
            st.booleans(),
            st.integers(),
            st.text(max_size=5),
            st.lists(st.one_of(st.text(max_size=5), st.integers()), max_size=3),
        ),
    )
)
def test_arbitrary_json_objects_only_ever_raise_protocol_error(msg: dict[str, object]) -> None:
    try:
        raw = orjson.dumps(msg)
    except TypeError:  # integers beyond 64 bits are not JSON orjson writes
        return
    try:
        req = proto.parse_request(raw)
    except proto.ProtocolError:
        return
    assert isinstance(req, proto.Subscribe | proto.Unsubscribe | proto.Ping)


def test_server_messages_encode_as_documented() -> None:
    snap = orjson.loads(proto.encode_snapshot("AMZN", 41, 5, [(100, 2)], [(101, 3)]))
    assert snap == {
        "type": "snapshot",
        "symbol": "AMZN",
        "seq": 41,
        "ts": 5,
        "bids": [[100, 2]],
        "asks": [[101, 3]],
    }
    delta = orjson.loads(proto.encode_delta("AMZN", 42, 6, [(100, 0)], []))
    assert delta["type"] == "delta" and delta["bids"] == [[100, 0]] and delta["seq"] == 42
    trade = orjson.loads(proto.encode_trade("AMZN", 43, 7, price=101, qty=3, aggressor=Side.SELL))
    assert trade["aggressor"] == "sell" and trade["px"] == 101 and trade["qty"] == 3
    hello = orjson.loads(proto.encode_hello({"BTC": Instrument("BTC", Decimal("0.1"))}))
    assert hello["protocol"] == proto.PROTOCOL_VERSION
    assert hello["instruments"]["BTC"]["tick_size"] == "0.1"


def test_batch_is_a_json_array_of_the_messages() -> None:
    a = proto.encode_heartbeat(1)
    b = proto.encode_delta("X", 1, 1, [(1, 1)], [])
    assert proto.batch([a]) == a
    assert orjson.loads(proto.batch([a, b])) == [orjson.loads(a), orjson.loads(b)]
