"""Readings over MQTT through the broker the suite starts: stored, judged, dead-lettered, and nothing lost to a restart.

The suite's app (the ``client`` fixture) runs the ``mqtt-ingest`` loop, subscribed with a persistent
session; these tests publish as a gateway would, with QoS 1.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import orjson
import paho.mqtt.client as paho
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from sensing.broker import GATEWAY_USER, EmbeddedBroker, topic
from sensing.mqtt import Address
from tests.conftest import add_sensor, eventually, grid_point


@pytest.fixture(scope="module")
def publisher(broker: EmbeddedBroker, client: TestClient, nanjing: Engine) -> Iterator[paho.Client]:
    """A gateway's connection, once the suite's app (the ``client`` fixture) is subscribed: a probe device's
    readings are published until one is stored (QoS 1 to a topic nobody has subscribed yet is dropped)."""
    address = Address.of(broker.url(GATEWAY_USER))
    gateway = paho.Client(
        paho.CallbackAPIVersion.VERSION2, client_id="test-gateway", clean_session=False, protocol=paho.MQTTv311
    )
    gateway.username_pw_set(address.user, address.password)
    gateway.connect(address.host, address.port)
    gateway.loop_start()
    probe = add_sensor(nanjing, "noise", (118.79, 32.05))

    def arrived() -> bool:
        publish(gateway, "nanjing", probe, {"t": ago(0), "v": 40.0})
        return stored(nanjing, probe) > 0

    eventually(arrived, timeout_s=60)
    yield gateway
    gateway.disconnect()
    gateway.loop_stop()


@pytest.fixture(scope="module")
def place(nanjing: Engine) -> tuple[float, float]:
    """A point inside a grid of 320106."""
    return grid_point(nanjing, "320106", 3)


def stored(nanjing: Engine, code: str) -> int:
    with nanjing.connect() as conn:
        return int(
            conn.execute(
                text("SELECT count(*) FROM observation o JOIN sensor s ON s.id = o.sensor_id WHERE s.code = :c"),
                {"c": code},
            ).scalar_one()
        )


def publish(gateway: paho.Client, city: str, device: str, payload: object) -> None:
    body = payload if isinstance(payload, bytes) else orjson.dumps(payload)
    gateway.publish(topic(city, device), body, qos=1).wait_for_publish(10)


def ago(seconds: float) -> float:
    return (datetime.now(UTC) - timedelta(seconds=seconds)).timestamp()


def test_a_published_reading_is_stored_judged_and_files_a_case(
    publisher: paho.Client, nanjing: Engine, place: tuple[float, float], client: TestClient
) -> None:
    code = add_sensor(nanjing, "gas", place, department="燃气集团")
    publish(publisher, "nanjing", code, {"t": ago(60), "v": 2.0})
    publish(publisher, "nanjing", code, [{"t": ago(30), "v": 3.0}, {"t": ago(20), "v": 45.0, "u": "%"}])
    eventually(lambda: stored(nanjing, code) == 3)

    def case() -> int | None:
        with nanjing.connect() as conn:
            return conn.execute(
                text(
                    "SELECT a.case_id FROM sensor_alarm a JOIN sensor s ON s.id = a.sensor_id "
                    "WHERE s.code = :c AND a.case_id IS NOT NULL"
                ),
                {"c": code},
            ).scalar()

    case_id = eventually(case)
    with nanjing.connect() as conn:
        category, departments = conn.execute(
            text("SELECT category_code, departments FROM case_file WHERE id = :c"), {"c": case_id}
        ).one()
    assert category == "020403" and "燃气集团" in departments


def test_bad_messages_become_dead_letters_with_their_reason(
    publisher: paho.Client, nanjing: Engine, place: tuple[float, float]
) -> None:
    code = add_sensor(nanjing, "water_level", place)
    publish(publisher, "nanjing", code, b"{level: 3")
    publish(publisher, "nanjing", code, [{"t": ago(5), "v": -9999}, {"t": ago(4), "v": 2.5}])
    publish(publisher, "nanjing", "NOT-REGISTERED", {"t": ago(3), "v": 1})
    eventually(lambda: stored(nanjing, code) == 1)

    def letters() -> list[tuple[str, str]] | None:
        with nanjing.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT reason, topic FROM sensing_dead_letter WHERE topic LIKE :t OR topic LIKE '%NOT-REGISTERED%'"
                ),
                {"t": f"%/{code}/%"},
            ).all()
        return [tuple(row) for row in rows] if len(rows) >= 3 else None

    reasons = sorted(reason for reason, _ in eventually(letters))
    assert reasons == ["malformed", "out_of_range", "unknown_device"]
    with nanjing.connect() as conn:
        condition = conn.execute(
            text(
                "SELECT st.condition::text FROM sensor_status st JOIN sensor s ON s.id = st.sensor_id WHERE s.code = :c"
            ),
            {"c": code},
        ).scalar_one()
    assert condition == "normal"  # the good reading came after the faulty one


def test_a_broker_restart_loses_no_reading_in_flight(
    publisher: paho.Client, broker: EmbeddedBroker, nanjing: Engine, place: tuple[float, float], client: TestClient
) -> None:
    code = add_sensor(nanjing, "rain_gauge", place)
    for i in range(200):
        publisher.publish(topic("nanjing", code), orjson.dumps({"t": ago(600 - i), "v": 1.0}), qos=1)
    broker.stop()  # mid-stream: some stored, some queued for the subscriber's session, some still with the gateway
    broker.start()
    for i in range(200, 300):
        publish(publisher, "nanjing", code, {"t": ago(600 - i), "v": 1.0})
    eventually(lambda: stored(nanjing, code) == 300, timeout_s=60)
