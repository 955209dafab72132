"""Bulk exchange (issue 24, item 4): export → import into another database, equal, idempotent, checked.

The source is the synthetic-history city (a year of cases with whole loops); the receiving side is a
Nanjing database of its own, empty of cases, as the city's data exchange platform would fill it.
"""

from __future__ import annotations

import asyncio
import csv
import hashlib
import shutil
from collections.abc import Iterator
from pathlib import Path

import jsonschema_rs
import orjson
import psycopg
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Engine, text
from typer.testing import CliRunner

from cityops.cli import app
from command.chains import first_broken_transition
from command.synthetic_history import load_history
from command.workflow import Mover, Rules, system_move
from command.working_time import WorkingCalendar
from exchange.bulk_export import export_cases
from exchange.bulk_import import ImportedExchange, import_cases
from exchange.changes import schema
from exchange.publication_key import public_pem
from exchange.publications import canonical
from exchange.records import MANIFEST, PUBLIC_KEY, SIGNATURE
from spatial.audit import verify
from spatial.db import libpq_url
from spatial.embedded import EmbeddedCluster
from spatial.errors import InvalidInputError
from spatial.settings import StoreSettings
from tests.conftest import city_of_its_own

# every move of a case, in order, as text: equal on both sides when the history crossed whole
FINGERPRINTS = """
SELECT {key}, md5(string_agg(concat_ws('|', t.seq, t.action, t.from_state, t.to_state, t.actor, t.role, t.department,
                  to_char(t.at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US'), t.note, t.unit_id IS NULL,
                  to_char(t.deadline AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US')), '/' ORDER BY t.seq))
       || e.state || e.version
FROM case_file e JOIN case_transition t ON t.case_id = e.id {where} GROUP BY e.id
"""
COUNTS = "SELECT count(*), (SELECT count(*) FROM case_transition) FROM case_file"


@pytest.fixture(scope="module")
def source(history_city: tuple[Engine, StoreSettings]) -> tuple[Engine, StoreSettings]:
    engine, settings = history_city
    load_history(settings, engine, 1_200, prefix="exchange", seed=11)
    return engine, settings


@pytest.fixture(scope="module")
def receiver(
    cluster: EmbeddedCluster, data_dir: Path, db_port: int, nanjing_manifest: Path
) -> Iterator[tuple[Engine, StoreSettings]]:
    with city_of_its_own(cluster, data_dir, db_port, nanjing_manifest, "nanjing_exchange") as city:
        yield city


