"""A Taskhub worker in Python, standard library only.

Runs handlers for task types against a Taskhub server over the worker protocol (HTTP + JSON, see docs/workers.md):
a long-poll claim that returns the moment a task arrives, lease heartbeats in a background thread (their answers
carry cancel requests), progress and streamed output, and a graceful stop on SIGTERM/SIGINT that lets running tasks
finish within a grace period and gives the rest back to the queue without counting the attempt.

    from taskhub_worker import Worker

    worker = Worker("http://127.0.0.1:8080", token="...")

    @worker.handler("travel-plan")
    def travel_plan(payload, ctx):
        ctx.progress(30, "calling the model")
        ctx.output("Day 1: ...")
        if ctx.cancelled:            # cancel requested, timed out, lease lost or shutting down
            return None
        return {"planId": 42}

    worker.run()                     # until SIGTERM/SIGINT or worker.stop()

Python 3.9+; no third-party packages.
"""

from __future__ import annotations

import http.client
import json
import logging
import os
import random
import signal
import socket
import sys
import threading
import time
import traceback
from typing import Any, Callable, Dict, List, Optional
from urllib.parse import quote, urlsplit

__all__ = [
    "Worker",
    "TaskContext",
    "TaskhubError",
    "StaleAttemptError",
    "NonRetryableError",
    "Cancelled",
]

log = logging.getLogger("taskhub_worker")

Handler = Callable[[Any, "TaskContext"], Any]


class TaskhubError(Exception):
    """The server refused a call, or could not be reached (status None)."""

    def __init__(self, message: str, status: Optional[int] = None, code: Optional[str] = None, field: Optional[str] = None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.field = field


class StaleAttemptError(TaskhubError):
    """409: this attempt is no longer current (the lease expired and the task moved on, or it finished)."""


class NonRetryableError(Exception):
    """Raise from a handler to fail the task for good (no retry), with an optional machine-readable code."""

    def __init__(self, message: str, code: Optional[str] = None):
        super().__init__(message)
        self.code = code
        self.retryable = False


class Cancelled(Exception):
    """Raised by ctx.check() once the attempt should stop."""


class _Aborted(Exception):
    """A request was cut short on purpose (the worker is stopping)."""


class _Http:
    """Small JSON-over-HTTP caller on http.client; the long-poll's connection can be cut from another thread."""

    def __init__(self, url: str, token: Optional[str], timeout: float):
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"url must be http(s)://host[:port][/prefix], not {url!r}")
        self.https = parts.scheme == "https"
        self.host = parts.hostname
        self.port = parts.port
        self.prefix = parts.path.rstrip("/")
        self.token = token
        self.timeout = timeout
        self._lock = threading.RLock()
        self._open: set = set()
        self._closed = False

    def post(self, path: str, body: Dict[str, Any], timeout: Optional[float] = None) -> Any:
        headers = {"content-type": "application/json", "accept": "application/json"}
        if self.token:
            headers["authorization"] = f"Bearer {self.token}"
        cls = http.client.HTTPSConnection if self.https else http.client.HTTPConnection
        conn = cls(self.host, self.port, timeout=timeout or self.timeout)
        with self._lock:
            if self._closed:
                raise _Aborted()
            self._open.add(conn)
        try:
            conn.request("POST", f"{self.prefix}/api/v1{path}", body=json.dumps(body).encode("utf-8"), headers=headers)
            response = conn.getresponse()
            text = response.read().decode("utf-8")
            status = response.status
        except (OSError, http.client.HTTPException) as error:
            if self._closed:
                raise _Aborted() from error
            raise TaskhubError(f"POST {path}: {error}") from error
        finally:
            with self._lock:
                self._open.discard(conn)
            conn.close()
        if 200 <= status < 300:
            return json.loads(text) if text else None
        try:
            problem = json.loads(text)
        except ValueError:
            problem = {}
        detail = problem.get("detail") or text[:200] or f"HTTP {status}"
        error_class = StaleAttemptError if problem.get("code") == "STALE_ATTEMPT" else TaskhubError
        raise error_class(f"POST {path}: {status} {detail}", status, problem.get("code"), problem.get("field"))

    def cut(self) -> None:
        """Cuts every request in flight (the long-poll claim) and refuses new ones."""
        with self._lock:
            self._closed = True
            connections = list(self._open)
        for conn in connections:
            sock = getattr(conn, "sock", None)
            if sock is not None:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


