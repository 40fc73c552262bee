"""The client's JSON codec gives what the json package gives, on random documents and errors."""

from __future__ import annotations

import json
import math
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bootup.control import _wirejson
from bootup.control.errors import ProtocolError
from bootup.control.protocol import Decoder, encode

_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False)
    | st.text()
)
_documents = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(), inner, max_size=5),
    max_leaves=30,
)


@given(_documents)
def test_dumps_equals_json_compact(document: object) -> None:
    assert _wirejson.dumps(document) == json.dumps(
        document, separators=(",", ":"), ensure_ascii=False
    )


@given(_documents, st.sampled_from(["", " ", "\n\t ", "\r\n"]))
def test_loads_equals_json(document: object, padding: str) -> None:
    text = padding + json.dumps(document, indent=1) + padding
    assert _wirejson.loads(text) == json.loads(text)


def test_constants_parse_as_json_parses_them() -> None:
    value = _wirejson.loads("[NaN, Infinity, -Infinity]")
    assert math.isnan(value[0])
    assert value[1:] == [math.inf, -math.inf]


@pytest.mark.parametrize(
    "text",
    ["", "   ", "{", '{"a": }', '{"a" 1}', "[1,]", '"unterminated', "{} {}", "1 x", "nul"],
)
def test_errors_name_what_and_where_like_json(text: str) -> None:
    with pytest.raises(json.JSONDecodeError) as expected:
        json.loads(text)
    with pytest.raises(ValueError, match=re.escape(expected.value.msg)) as found:
        _wirejson.loads(text)
    assert (getattr(found.value, "msg", None), getattr(found.value, "pos", None)) == (
        expected.value.msg,
        expected.value.pos,
    )


def test_unencodable_values_raise_type_error() -> None:
    with pytest.raises(TypeError, match="not JSON serializable"):
        _wirejson.dumps({"a": object()})


def test_protocol_reports_bad_json_with_its_offset() -> None:
    decoder = Decoder()
    assert decoder.feed(encode({"parameters": {"x": "ä"}})) == [{"parameters": {"x": "ä"}}]
    with pytest.raises(ProtocolError, match=r"expected JSON, Extra data at byte 3"):
        decoder.feed(b"{} {}\0")
