"""How values and errors cross processes: serializers and the error record (no Redis)."""

from __future__ import annotations

import json
import threading

import pytest

from bootup.errors import SingleflightError
from bootup.singleflight._redis_errors import RemoteError, SerializationError
from bootup.singleflight._redis_protocol import (
    STATUS_ERROR,
    STATUS_GONE,
    STATUS_OK,
    FlightConfig,
    KeyNames,
    decode_entry,
    first_entry_fields,
)
from bootup.singleflight._serialize import (
    JsonSerializer,
    PickleSerializer,
    Serializer,
    decode_error,
    encode_error,
)


class NeedsTwo(Exception):
    """An exception whose constructor wants two arguments."""

    def __init__(self, what: str, code: int) -> None:
        super().__init__(what, code)
        self.what = what
        self.code = code


class Unbuildable(Exception):
    """Its args do not fit its constructor: not constructible from the wire."""

    def __init__(self, *, reason: str) -> None:
        super().__init__(f"because {reason}")


def _raised(exc: BaseException) -> BaseException:
    try:
        raise exc
    except BaseException as caught:
        return caught


@pytest.mark.parametrize("serializer", [PickleSerializer(), JsonSerializer()])
def test_values_round_trip(serializer: Serializer) -> None:
    value = {"a": [1, 2.5, None, True], "b": "ü"}
    assert serializer.loads(serializer.dumps(value)) == value
    assert isinstance(serializer, Serializer)


def test_pickle_refusal_names_the_type() -> None:
    with pytest.raises(SerializationError) as info:
        PickleSerializer().dumps(threading.Lock())
    assert info.value.type_name == "_thread.lock"
    assert "_thread.lock" in str(info.value)
    assert info.value.direction == "encode"
    assert info.value.serializer == "pickle"
    assert isinstance(info.value, TypeError)
    assert isinstance(info.value, SingleflightError)


def test_json_refusal_names_the_type() -> None:
    with pytest.raises(SerializationError) as info:
        JsonSerializer().dumps({1, 2})
    assert info.value.type_name == "builtins.set"
    assert "builtins.set" in str(info.value)
    with pytest.raises(SerializationError, match=r"builtins\.float"):
        JsonSerializer().dumps(float("nan"))


def test_decode_garbage_is_a_clear_error() -> None:
    with pytest.raises(SerializationError, match="JSON") as info:
        JsonSerializer().loads(b"{not json")
    assert info.value.direction == "decode"
    with pytest.raises(SerializationError, match="pickle"):
        PickleSerializer().loads(b"\x80\x05garbage")


def test_error_with_importable_type_is_rebuilt_as_that_type() -> None:
    original = _raised(NeedsTwo("disk on fire", 7))
    rebuilt = decode_error(encode_error(original, origin="host:1"))
    assert type(rebuilt) is NeedsTwo
    assert isinstance(rebuilt, NeedsTwo)
    assert (rebuilt.what, rebuilt.code) == ("disk on fire", 7)
    assert str(rebuilt) == str(original)
    notes = getattr(rebuilt, "__notes__", [])
    assert any("host:1" in note and "_raised" in note for note in notes), notes


def test_builtin_error_keeps_type_and_message() -> None:
    original = _raised(KeyError("missing"))
    rebuilt = decode_error(encode_error(original))
    assert type(rebuilt) is KeyError
    assert str(rebuilt) == str(original)


def test_unconstructible_error_becomes_remote_error() -> None:
    original = _raised(Unbuildable(reason="it takes keywords"))
    rebuilt = decode_error(encode_error(original, origin="other:42"))
    assert isinstance(rebuilt, RemoteError)
    assert isinstance(rebuilt, SingleflightError)
    assert rebuilt.type_name.endswith(".Unbuildable")
    assert rebuilt.message == "because it takes keywords"
    assert "Unbuildable" in rebuilt.remote_traceback
    assert rebuilt.origin == "other:42"
    assert "because it takes keywords" in str(rebuilt)


