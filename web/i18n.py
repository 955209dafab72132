"""The screens' words: one message catalogue per language, zh-CN first, English as a switch.

The people using these screens are Chinese civil servants, so a page speaks zh-CN unless the
user chose English (``?lang=en``, remembered in a cookie); any other value falls back to zh-CN.
The API keeps its stable codes (states, actions, sources); the catalogues turn them into words
(``state.closed`` → 已结案). Both catalogues hold the same keys (a test checks), and a key the
English one lacks would read in Chinese rather than as a bare code.

A language's catalogue is one directory, ``messages/<language>/``, of one file per area of the
product (``common.json`` for the work pages, ``map.json`` for the maps …): each key lives in exactly
one file, so areas grow without editing each other's words, and the loader refuses a key written twice.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from starlette.requests import Request

LANGUAGES = ("zh-CN", "en")
DEFAULT_LANGUAGE = "zh-CN"
COOKIE = "cityops_lang"
MESSAGES = Path(__file__).parent / "messages"


@cache
def _messages(language: str) -> dict[str, str]:
    """The language's catalogue: every area file of its directory, merged (a key in two files is an error)."""
    merged: dict[str, str] = {}
    for area in sorted((MESSAGES / language).glob("*.json")):
        words = json.loads(area.read_text(encoding="utf-8"))
        if twice := sorted(merged.keys() & words.keys()):
            raise RuntimeError(f"{area}: keys already in another file of {language}: {twice}")
        merged |= words
    return merged


@dataclass(frozen=True)
class Catalogue:
    """The words of one language; call it with a key (and the message's named values)."""

    language: str

    def __call__(self, key: str, /, **values: object) -> str:
        """The message for ``key`` in this language, zh-CN when missing, the key itself when unknown."""
        text = _messages(self.language).get(key) or _messages(DEFAULT_LANGUAGE).get(key) or key
        return text.format(**values) if values else text

    def label(self, kind: str, code: str | None) -> str:
        """A code's label (``label("state", "closed")`` → 已结案); an unknown code reads as itself."""
        if code is None:
            return self("time.none")
        key = f"{kind}.{code}"
        text = self(key)
        return code if text == key else text

    def messages(self, *prefixes: str) -> dict[str, str]:
        """Every message whose key starts with one of ``prefixes`` (what a page's script needs, nothing more)."""
        merged = {**_messages(DEFAULT_LANGUAGE), **_messages(self.language)}
        return {k: v for k, v in merged.items() if k.startswith(prefixes)}


def language_of(request: Request) -> str:
    """The page's language: ``?lang=`` first, then the remembered choice; anything unknown is zh-CN."""
    chosen = request.query_params.get("lang") or request.cookies.get(COOKIE) or DEFAULT_LANGUAGE
    return chosen if chosen in LANGUAGES else DEFAULT_LANGUAGE
