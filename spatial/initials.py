"""Pinyin initials of unit names, so a search for ``xwq`` finds 玄武区 and ``myxcjd`` 梅园新村街道.

Staff type the first letters of a place's syllables on any keyboard faster than its characters.
pypinyin reads a name phrase by phrase; a character with several readings (长 chang/zhang, 行
xing/hang) is read the common way, which a place name does not always follow (长干里 is chang), so
each single heteronym's other readings are kept too: ``unit.initials`` holds the readings separated
by spaces, the common one first. Computed here, stored by the loader (migration 0022 documents the
index), so the search itself is one indexed query. Buildings are found by code, not initials.
"""

from __future__ import annotations

from pypinyin import Style, lazy_pinyin, pinyin
from sqlalchemy import Connection, text

MAX_READINGS = 6  # a name with many heteronyms keeps its common reading and the first few alternatives


def _each(text: str) -> list[str]:
    """Letters and digits stand for themselves, one character at a time (pypinyin keeps runs whole)."""
    return list(text)


def initials(name: str) -> str:
    """The initials of ``name``'s readings, space-separated (``"长干里"`` → ``"zgl cgl"``); letters and digits kept,
    punctuation (（）·) dropped."""
    # pypinyin's stubs type the errors callback as returning one str; its code and docs also take a list, one
    # item per character, which is how _each keeps a run of letters apart.
    common = [part.lower() for part in lazy_pinyin(name, style=Style.FIRST_LETTER, errors=_each)]  # type: ignore[arg-type]
    options = pinyin(name, style=Style.FIRST_LETTER, heteronym=True, errors=_each)  # type: ignore[arg-type]
    if len(common) != len(options):  # a phrase the dictionary splits unevenly: its common reading only
        return "".join(letter for letter in common if letter.isalnum())
    kept = [i for i, letter in enumerate(common) if letter.isalnum()]
    readings = ["".join(common[i] for i in kept)]
    for position in kept:
        for letter in dict.fromkeys(o.lower() for o in options[position] if o.isalnum()):
            reading = "".join(letter if i == position else common[i] for i in kept)
            if reading not in readings and len(readings) < MAX_READINGS:
                readings.append(reading)
    return " ".join(readings)


def fill_initials(conn: Connection) -> int:
    """Store the initials of every unit (buildings aside) that has none yet; returns how many were filled."""
    rows = conn.execute(text("SELECT id, name FROM unit WHERE initials IS NULL AND tier <> 'building'")).all()
    if rows:
        conn.execute(
            text(
                "UPDATE unit SET initials = v.initials FROM unnest(CAST(:ids AS bigint[]), CAST(:values AS text[])) "
                "AS v(id, initials) WHERE unit.id = v.id"
            ),
            {"ids": [row.id for row in rows], "values": [initials(row.name) for row in rows]},
        )
    return len(rows)
