"""Case categories as data: the shipped table, loading it, and refusing a bad one."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from command.taxonomy import DEFAULT_CATEGORIES, read_categories, write_categories
from command.working_time import LimitKind
from spatial.errors import InvalidInputError
from spatial.settings import StoreSettings

MAJORS = {"component": {"01", "02", "03", "04", "05", "06"}, "event": {"01", "02", "03", "04", "05", "06"}}


def test_the_shipped_table_covers_every_major_class() -> None:
    categories = read_categories()
    assert len(categories) >= 40
    for kind, majors in MAJORS.items():
        assert {c.major_code for c in categories if c.type == kind} == majors
    for category in categories:
        assert (
            category.code
            == ("01" if category.type == "component" else "02") + category.major_code + category.minor_code
        )
        assert category.name and category.name_en and category.departments
        assert category.limit.kind in LimitKind
    garbage = next(c for c in categories if c.name == "暴露垃圾")
    assert (garbage.time_limit, garbage.limit_kind) == (4, "working_hours")
    assert {c.limit_kind for c in categories} == {"urgent_hours", "working_hours", "working_days"}


def test_loading_is_an_idempotent_upsert(fresh: tuple[Engine, StoreSettings]) -> None:
    engine, _ = fresh
    categories = read_categories()
    for _ in range(2):
        with engine.begin() as conn:
            write_categories(conn, categories)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM category")).scalar_one() == len(categories)
        row = conn.execute(text("SELECT departments, responsible_tier::text FROM category WHERE code = '020403'")).one()
    assert row == (["燃气集团", "应急管理局"], "district")


def broken_copy(tmp_path: Path, old: str, new: str) -> Path:
    text_ = DEFAULT_CATEGORIES.read_text(encoding="utf-8")
    assert old in text_
    path = tmp_path / "categories.csv"
    path.write_text(text_.replace(old, new, 1), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            ",4,working_hours,street,城市管理局,50,24,false",
            ",4,work_hours,street,城市管理局,50,24,false",
            r"line \d+: limit_kind must be one of urgent_hours",
        ),
        (
            ",2,urgent_hours,street,水务局;供水公司,30,72,false",
            ",-2,urgent_hours,street,水务局;供水公司,30,72,false",
            r"line 7: time_limit must be positive",
        ),
        (
            ",15,working_days,street,城市管理局,50,720",
            ",15,working_days,village,城市管理局,50,720",
            r"unknown responsible_tier 'village'",
        ),
        ("020603,event", "020602,event", "duplicate category codes: 020602"),
        (",Other events,03,其他城市管理问题,", ",Other events,03,,", "empty or missing name"),
    ],
)
def test_a_bad_table_is_refused_by_line(
    fresh: tuple[Engine, StoreSettings], tmp_path: Path, old: str, new: str, message: str
) -> None:
    engine, _ = fresh
    with pytest.raises(InvalidInputError, match=message):
        read_categories(broken_copy(tmp_path, old, new))
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM category")).scalar_one() == 0
