"""Taskhub for Python: a client for the HTTP API, a worker that runs handlers in child processes, and a
Celery-style layer (`Taskhub`, `@app.task`, `.delay()`). Standard library only; Python 3.9+."""

from .app import AsyncResult, Taskhub, TaskhubTask, decode_call, encode_call
from .client import TaskhubClient, task_spec
from .errors import (
    BadRequestError,
    Cancelled,
    CheckpointTooLargeError,
    ChildTaskFailedError,
    ConflictError,
    ForbiddenError,
    NonRetryableError,
    NotFoundError,
    RateLimitedError,
    ServiceUnavailableError,
    SignalTimeoutError,
    SoftTimeLimitExceeded,
    StaleAttemptError,
    SingletonConflictError,
    StepExistsError,
    TaskCancelledError,
    TaskFailedError,
    TaskhubError,
    TaskhubHttpError,
    TaskhubNetworkError,
    TaskhubTimeoutError,
    TaskSuspended,
    UnauthorizedError,
)
from .worker import TaskContext, Worker

__version__ = "0.1.0"

__all__ = [
    "AsyncResult",
    "BadRequestError",
    "Cancelled",
    "CheckpointTooLargeError",
    "ChildTaskFailedError",
    "ConflictError",
    "ForbiddenError",
    "NonRetryableError",
    "NotFoundError",
    "RateLimitedError",
    "ServiceUnavailableError",
    "SignalTimeoutError",
    "SoftTimeLimitExceeded",
    "StaleAttemptError",
    "SingletonConflictError",
    "StepExistsError",
    "TaskCancelledError",
    "TaskContext",
    "TaskFailedError",
    "Taskhub",
    "TaskhubClient",
    "TaskhubError",
    "TaskhubHttpError",
    "TaskhubNetworkError",
    "TaskhubTask",
    "TaskhubTimeoutError",
    "TaskSuspended",
    "UnauthorizedError",
    "Worker",
    "decode_call",
    "encode_call",
    "task_spec",
]
