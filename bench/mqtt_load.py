"""The MQTT benchmark's gateways: QoS 1 PUBLISH packets encoded in bulk and written to one socket.

Why not paho here: its ``publish`` costs ~170 µs of Python a message on this machine (a whole core at
5,800 messages/s), a core the platform under test then lacks, while in a city the gateways are other
machines. An MQTT 3.1.1 PUBLISH is a few bytes of header before its topic and payload (§3.3), so the
load generator encodes each message once and streams them; a reader thread counts the broker's PUBACKs,
and no more than ``window`` messages wait for theirs at once (packet identifiers are 16 bits). The
platform's own client stays paho; so do the planted alarms, whose publish times are the measurement.
"""

from __future__ import annotations

import socket
import struct
import threading
import time
from collections.abc import Iterable

CONNECT, CONNACK, PUBLISH_QOS1, PUBACK, DISCONNECT = 0x10, 0x20, 0x32, 0x40, 0xE0
CHUNK = 500  # messages a write
KEEPALIVE_S = 120


def _length(n: int) -> bytes:
    """MQTT's remaining length: 7 bits a byte, the high bit saying another follows (§2.2.3)."""
    out = bytearray()
    while True:
        n, byte = n >> 7, n & 0x7F
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _text(value: str) -> bytes:
    data = value.encode()
    return struct.pack("!H", len(data)) + data


def publish_packet(topic: str, payload: bytes, packet_id: int) -> bytes:
    """One QoS 1 PUBLISH: fixed header, topic, packet identifier, payload."""
    body = _text(topic) + struct.pack("!H", packet_id) + payload
    return bytes([PUBLISH_QOS1]) + _length(len(body)) + body


class BulkPublisher:
    """One gateway connection (clean session) writing pre-encoded QoS 1 messages as fast as asked."""

    def __init__(self, host: str, port: int, user: str, password: str, client_id: str, window: int = 20_000) -> None:
        self.window = window
        self.sent = self.acknowledged = 0
        self.changed = threading.Condition()
        self.sock = socket.create_connection((host, port), timeout=30)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        flags = 0x80 | 0x40 | 0x02  # user name, password, clean session
        body = _text("MQTT") + bytes([4, flags]) + struct.pack("!H", KEEPALIVE_S)
        body += _text(client_id) + _text(user) + _text(password)
        self.sock.sendall(bytes([CONNECT]) + _length(len(body)) + body)
        answer = self._read_exactly(4)
        if answer[0] != CONNACK or answer[3] != 0:
            raise ConnectionError(f"the broker refused the gateway's login (CONNACK {answer.hex()})")
        self.sock.settimeout(None)
        self.reader = threading.Thread(target=self._count_acknowledgements, daemon=True)
        self.reader.start()

    def _read_exactly(self, size: int) -> bytes:
        data = b""
        while len(data) < size:
            part = self.sock.recv(size - len(data))
            if not part:
                raise ConnectionError("the broker closed the connection")
            data += part
        return data

    def _count_acknowledgements(self) -> None:
        """Read the broker's packets (PUBACKs, 4 bytes each) and count them until the socket closes."""
        pending = b""
        while True:
            try:
                data = self.sock.recv(65536)
            except OSError:
                return
            if not data:
                return
            pending += data
            whole = len(pending) - len(pending) % 4  # a publisher receives only PUBACKs: fixed 4-byte packets
            count = sum(1 for i in range(0, whole, 4) if pending[i] == PUBACK)
            pending = pending[whole:]
            with self.changed:
                self.acknowledged += count
                self.changed.notify_all()

    def publish(self, messages: Iterable[tuple[str, bytes]], per_second: float | None = None) -> float:
        """Publish every (topic, payload), as fast as the broker takes them or paced at ``per_second``;
        seconds until the broker acknowledged the last."""
        start = time.perf_counter()
        chunk: list[bytes] = []
        for topic, payload in messages:
            chunk.append(publish_packet(topic, payload, self.sent % 65535 + 1))
            self.sent += 1
            if len(chunk) == CHUNK:
                self._write(chunk, start, per_second)
                chunk = []
        if chunk:
            self._write(chunk, start, per_second)
        self.wait_acknowledged(120)
        return time.perf_counter() - start

    def _write(self, chunk: list[bytes], start: float, per_second: float | None) -> None:
        if per_second and (ahead := self.sent / per_second - (time.perf_counter() - start)) > 0:
            time.sleep(ahead)
        with self.changed:
            if not self.changed.wait_for(lambda: self.sent - self.acknowledged <= self.window, 120):
                raise TimeoutError("the broker stopped acknowledging the gateway's messages")
        self.sock.sendall(b"".join(chunk))

    def wait_acknowledged(self, timeout_s: float) -> None:
        """Until every message sent has its PUBACK."""
        with self.changed:
            if not self.changed.wait_for(lambda: self.acknowledged >= self.sent, timeout_s):
                raise TimeoutError(f"{self.sent - self.acknowledged} messages unacknowledged after {timeout_s:.0f} s")

    def close(self) -> None:
        """Leave the broker cleanly."""
        self.sock.sendall(bytes([DISCONNECT, 0]))
        self.sock.close()