class _TaskLog(logging.LoggerAdapter):
    """Prefixes every line with the task: `[task ID type #attempt] message`; the fields are also in `extra`."""

    def process(self, msg: Any, kwargs: Any) -> Any:
        extra = self.extra or {}
        kwargs.setdefault("extra", {}).update(extra)
        return f"[task {extra.get('task_id')} {extra.get('type')} #{extra.get('attempt')}] {msg}", kwargs


class TaskContext:
    """What a handler gets besides its payload."""

    def __init__(self, worker: "Worker", claim: Dict[str, Any]):
        self._worker = worker
        self.task: Dict[str, Any] = claim["task"]
        self.task_id: str = self.task["id"]
        self.attempt: int = self.task["attempts"]
        self.attempt_token: str = claim["attemptToken"]
        self._stop = threading.Event()
        self.stop_reason: Optional[str] = None
        self.log: logging.LoggerAdapter = _TaskLog(log, {"task_id": self.task_id, "type": self.task["type"], "attempt": self.attempt})

    @property
    def payload(self) -> Any:
        return self.task["payload"]

    @property
    def cancelled(self) -> bool:
        """True once the attempt should stop: cancel requested, timed out, lease lost, or the worker is shutting down."""
        return self._stop.is_set()

    def wait(self, seconds: float) -> bool:
        """Sleeps up to `seconds`; returns True at once if the attempt should stop (use instead of time.sleep)."""
        return self._stop.wait(seconds)

    def check(self) -> None:
        """Raises Cancelled if the attempt should stop."""
        if self._stop.is_set():
            raise Cancelled(self.stop_reason or "cancelled")

    def progress(self, percent: float, message: Optional[str] = None, phase: Optional[str] = None, data: Any = None) -> None:
        """Reports progress (0..100); followers see a `progress` event."""
        body: Dict[str, Any] = {"attemptToken": self.attempt_token, "percent": percent}
        if message is not None:
            body["message"] = message
        if phase is not None:
            body["phase"] = phase
        if data is not None:
            body["data"] = data
        self._worker._http.post(f"/worker/tasks/{quote(self.task_id, safe='')}/progress", body)

    def output(self, chunk: str) -> None:
        """Streams a piece of partial output (generated text, a log line) to followers."""
        if not isinstance(chunk, str):
            raise TypeError("output chunk must be a str")
        self._worker._http.post(f"/worker/tasks/{quote(self.task_id, safe='')}/output", {"attemptToken": self.attempt_token, "chunk": chunk})

    def _halt(self, reason: str) -> None:
        if self.stop_reason is None:
            self.stop_reason = reason
        self._stop.set()


class _Execution:
    def __init__(self, ctx: TaskContext, handler: Handler):
        self.ctx = ctx
        self.handler = handler
        self.started = time.monotonic()
        timeout_ms = ctx.task.get("timeoutMs")
        self.deadline = self.started + timeout_ms / 1000.0 if isinstance(timeout_ms, (int, float)) else None
        self.settled = False  # the outcome was reported (or given up): report nothing more
        self.lock = threading.Lock()
        self.thread: Optional[threading.Thread] = None

    def settle(self) -> bool:
        """True for the one caller that gets to report this attempt's outcome."""
        with self.lock:
            if self.settled:
                return False
            self.settled = True
            return True


