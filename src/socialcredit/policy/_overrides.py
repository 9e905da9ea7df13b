"""Overrides: a policy with some of its values changed, validated like a file.

A path names a value the way the policy file is read: tables by key, and arrays of named
tables (regions, behaviours, lists, measures, disclosure) by the `name` of the element,
or by its index. `channels.camera.misattribution`, `behaviours.littering.rate`,
`lists.blacklist.score_below`, `regions.city-3.coverage.camera`, `regions.0.weight`.
Keys with dots or spaces are quoted as in TOML: `regions."City 3".weight`.

The changed policy is validated as a whole, so every problem is reported at once, each
at its field path.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from socialcredit.errors import PolicyError

if TYPE_CHECKING:
    from socialcredit.policy._model import Policy

MAX_OVERRIDES = 1000


def split_path(path: str) -> list[str]:
    """A dotted path as keys, with TOML's quoting: 'a."b.c".d' -> ['a', 'b.c', 'd']."""
    if not isinstance(path, str) or not path.strip():
        raise PolicyError("override path: empty; write a dotted path such as"
                          " channels.camera.misattribution")
    try:
        data = tomllib.loads(f"{path} = 0")
    except tomllib.TOMLDecodeError:
        raise PolicyError(f"override path {_short(path)!r}: not a dotted path (keys are letters,"
                          " digits, '_' and '-', or quoted as in TOML: regions.\"City 3\")"
                          ) from None
    keys = []
    node: Any = data
    while isinstance(node, dict):
        (key, node), = node.items()
        keys.append(key)
    return keys