def test_unknown_module_becomes_remote_error() -> None:
    record = {
        "type": "no_such_module_here.BoomError",
        "args": ["x"],
        "message": "x",
        "traceback": "Traceback ...\nno_such_module_here.BoomError: x\n",
        "origin": "far:1",
    }
    rebuilt = decode_error(json.dumps(record).encode())
    assert isinstance(rebuilt, RemoteError)
    assert rebuilt.type_name == "no_such_module_here.BoomError"
    assert "BoomError: x" in rebuilt.remote_traceback


def test_non_exception_names_are_not_rebuilt() -> None:
    # builtins.print is importable but not an exception type: never called.
    record = {"type": "builtins.print", "args": ["pwned"], "message": "pwned", "traceback": ""}
    rebuilt = decode_error(json.dumps(record).encode())
    assert isinstance(rebuilt, RemoteError)


def test_unjsonable_args_fall_back_to_the_message() -> None:
    original = _raised(ValueError(object()))
    rebuilt = decode_error(encode_error(original))
    assert type(rebuilt) is ValueError
    assert str(rebuilt) == str(original)


def test_remote_error_pickles() -> None:
    import pickle

    err = RemoteError("m.T", "msg", "tb", "h:1")
    back = pickle.loads(pickle.dumps(err))
    assert (back.type_name, back.message, back.remote_traceback, back.origin) == (
        "m.T",
        "msg",
        "tb",
        "h:1",
    )


def test_entry_decoding() -> None:
    ser = PickleSerializer()
    ok = decode_entry({b"s": STATUS_OK, b"f": b"pickle", b"p": ser.dumps([1]), b"o": b"h"}, ser)
    assert (ok.status, ok.value) == (STATUS_OK, [1])
    gone = decode_entry({b"s": STATUS_GONE, b"p": b""}, ser)
    assert gone.status == STATUS_GONE
    err = decode_entry({b"s": STATUS_ERROR, b"p": encode_error(_raised(OSError("x")))}, ser)
    assert isinstance(err.error, OSError)
    with pytest.raises(SerializationError, match=r"'json'.*'pickle'"):
        decode_entry({b"s": STATUS_OK, b"f": b"json", b"p": b"[1]", b"o": b"h:2"}, ser)
    with pytest.raises(SerializationError, match="status"):
        decode_entry({b"s": b"weird"}, ser)


def test_xread_reply_shapes() -> None:
    resp2 = [[b"s", [(b"1-0", {b"s": b"ok"})]]]
    resp3 = {b"s": [[(b"1-0", {"s": "ok"})]]}
    assert first_entry_fields(resp2) == {b"s": b"ok"}
    assert first_entry_fields(resp3) == {b"s": b"ok"}
    assert first_entry_fields(None) is None
    assert first_entry_fields([]) is None


def test_key_names_share_a_hash_slot_and_reject_unstable_keys() -> None:
    names = KeyNames.of("ns", "user:1")
    assert names.lease == "ns:{user:1}:lease"
    assert names.stream("t") == "ns:{user:1}:done:t"
    assert KeyNames.of("ns", b"k").lease == "ns:{k}:lease"
    with pytest.raises(SingleflightError, match="int"):
        KeyNames.of("ns", 42)


def test_config_validation() -> None:
    with pytest.raises(SingleflightError, match="lease_ttl"):
        FlightConfig.build(lease_ttl=0.0, result_ttl=1.0, socket_timeout=None)
    with pytest.raises(SingleflightError, match="result_ttl"):
        FlightConfig.build(lease_ttl=2.0, result_ttl=1.0, socket_timeout=None)
    with pytest.raises(SingleflightError, match="socket_timeout"):
        FlightConfig.build(lease_ttl=2.0, result_ttl=3.0, socket_timeout=0.1)
    config = FlightConfig.build(lease_ttl=10.0, result_ttl=60.0, socket_timeout=5.0)
    assert config.read_block < 5.0  # a blocking read never outlives the socket timeout
    assert config.block_ms(0.05) == 50
    # A waiter reads again just after the watched lease would expire (a dead leader is
    # replaced within one TTL), never later than one read block.
    assert config.block_ms(None, 1000) == 1020
    assert config.block_ms(None, 60_000) == round(config.read_block * 1000)
    assert config.block_ms(0.5, 1000) == 500
    assert config.extend_every == pytest.approx(10.0 / 3)
