"""Masking of personal data in outputs (phone numbers, names), the form Chinese platforms use.

Reporter contact is stored whole — the centre may need to call back — but what leaves the
platform shows only enough to recognise it: 138****5678, 张*. Who may see it unmasked is the
access layer's decision; this module only says what masked looks like.
"""

from __future__ import annotations

from collections.abc import Iterable

import psycopg

from spatial.audit import record_async


def mask_phone(phone: str) -> str:
    """Keep the first three and last four digits of a phone number (138****5678)."""
    digits = [c for c in phone if c.isdigit()]
    if len(digits) < 8:
        return "*" * len(digits)
    return "".join(digits[:3]) + "*" * (len(digits) - 7) + "".join(digits[-4:])


def mask_name(name: str) -> str:
    """Keep the first character of a name (张*, J***)."""
    return name[:1] + "*" * max(len(name) - 1, 1) if name else name


def mask_contact(contact: dict[str, str] | None) -> dict[str, str] | None:
    """A reporter's contact with every field masked."""
    if not contact:
        return None
    maskers = {"phone": mask_phone, "name": mask_name}
    return {field: maskers.get(field, mask_name)(value) for field, value in contact.items()}


async def audit_disclosure(
    conn: psycopg.AsyncConnection, actor: str, ids: Iterable[object], via: str, of: str = "reports"
) -> None:
    """Record that ``actor`` saw the unmasked contact of these reports (or forces: ``of``); nothing for none."""
    unique = sorted({int(str(i)) for i in ids})
    if unique:
        await record_async(conn, actor, "personal.read", f"{of}:{len(unique)}", via=via, **{of: unique})
