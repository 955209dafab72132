"""Generated addresses for cases stored without one: 「南京市 玄武区 梅园新村街道 梅园新村社区 第 1 网格 3 号楼」.

A case filed without an address gets its place's words in the statement that stores it (the
``case_address`` trigger, migration 0022, which also says how the words are made). Imported
cases are filled set-based instead, after their COPY — a row trigger would triple the time of a
bulk import —: ``fill_addresses`` (``cityops fill-addresses``) gives every case still without
an address its place's, building each grid's words once for all its cases.
"""

from __future__ import annotations

from sqlalchemy import Connection, text


def fill_addresses(conn: Connection) -> int:
    """Give every case without an address the address of its place; how many were filled."""
    return int(conn.execute(text("SELECT cityops_fill_addresses()")).scalar_one())