class Worker:
    """Claims tasks of the registered types from a Taskhub server and runs their handlers in threads."""

    def __init__(
        self,
        url: str,
        token: Optional[str] = None,
        *,
        worker_id: Optional[str] = None,
        queues: Optional[List[str]] = None,
        concurrency: int = 4,
        heartbeat_interval: float = 2.0,
        claim_wait: float = 25.0,
        shutdown_grace: float = 10.0,
        request_timeout: float = 30.0,
        report_interval: float = 5.0,
    ):
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        if not 0 <= claim_wait <= 30:
            raise ValueError("claim_wait must be 0..30 seconds")
        self._url, self._token, self._request_timeout = url, token, request_timeout
        self._http = _Http(url, token, request_timeout)
        self._poll: Optional[_Http] = None
        self.id = worker_id or f"{socket.gethostname()}-{os.getpid()}-{random.getrandbits(24):06x}"
        self.queues = list(queues) if queues else None
        self.concurrency = concurrency
        self.heartbeat_interval = heartbeat_interval
        self.claim_wait = claim_wait
        self.shutdown_grace = shutdown_grace
        self.report_interval = report_interval
        self._handlers: Dict[str, Handler] = {}
        self._active: Dict[str, _Execution] = {}
        self._lock = threading.Lock()
        self._slot_freed = threading.Event()
        self._stopping = threading.Event()
        self._stopped = threading.Event()
        self._started_at = int(time.time() * 1000)
        self._signals = 0

    # ---- registration ----

    def handle(self, task_type: str, fn: Handler) -> "Worker":
        """Registers the handler of a task type: fn(payload, ctx) -> JSON-serialisable result."""
        if not callable(fn):
            raise TypeError(f"handler for {task_type} must be callable")
        self._handlers[task_type] = fn
        return self

    def handler(self, task_type: str) -> Callable[[Handler], Handler]:
        """Decorator form of handle()."""

        def register(fn: Handler) -> Handler:
            self.handle(task_type, fn)
            return fn

        return register

    @property
    def running(self) -> int:
        with self._lock:
            return sum(1 for e in self._active.values() if e.thread is not None and e.thread.is_alive())

    # ---- running ----

    def run(self, install_signal_handlers: bool = True) -> None:
        """Claims and runs tasks until stop() (or SIGTERM/SIGINT), then shuts down gracefully. Blocks."""
        if not self._handlers:
            raise RuntimeError("register at least one handler before run()")
        if install_signal_handlers and threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, self._on_signal)
            signal.signal(signal.SIGINT, self._on_signal)
        # A wrong URL prefix or token shows at once rather than as a loop of refused claims.
        self._report(refusal_is_fatal=True)
        background = threading.Thread(target=self._background, name="taskhub-heartbeats", daemon=True)
        background.start()
        log.info("worker %s started: types %s, queues %s", self.id, sorted(self._handlers), self.queues or "all")
        try:
            self._claim_loop()
        finally:
            self._shutdown()
            self._stopped.set()

    def stop(self) -> None:
        """Stops claiming; run() then lets running tasks finish within the grace period and returns. Thread-safe."""
        if self._stopping.is_set():
            return
        self._stopping.set()
        self._slot_freed.set()
        self._http_cut_claim()

    def _on_signal(self, signum: int, _frame: Any) -> None:
        self._signals += 1
        if self._signals > 1:
            log.warning("second signal: exiting at once")
            os._exit(130)
        log.info("signal %s: stopping; running tasks get %.1f s to finish", signum, self.shutdown_grace)
        # From a thread, not here: a signal handler runs between two bytecodes of the main thread, which may hold a
        # lock stop() needs.
        threading.Thread(target=self.stop, name="taskhub-stop", daemon=True).start()

    def _http_cut_claim(self) -> None:
        poll = self._poll
        if poll is not None:
            poll.cut()

    def _claim_loop(self) -> None:
        failures = 0
        types = sorted(self._handlers)
        while not self._stopping.is_set():
            free = self.concurrency - self.running
            if free <= 0:
                self._slot_freed.wait(1.0)
                self._slot_freed.clear()
                continue
            # A caller of its own, so that stop() can cut this long-poll without touching reports in flight. It is
            # set before the check below: a stop() from now on either is seen there or cuts this very poll.
            self._poll = _Http(self._url, self._token, self._request_timeout)
            if self._stopping.is_set():
                break
            body = {"workerId": self.id, "types": types, "queues": self.queues, "max": min(free, 100), "waitMs": int(self.claim_wait * 1000)}
            try:
                answer = self._poll.post("/worker/claim", body, timeout=self.claim_wait + 10)
                failures = 0
            except _Aborted:
                break
            except TaskhubError as error:
                failures += 1
                delay = min(0.1 * 2**failures, 5.0)
                level = logging.ERROR if error.status in (401, 403) else logging.WARNING
                log.log(level, "claim failed (%s); retrying in %.1f s", error, delay)
                self._stopping.wait(delay)
                continue
            for claim in answer["claims"]:
                if self._stopping.is_set():
                    self._release(claim["task"]["id"], claim["attemptToken"], "worker shutting down")
                else:
                    self._start(claim)

    def _start(self, claim: Dict[str, Any]) -> None:
        ctx = TaskContext(self, claim)
        handler = self._handlers.get(ctx.task["type"])
        if handler is None:  # cannot happen: the claim names only our types
            self._release(ctx.task_id, ctx.attempt_token, f"no handler for {ctx.task['type']}")
            return
        execution = _Execution(ctx, handler)
        execution.thread = threading.Thread(target=self._execute, args=(execution,), name=f"task-{ctx.task_id}", daemon=True)
        with self._lock:
            self._active[ctx.task_id] = execution
        execution.thread.start()

    def _execute(self, execution: _Execution) -> None:
        ctx = execution.ctx
        try:
            try:
                result = execution.handler(ctx.payload, ctx)
            except Exception as error:  # noqa: BLE001 - a handler's exception fails its attempt, never the worker
                if execution.settle():
                    if isinstance(error, Cancelled) or ctx.cancelled:
                        self._report_cancel_or_release(execution)
                    else:
                        ctx.log.warning("task attempt failed: %s", error)
                        self._fail(ctx, _task_error(error))
                return
            if execution.settle():
                if ctx.cancelled:
                    self._report_cancel_or_release(execution)
                    return
                try:
                    json.dumps(result)
                except (TypeError, ValueError) as error:
                    ctx.log.warning("the result is not JSON: %s", error)
                    self._fail(ctx, {"message": f"the handler's result is not JSON-serialisable: {error}", "code": "BAD_RESULT", "retryable": False})
                    return
                self._call(ctx, "complete", {"result": result})
        finally:
            with self._lock:
                if self._active.get(ctx.task_id) is execution:
                    del self._active[ctx.task_id]
            self._slot_freed.set()

    def _report_cancel_or_release(self, execution: _Execution) -> None:
        ctx = execution.ctx
        if ctx.stop_reason == "shutdown":
            self._release(ctx.task_id, ctx.attempt_token, "worker shut down")
        elif ctx.stop_reason == "timed out":
            self._fail(ctx, {"message": "attempt timed out", "code": "TIMEOUT", "retryable": True})
        elif ctx.stop_reason != "lease lost":
            self._fail(ctx, {"message": "cancelled by request", "code": "CANCELLED", "retryable": False})

    def _fail(self, ctx: TaskContext, error: Dict[str, Any]) -> None:
        self._call(ctx, "fail", {"error": error})

    def _call(self, ctx: TaskContext, action: str, body: Dict[str, Any]) -> None:
        """Reports an outcome; retried after network trouble, never raised (the lease expiring is the fallback)."""
        for attempt in range(3):
            try:
                self._http.post(f"/worker/tasks/{quote(ctx.task_id, safe='')}/{action}", {"attemptToken": ctx.attempt_token, **body})
                return
            except StaleAttemptError:
                ctx.log.warning("could not %s: the attempt is no longer current", action)
                return
            except (TaskhubError, _Aborted) as error:
                status = getattr(error, "status", None)
                if status is not None and status < 500:
                    ctx.log.warning("could not %s: %s", action, error)
                    return
                if attempt == 2:
                    ctx.log.warning("could not %s: %s; the lease will expire and the task come back", action, error)
                    return
                time.sleep(0.25 * 4**attempt)

    def _release(self, task_id: str, token: str, reason: str) -> None:
        try:
            self._http.post(f"/worker/tasks/{quote(task_id, safe='')}/release", {"attemptToken": token, "reason": reason})
        except (TaskhubError, _Aborted) as error:
            log.warning("could not release task %s: %s", task_id, error)

    def _background(self) -> None:
        """Heartbeats every running attempt (acting on cancel requests and lost leases), time limits, reports."""
        last_report = time.monotonic()
        while not self._stopped.wait(self.heartbeat_interval):
            with self._lock:
                executions = list(self._active.values())
            now = time.monotonic()
            for execution in executions:
                if execution.settled:
                    continue
                ctx = execution.ctx
                if execution.deadline is not None and now >= execution.deadline:
                    ctx._halt("timed out")
                    if execution.settle():
                        self._fail(ctx, {"message": f"attempt timed out after {ctx.task['timeoutMs']} ms", "code": "TIMEOUT", "retryable": True})
                    continue
                try:
                    lease = self._http.post(f"/worker/tasks/{quote(ctx.task_id, safe='')}/heartbeat", {"attemptToken": ctx.attempt_token})
                except StaleAttemptError:
                    ctx.log.warning("lease lost: another attempt owns this task now; stopping this one")
                    ctx._halt("lease lost")
                    execution.settle()
                    continue
                except (TaskhubError, _Aborted) as error:
                    ctx.log.warning("heartbeat failed (%s); will retry", error)
                    continue
                if lease.get("cancelRequested"):
                    ctx.log.info("cancel requested")
                    ctx._halt("cancelled")
                    # Reported at once, as the TypeScript worker does; the handler keeps its slot until it returns.
                    if execution.settle():
                        self._fail(ctx, {"message": "cancelled by request", "code": "CANCELLED", "retryable": False})
            if time.monotonic() - last_report >= self.report_interval and not self._stopping.is_set():
                self._report()
                last_report = time.monotonic()

    def _report(self, refusal_is_fatal: bool = False) -> None:
        body = {
            "workerId": self.id,
            "types": sorted(self._handlers),
            "queues": self.queues,
            "host": socket.gethostname()[:255],
            "pid": os.getpid(),
            "concurrency": self.concurrency,
            "running": self.running,
            "startedAt": self._started_at,
        }
        try:
            self._http.post("/worker/register", body)
        except (TaskhubError, _Aborted) as error:
            if refusal_is_fatal and getattr(error, "status", None) in (401, 403, 404):
                raise
            log.warning("could not report this worker: %s", error)

    def _shutdown(self) -> None:
        deadline = time.monotonic() + self.shutdown_grace
        while time.monotonic() < deadline:
            with self._lock:
                alive = [e for e in self._active.values() if e.thread is not None and e.thread.is_alive()]
            if not alive:
                break
            self._slot_freed.wait(0.05)
            self._slot_freed.clear()
        with self._lock:
            left = list(self._active.values())
        for execution in left:
            execution.ctx._halt("shutdown")
            if execution.settle():
                self._release(execution.ctx.task_id, execution.ctx.attempt_token, "worker shut down")
        try:
            self._http.post("/worker/unregister", {"workerId": self.id})
        except (TaskhubError, _Aborted) as error:
            log.warning("could not unregister: %s", error)
        log.info("worker %s stopped", self.id)