@pytest.fixture(scope="module")
def exported(source: tuple[Engine, StoreSettings], tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("exchange") / "history"
    export_cases(source[1], directory, jobs=2, actor="tests")
    return directory


@pytest.fixture(scope="module")
def first_import(receiver: tuple[Engine, StoreSettings], exported: Path) -> ImportedExchange:
    engine, settings = receiver
    return import_cases(engine, exported, settings.city, actor="tests")


def fingerprints(engine: Engine, key: str, where: str = "") -> dict[str, str]:
    with engine.connect() as conn:
        return dict(conn.execute(text(FINGERPRINTS.format(key=key, where=where))).all())  # type: ignore[arg-type]


def test_the_export_is_signed_and_every_line_follows_its_served_schema(
    source: tuple[Engine, StoreSettings], exported: Path
) -> None:
    manifest = orjson.loads((exported / MANIFEST).read_bytes())
    with source[0].connect() as conn:
        cases, moves = conn.execute(text(COUNTS)).one()
        logged = conn.execute(
            text("SELECT detail FROM audit_log WHERE action = 'cases.exported' ORDER BY id DESC LIMIT 1")
        ).scalar_one()
    assert (manifest["cases"], manifest["transitions"]) == (cases, moves) and cases >= 1_200
    assert manifest["source"] == "urn:cityops:nanjing_history" and logged["cases"] == cases
    assert {f["type"] for f in manifest["files"]} == {"case.record", "case.transition"}
    assert sum(f["rows"] for f in manifest["files"]) == cases + moves
    checkers = {kind: jsonschema_rs.validator_for(schema(kind)) for kind in ("case.record", "case.transition")}
    for part in manifest["files"]:
        with (exported / part["name"]).open("rb") as lines:
            for number, line in enumerate(lines):
                if number % 97 == 0:  # a sample of every part
                    checkers[part["type"]].validate(orjson.loads(line))
    text_lines = "".join(p.read_text() for p in exported.glob("cases-*.ndjson"))
    assert "reporter" not in text_lines and "phone" not in text_lines


def test_an_import_into_another_database_equals_the_source_and_keeps_the_chains_whole(
    source: tuple[Engine, StoreSettings],
    receiver: tuple[Engine, StoreSettings],
    exported: Path,
    first_import: ImportedExchange,
) -> None:
    engine, _ = receiver
    sent = fingerprints(source[0], "coalesce(e.external_id, 'nanjing_history:' || e.id)")
    arrived = fingerprints(engine, "e.external_id", f"WHERE e.import_batch_id = {first_import.batch_id}")
    assert first_import.new_cases == len(sent) and first_import.rejected == 0
    assert arrived == sent
    with engine.connect() as conn:
        assert verify(conn).intact and first_broken_transition(conn) is None
        logged = conn.execute(
            text("SELECT actor, detail FROM audit_log WHERE action = 'cases.imported' ORDER BY id DESC LIMIT 1")
        ).one()
        trace, detail = conn.execute(
            text("SELECT e.routing_trace, t.detail FROM case_file e JOIN case_transition t ON t.case_id = e.id LIMIT 1")
        ).one()
        open_without_clock = conn.execute(
            text(
                "SELECT count(*) FROM case_file e LEFT JOIN case_clock k ON k.case_id = e.id "
                "WHERE e.state NOT IN ('closed', 'void') AND k.case_id IS NULL"
            )
        ).scalar_one()
    assert logged.actor == "tests" and logged.detail["source"] == "urn:cityops:nanjing_history"
    assert logged.detail["new"] == len(sent) and len(logged.detail["manifest_sha256"]) == 64
    assert trace["received_from"] == "urn:cityops:nanjing_history" and "cell" in trace
    assert detail["exchange"]["source"] == "urn:cityops:nanjing_history" and len(detail["exchange"]["hash"]) == 64
    assert open_without_clock == 0


def test_importing_the_same_export_again_adds_nothing(
    receiver: tuple[Engine, StoreSettings], exported: Path, first_import: ImportedExchange
) -> None:
    engine, settings = receiver
    with engine.connect() as conn:
        before = conn.execute(text(COUNTS)).one()
    again = import_cases(engine, exported, settings.city, actor="tests")
    with engine.connect() as conn:
        after = conn.execute(text(COUNTS)).one()
    assert (again.new_cases, again.advanced_cases, again.moves) == (0, 0, 0)
    assert again.unchanged_cases == first_import.new_cases and after == before


def _move_an_open_case(settings: StoreSettings) -> tuple[int, str]:
    """One open case of the source moved one step by the system; its id and its state now."""

    async def move() -> tuple[int, str]:
        async with await psycopg.AsyncConnection.connect(libpq_url(settings), autocommit=True) as conn:
            rules = await Rules.load(conn, WorkingCalendar.china())
            rows = await (
                await conn.execute(
                    "SELECT id, state FROM case_file WHERE state NOT IN ('closed', 'void') "
                    "AND external_id LIKE 'exchange-%' ORDER BY id"
                )
            ).fetchall()
            for case_id, state in rows:
                for possible in (m for m in rules.moves.get(state, ()) if not m.needs_evidence):
                    moved = await system_move(conn, case_id, possible.action, Mover("tests"), "by the test", rules)
                    if moved is not None:
                        return case_id, moved["state"]
        raise AssertionError("no open case of the history could be moved")

    return asyncio.run(move())


def test_a_later_export_brings_only_the_moves_made_since(
    source: tuple[Engine, StoreSettings],
    receiver: tuple[Engine, StoreSettings],
    first_import: ImportedExchange,
    tmp_path: Path,
) -> None:
    engine, settings = receiver
    case_id, state = _move_an_open_case(source[1])
    with source[0].connect() as conn:
        external_id = conn.execute(text("SELECT external_id FROM case_file WHERE id = :c"), {"c": case_id}).scalar_one()
    export_cases(source[1], tmp_path / "later", jobs=1)
    later = import_cases(engine, tmp_path / "later", settings.city)
    assert (later.new_cases, later.advanced_cases, later.moves, later.rejected) == (0, 1, 1, 0)
    with engine.connect() as conn:
        here = conn.execute(text("SELECT state FROM case_file WHERE external_id = :x"), {"x": external_id}).scalar_one()
        assert here == state and first_broken_transition(conn) is None


def _resigned(directory: Path, edit_lines: dict[str, list[bytes]]) -> None:
    """Rewrite parts (name → lines), then the manifest's sizes and hashes, signed with a key of another city."""
    manifest = orjson.loads((directory / MANIFEST).read_bytes())
    for name, lines in edit_lines.items():
        (directory / name).write_bytes(b"".join(lines))
    for part in manifest["files"]:
        body = (directory / part["name"]).read_bytes()
        part |= {"rows": body.count(b"\n"), "bytes": len(body), "sha256": hashlib.sha256(body).hexdigest()}
    manifest["source"] = "urn:cityops:elsewhere"
    body = canonical(manifest)
    key = Ed25519PrivateKey.generate()
    (directory / MANIFEST).write_bytes(body)
    (directory / SIGNATURE).write_bytes(key.sign(body))
    (directory / PUBLIC_KEY).write_text(public_pem(key))


def test_bad_lines_are_rejected_with_the_reason_and_the_rest_land(
    receiver: tuple[Engine, StoreSettings], exported: Path, first_import: ImportedExchange, tmp_path: Path
) -> None:
    engine, settings = receiver
    directory = tmp_path / "elsewhere"
    shutil.copytree(exported, directory)
    manifest = orjson.loads((directory / MANIFEST).read_bytes())
    edits: dict[str, list[bytes]] = {}
    cases = [p["name"] for p in manifest["files"] if p["type"] == "case.record"]
    moves = [p["name"] for p in manifest["files"] if p["type"] == "case.transition"]
    for name in cases:  # another city's ids, so every case is new here
        edits[name] = [
            orjson.dumps({**orjson.loads(line), "id": "elsewhere:" + orjson.loads(line)["id"]}) + b"\n"
            for line in (directory / name).read_bytes().splitlines()
        ]
    first = cases[0]
    broken = {1: {"category": "999999"}, 2: {"lon": 100.0, "lat": 30.0}, 3: {"responsible_unit": "329999"}}
    for line, change in broken.items():
        edits[first][line] = orjson.dumps({**orjson.loads(edits[first][line]), **change}) + b"\n"
    unreadable = orjson.loads(edits[first][4])["number"]
    edits[first][4] = b"{not json\n"
    moves_lines = [line + b"\n" for line in (directory / moves[0]).read_bytes().splitlines()]
    moves_lines.append(orjson.dumps({**orjson.loads(moves_lines[0]), "case": 987654321}) + b"\n")
    edits[moves[0]] = moves_lines
    _resigned(directory, edits)

    done = import_cases(engine, directory, settings.city, rejects_path=tmp_path / "rejects.csv")
    with (tmp_path / "rejects.csv").open() as rows:
        reasons = {(r["file"], int(r["line"])): r["reason"] for r in csv.DictReader(rows)}
    assert "category 999999 is not one of this city's categories" in reasons[(first, 2)]
    assert "lies outside this city's grids" in reasons[(first, 3)]
    assert "responsible unit 329999 is not a unit of this city" in reasons[(first, 4)]
    assert "Invalid JSON" in reasons[(first, 5)] or "json" in reasons[(first, 5)].lower()
    orphan = (moves[0], len(moves_lines))
    assert reasons[orphan] == "names case 987654321, which the export does not hold"
    its_moves = [r for r in reasons.values() if r.startswith(f"names case {unreadable},")]  # the unreadable case's
    assert its_moves and done.rejected == len(reasons) == 5 + len(its_moves)
    assert done.new_cases == first_import.new_cases - 4
    with engine.connect() as conn:
        assert first_broken_transition(conn) is None
        landed = conn.execute(
            text("SELECT count(*) FROM case_file WHERE import_batch_id = :b"), {"b": done.batch_id}
        ).scalar_one()
    assert landed == done.new_cases


def test_an_altered_or_own_export_is_refused_whole(
    source: tuple[Engine, StoreSettings],
    receiver: tuple[Engine, StoreSettings],
    exported: Path,
    first_import: ImportedExchange,
    tmp_path: Path,
) -> None:
    engine, settings = receiver
    with engine.connect() as conn:
        before = conn.execute(text("SELECT count(*), (SELECT count(*) FROM import_batch) FROM case_file")).one()
    tampered = tmp_path / "tampered"
    shutil.copytree(exported, tampered)
    part = sorted(tampered.glob("cases-*.ndjson"))[0]
    part.write_bytes(part.read_bytes().replace(b'"severity":"IV"', b'"severity":"I"', 1))
    with pytest.raises(InvalidInputError, match="does not match its manifest"):
        import_cases(engine, tampered, settings.city)
    (tampered / MANIFEST).write_bytes(
        (tampered / MANIFEST).read_bytes().replace(b"nanjing_history", b"nanjing_hist0ry")
    )
    with pytest.raises(InvalidInputError, match="does not hold"):
        import_cases(engine, tampered, settings.city)
    with pytest.raises(InvalidInputError, match="exported by this city"):
        import_cases(source[0], exported, source[1].city)
    with engine.connect() as conn:
        after = conn.execute(text("SELECT count(*), (SELECT count(*) FROM import_batch) FROM case_file")).one()
    assert after == before


def test_the_command_line_exports_and_says_what_it_wrote(
    source: tuple[Engine, StoreSettings], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    settings = source[1]
    monkeypatch.setenv("CITYOPS_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("CITYOPS_CITY", settings.city)
    monkeypatch.setenv("CITYOPS_DB_PORT", str(settings.db_port))
    monkeypatch.delenv("CITYOPS_DATABASE_URL", raising=False)
    result = CliRunner().invoke(app, ["export", str(tmp_path / "cli")])
    assert result.exit_code == 0, result.output
    assert "cases and" in result.output and "urn:cityops:nanjing_history" in result.output
    refused = CliRunner().invoke(app, ["export", str(tmp_path / "cli")])
    assert refused.exit_code != 0 and "is not empty" in " ".join(refused.output.split())
