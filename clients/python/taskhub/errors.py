"""Typed errors: every HTTP refusal carries the server's problem+json fields (RFC 9457)."""

from __future__ import annotations

from typing import Any, Dict, Optional


class TaskhubError(Exception):
    """Base of every error this package raises on purpose. `status` is None when no HTTP answer came."""

    def __init__(
        self,
        message: str,
        status: Optional[int] = None,
        code: Optional[str] = None,
        field: Optional[str] = None,
        *,
        title: Optional[str] = None,
        detail: Optional[str] = None,
        type: Optional[str] = None,  # noqa: A002 - the problem member's name
        problem: Optional[Dict[str, Any]] = None,
        retry_after: Optional[float] = None,
    ):
        super().__init__(message)
        self.status = status
        self.code = code
        self.field = field
        self.title = title
        self.detail = detail
        self.type = type
        self.problem = problem or {}
        self.retry_after = retry_after


class TaskhubHttpError(TaskhubError):
    """The server answered with an error status; `title`, `detail`, `type`, `code`, `field` come from its body."""


class BadRequestError(TaskhubHttpError):
    """400: the request was invalid (`field` names what); nothing changed."""


class UnauthorizedError(TaskhubHttpError):
    """401: no token, or an invalid one."""


class ForbiddenError(TaskhubHttpError):
    """403: the token lacks the scope."""


class NotFoundError(TaskhubHttpError):
    """404: no such task (or another owner's), schedule, subscription, ..."""


class ConflictError(TaskhubHttpError):
    """409: the task is not in a state that allows this (e.g. cancelling a finished task)."""


class StaleAttemptError(ConflictError):
    """409 STALE_ATTEMPT: this attempt is no longer current (the lease expired and the task moved on, or it finished)."""


class RateLimitedError(TaskhubHttpError):
    """429: slow down; `retry_after` seconds."""


class ServiceUnavailableError(TaskhubHttpError):
    """503: the store is unreachable; try again."""


class TaskhubNetworkError(TaskhubError):
    """No HTTP answer at all: connection refused or reset, DNS, timeout."""


class TaskhubTimeoutError(TaskhubError, TimeoutError):
    """Waiting for a task gave up before it finished; `task_id` and its last seen `task_status`."""

    def __init__(self, message: str, task_id: str, task_status: Optional[str] = None):
        super().__init__(message)
        self.task_id = task_id
        self.task_status = task_status


class TaskFailedError(TaskhubError):
    """The task ended `failed` (raised by AsyncResult.get()); `task` is the finished task, `error` its error."""

    def __init__(self, message: str, task: Dict[str, Any]):
        err = task.get("error") or {}
        super().__init__(message, code=err.get("code"))
        self.task = task
        self.error = err


class TaskCancelledError(TaskFailedError):
    """The task ended `cancelled` (Celery's TaskRevokedError)."""


class NonRetryableError(Exception):
    """Raise from a handler to fail the task for good (no retry), with an optional machine-readable code."""

    def __init__(self, message: str, code: Optional[str] = None):
        super().__init__(message)
        self.code = code
        self.retryable = False


class Cancelled(Exception):
    """Raised by ctx.check() once the attempt should stop."""


class SoftTimeLimitExceeded(Exception):
    """Raised inside a handler when its soft time limit passes; catch it to clean up and return (or re-raise)."""


_BY_STATUS = {
    400: BadRequestError,
    401: UnauthorizedError,
    403: ForbiddenError,
    404: NotFoundError,
    409: ConflictError,
    429: RateLimitedError,
    503: ServiceUnavailableError,
}


def http_error(method: str, path: str, status: int, text: str, retry_after: Optional[str] = None) -> TaskhubHttpError:
    """The typed error of an HTTP error answer; the message keeps the form `METHOD path: status detail`."""
    import json

    try:
        problem = json.loads(text) if text else {}
        if not isinstance(problem, dict):
            problem = {}
    except ValueError:
        problem = {}
    detail = problem.get("detail") if isinstance(problem.get("detail"), str) else (text[:200] or f"HTTP {status}")
    code = problem.get("code") if isinstance(problem.get("code"), str) else None
    cls = _BY_STATUS.get(status, TaskhubHttpError)
    if status == 409 and code == "STALE_ATTEMPT":
        cls = StaleAttemptError
    seconds: Optional[float] = None
    if retry_after:
        try:
            seconds = float(retry_after)
        except ValueError:
            seconds = None
    return cls(
        f"{method} {path}: {status} {detail}",
        status,
        code,
        problem.get("field") if isinstance(problem.get("field"), str) else None,
        title=problem.get("title") if isinstance(problem.get("title"), str) else f"HTTP {status}",
        detail=detail,
        type=problem.get("type") if isinstance(problem.get("type"), str) else "about:blank",
        problem=problem,
        retry_after=seconds,
    )
