"""Typed errors: every HTTP refusal carries the server's problem+json fields (RFC 9457)."""

from __future__ import annotations

from typing import Any, Dict, List, Optional


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


class StepExistsError(ConflictError):
    """409 STEP_EXISTS: a step of this name is stored already (another run of the task stored it first)."""


class SingletonConflictError(ConflictError):
    """409 SINGLETON_CONFLICT: a singleton submit with policy "reject" while a task with its key has not finished;
    `task_id` names that task and `key` the singleton key. Nothing was created."""

    @property
    def task_id(self) -> Optional[str]:
        value = self.problem.get("taskId")
        return value if isinstance(value, str) else None

    @property
    def key(self) -> Optional[str]:
        value = self.problem.get("key")
        return value if isinstance(value, str) else None


class CheckpointTooLargeError(TaskhubHttpError):
    """413 CHECKPOINT_TOO_LARGE: the checkpoint's JSON is over the server's limit (default 1 MiB); nothing stored."""


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


class ChildTaskFailedError(TaskhubError):
    """ctx.children (without settle=True): children failed or were cancelled. Not retryable (a re-run gets the same
    children back). `task_id`, `wait` (the children call's name), `failed` ([{"id", "status", "error"}]), `children`
    (every outcome, in order)."""

    def __init__(self, task_id: str, wait: str, failed: List[Dict[str, Any]], children: List[Dict[str, Any]]):
        named = ", ".join(
            f"{c.get('id')} ({c.get('status')}" + (f": {(c.get('error') or {}).get('message')}" if c.get("error") else "") + ")" for c in failed
        )
        super().__init__(f"task {task_id}: {len(failed)} of {len(children)} children of \"{wait}\" did not complete: {named}", code="CHILD_FAILED")
        self.task_id = task_id
        self.wait = wait
        self.failed = [{"id": c.get("id"), "status": c.get("status"), "error": c.get("error")} for c in failed]
        self.children = children
        self.retryable = False


class SignalTimeoutError(TaskhubError):
    """ctx.wait_for_signal: its timeout passed without the signal. Not retryable. `task_id`, `signal`, `timeout_at`
    (epoch ms)."""

    def __init__(self, task_id: str, signal: str, timeout_at: Optional[int]):
        when = ""
        if timeout_at is not None:
            import datetime

            stamp = datetime.datetime.fromtimestamp(timeout_at / 1000, datetime.timezone.utc).isoformat(timespec="milliseconds")
            when = f" ({stamp.replace('+00:00', 'Z')})"
        super().__init__(f"task {task_id}: no signal \"{signal}\" came before its timeout{when}", code="SIGNAL_TIMEOUT")
        self.task_id = task_id
        self.signal = signal
        self.timeout_at = timeout_at
        self.retryable = False


class TaskSuspended(BaseException):
    """Raised by a durable ctx call (children, sleep, signal wait) that suspended the task: the attempt is over and
    the task waits without a slot; when the wait ends it runs again from the top. A BaseException so that `except
    Exception` in a handler does not swallow it: let it propagate. Whatever the handler returns or raises after it is
    ignored, and every later durable call in the same run raises it again."""

    def __init__(self, task_id: str, waiting_for: Any):
        super().__init__("task suspended")
        self.task_id = task_id
        self.waiting_for = waiting_for


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
    elif status == 409 and code == "STEP_EXISTS":
        cls = StepExistsError
    elif status == 409 and code == "SINGLETON_CONFLICT":
        cls = SingletonConflictError
    elif status == 413 and code == "CHECKPOINT_TOO_LARGE":
        cls = CheckpointTooLargeError
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