def parse_value(text: str) -> Any:
    """A value as written after `=` in TOML (0.2, 750, true, "text", [1, 2]); anything
    else is taken as a bare string (a name, say)."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text.strip()


def parse_assignment(text: str) -> tuple[str, Any]:
    """'PATH=VALUE' -> (PATH, VALUE) as `--set` reads it."""
    path, eq, value = text.partition("=")
    if not eq or not path.strip():
        raise PolicyError(f"--set {_short(text)!r}: expected PATH=VALUE, such as"
                          " channels.camera.misattribution=0.05")
    if not value.strip():
        raise PolicyError(f"--set {_short(text)!r}: no value after '='")
    return path.strip(), parse_value(value)


def parse_assignments(texts: list[str]) -> dict[str, Any]:
    """Every `--set PATH=VALUE` as {PATH: VALUE}; a path given twice is refused (the
    last would win silently)."""
    out: dict[str, Any] = {}
    for text in texts:
        path, value = parse_assignment(text)
        if path in out:
            raise PolicyError(f"--set {_short(path)} is given twice; give it once")
        out[path] = value
    return out


def apply_overrides(policy: Policy, overrides: Mapping[str, Any],
                    source: str | None = None) -> Policy:
    """A new validated policy: `policy` with the values at each path replaced.

    Raises `PolicyError` for a path that names nothing in the policy (saying what is
    there) and for an overridden policy that is not valid (every problem at once)."""
    from socialcredit.policy._load import policy_from_dict

    if not isinstance(overrides, Mapping):
        raise PolicyError(f"overrides are a mapping of path to value, got"
                          f" {type(overrides).__name__}")
    if len(overrides) > MAX_OVERRIDES:
        raise PolicyError(f"{len(overrides)} overrides; at most {MAX_OVERRIDES}")
    data = policy.model_dump(mode="json", exclude_none=True)
    found = []
    seen: dict[tuple, str] = {}
    for path, value in overrides.items():
        try:
            where = _set(data, _short(path), split_path(path), value)
        except PolicyError as exc:
            found.append(str(exc))
            continue
        if where in seen:
            found.append(f"{_short(path)}: names the same value as {_short(seen[where])};"
                         " set it once")
        seen[where] = path
    if found:
        raise PolicyError(f"{len(found)} problem(s) in the overrides:\n"
                          + "\n".join(f"  - {m}" for m in found))
    what = source or (f"{policy.meta.name} with " + ", ".join(
        f"{p}={json.dumps(v)}" for p, v in overrides.items()))
    return policy_from_dict(data, what)


def _short(path: str, limit: int = 120) -> str:
    """A path as messages show it: a very long one is cut."""
    return path if len(path) <= limit else path[:limit] + f"... ({len(path):,} characters)"


def _set(data: dict, path: str, keys: list[str], value: Any) -> tuple:
    """Set the value at `keys`; returns where it is, elements by index (so that two
    spellings of one path, by name and by index, are the same place)."""
    node: Any = data
    walked: list[str] = []
    place: list[Any] = []
    for i, key in enumerate(keys):
        last = i == len(keys) - 1
        here = ".".join(walked) or "the policy"
        if isinstance(node, list):
            index = _element(node, key, f"{path}: {here}")
            if last:
                raise PolicyError(f"{path}: names a whole element of {here}; set one of its"
                                  " fields")
            node = node[index]
            place.append(index)
        elif isinstance(node, dict):
            if key not in node:
                model = _model_at(walked)
                free = model is None and last and all(
                    not isinstance(v, dict | list) for v in node.values())
                if model is not None and key in model.model_fields:
                    node[key] = {} if not last else None  # a field left at its default
                elif not free:
                    keys = sorted(model.model_fields) if model is not None else sorted(node)
                    raise PolicyError(f"{path}: {here} has no {_short(key)!r}; there:"
                                      f" {', '.join(map(str, keys)) or '(none)'}")
            place.append(key)
            if last:
                node[key] = value
                return tuple(place)
            node = node[key]
        else:
            raise PolicyError(f"{path}: {here} is a value ({json.dumps(node)}), not a table")
        walked.append(key)


def _element(items: list, key: str, where: str) -> int:
    """The index of the element named `key` (or at index `key`) in an array of tables."""
    for i, item in enumerate(items):
        if isinstance(item, dict) and item.get("name") == key:
            return i
    if key.isdigit() and int(key) < len(items):
        return int(key)
    names = [str(x.get("name")) for x in items if isinstance(x, dict) and "name" in x]
    listed = ", ".join(names) if names else f"indices 0 to {len(items) - 1}"
    raise PolicyError(f"{where} has no element {_short(key)!r}; there:"
                      f" {listed or '(none)'}")


def _model_at(walked: list[str]) -> Any:
    """The model class of the table at `walked` (fixed fields), or None for a map with
    free keys (a region's coverage by channel) or a place the models do not describe."""
    from pydantic import BaseModel

    from socialcredit.policy._load import _inner_model, _is_map
    from socialcredit.policy._model import Policy

    model: Any = Policy
    k = 0
    while k < len(walked):
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            return None
        field = model.model_fields.get(walked[k])
        if field is None:
            return None
        if _is_map(field.annotation) or typing_is_list(field.annotation):
            if k == len(walked) - 1:
                return None  # the map itself: its keys are free
            k += 1  # a key of the map, or an element's name
        model = _inner_model(field.annotation)
        k += 1
    return model if isinstance(model, type) and issubclass(model, BaseModel) else None


def typing_is_list(annotation: Any) -> bool:
    import types
    import typing

    origin = typing.get_origin(annotation)
    if origin in (list, tuple):
        return True
    if origin in (typing.Union, types.UnionType, typing.Annotated):
        return any(typing_is_list(a) for a in typing.get_args(annotation))
    return False


def policy_toml(policy: Policy, overrides: Mapping[str, Any] | None = None) -> str:
    """A policy as a TOML policy file (it loads back to an equal policy); with
    `overrides`, headed by a comment naming them (what `simulate --set` ran)."""
    import tomli_w

    body = tomli_w.dumps(policy.model_dump(mode="json", exclude_none=True))
    if not overrides:
        return body
    head = "".join(f"#   {k} = {json.dumps(v)}\n" for k, v in overrides.items())
    return (f"# {policy.meta.name} with these overrides (socialcredit simulate --set):\n"
            f"{head}\n" + body)
