"""What an exam reports while it runs: plain dataclasses handed to a callback.

The CLI draws its step lines and progress bar from them, a scenario triggers its faults on
them, a TUI would render the same. Callbacks run in the exam's thread, except the ones the
queue runner relays from a storage commitment report (the thread of that association) and
printer / burner messages (their threads).
"""

from __future__ import annotations

__all__ = ["StateChanged", "StepStarted", "StepProgress", "StepFinished", "Notice", "ExamFinished", "Event"]

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class StateChanged:
    old: str
    new: str


@dataclass(frozen=True)
class StepStarted:
    step: str
    title: str
    index: int  # 1-based position in the exam
    total: int


@dataclass(frozen=True)
class StepProgress:
    step: str
    done: int
    total: int
    detail: str = ""


@dataclass(frozen=True)
class StepFinished:
    step: str
    status: str  # ok, failed, skipped, n/a, not available
    duration: float
    counts: dict[str, int] = field(default_factory=dict)
    message: str = ""


@dataclass(frozen=True)
class Notice:
    """Something the operator should see (a retry, a printer message, a time scaling)."""

    step: str
    level: str  # info, warning, error
    message: str


@dataclass(frozen=True)
class ExamFinished:
    result: Any  # appliance.workflow.exam.ExamResult


Event = StateChanged | StepStarted | StepProgress | StepFinished | Notice | ExamFinished