def _task_error(error: BaseException) -> Dict[str, Any]:
    """A handler's exception as the protocol's error: message, code and retryable from the exception when it has them."""
    retryable = getattr(error, "retryable", True)
    out: Dict[str, Any] = {
        "message": (str(error) or type(error).__name__)[:10_000],
        "retryable": bool(retryable) if isinstance(retryable, bool) else True,
        "stack": "".join(traceback.format_exception(type(error), error, error.__traceback__))[:100_000],
    }
    code = getattr(error, "code", None)
    if isinstance(code, str) and code:
        out["code"] = code[:200]
    return out


def main_options(argv: Optional[List[str]] = None, description: str = "Taskhub Python worker"):
    """Command-line options shared by worker scripts: --url, --token (or TASKHUB_URL, TASKHUB_TOKEN) and tuning."""
    import argparse

    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--url", default=os.environ.get("TASKHUB_URL", "http://127.0.0.1:8080"), help="server URL (env TASKHUB_URL)")
    parser.add_argument("--token", default=os.environ.get("TASKHUB_TOKEN"), help="bearer token with the worker scope (env TASKHUB_TOKEN)")
    parser.add_argument("--worker-id", default=None, help="default host-pid-random")
    parser.add_argument("--queues", default=None, help="comma-separated queues (default all)")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--heartbeat-interval", type=float, default=2.0, help="seconds; also how soon a cancel lands")
    parser.add_argument("--claim-wait", type=float, default=25.0, help="longest long-poll of an idle claim, seconds (0..30)")
    parser.add_argument("--shutdown-grace", type=float, default=10.0, help="seconds running tasks get to finish on SIGTERM")
    parser.add_argument("--log-level", default=os.environ.get("TASKHUB_LOG_LEVEL", "info"))
    return parser.parse_args(argv)


def worker_from_options(options: Any) -> Worker:
    logging.basicConfig(
        level=getattr(logging, str(options.log_level).upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    return Worker(
        options.url,
        options.token,
        worker_id=options.worker_id,
        queues=[q.strip() for q in options.queues.split(",") if q.strip()] if options.queues else None,
        concurrency=options.concurrency,
        heartbeat_interval=options.heartbeat_interval,
        claim_wait=options.claim_wait,
        shutdown_grace=options.shutdown_grace,
    )
