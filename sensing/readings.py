"""Readings as devices send them: SenML (RFC 8428) records, of which the platform's own JSON is the simplest case.

One reading is ``{"t": 1733299200, "v": 3.42}``: a time and a value. A message may carry one record or an
array of them, and SenML's base fields carry forward from the record that sets them (``bn`` base name,
``bt`` base time, ``bu`` base unit), so a gateway's pack ``[{"bn": "WL-0001/", "bt": 1733299200, "u": "m",
"n": "level", "v": 3.4}, {"t": 60, "v": 3.5}]`` is two readings of device WL-0001 one minute apart.
Time is seconds since 1970 (absolute), or, below 2**28 as RFC 8428 says, relative to now; the platform
also takes an ISO 8601 string. ``vb`` (a boolean) counts as 1 or 0; ``vs`` and ``vd`` carry no number
and are refused. The device is the record's ``device`` (HTTP batches), else its resolved name up to the
first ``/``; on MQTT the topic names the device and a record naming another one is refused.

Parsing judges form only; what needs the registry (is the device known, is the value possible for its
kind) is judged by the database in the same call that stores the readings.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NamedTuple

import orjson

RELATIVE_BELOW = 2**28  # RFC 8428 §4.5.3: a time below this is relative to now
EARLIEST, LATEST = -62135596800.0, 253402300799.0  # the years 1 to 9999 (what Python and PostgreSQL both hold)
MAX_RECORDS = 50_000  # one message or request; a gateway sends more in several
FIELDS = frozenset({"bn", "bt", "bu", "bv", "bver", "n", "u", "v", "vs", "vb", "vd", "s", "t", "ut", "device"})


class Reading(NamedTuple):
    """One value of one device at one time, as received (its unit only if the sender named one).

    A tuple, and the time in seconds since 1970 (UTC): a batch makes thousands, and a frozen dataclass
    and a ``datetime`` each cost more to make than the rest of a reading's parsing.
    """

    device: str
    at: float  # seconds since 1970, UTC
    value: float
    unit: str | None
    record: int  # the record's position in its message or request (its index)


@dataclass(frozen=True, slots=True)
class Refusal:
    """A record refused, where it was and why: ``reason`` is a code counted per day, ``detail`` says what to fix."""

    index: int
    reason: str
    detail: str


def parse(
    payload: bytes, *, device: str | None = None, now: datetime | None = None, first: int = 0
) -> tuple[list[Reading], list[Refusal]]:
    """Every record of a message: the readings it holds and, by position, the records refused.

    ``device``: the topic's device (MQTT); records then need not name one. ``first``: the index of the
    message's first record (messages gathered in one batch are indexed one after the other). A payload
    that is not JSON, or holds no record, is one refusal at index ``first``.
    """
    try:
        document = orjson.loads(payload)
    except orjson.JSONDecodeError as error:
        return [], [Refusal(first, "malformed", f"not JSON: {error}")]
    records = document if isinstance(document, list) else [document]
    if not records:
        return [], [Refusal(first, "malformed", "an empty array holds no reading")]
    if len(records) > MAX_RECORDS:
        return [], [Refusal(first, "too_large", f"{len(records)} records; send at most {MAX_RECORDS} at once")]
    return _resolve(records, device, (now or datetime.now(UTC)).timestamp(), first)


def _resolve(
    records: list[Any], topic_device: str | None, now: float, first: int
) -> tuple[list[Reading], list[Refusal]]:
    """The records in order, SenML's base fields carried forward (the loop every reading goes through: no
    work for a field the record does not have)."""
    readings: list[Reading] = []
    refusals: list[Refusal] = []
    base_name, base_time, base_unit = "", 0.0, None
    for index, record in enumerate(records, start=first):
        if type(record) is not dict:
            refusals.append(Refusal(index, "malformed", "a record is a JSON object with t and v"))
            continue
        if not FIELDS.issuperset(record):
            unknown = sorted(set(record) - FIELDS)
            refusals.append(Refusal(index, "malformed", f"unknown fields {unknown}; SenML fields or device"))
            continue
        try:
            if "bn" in record:
                base_name = _text(record["bn"], "bn")
            if "bt" in record:
                base_time = _number(record["bt"], "bt")
            if "bu" in record:
                base_unit = _text(record["bu"], "bu")
            device = _device(record, base_name, topic_device)
            at = _time(record.get("t", 0), base_time, now)
            value = _value(record)
            unit = _text(record["u"], "u") if "u" in record else base_unit
        except Refused as refused:
            refusals.append(Refusal(index, refused.reason, str(refused)))
            continue
        readings.append(Reading(device, at, value, unit, index))
    return readings, refusals


class Refused(ValueError):
    """A record's field cannot be read; ``reason`` is the code it is counted under."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


def _text(value: object, field: str) -> str:
    if not isinstance(value, str):
        raise Refused("malformed", f"{field} is a string")
    return value


def _number(value: object, field: str) -> float:
    if type(value) is float:
        return value
    if type(value) is not int:  # (bool is an int's subclass, not an int: refused here)
        raise Refused("malformed", f"{field} is a number")
    return float(value)


def _device(record: dict[str, Any], base_name: str, topic_device: str | None) -> str:
    if topic_device is not None and not base_name and "n" not in record and "device" not in record:
        return topic_device  # (the usual MQTT record: the topic names the device, the record does not)
    named = record.get("device")
    if named is None and (base_name or "n" in record):
        named = (base_name + _text(record.get("n", ""), "n")).split("/", 1)[0]
    if named is not None and not isinstance(named, str):
        raise Refused("malformed", "device is a string")
    if topic_device is not None:
        if named and named != topic_device:
            raise Refused("device_mismatch", f"the record names {named!r} on the topic of {topic_device!r}")
        return topic_device
    if not named:
        raise Refused("malformed", "name the device: a device field, or a SenML name (bn + n) starting with it")
    return named


def _time(value: object, base_time: float, now: float) -> float:
    if isinstance(value, str):
        try:
            at = datetime.fromisoformat(value)
        except ValueError:
            raise Refused("malformed", f"t {value!r} is neither seconds since 1970 nor ISO 8601") from None
        if at.tzinfo is None:
            raise Refused("malformed", f"t {value!r} needs its offset (+08:00 for Beijing time, or Z)")
        return at.timestamp()
    seconds = base_time + _number(value, "t")
    if not math.isfinite(seconds):
        raise Refused("malformed", "t is a finite number")
    if abs(seconds) < RELATIVE_BELOW:
        return now + seconds
    if not EARLIEST <= seconds <= LATEST:
        raise Refused("malformed", f"t {seconds} is no time a device can have")
    return seconds


def _value(record: dict[str, Any]) -> float:
    if "v" in record:
        value = record["v"]
        if type(value) is int:
            return float(value)
        if type(value) is not float:  # (bool, None, text; orjson reads NaN and Infinity as null)
            raise Refused("not_a_number", "v is a number")
        if not math.isfinite(value):  # (a float from elsewhere may be either)
            raise Refused("not_a_number", "v is a finite number")
        return value
    if "vb" in record:
        if not isinstance(record["vb"], bool):
            raise Refused("malformed", "vb is true or false")
        return 1.0 if record["vb"] else 0.0
    if "vs" in record or "vd" in record:
        raise Refused("not_a_number", "a string or data value (vs, vd) is no reading: send v")
    raise Refused("malformed", "no value: send v (a number) or vb (true or false)")
