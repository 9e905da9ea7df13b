"""Reading policy files and turning validation failures into messages a person can act on."""

from __future__ import annotations

import tomllib
import types
import typing
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from socialcredit.errors import PolicyError, PolicyFileError
from socialcredit.policy._model import Policy


def load_policy(source: str | Path) -> Policy:
    """Read and validate a policy file (TOML).

    Raises `PolicyFileError` for a missing, empty or malformed file and `PolicyError`
    naming the file, the field and what is allowed for anything invalid inside it.

    >>> from socialcredit.scenarios import scenario_path
    >>> load_policy(scenario_path("reference")).meta.name
    'reference'
    """
    path = Path(source)
    if not path.exists():
        raise PolicyFileError(f"{path}: no such file")
    if path.is_dir():
        raise PolicyFileError(f"{path}: is a directory, expected a policy file (.toml)")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PolicyFileError(f"{path}: cannot be read ({exc})") from exc
    return parse_policy(text, source=str(path))


def parse_policy(text: str, source: str = "<string>") -> Policy:
    """Validate policy TOML given as text; `source` names it in error messages."""
    if not text.strip():
        raise PolicyFileError(f"{source}: the file is empty; a policy needs at least [meta],"
                              " [[regions]] and [channels]")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PolicyFileError(f"{source}: not valid TOML: {exc}") from exc
    return policy_from_dict(data, source)


def policy_from_dict(data: dict[str, Any], source: str = "<dict>") -> Policy:
    """Validate a policy given as a dict (as parsed from TOML)."""
    try:
        return Policy.model_validate(data)
    except ValidationError as exc:
        raise PolicyError(format_validation_error(exc, source)) from None


def format_validation_error(exc: ValidationError, source: str) -> str:
    lines = [f"{source}: {exc.error_count()} problem(s) in the policy:"]
    for err in exc.errors(include_url=False):
        loc = err["loc"]
        where = _dotted(loc) or "(top level)"
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            valid = _valid_keys(loc[:-1])
            msg = f"unknown field {loc[-1]!r}" + (
                f"; valid fields here are {', '.join(valid)}" if valid else ""
            )
            where = _dotted(loc[:-1]) or "(top level)"
        elif err["type"] == "missing":
            msg = "this field is required"
        lines.append(f"  - {where}: {msg}")
    return "\n".join(lines)


def _dotted(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def _valid_keys(loc: tuple[Any, ...]) -> list[str]:
    """The field names of the model found by walking `loc` from `Policy`."""
    model: Any = Policy
    for part in loc:
        if isinstance(part, int):
            continue
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            return []
        field = model.model_fields.get(str(part))
        if field is None:
            return []
        model = _inner_model(field.annotation)
    if isinstance(model, type) and issubclass(model, BaseModel):
        return sorted(model.model_fields)
    return []


def _inner_model(annotation: Any) -> Any:
    """The model inside list[...], dict[str, ...] or Optional[...], if any."""
    origin = typing.get_origin(annotation)
    if origin in (list, tuple, typing.Union, types.UnionType):
        for arg in typing.get_args(annotation):
            found = _inner_model(arg)
            if isinstance(found, type) and issubclass(found, BaseModel):
                return found
        return None
    if origin is dict:
        return _inner_model(typing.get_args(annotation)[1])
    return annotation
