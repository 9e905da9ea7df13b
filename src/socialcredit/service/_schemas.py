"""What clients send, validated strictly: ids by one pattern, text without NUL
characters, dates in ISO 8601 with an explicit offset, booleans as booleans, numbers as
numbers. A value that does not fit is a 422 naming the field, never a 500 from the
database."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Annotated, Any

from fastapi import Path, Query
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StringConstraints,
    TypeAdapter,
)
from typing_extensions import TypedDict

ID = r"^[A-Za-z0-9][A-Za-z0-9._:\-]*$"
NAME = r"^[A-Za-z0-9_\-]+$"  # a policy's names: kinds, channels, services, lists
ACTION = r"^[a-z_]{1,32}$"
MAX_DB_INT = 2**31 - 1  # the largest id an INTEGER column holds (PostgreSQL's int4)
EARLIEST = date(1900, 1, 1)  # the oldest act a record may describe
MAX_CHECKS = 10_000
MAX_PURPOSE = 64


def _no_nul(text: str) -> str:
    if "\x00" in text:
        raise ValueError("must not contain NUL characters")
    return text


Text = Annotated[str, AfterValidator(_no_nul)]
SubjectId = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=ID)]
RecordId = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=ID)]
Name = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=NAME)]

_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_ISO_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:\d{2})$")


def _when(value: Any) -> date | datetime:
    """A date (YYYY-MM-DD) or a time with an explicit offset or Z, as a date or an aware
    UTC datetime; numbers, naive times and other strings are refused."""
    if not isinstance(value, str):
        raise ValueError("must be a string: a date (YYYY-MM-DD) or a time in ISO 8601 with"
                         " an offset (2026-05-01T09:30:00+08:00 or ...Z)")
    text = value.strip()
    if _ISO_DATE.match(text):
        try:
            day = date.fromisoformat(text)
        except ValueError:
            raise ValueError(f"{text!r} is not a calendar date") from None
        return day
    if not _ISO_TIME.match(text):
        raise ValueError(f"{text[:40]!r} is not a date (YYYY-MM-DD) or a time in ISO 8601"
                         " with an explicit offset or Z")
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)
    except (ValueError, OverflowError):
        raise ValueError(f"{text!r} is not a valid time (or is out of range)") from None


def strict_time(value: Any) -> datetime:
    """An ISO 8601 time with an explicit offset, as an aware UTC datetime (a date: its
    midnight UTC)."""
    when = _when(value)
    return when if isinstance(when, datetime) else datetime.combine(
        when, datetime.min.time(), UTC)


def _bounded(value: date | datetime) -> date | datetime:
    day = value.date() if isinstance(value, datetime) else value
    if day < EARLIEST:
        raise ValueError(f"must be on or after {EARLIEST.isoformat()}")
    return value


When = Annotated[date | datetime, BeforeValidator(_when), AfterValidator(_bounded)]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class RecordIn(_In):
    id: RecordId = Field(description="The client's key: sending the same id again is safe.")
    subject: SubjectId
    kind: Name
    occurred_at: When = Field(description="A date (YYYY-MM-DD) or a time in ISO 8601 with an"
                                          " explicit offset or Z; counted on its UTC date."
                                          f" Not before {EARLIEST}, not in the future.")
    channel: Name
    evidence: Text | None = Field(None, max_length=10_000)
    confidence: StrictFloat | StrictInt | None = Field(None, ge=0, le=1)
    subject_kind: Name | None = Field(
        None, description="For a company: its kind (one of the policy's company kinds), kept"
                          " from its first record; disclosure rules and behaviours may depend"
                          " on it.")

    @property
    def day(self) -> date:
        """The UTC date the act counts on."""
        return self.occurred_at.date() if isinstance(self.occurred_at, datetime) else (
            self.occurred_at)


class RecordBatchIn(_In):
    records: list[RecordIn] = Field(min_length=1, max_length=10_000)


class GuardianIn(_In):
    guardian: SubjectId


class CheckIn(TypedDict):
    """One check: may this subject use this service? (A typed dict, not a model: a batch
    of 10,000 validates in a few milliseconds.)"""

    __pydantic_config__ = ConfigDict(extra="forbid", str_strip_whitespace=True)  # type: ignore[misc]
    subject: SubjectId
    service: Name


ONE_CHECK = TypeAdapter(CheckIn)
MANY_CHECKS = TypeAdapter(Annotated[list[CheckIn], Field(max_length=MAX_CHECKS)])
_CHECK_SCHEMA = ONE_CHECK.json_schema()
_OPTIONAL_TEXT = {"anyOf": [{"type": "string"}, {"type": "null"}]}
CHECKS_BODY = {
    "requestBody": {"required": True, "content": {"application/json": {"schema": {
        "anyOf": [_CHECK_SCHEMA, {"type": "array", "items": _CHECK_SCHEMA,
                                  "maxItems": MAX_CHECKS}]}}}},
    # read by the route itself (not through dependencies): declared here, as FastAPI
    # declares the other routes' X-Purpose and Authorization
    "parameters": [{"name": name, "in": "header", "required": False,
                    "schema": {**_OPTIONAL_TEXT, "title": title}}
                   for name, title in (("x-purpose", "X-Purpose"),
                                       ("authorization", "Authorization"))]}


class AppealIn(_In):
    record: RecordId
    statement: Text = Field(min_length=1, max_length=10_000)
    key: RecordId | None = Field(
        None, description="The client's key for this appeal: sending it again (after a lost"
                          " answer) returns the same appeal instead of opening another.")


class DecisionIn(_In):
    upheld: StrictBool
    note: Text = Field(min_length=1, max_length=10_000)


class ReviewIn(_In):
    confirmed: StrictBool
    note: Text = Field("", max_length=10_000)


# path and query parameters, bounded as the columns they are looked up in
SubjectPath = Annotated[str, Path(min_length=1, max_length=64, pattern=ID)]
RecordPath = Annotated[str, Path(min_length=1, max_length=128, pattern=ID)]
RowId = Annotated[int, Path(ge=1, le=MAX_DB_INT)]
PageNo = Annotated[int, Query(ge=1, le=1_000_000)]
SearchText = Annotated[str, Query(max_length=64, pattern=r"^[A-Za-z0-9._:\-]*$")]
