"""The sans-IO Varlink codec: framing, limits, field checks, and fuzzing."""

from __future__ import annotations

import contextlib
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bootup.control.errors import ProtocolError
from bootup.control.protocol import (
    Decoder,
    encode_call,
    encode_error,
    encode_reply,
    parse_call,
    parse_reply,
)

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=10,
)


def test_messages_split_at_nul_and_partial_ones_wait() -> None:
    decoder = Decoder()
    wire = encode_call("a.B", {"x": 1}) + encode_call("a.C", more=True)
    assert decoder.feed(wire[:5]) == []
    assert decoder.pending == 5
    first, second = decoder.feed(wire[5:])
    assert first == {"method": "a.B", "parameters": {"x": 1}}
    assert second == {"method": "a.C", "parameters": {}, "more": True}
    assert decoder.pending == 0


def test_byte_by_byte_equals_all_at_once() -> None:
    wire = encode_reply({"a": "ü\u0000x"}, continues=True) + encode_error("x.Y", {"n": 2})
    decoder = Decoder()
    got = [m for i in range(len(wire)) for m in decoder.feed(wire[i : i + 1])]
    assert got == Decoder().feed(wire)
    assert got[0] == {"parameters": {"a": "ü\u0000x"}, "continues": True}


def test_oversized_message_without_nul_is_refused_before_the_limit_is_passed_by_much() -> None:
    decoder = Decoder(limit=1000)
    decoder.feed(b"{" + b" " * 900)
    with pytest.raises(ProtocolError, match=r"exceeds 1000 bytes without its NUL"):
        decoder.feed(b" " * 200)


def test_oversized_complete_message_is_refused_with_its_offset() -> None:
    decoder = Decoder(limit=100)
    first = encode_call("a.B")
    decoder.feed(first)
    expected = rf"stream offset {len(first)} is 201 bytes, expected at most 100"
    with pytest.raises(ProtocolError, match=expected):
        decoder.feed(b'"' + b"x" * 199 + b'"\0')


@pytest.mark.parametrize(
    ("wire", "message"),
    [
        (b"{not json}\0", r"offset 0: expected JSON"),
        (b"[1,2]\0", r"expected a JSON object, found list"),
        (b'"s"\0', r"expected a JSON object, found str"),
        (b'{"a":"\xff"}\0', r"expected UTF-8, found invalid byte at 6"),
    ],
)
def test_malformed_messages_name_what_was_expected(wire: bytes, message: str) -> None:
    with pytest.raises(ProtocolError, match=message):
        Decoder().feed(wire)


@pytest.mark.parametrize(
    ("message", "error"),
    [
        ({}, r"call field 'method': expected a string 'interface.Method', found None"),
        ({"method": "NoDot"}, r"found 'NoDot'"),
        ({"method": "a.B", "parameters": []}, r"'parameters': expected an object, found list"),
        ({"method": "a.B", "more": 1}, r"'more': expected a boolean, found int"),
        ({"method": "a.B", "oneway": "yes"}, r"'oneway': expected a boolean, found str"),
    ],
)
def test_bad_calls_are_refused_with_the_field(message: dict[str, object], error: str) -> None:
    with pytest.raises(ProtocolError, match=error):
        parse_call(message)


def test_call_fields() -> None:
    call = parse_call({"method": "io.x.Y", "parameters": None, "oneway": True})
    assert (call.interface, call.member, call.parameters, call.oneway) == ("io.x", "Y", {}, True)
    reply = parse_reply({"error": "a.B", "parameters": {"m": 1}})
    assert (reply.error, reply.parameters, reply.continues) == ("a.B", {"m": 1}, False)
    with pytest.raises(ProtocolError, match="'continues'"):
        parse_reply({"continues": "no"})


@given(st.dictionaries(st.text(), JSON, max_size=5), st.booleans())
def test_replies_round_trip(parameters: dict[str, object], continues: bool) -> None:
    [message] = Decoder().feed(encode_reply(parameters, continues=continues))
    reply = parse_reply(message)
    assert reply.parameters == parameters
    assert reply.continues is continues


@settings(max_examples=300)
@given(st.binary(max_size=300))
def test_random_bytes_only_ever_raise_protocol_error(data: bytes) -> None:
    decoder = Decoder(limit=200)
    try:
        for message in decoder.feed(data):
            assert isinstance(message, dict)
            with contextlib.suppress(ProtocolError):
                parse_call(message)
    except ProtocolError:
        pass


@given(st.dictionaries(st.text(), JSON, max_size=3), st.data())
def test_truncated_messages_stay_pending(
    parameters: dict[str, object], data: st.DataObject
) -> None:
    wire = encode_call("a.B", parameters)
    cut = data.draw(st.integers(0, len(wire) - 1))
    decoder = Decoder()
    assert decoder.feed(wire[:cut]) == []
    assert decoder.feed(wire[cut:]) == [json.loads(wire[:-1])]
