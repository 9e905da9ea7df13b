"""Small policies for the audit tests: one that the audit finds nothing in, and one
variant per finding type that triggers exactly that finding."""

from __future__ import annotations

import copy
from typing import Any

from socialcredit.policy import Policy, policy_from_dict

CLEAN: dict[str, Any] = {
    "meta": {"name": "clean"},
    "regions": [{"name": "town"}],
    "channels": {"police": {"context": "road_traffic", "counts_before_review": False}},
    "behaviours": [{"name": "speeding", "kind": "violation", "rate": 0.01, "points": -5,
                    "channel": "police", "gravity": "moderate"}],
    "person_score": {"base": 100, "window_days": 30,
                     "grades": [{"name": "ok", "min": 90}, {"name": "low"}]},
    "lists": [{"name": "banned", "score_below": 90, "appeal": "to the magistrates"}],
    "measures": [{"name": "driving_ban", "type": "sanction", "service": "driving",
                  "list": "banned", "context": "road_traffic", "severity": "significant",
                  "legal_basis": "Road Act s.1"}],
}


def _set(data: dict, path: str, value: Any) -> None:
    *head, last = path.split(".")
    node: Any = data
    for p in head:
        node = node[int(p)] if p.isdigit() else node[p]
    if isinstance(node, list):
        i = int(last)
        if i == len(node):
            node.append(value)
        else:
            node[i] = value
    elif value is None:
        del node[last]
    else:
        node[last] = value


# finding type -> the changes to CLEAN that trigger exactly it
VARIANTS: dict[str, dict[str, Any]] = {
    "everyone": {"lists.0.score_below": 101},
    "cross_context": {"measures.0.context": "transport"},
    "disproportion": {"behaviours.0.gravity": "minor"},
    "third_parties": {"measures.0.reaches": "children"},
    "automated": {"channels.police.automated": True,
                  "channels.police.counts_before_review": True},
    "no_way_out": {"lists.0.appeal": ""},
    "legal_basis": {"measures.0.legal_basis": ""},
    "opacity": {"channels.police.visible_to_subject": False},
    "missing_facts": {"measures.0.severity": None},
}


def policy(changes: dict[str, Any] | None = None, base: dict | None = None) -> Policy:
    data = copy.deepcopy(base or CLEAN)
    for path, value in (changes or {}).items():
        _set(data, path, value)
    return policy_from_dict(data)
