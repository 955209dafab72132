"""Column arrays in binary form: PostgreSQL reads them back as the lists psycopg itself would have sent."""

from __future__ import annotations

import math
from collections.abc import Iterator

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine

from spatial.arrays import float8_array, text_array
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


def test_a_number_array_holds_no_null() -> None:
    with pytest.raises(TypeError):
        float8_array([1.0, None])  # type: ignore[list-item]
