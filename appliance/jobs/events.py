"""What the queue runner reports while it works: plain dataclasses handed to a callback.

The CLI draws a progress bar from them; the TUI and the workflow will subscribe the same way.
Callbacks run in the runner's thread, except :class:`CommitmentReported`, which arrives in the
thread of the association that brought the report.
"""

from __future__ import annotations

__all__ = [
    "JobStarted",
    "InstanceSent",
    "InstanceFailed",
    "JobFinished",
    "CommitmentRequested",
    "CommitmentReported",
    "CommitmentFailed",
    "Event",
]

from dataclasses import dataclass


@dataclass(frozen=True)
class JobStarted:
    job_id: int
    destination: str
    total: int  # items of the job still to send now


@dataclass(frozen=True)
class InstanceSent:
    job_id: int
    item_id: int
    sop_instance_uid: str
    status: int | None
    warning: bool
    transfer_syntax: str | None
    converted: bool
    size: int
    done: int  # items of this run handled so far (sent or failed)
    total: int


@dataclass(frozen=True)
class InstanceFailed:
    job_id: int
    item_id: int
    sop_instance_uid: str
    status: int | None
    error: str
    retry_at: float | None  # epoch seconds of the next attempt, None when it failed for good
    done: int
    total: int


@dataclass(frozen=True)
class JobFinished:
    job_id: int
    counts: dict[str, int]


@dataclass(frozen=True)
class CommitmentRequested:
    job_id: int | None
    destination: str
    transaction_uid: str
    count: int
    status: int | None = None  # N-ACTION response status once answered


@dataclass(frozen=True)
class CommitmentReported:
    transaction_uid: str
    committed: int
    failed: int
    same_association: bool


@dataclass(frozen=True)
class CommitmentFailed:
    job_id: int | None
    transaction_uid: str | None
    error: str
    will_retry: bool = False


Event = (JobStarted | InstanceSent | InstanceFailed | JobFinished | CommitmentRequested | CommitmentReported
         | CommitmentFailed)
