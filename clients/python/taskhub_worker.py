"""Compatibility module: `from taskhub_worker import Worker` keeps working; the code lives in the `taskhub` package."""

from taskhub.errors import Cancelled, NonRetryableError, SoftTimeLimitExceeded, StaleAttemptError, TaskhubError
from taskhub.worker import TaskContext, Worker, main_options, worker_from_options

__all__ = [
    "Worker",
    "TaskContext",
    "TaskhubError",
    "StaleAttemptError",
    "NonRetryableError",
    "Cancelled",
    "SoftTimeLimitExceeded",
    "main_options",
    "worker_from_options",
]
