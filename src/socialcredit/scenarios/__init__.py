"""Built-in scenarios, shipped as policy files inside the package."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from socialcredit.errors import ScenarioNotFoundError
from socialcredit.policy import Policy, load_policy

__all__ = ["list_scenarios", "load_scenario", "resolve_policy", "scenario_path"]


def list_scenarios() -> list[str]:
    """Names of the built-in scenarios."""
    root = resources.files(__name__)
    return sorted(p.name.removesuffix(".toml") for p in root.iterdir()
                  if p.name.endswith(".toml"))


def scenario_path(name: str) -> Path:
    """The file of a built-in scenario."""
    if name not in list_scenarios():
        raise ScenarioNotFoundError(
            f"no built-in scenario {name!r}; available: {', '.join(list_scenarios())}"
        )
    return Path(str(resources.files(__name__).joinpath(f"{name}.toml")))


def load_scenario(name: str) -> Policy:
    """Load and validate a built-in scenario."""
    return load_policy(scenario_path(name))


def resolve_policy(name_or_file: str) -> tuple[Policy, Path]:
    """A built-in scenario by name, or a policy file by path (a path wins if it exists)."""
    path = Path(name_or_file)
    if path.suffix == ".toml" or path.exists() or "/" in name_or_file:
        return load_policy(path), path
    return load_scenario(name_or_file), scenario_path(name_or_file)
