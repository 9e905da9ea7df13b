"""Exceptions raised by socialcredit.

Every error the library raises on purpose derives from one root, so callers (the CLI,
the service) can catch it in one place and show the message without a traceback::

    SocialCreditError
    ├── PolicyError            a policy file or object is not valid
    │   └── PolicyFileError    the file itself is missing, empty or not TOML
    ├── ScenarioNotFoundError  no built-in scenario by that name
    ├── RunConfigError         run arguments (population, days, seed, ...) are not valid
    └── RunOutputError         a run directory cannot be written or read
"""

from __future__ import annotations

__all__ = [
    "PolicyError",
    "PolicyFileError",
    "RunConfigError",
    "RunOutputError",
    "ScenarioNotFoundError",
    "SocialCreditError",
]


class SocialCreditError(Exception):
    """Root of every error socialcredit raises on purpose."""


class PolicyError(SocialCreditError):
    """A policy is not valid: the message names the source, the field and what is allowed."""


class PolicyFileError(PolicyError):
    """A policy file is missing, unreadable, empty or not valid TOML."""


class ScenarioNotFoundError(SocialCreditError):
    """No built-in scenario has that name; the message lists the ones that exist."""


class RunConfigError(SocialCreditError):
    """Arguments of a run are out of range (population, days, threads, chunk size)."""


class RunOutputError(SocialCreditError):
    """A run directory cannot be written, or a run directory read back is not usable."""
