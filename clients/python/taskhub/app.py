"""A Celery-style layer over Taskhub, for teams moving from Celery.

    from taskhub import Taskhub

    app = Taskhub("http://127.0.0.1:8080", token="thk_...")

    @app.task(queue="diagnosis", max_retries=3, time_limit=300, soft_time_limit=240)
    def diagnose(brand, depth=1):
        ...
        return {"score": 87}

    handle = diagnose.delay("acme", depth=2)                      # or apply_async(("acme",), {"depth": 2}, countdown=5, priority=3)
    handle.id, handle.status                                      # 'queued', 'running', 'completed', ...
    for event in handle.follow(): ...                             # live events (SSE)
    handle.get(timeout=60)                                        # the result, or TaskFailedError / TaskCancelledError

    if __name__ == "__main__":
        app.worker(queues=["diagnosis"], concurrency=4).run()

Payload encoding: a call's arguments travel as the task's payload `{"args": [...], "kwargs": {...}}` (JSON, so
arguments and results must be JSON values). A handler given any other payload (a task submitted by another client)
receives the payload as its one positional argument.

Task type: `name=` if given, else `module.qualname` of the function; for a function in the main script the module
part is `Taskhub(main=...)` if given, else the script's file name without `.py` (so a script and the modules that
import it agree on the name).
"""

from __future__ import annotations

import functools
import os
import sys
from typing import Any, Callable, Dict, Iterator, Optional, Sequence, Tuple

from .client import TaskhubClient
from .errors import TaskCancelledError, TaskFailedError
from .worker import TaskContext, Worker

__all__ = ["Taskhub", "TaskhubTask", "AsyncResult", "encode_call", "decode_call"]

_CELERY_STATES = {
    "scheduled": "PENDING",
    "queued": "PENDING",
    "running": "STARTED",
    "completed": "SUCCESS",
    "failed": "FAILURE",
    "cancelled": "REVOKED",
}


