"""A check's answer, built once per (state, service) and joined into responses without
formatting each one."""

from __future__ import annotations

import json
from dataclasses import dataclass
from operator import attrgetter
from typing import Any

import orjson


@dataclass(frozen=True, eq=False, slots=True)
class Decision:
    """A check's answer (allowed, measure, legal_basis) for one service, with its audit
    detail and the JSON of a result after its subject id."""

    service: str
    answer: dict[str, Any]
    detail: str
    tail: str

    def result(self, subject: str, decision_id: str) -> bytes:
        """One check's JSON; subject ids match the API's id pattern and decision ids are
        hex, so neither needs escaping."""
        return (_OPEN + subject + self.tail[:-1] + ',"decision_id":"' + decision_id
                + '"}').encode()


_OPEN = '{"subject":"'


def make_decision(service: str, answer: dict[str, Any], version: str) -> Decision:
    return Decision(service, answer, json.dumps({"service": service, **answer}),
                    '",' + orjson.dumps({"service": service, **answer,
                                         "policy_version": version})[1:].decode())


def results(subjects: list[str], decided: list[Decision], decision_id: str) -> bytes:
    """A batch's answer, {"decision_id": ..., "results": [...]}, in the order asked
    (joined, not formatted one by one: a batch holds up to 10,000)."""
    parts = ["," + _OPEN] * (3 * len(subjects))
    if parts:
        parts[0] = _OPEN
        parts[1::3] = subjects
        parts[2::3] = map(attrgetter("tail"), decided)
    return ('{"decision_id":"' + decision_id + '","results":[' + "".join(parts)
            + "]}").encode()
