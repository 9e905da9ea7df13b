"""Reading policy files and turning validation failures into messages a person can act on."""

from __future__ import annotations

import tomllib
import types
import typing
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from socialcredit.errors import PolicyError, PolicyFileError
from socialcredit.policy._model import _NAME, Policy, _show
from socialcredit.policy._references import dotted, parts_from_raw, parts_of, problems


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
    if not path.is_file():
        raise PolicyFileError(f"{path}: not a regular file (a device or a pipe?); expected a"
                              " policy file (.toml)")
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise PolicyFileError(f"{path}: cannot be read ({exc})") from exc
    if size > MAX_FILE_CHARS:
        raise PolicyFileError(f"{path}: {size:,} bytes; a policy file has at most"
                              f" {MAX_FILE_CHARS:,}")
    try:
        # utf-8-sig: a byte-order mark, as some editors write, is not part of the TOML
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise PolicyFileError(f"{path}: cannot be read ({exc})") from exc
    return parse_policy(text, source=str(path))


def parse_policy(text: str, source: str = "<string>") -> Policy:
    """Validate policy TOML given as text; `source` names it in error messages."""
    text = text.removeprefix("\ufeff")
    if not text.strip():
        raise PolicyFileError(f"{source}: the file is empty; a policy needs at least [meta],"
                              " [[regions]] and [channels]")
    if len(text) > MAX_FILE_CHARS:
        raise PolicyFileError(f"{source}: {len(text):,} characters; a policy file has at most"
                              f" {MAX_FILE_CHARS:,}")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PolicyFileError(f"{source}: not valid TOML: {exc}") from exc
    except RecursionError:
        raise PolicyFileError(f"{source}: values are nested too deeply to be a policy")\
            from None
    return policy_from_dict(data, source)


MAX_FILE_CHARS = 10_000_000


def policy_from_dict(data: dict[str, Any], source: str = "<dict>") -> Policy:
    """Validate a policy given as a dict (as parsed from TOML). Every problem is
    reported at once, each at its field path: the fields', and the cross-references'
    and domains' of the parts that are valid on their own."""
    if not isinstance(data, dict):
        raise PolicyError(f"{source}: a policy is a table of tables, got"
                          f" {type(data).__name__}")
    found: list[tuple[tuple, str]] = []
    policy = None
    try:
        policy = Policy.model_validate(data, context={"references": False})
    except ValidationError as exc:
        found += field_problems(exc)
    except RecursionError:
        raise PolicyError(f"{source}: values are nested too deeply to be a policy") from None
    found += problems(data, parts_of(policy) if policy is not None else parts_from_raw(data))
    if found:
        lines = [f"{source}: {len(found)} problem(s) in the policy:"]
        lines += [f"  - {dotted(loc) or '(top level)'}: {msg}" for loc, msg in found]
        raise PolicyError("\n".join(lines))
    assert policy is not None  # noqa: S101 - no problem means it validated
    return policy


def field_problems(exc: ValidationError) -> list[tuple[tuple, str]]:
    """Pydantic's errors as (field path, message), without pydantic's own vocabulary."""
    out = []
    for err in exc.errors(include_url=False):
        loc = tuple(err["loc"])
        msg = _words(err["msg"].removeprefix("Value error, "))
        if err["type"] == "extra_forbidden":
            valid = _valid_keys(loc[:-1])
            msg = f"unknown field {loc[-1]!r}" + (
                f"; valid fields here are {', '.join(valid)}" if valid else ""
            )
            loc = loc[:-1]
        elif err["type"] == "missing":
            msg = "this field is required"
        else:
            msg = _TYPES.get(err["type"], msg)
            if err["type"] == "string_pattern_mismatch" and err.get("ctx", {}).get(
                    "pattern") == _NAME:
                msg = ("should be a name: lowercase letters, digits and '_', starting with"
                       " a letter")
            if "input" in err and "got" not in msg and "cannot be" not in msg and not (
                    isinstance(err["input"], dict | list)):
                msg += f", got {_show(err['input'])}"
        out.append((loc, msg))
    return out


_TYPES = {  # the words for a value of the wrong type
    "model_type": "should be a table", "model_attributes_type": "should be a table",
    "dict_type": "should be a table", "list_type": "should be an array",
    "tuple_type": "should be an array", "int_type": "should be an integer",
    "float_type": "should be a number", "string_type": "should be a string",
    "bool_type": "should be true or false",
}


def _words(msg: str) -> str:
    """Pydantic's sentences in the policy's words ("Input should be" -> "should be")."""
    for prefix in ("Input ", "List ", "Dictionary ", "String ", "Tuple "):
        if msg.startswith(prefix + "should"):
            msg = msg.removeprefix(prefix)
    msg = msg.replace(" after validation", "").replace("Input", "the value")
    return msg.replace("should have at least 1 item, not 0", "should not be empty")


def _valid_keys(loc: tuple[Any, ...]) -> list[str]:
    """The field names of the model found by walking `loc` from `Policy` (list indices
    and the keys of maps of names, such as a channel's name, are stepped over)."""
    model: Any = Policy
    parts = [p for p in loc if not isinstance(p, int)]
    k = 0
    while k < len(parts):
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            return []
        field = model.model_fields.get(str(parts[k]))
        if field is None:
            return []
        if _is_map(field.annotation):
            k += 1  # the next part is a name in the map
        model = _inner_model(field.annotation)
        k += 1
    if isinstance(model, type) and issubclass(model, BaseModel):
        return sorted(model.model_fields)
    return []


def _is_map(annotation: Any) -> bool:
    origin = typing.get_origin(annotation)
    if origin is dict:
        return True
    if origin in (typing.Union, types.UnionType, typing.Annotated):
        return any(_is_map(a) for a in typing.get_args(annotation))
    return False


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