def encode_call(args: Sequence[Any] = (), kwargs: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    """The payload of a call: {"args": [...], "kwargs": {...}}."""
    return {"args": list(args or ()), "kwargs": dict(kwargs or {})}


def decode_call(payload: Any) -> Tuple[Tuple[Any, ...], Dict[str, Any]]:
    """(args, kwargs) of a payload: encode_call's form, else the payload as the one argument (None: no argument)."""
    if isinstance(payload, dict) and payload and set(payload) <= {"args", "kwargs"}:
        args = payload.get("args") or []
        kwargs = payload.get("kwargs") or {}
        if isinstance(args, list) and isinstance(kwargs, dict):
            return tuple(args), kwargs
    if payload is None:
        return (), {}
    return (payload,), {}


class AsyncResult:
    """A handle on a submitted task (Celery's AsyncResult)."""

    def __init__(self, task_id: str, client: TaskhubClient, task: Optional[Dict[str, Any]] = None):
        self.id = task_id
        self._client = client
        self._task = task

    def __repr__(self) -> str:
        return f"<AsyncResult {self.id}>"

    @property
    def task(self) -> Dict[str, Any]:
        """The task as the server has it now (fetched on each access)."""
        self._task = self._client.get(self.id)
        return self._task

    @property
    def status(self) -> str:
        """Taskhub's status: scheduled, queued, running, completed, failed or cancelled."""
        return self.task["status"]

    @property
    def state(self) -> str:
        """Celery's state names: PENDING, STARTED, RETRY, SUCCESS, FAILURE, REVOKED."""
        task = self.task
        if task["status"] in ("scheduled", "queued") and task.get("attempts", 0) > 0:
            return "RETRY"
        return _CELERY_STATES.get(task["status"], task["status"].upper())

    @property
    def info(self) -> Any:
        """The progress while running ({percent, message, phase?, data?}), the result once completed, the error once
        failed or cancelled."""
        task = self.task
        if task["status"] == "completed":
            return task.get("result")
        if task["status"] in ("failed", "cancelled"):
            return task.get("error")
        return task.get("progress")

    @property
    def result(self) -> Any:
        return self.task.get("result")

    def ready(self) -> bool:
        return self.status in ("completed", "failed", "cancelled")

    def successful(self) -> bool:
        return self.status == "completed"

    def failed(self) -> bool:
        return self.status in ("failed", "cancelled")

    def get(self, timeout: Optional[float] = None, propagate: bool = True) -> Any:
        """Waits for the task to finish and returns its result. Raises TaskFailedError (failed) or
        TaskCancelledError (cancelled) unless propagate=False (then the error dict is returned), and
        TaskhubTimeoutError (also a TimeoutError) after `timeout` seconds (None: wait as long as it takes)."""
        task = self._client.result(self.id, timeout=timeout)
        self._task = task
        if task["status"] == "completed":
            return task.get("result")
        if not propagate:
            return task.get("error")
        error = task.get("error") or {}
        message = f"task {self.id} {task['status']}: {error.get('message', '')}"
        raise (TaskCancelledError if task["status"] == "cancelled" else TaskFailedError)(message, task)

    wait = get

    def follow(self, after: int = 0) -> Iterator[Dict[str, Any]]:
        """The task's events live (SSE, reconnecting), ending after the terminal one."""
        return self._client.follow(self.id, after=after)

    def cancel(self, reason: Optional[str] = None) -> Dict[str, Any]:
        return self._client.cancel(self.id, reason)

    def revoke(self, terminate: bool = False) -> Dict[str, Any]:
        """Celery's revoke: a cancel (a running handler is always stopped: told, then killed after the grace)."""
        return self.cancel()

    def retry(self) -> Dict[str, Any]:
        return self._client.retry(self.id)


class _LocalContext:
    """`self` of a bound task called directly rather than through a worker."""

    def __init__(self, name: str):
        import logging
        from types import SimpleNamespace

        self.task_id = None
        self.attempt = 1
        self.cancelled = False
        self.stop_reason = None
        self.request = SimpleNamespace(id=None, retries=0, attempt=1, task=name, queue=None)
        self.log = logging.getLogger("taskhub_worker")

    def progress(self, *args: Any, **kwargs: Any) -> None:
        return None

    output = update_state = progress

    def wait(self, seconds: float) -> bool:
        import time

        time.sleep(seconds)
        return False

    def check(self) -> None:
        return None

    # Durable calls run here and now: no checkpoint to resume from, steps simply run, checkpoints are not kept.
    last_checkpoint = None

    def checkpoint(self, state: Any, label: Optional[str] = None) -> None:
        return None

    def step(self, name: str, fn: Callable[[], Any]) -> Any:
        return fn()

    def children(self, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("children, sleep and wait_for_signal need a worker: submit the task (.delay()) rather than call it")

    sleep = wait_for_signal = children


class TaskhubTask:
    """A task function registered with @app.task: call it to run it here, .delay()/.apply_async() to submit it."""

    def __init__(self, app: "Taskhub", fn: Callable[..., Any], name: Optional[str], options: Dict[str, Any]):
        functools.update_wrapper(self, fn)
        self.app = app
        self.fn = fn
        self.name = name or _default_name(app, fn)
        self.queue: Optional[str] = options.pop("queue", None)
        self.max_retries: Optional[int] = options.pop("max_retries", None)
        self.time_limit: Optional[float] = options.pop("time_limit", None)
        self.soft_time_limit: Optional[float] = options.pop("soft_time_limit", None)
        self.priority: Optional[int] = options.pop("priority", None)
        self.bind: bool = bool(options.pop("bind", False))
        self.default_retry_delay: Optional[float] = options.pop("default_retry_delay", None)
        self.retry_backoff: Any = options.pop("retry_backoff", None)
        self.retry_backoff_max: Optional[float] = options.pop("retry_backoff_max", None)
        self.retry_jitter: Optional[bool] = options.pop("retry_jitter", None)
        if options:
            raise TypeError(f"@app.task: unknown options {sorted(options)}")

    def __repr__(self) -> str:
        return f"<@task {self.name}>"

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Runs the function here and now, as Celery does; a bound task gets a context whose progress, output and
        update_state do nothing."""
        return self.fn(_LocalContext(self.name), *args, **kwargs) if self.bind else self.fn(*args, **kwargs)

    def _taskhub_call(self, payload: Any, ctx: TaskContext) -> Any:
        args, kwargs = decode_call(payload)
        return self.fn(ctx, *args, **kwargs) if self.bind else self.fn(*args, **kwargs)

    def _backoff(self) -> Optional[Dict[str, Any]]:
        if self.default_retry_delay is None and not self.retry_backoff:
            return None
        backoff: Dict[str, Any] = {"type": "exponential" if self.retry_backoff else "fixed"}
        first = self.retry_backoff if isinstance(self.retry_backoff, (int, float)) and not isinstance(self.retry_backoff, bool) else self.default_retry_delay
        if first is not None:
            backoff["delayMs"] = int(first * 1000)
        if self.retry_backoff_max is not None:
            backoff["maxDelayMs"] = int(self.retry_backoff_max * 1000)
        if self.retry_jitter is not None:
            backoff["jitter"] = 0.5 if self.retry_jitter else 0
        return backoff

    def delay(self, *args: Any, **kwargs: Any) -> AsyncResult:
        """Submits a call with the task's defaults."""
        return self.apply_async(args, kwargs)

    def apply_async(
        self,
        args: Optional[Sequence[Any]] = None,
        kwargs: Optional[Dict[str, Any]] = None,
        *,
        countdown: Optional[float] = None,
        eta: Any = None,
        priority: Optional[int] = None,
        queue: Optional[str] = None,
        time_limit: Optional[float] = None,
        soft_time_limit: Optional[float] = None,
        max_retries: Optional[int] = None,
        idempotency_key: Optional[str] = None,
        tags: Optional[Dict[str, str]] = None,
        throttle: Optional[Dict[str, Any]] = None,
        cost: Optional[int] = None,
    ) -> AsyncResult:
        """Submits a call. countdown: seconds from now; eta: a datetime; priority: higher runs first; time_limit:
        seconds (the hard limit of each attempt); soft_time_limit: seconds (the task's softTimeoutMs: the handler gets
        SoftTimeLimitExceeded and may still return); max_retries: retries after the first attempt; throttle and cost:
        flow control, as TaskhubClient.submit takes them (docs/queues.md)."""
        retries = self.max_retries if max_retries is None else max_retries
        limit = self.time_limit if time_limit is None else time_limit
        soft = self.soft_time_limit if soft_time_limit is None else soft_time_limit
        options: Dict[str, Any] = {
            "queue": queue or self.queue or self.app.default_queue,
            "priority": self.priority if priority is None else priority,
            "delay": countdown,
            "run_at": eta,
            "max_attempts": None if retries is None else retries + 1,
            "timeout": limit,
            "soft_timeout": soft,
            "backoff": self._backoff(),
            "idempotency_key": idempotency_key,
            "tags": tags,
            "throttle": throttle,
            "cost": cost,
        }
        task = self.app.client.submit(self.name, encode_call(args or (), kwargs or {}), **{k: v for k, v in options.items() if v is not None})
        return AsyncResult(task["id"], self.app.client, task)

    def s(self, *args: Any, **kwargs: Any) -> Tuple["TaskhubTask", Tuple[Any, ...], Dict[str, Any]]:
        """A plain (task, args, kwargs) triple; Celery canvas (chains, groups, chords) is not provided."""
        return (self, args, kwargs)


def _default_name(app: "Taskhub", fn: Callable[..., Any]) -> str:
    module = fn.__module__
    if module in ("__main__", "__mp_main__"):
        main_file = getattr(sys.modules.get("__main__"), "__file__", None)
        module = app.main or (os.path.splitext(os.path.basename(main_file))[0] if main_file else "__main__")
    return f"{module}.{fn.__qualname__}"


class Taskhub:
    """The app: a client, the registered tasks, and the worker that runs them (Celery's `Celery` object)."""

    def __init__(self, url: Optional[str] = None, token: Optional[str] = None, *, main: Optional[str] = None,
                 default_queue: str = "default", **client_options: Any):
        self.url = url or os.environ.get("TASKHUB_URL", "http://127.0.0.1:8080")
        self.token = token if token is not None else os.environ.get("TASKHUB_TOKEN")
        self.main = main
        self.default_queue = default_queue
        self.client = TaskhubClient(self.url, self.token, **client_options)
        self.tasks: Dict[str, TaskhubTask] = {}

    def configure(self, url: Optional[str] = None, token: Optional[str] = None, **client_options: Any) -> "Taskhub":
        """Points the app at another server or token (e.g. from command-line options), after the tasks are defined.
        Child processes of a worker get the module's app as it is at import: set TASKHUB_URL/TASKHUB_TOKEN too."""
        self.url = url or self.url
        self.token = token if token is not None else self.token
        self.client = TaskhubClient(self.url, self.token, **client_options)
        return self

    def task(self, fn: Optional[Callable[..., Any]] = None, *, name: Optional[str] = None, **options: Any) -> Any:
        """@app.task or @app.task(name=, queue=, max_retries=, time_limit=, soft_time_limit=, priority=, bind=,
        default_retry_delay=, retry_backoff=, retry_backoff_max=, retry_jitter=)."""

        def register(f: Callable[..., Any]) -> TaskhubTask:
            task = TaskhubTask(self, f, name, dict(options))
            self.tasks[task.name] = task
            return task

        return register(fn) if fn is not None else register

    def AsyncResult(self, task_id: str) -> AsyncResult:  # noqa: N802 - Celery's name
        return AsyncResult(task_id, self.client)

    def send_task(self, name: str, args: Optional[Sequence[Any]] = None, kwargs: Optional[Dict[str, Any]] = None, **options: Any) -> AsyncResult:
        """Submits a task by name (no import of its function needed). Options: TaskhubClient.submit's."""
        options.setdefault("queue", self.default_queue)
        task = self.client.submit(name, encode_call(args or (), kwargs or {}), **options)
        return AsyncResult(task["id"], self.client, task)

    def worker(self, queues: Optional[Sequence[str]] = None, concurrency: int = 4, **worker_options: Any) -> Worker:
        """A Worker for every registered task, claiming from `queues` (default: all queues). `.run()` it."""
        worker = Worker(self.url, worker_options.pop("token", self.token), queues=list(queues) if queues else None,
                        concurrency=concurrency, **worker_options)
        for task in self.tasks.values():
            worker.handle(task.name, task, time_limit=task.time_limit, soft_time_limit=task.soft_time_limit)
        return worker
