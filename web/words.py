"""The API's words: stable codes for programs, labels beside them for the people who read the answers.

Every answer keeps its codes (``"state": "dispatched"``) — clients branch on them — and adds what
a person reads next to each (``"state_label": "已派遣"``), from the screens' message catalogues
(``web.i18n``), so a label reads the same on a page and in the API. Labels are zh-CN unless
the request asks for English:

1. ``?lang=en`` (any other value, or none, is zh-CN);
2. else the language the pages remember (the ``cityops_lang`` cookie);
3. else, for a request the platform's own pages make (the browser marks it ``Sec-Fetch-Site:
   same-origin``), zh-CN — the pages' default, whatever the browser's ``Accept-Language`` says, so
   a page never shows a message in another language than its own;
4. else ``Accept-Language``: English when an English tag ranks above every Chinese one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from starlette.requests import Request

from web.i18n import COOKIE, DEFAULT_LANGUAGE, LANGUAGES, Catalogue


def _accepted(header: str) -> str:
    """The catalogue language ``Accept-Language`` prefers: ``en`` only when English outranks Chinese."""
    ranked: list[tuple[float, str]] = []
    for part in header.split(","):
        tag, _, params = part.strip().partition(";")
        weight = 1.0
        if params.strip().startswith("q="):
            try:
                weight = float(params.strip()[2:])
            except ValueError:
                continue
        ranked.append((weight, tag.strip().lower()))
    for _, tag in sorted(ranked, key=lambda pair: -pair[0]):  # stable: equal weights keep the header's order
        if tag.startswith("zh"):
            return DEFAULT_LANGUAGE
        if tag.startswith("en"):
            return "en"
    return DEFAULT_LANGUAGE


def language(request: Request) -> str:
    """The language of an API answer's labels and messages (the module docstring's rule)."""
    asked = request.query_params.get("lang")
    if asked is not None:
        return asked if asked in LANGUAGES else DEFAULT_LANGUAGE
    remembered = request.cookies.get(COOKIE)
    if remembered is not None:
        return remembered if remembered in LANGUAGES else DEFAULT_LANGUAGE
    if request.headers.get("sec-fetch-site") == "same-origin":
        return DEFAULT_LANGUAGE
    return _accepted(request.headers.get("accept-language", ""))


def trace_sentences(trace: dict[str, Any], case: dict[str, Any], words: Catalogue) -> list[str]:
    """The routing trace as sentences a commander reads, in the page's language; unknown keys as they are."""
    sentences = []
    if "cell" in trace:
        how = words("trace.interior" if trace.get("index") == "interior" else "trace.boundary")
        sentences.append(
            words(
                "trace.located",
                cell=trace["cell"],
                resolution=trace.get("resolution", ""),
                how=how,
                grid=case["grid"]["name"],
            )
        )
    if "rule" in trace:
        responsible = case["responsible"]
        departments = words("list.separator").join(responsible["departments"])
        sentences.append(
            words(
                "trace.rule",
                rule=trace["rule"],
                unit=responsible["name"],
                tier=words.label("tier", responsible["tier"]),
                departments=departments or words("time.none"),
            )
        )
    if isinstance(trace.get("time_limit"), dict):
        limit = trace["time_limit"]
        sentences.append(
            words("trace.limit", value=f"{float(limit['value']):g}", kind=words.label("limit", limit.get("kind")))
        )
    if "boundary_version" in trace:
        sentences.append(words("trace.version", version=trace["boundary_version"]))
    known = {"cell", "index", "resolution", "rule", "time_limit", "boundary_version"}
    sentences += [f"{key}: {value}" for key, value in trace.items() if key not in known]
    return sentences


def words(request: Request) -> Catalogue:
    """The request's catalogue."""
    return Catalogue(language(request))


def field_of(error: Mapping[str, Any]) -> str:
    """A pydantic error's field as the caller named it (``lat``, ``items.2.name``), not where it was sent."""
    return ".".join(str(part) for part in error.get("loc", ()) if part not in ("query", "path", "body"))


def refused_fields(errors: Iterable[Mapping[str, Any]], words: Catalogue, labels: str | None = None) -> str:
    """pydantic's refusals for a person: each field and its reason in the catalogue's words (``invalid.<type>``,
    with the bound or the allowed values from the error's context), or as pydantic wrote it where the catalogue
    has no words for it — a validator's own sentence (``value_error``) names the platform's rule. A form's
    fields are named by their labels on the page (``<labels>.<field>``); an API's, as the caller sent them."""
    said = []
    for error in errors:
        field = field_of(error)
        if labels and (label := words(f"{labels}.{field}")) != f"{labels}.{field}":
            field = label
        key = f"invalid.{error['type']}"
        try:
            reason = words(key, **error.get("ctx", {}))
        except KeyError:  # a context without the value the words name
            reason = key
        said.append(words("invalid.field", field=field, reason=error["msg"] if reason == key else reason))
    return words("invalid.join").join(said)


def case_labels(case: dict[str, Any], words: Catalogue) -> dict[str, Any]:
    """A case (``command.case_view``) with labels: state, severity, source, category name, unit tier, the
    routing trace as sentences, its reports' sources and its merges' kinds."""
    category = case["category"]
    english = words.language == "en" and category.get("name_en")
    return {
        **case,
        "state_label": words.label("state", case["state"]),
        "severity_label": words.label("severity", case["severity"]),
        "source_label": words.label("source", case["source"]),
        "category_name": category["name_en"] if english else category["name"],
        "responsible": {**case["responsible"], "tier_label": words.label("tier", case["responsible"]["tier"])},
        "routing_trace_text": trace_sentences(case["routing_trace"] or {}, case, words),
        "reports": [{**r, "source_label": words.label("source", r["source"])} for r in case["reports"]],
        "merges": [{**m, "kind_label": words.label("merge", m["kind"])} for m in case["merges"]],
    }


def row_labels(row: dict[str, Any], words: Catalogue) -> dict[str, Any]:
    """A list row (case, report, late case) with labels for the codes it has."""
    labelled = dict(row)
    for field, kind in (("state", "state"), ("severity", "severity"), ("source", "source")):
        if row.get(field) is not None:
            labelled[f"{field}_label"] = words.label(kind, row[field])
    if words.language == "en" and row.get("category_name_en"):
        labelled["category_name"] = row["category_name_en"]
    return labelled


def force_labels(force: dict[str, Any], words: Catalogue) -> dict[str, Any]:
    """A force (a list row or its view) with its status in words."""
    return {**force, "status_label": words.label("force", force["status"])}


def _step_labels(step: dict[str, Any], words: Catalogue) -> dict[str, Any]:
    """One transition: its action and the states it went from and to, in words."""
    labelled = {**step, "action_label": words.label("action", step["action"])}
    for field in ("from_state", "to_state", "from", "to"):
        if step.get(field) is not None:
            labelled[f"{field.removesuffix('_state')}_state_label"] = words.label("state", step[field])
    return labelled


def moves_labels(answer: dict[str, Any], words: Catalogue) -> dict[str, Any]:
    """A workflow answer (a move, or a case's history) with its state, transitions and next actions in words."""
    labelled = {
        **answer,
        "state_label": words.label("state", answer["state"]),
        "next_labels": [words.label("action", action) for action in answer.get("next", ())],
    }
    if "transition" in answer:
        labelled["transition"] = _step_labels(answer["transition"], words)
    if "transitions" in answer:
        labelled["transitions"] = [_step_labels(step, words) for step in answer["transitions"]]
    return labelled
