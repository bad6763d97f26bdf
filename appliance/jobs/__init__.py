"""Durable jobs: the send queue (SQLite in the data folder) and the runner that works it.

See :mod:`appliance.jobs.queue` (states, exactly-once rules) and :mod:`appliance.jobs.runner`
(sending, retries, storage commitment); events for progress are in :mod:`appliance.jobs.events`.
"""

from .queue import STATES, EnqueueResult, Item, Job, JobQueue, QueueBusy
from .runner import CommitResult, QueueRunner

__all__ = ["JobQueue", "QueueRunner", "Job", "Item", "EnqueueResult", "CommitResult", "QueueBusy", "STATES"]
