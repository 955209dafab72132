"""Column arrays in binary form: PostgreSQL reads them back as the lists psycopg itself would have sent."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta, timezone

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine

from spatial.arrays import BinaryArray, float4_array, float8_array, int8_array, text_array, timestamptz_array
from spatial.db import libpq_url
from spatial.settings import StoreSettings


@pytest.fixture(scope="module")
def conn(nanjing: Engine, nanjing_settings: StoreSettings) -> Iterator[psycopg.Connection]:
    with psycopg.connect(libpq_url(nanjing_settings)) as connection:
        yield connection


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.one_of(st.none(), st.text(max_size=12)), max_size=40))
def test_texts_come_back_as_sent(conn: psycopg.Connection, texts: list[str | None]) -> None:
    texts = [t.replace("\x00", "") if t else t for t in texts]  # (PostgreSQL text holds no NUL)
    row = conn.execute(
        "SELECT %b::text[], %b::text[] IS NOT DISTINCT FROM %b::text[]", (text_array(texts), text_array(texts), texts)
    ).fetchone()
    assert row is not None
    assert row[0] == texts and row[1] is True


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.floats(allow_nan=True, allow_infinity=True), max_size=40))
def test_numbers_come_back_as_sent(conn: psycopg.Connection, numbers: list[float]) -> None:
    row = conn.execute("SELECT %b::float8[]", (float8_array(numbers),)).fetchone()
    assert row is not None
    back = row[0]
    assert len(back) == len(numbers)
    for sent, got in zip(numbers, back, strict=True):
        assert (math.isnan(sent) and math.isnan(got)) or (
            sent == got and math.copysign(1, sent) == math.copysign(1, got)
        )


def test_a_batch_of_repeated_devices_is_the_same_array(conn: psycopg.Connection) -> None:
    devices = [f"WL-{i // 10:05d}" for i in range(5_000)]  # ten readings a device, as MQTT packs come
    row = conn.execute(
        "SELECT %b::text[] = %b::text[], cardinality(%b::text[])", (text_array(devices), devices, text_array(devices))
    ).fetchone()
    assert row == (True, 5_000)


@pytest.mark.parametrize("build", [float8_array, float4_array, int8_array])
def test_numbers_with_nulls_and_other_widths(conn: psycopg.Connection, build: Callable[..., BinaryArray]) -> None:
    for values in ([1, None, 3], [None, None], [7, 8, 9], []):
        row = conn.execute("SELECT %b", (build(values),)).fetchone()
        assert row is not None and row[0] == values


def test_times_come_back_to_the_microsecond(conn: psycopg.Connection) -> None:
    beijing = timezone(timedelta(hours=8))
    times = [
        datetime(2026, 12, 4, 22, 5, 1, 123456, tzinfo=beijing),
        datetime(1999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
    ]
    row = conn.execute(
        "SELECT %b, %b::timestamptz[] = %b::timestamptz[]", (timestamptz_array(times), timestamptz_array(times), times)
    ).fetchone()
    assert row is not None and row[0] == times and row[1] is True
