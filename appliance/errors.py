"""User-facing errors: every one names the thing that is wrong and what to do about it.

The CLI prints them once, at the edge, and maps them to exit codes
(0 ok, 1 failed operation, 2 bad input or configuration).
"""

from __future__ import annotations

__all__ = ["VScannerError", "UsageError", "ProfileError", "ConfigError", "StoreError", "NetworkError", "Problem"]

from dataclasses import dataclass


class VScannerError(Exception):
    """Base of every error vscanner reports to a user.

    Parameters
    ----------
    message : str
        What went wrong, naming the file, key, node or UID concerned.
    hint : str, optional
        What the user can do about it.
    """

    exit_code = 1

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message}\n  hint: {self.hint}" if self.hint else self.message


class UsageError(VScannerError):
    """A command-line value or configuration is invalid (exit code 2)."""

    exit_code = 2


@dataclass(frozen=True)
class Problem:
    """One problem found in a configuration file: where, which key, what."""

    file: str
    key: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.key}: {self.message}"


class ProfileError(VScannerError):
    """A product profile is missing or invalid (bad input: exit code 2)."""

    exit_code = 2
    title = "invalid profile"

    def __init__(self, problems: list[Problem] | str, hint: str = "") -> None:
        if isinstance(problems, str):
            self.problems: list[Problem] = []
            message = problems
        else:
            self.problems = list(problems)
            lines = [str(p) for p in self.problems]
            message = f"{self.title}:\n  " + "\n  ".join(lines)
        super().__init__(
            message,
            hint or "fix the named keys (see docs/profiles.md for every key and its type)",
        )


class ConfigError(ProfileError):
    """The site configuration file is invalid (exit code 2)."""

    title = "invalid site configuration"


class StoreError(VScannerError):
    """The local store cannot accept or find an instance."""


class NetworkError(VScannerError):
    """A network service could not start or a peer misbehaved."""
