"""The notice catalogue (告知目录): which audited event sends which template on which channels,
kept as data in `data/notices.json` and validated (JSON Schema) when first read.

A rule matches an audit record by the kind of record it belongs to (`application`,
`complaint`, `rating`, `theme`, `item`), its event and, when the rule names one, the status it
moved to. A new event is a new line in the file, not code. Templates name their variables in
advance, as SMS providers require: rendering with a variable missing is refused, never sent
half-filled.
"""

from __future__ import annotations

import functools
import json
import string
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from yiwang.platform.config import ConfigurationError
from yiwang.platform.validation import errors as schema_errors

CATALOGUE_FILE = Path(__file__).parents[1] / "data" / "notices.json"
INBOX, SMS = "inbox", "sms"
SUBJECTS = ("application", "complaint", "rating", "theme", "item")
"""The kinds of records whose audit trail sends notices, by partition prefix below."""
PARTITION_PREFIXES = {"APP#": "application", "COMPLAINT#": "complaint", "RATING#": "rating",
                      "THEMECASE#": "theme", "ITEM#": "item"}

_NAME = {"type": "string", "pattern": "^[A-Z][A-Z0-9_]*$", "maxLength": 64}
_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["templates", "events"],
    "properties": {
        "description": {"type": "string"},
        "templates": {
            "type": "object",
            "propertyNames": _NAME,
            "additionalProperties": {
                "type": "object",
                "required": ["title", "body", "variables"],
                "additionalProperties": False,
                "properties": {
                    "title": {"type": "string", "minLength": 1, "maxLength": 200},
                    "body": {"type": "string", "minLength": 1, "maxLength": 2000},
                    "sms": _NAME,
                    "variables": {"type": "array", "items": {"type": "string"},
                                  "uniqueItems": True},
                },
            },
        },
        "events": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["subject", "event", "template", "channels"],
                "additionalProperties": False,
                "properties": {
                    "subject": {"enum": list(SUBJECTS)},
                    "event": _NAME,
                    "toStatus": _NAME,
                    "template": _NAME,
                    "channels": {"type": "array", "minItems": 1, "uniqueItems": True,
                                 "items": {"enum": [INBOX, SMS]}},
                },
            },
        },
    },
}


class MissingVariable(ValueError):
    """A template was rendered without one of its registered variables."""


@dataclass(frozen=True)
class Template:
    """One notice template: title and body with named `{variables}`, and its SMS code."""

    code: str
    title: str
    body: str
    variables: tuple[str, ...]
    sms: str | None = None

    def render(self, values: dict[str, Any]) -> tuple[str, str]:
        """(title, body) filled in; `MissingVariable` naming what `values` lacks."""
        missing = [name for name in self.variables if values.get(name) in (None, "")]
        if missing:
            raise MissingVariable(f"template {self.code} lacks {', '.join(missing)}")
        text = {name: str(values[name]) for name in self.variables}
        return self.title.format_map(text), self.body.format_map(text)

    def sms_variables(self, values: dict[str, Any]) -> dict[str, str]:
        """The registered variables' values, as the SMS provider takes them."""
        return {name: str(values[name]) for name in self.variables}


@dataclass(frozen=True)
class Rule:
    """One line of the catalogue: an event (and status) → a template on some channels."""

    subject: str
    event: str
    template: Template
    channels: tuple[str, ...]
    to_status: str | None = None


@dataclass(frozen=True)
class Catalogue:
    templates: dict[str, Template]
    rules: tuple[Rule, ...]

    def rules_for(self, subject: str, event: str, to_status: str | None) -> list[Rule]:
        """The rules an audit record of `subject` with this event and target status matches."""
        return [rule for rule in self.rules
                if rule.subject == subject and rule.event == event
                and (rule.to_status is None or rule.to_status == to_status)]


def parse(document: Any) -> Catalogue:
    """The catalogue in `document`; `ConfigurationError` listing every problem (schema errors,
    a rule naming an unknown template, a template using a variable it does not declare)."""
    problems = [f"{error.path}: {error.message}" for error in schema_errors(_SCHEMA, document)]
    if problems:
        raise ConfigurationError("notice catalogue: " + "; ".join(problems))
    templates: dict[str, Template] = {}
    for code, raw in document["templates"].items():
        used = {name for text in (raw["title"], raw["body"])
                for _, name, _, _ in string.Formatter().parse(text) if name}
        if undeclared := used - set(raw["variables"]):
            problems.append(f"template {code} uses undeclared {', '.join(sorted(undeclared))}")
        templates[code] = Template(code, raw["title"], raw["body"], tuple(raw["variables"]),
                                   raw.get("sms"))
    rules = []
    for index, raw in enumerate(document["events"]):
        if raw["template"] not in templates:
            problems.append(f"events[{index}]: no template {raw['template']}")
            continue
        template = templates[raw["template"]]
        if SMS in raw["channels"] and not template.sms:
            problems.append(f"events[{index}]: template {template.code} has no SMS code")
        rules.append(Rule(raw["subject"], raw["event"], template, tuple(raw["channels"]),
                          raw.get("toStatus")))
    if problems:
        raise ConfigurationError("notice catalogue: " + "; ".join(problems))
    return Catalogue(templates, tuple(rules))


@functools.cache
def catalogue() -> Catalogue:
    """The platform's catalogue (`data/notices.json`), read and checked once."""
    return parse(json.loads(CATALOGUE_FILE.read_text(encoding="utf-8")))


def subject_of(partition_key: str) -> tuple[str, str] | None:
    """(`application`|`complaint`|`rating`|`theme`, id) of an audit record's partition, else
    None."""
    for prefix, subject in PARTITION_PREFIXES.items():
        if partition_key.startswith(prefix):
            return subject, partition_key[len(prefix):]
    return None
