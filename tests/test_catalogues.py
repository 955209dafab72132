"""The screens' words: one catalogue per language, the same keys in both, every key a page or script
uses present, and no words written into the scripts themselves (issue 18: Chinese first, English as a switch)."""

from __future__ import annotations

import json
import re
from enum import StrEnum
from pathlib import Path

import pytest

from command.case_states import CaseState
from command.queues import QUEUES
from forces.vocabulary import ForceStatus
from spatial.sources import ReportSource
from spatial.tiers import Tier
from web.i18n import LANGUAGES, MESSAGES, Catalogue, _messages

UI = Path(__file__).resolve().parent.parent / "map_ui"
TEMPLATES, STATIC = UI / "templates", UI / "static"
SCRIPTS = sorted(p for p in STATIC.rglob("*.js") if "vendor" not in p.parts)
HAN = re.compile(r"[\u3400-\u9fff]")
# t("key"), C.t("key"), words["key"]: a key written out in a template or a script
KEY_IN_TEMPLATE = re.compile(r'\bt\(\s*"([a-z_.]+)"')
KEY_IN_SCRIPT = re.compile(r'\bt\(\s*"([a-z][a-z0-9_]*\.[a-z0-9_.]+)"|\bwords\[\s*"([a-z][a-z0-9_]*\.[a-z0-9_.]+)"\]')


def code_of(script: Path) -> str:
    """A script without its comments (comments may speak Chinese and name keys in examples)."""
    return re.sub(r"/\*.*?\*/|//[^\n]*", "", script.read_text("utf-8"), flags=re.DOTALL)


def area_files(language: str) -> dict[str, dict[str, str]]:
    return {p.name: json.loads(p.read_text(encoding="utf-8")) for p in sorted((MESSAGES / language).glob("*.json"))}


def test_each_language_has_the_same_areas_and_keys() -> None:
    zh, en = area_files("zh-CN"), area_files("en")
    assert set(zh) == set(en) and "common.json" in zh
    for area in zh:
        assert set(zh[area]) == set(en[area]), (area, sorted(set(zh[area]) ^ set(en[area])))
        assert all(isinstance(v, str) and v.strip() for v in [*zh[area].values(), *en[area].values()]), area
        for key in zh[area]:  # the same named values on both sides, or a message would lose a number
            assert set(re.findall(r"\{(\w+)\}", zh[area][key])) == set(re.findall(r"\{(\w+)\}", en[area][key])), key


def test_a_key_written_in_two_areas_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, words in (("a.json", {"x.one": "一"}), ("b.json", {"x.one": "壹"})):
        (tmp_path / "zh-CN").mkdir(exist_ok=True)
        (tmp_path / "zh-CN" / name).write_text(json.dumps(words), encoding="utf-8")
    monkeypatch.setattr("web.i18n.MESSAGES", tmp_path)
    _messages.cache_clear()
    try:
        with pytest.raises(RuntimeError, match=r"keys already in another file of zh-CN: \['x.one'\]"):
            _messages("zh-CN")
    finally:
        _messages.cache_clear()


def test_every_key_the_pages_and_scripts_use_is_in_the_catalogue() -> None:
    known = set(_messages("zh-CN"))
    used = {key for page in TEMPLATES.glob("*.html") for key in KEY_IN_TEMPLATE.findall(page.read_text("utf-8"))}
    prefixes = {key for key in used if key.endswith(".")}  # t("queue." ~ name): completed in the page
    assert used and used - prefixes <= known, sorted(used - prefixes - known)
    assert all(any(key.startswith(prefix) for key in known) for prefix in prefixes)
    in_scripts = {a or b for script in SCRIPTS for a, b in KEY_IN_SCRIPT.findall(code_of(script))}
    assert in_scripts - known == set(), sorted(in_scripts - known)
    for queue in QUEUES:
        assert f"queue.{queue.name}" in known


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize(
    ("area", "vocabulary"),
    [("state", CaseState), ("tier", Tier), ("source", ReportSource), ("force", ForceStatus)],
)
def test_every_member_of_a_vocabulary_has_its_words(language: str, area: str, vocabulary: type[StrEnum]) -> None:
    """A state, tier, source or force status added in code shows as words on every screen, not as its code."""
    known = _messages(language)
    assert [m.value for m in vocabulary if f"{area}.{m.value}" not in known] == []


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: str(p.relative_to(STATIC)))
def test_scripts_hold_no_words_of_their_own(script: Path) -> None:
    """Every word a script shows comes from the catalogue: a Chinese literal in a script is a word that
    would not switch to English (comments may speak Chinese; strings may not)."""
    literals = [
        s for s in re.findall(r'"(?:[^"\\\n]|\\.)*"|\'(?:[^\'\\\n]|\\.)*\'|`[^`]*`', code_of(script)) if HAN.search(s)
    ]
    assert literals == [], literals[:10]


def test_unknown_codes_and_languages_read_as_themselves_or_chinese() -> None:
    assert Catalogue("zh-CN").label("state", "closed") == "已结案"
    assert Catalogue("en").label("state", "no_such_state") == "no_such_state"
    assert LANGUAGES[0] == "zh-CN"
