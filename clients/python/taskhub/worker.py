"""A Taskhub worker in Python, standard library only.

Runs handlers for task types against a Taskhub server over the worker protocol (HTTP + JSON, see docs/workers.md):
a long-poll claim that returns the moment a task arrives, lease heartbeats (their answers carry cancel requests),
progress and streamed output, and a graceful stop on SIGTERM/SIGINT.

Each concurrency slot is a child process (multiprocessing, 'spawn' start method) that runs one handler at a time, so
the worker can stop a handler that ignores its limits: at the hard time limit (the task's `timeoutMs`) the child is
killed and replaced, and the slot takes the next task at once; on a cancel the handler sees `ctx.cancelled` and is
killed if it has not returned after `cancel_grace` seconds. A soft time limit raises SoftTimeLimitExceeded inside
the handler (SIGALRM in the child) so it can clean up and return.

Durable execution (README.md, "Durable execution"): ctx.last_checkpoint, ctx.checkpoint, ctx.step, ctx.children,
ctx.sleep (ms) and ctx.wait_for_signal, as in the TypeScript worker. A call that suspends the task raises
TaskSuspended (a BaseException): the attempt ends without an outcome and the slot is free; the task runs again from
the top when its wait ends.

    from taskhub import Worker

    worker = Worker("http://127.0.0.1:8080", token="...")

    @worker.handler("travel-plan")
    def travel_plan(payload, ctx):           # module level: the child process imports it by name
        ctx.progress(30, "calling the model")
        ctx.output("Day 1: ...")
        if ctx.cancelled:                    # cancel requested, lease lost or shutting down
            return None
        return {"planId": 42}

    if __name__ == "__main__":               # required: each child re-imports this script
        worker.run()                         # until SIGTERM/SIGINT or worker.stop()
"""

from __future__ import annotations

import importlib
import json
import logging
import math
import multiprocessing
import multiprocessing.connection
import os
import queue
import random
import signal
import socket
import sys
import threading
import time
import traceback
from types import SimpleNamespace
from typing import Any, Callable, Dict, List, Optional, Tuple
from urllib.parse import quote

from ._events import EventSender as _EventSender
from ._events import raise_soft_limit as _raise_soft_limit
from ._events import refuse as _refuse
from ._events import text_problem as _text_problem
from ._http import Aborted as _Aborted
from ._http import Http as _Http
from .errors import (
    Cancelled,
    CheckpointTooLargeError,
    ChildTaskFailedError,
    NonRetryableError,
    SignalTimeoutError,
    SoftTimeLimitExceeded,
    StaleAttemptError,
    StepExistsError,
    TaskhubError,
    TaskSuspended,
)

__all__ = [
    "Worker",
    "TaskContext",
    "TaskhubError",
    "StaleAttemptError",
    "NonRetryableError",
    "Cancelled",
    "SoftTimeLimitExceeded",
    "ChildTaskFailedError",
    "SignalTimeoutError",
    "CheckpointTooLargeError",
    "StepExistsError",
    "TaskSuspended",
    "main_options",
    "worker_from_options",
]

log = logging.getLogger("taskhub_worker")

Handler = Callable[[Any, "TaskContext"], Any]


class _TaskLog(logging.LoggerAdapter):
    """Prefixes every line with the task: `[task ID type #attempt] message`; the fields are also in `extra`."""

    def process(self, msg: Any, kwargs: Any) -> Any:
        extra = self.extra or {}
        kwargs.setdefault("extra", {}).update(extra)
        return f"[task {extra.get('task_id')} {extra.get('type')} #{extra.get('attempt')}] {msg}", kwargs


class TaskContext:
    """What a handler gets besides its payload. Lives in the handler's process; progress and output go to the server
    in batches, in the order written (`_events.py`), and durable calls over HTTP once those written before are
    stored."""

    def __init__(self, http: _Http, claim: Dict[str, Any], soft_time_limit: Optional[float] = None):
        self._http = http
        self.task: Dict[str, Any] = claim["task"]
        self.task_id: str = self.task["id"]
        self.attempt: int = self.task["attempts"]
        self.attempt_token: str = claim["attemptToken"]
        self.soft_time_limit = soft_time_limit
        self._stop = threading.Event()
        self.stop_reason: Optional[str] = None
        self.log: logging.LoggerAdapter = _TaskLog(log, {"task_id": self.task_id, "type": self.task["type"], "attempt": self.attempt})
        self._checkpoint: Optional[Dict[str, Any]] = claim.get("checkpoint")
        # Durable state of this run, made on the first durable call (docs/durable.md, "Handler API").
        self._steps: Optional[Dict[str, Any]] = None
        self._used: Optional[set] = None
        self._children_calls = 0
        self._suspension: Optional[TaskSuspended] = None
        self._on_suspend: Optional[Callable[[Any], None]] = None
        # What report_cost() said, sent with the outcome; in a handler process, passed to the parent at once.
        self._reported_cost: Optional[int] = None
        self._on_cost: Optional[Callable[[int], None]] = None
        # Progress and output on their way; its thread starts with the first (never in the worker's own process).
        self._events = _EventSender(http, self.task_id, self.attempt_token)

    @property
    def payload(self) -> Any:
        return self.task["payload"]

    @property
    def request(self) -> SimpleNamespace:
        """Celery's `self.request` for bound tasks: id, retries (0 on the first attempt), attempt, task."""
        return SimpleNamespace(id=self.task_id, retries=self.attempt - 1, attempt=self.attempt, task=self.task["type"], queue=self.task.get("queue"))

    @property
    def cancelled(self) -> bool:
        """True once the attempt should stop: cancel requested, lease lost, or the worker is shutting down."""
        return self._stop.is_set()

    def wait(self, seconds: float) -> bool:
        """Sleeps up to `seconds`; returns True at once if the attempt should stop (use instead of time.sleep)."""
        return self._stop.wait(seconds)

    def check(self) -> None:
        """Raises Cancelled if the attempt should stop."""
        if self._stop.is_set():
            raise Cancelled(self.stop_reason or "cancelled")

    def progress(self, percent: float, message: Optional[str] = None, phase: Optional[str] = None, data: Any = None) -> None:
        """Reports progress (0..100); followers see a `progress` event. Returns once queued (see output())."""
        if isinstance(percent, bool) or not isinstance(percent, (int, float)) or not 0 <= percent <= 100:
            raise ValueError(f"progress: percent must be a number from 0 to 100, got {percent!r}")
        for field, text, longest in (("message", message, 10_000), ("phase", phase, 200)):
            if text is None:
                continue
            # The server counts UTF-16 code units.
            if not isinstance(text, str) or len(text.encode("utf-16-le")) // 2 > longest:
                raise ValueError(f"progress: {field} must be a str of at most {longest} characters")
            problem = _text_problem(text)
            if problem is not None:
                raise _refuse(field, problem)
        body: Dict[str, Any] = {"percent": percent}
        if message is not None:
            body["message"] = message
        if phase is not None:
            body["phase"] = phase
        if data is not None:
            body["data"] = _to_json(data)
        self._events.add({"progress": body})

    def update_state(self, state: Optional[str] = None, meta: Optional[Dict[str, Any]] = None) -> None:
        """Celery's update_state: a progress event with message=state and data=meta; the percent is meta's
        `percent` (or `progress`, or current/total) when present, else 0."""
        meta = dict(meta or {})
        percent = meta.get("percent", meta.get("progress"))
        if percent is None and meta.get("total"):
            percent = 100.0 * float(meta.get("current", 0)) / float(meta["total"])
        self.progress(max(0.0, min(100.0, float(percent or 0))), state, data=meta or None)

    def report_cost(self, units: int) -> None:
        """Reports what the attempt actually cost (a non-negative integer in the units of its cost limit, e.g.
        tokens). Sent with the outcome, it replaces the task's declared cost in the cost windows, so the next starts
        reflect what was used (docs/queues.md, "Cost limits"). The last call counts."""
        if isinstance(units, bool) or not isinstance(units, int) or units < 0 or units > 2_147_483_647:
            raise ValueError(f"report_cost: expected an integer from 0 to 2147483647, got {units!r}")
        self._reported_cost = units
        if self._on_cost is not None:
            self._on_cost(units)

    def output(self, chunk: str) -> None:
        """Streams a piece of partial output (generated text, a log line) to followers. Returns once the chunk is
        queued while fewer than 8 of the attempt's chunks and progress reports are unstored, else once the oldest is
        stored; they are sent in batches, in order. A chunk the server's input rules refuse (U+0000, an unpaired
        surrogate) raises BadRequestError here. A refusal that comes back (StaleAttemptError: the attempt is no longer
        current; the server unreachable) is raised by the next output, progress or durable call, or fails the attempt
        if the handler returned first."""
        if not isinstance(chunk, str):
            raise TypeError("output chunk must be a str")
        problem = _text_problem(chunk)
        if problem is not None:
            raise _refuse("chunk", problem)
        self._events.add({"chunk": chunk})

    # ---- durable execution (docs/durable.md, "Handler API"; the same semantics as the TypeScript worker) ----

    @property
    def last_checkpoint(self) -> Optional[Dict[str, Any]]:
        """The latest checkpoint when this attempt was claimed: {"version", "label", "size", "created_at", "state"};
        None on a task without one."""
        c = self._checkpoint
        if not c:
            return None
        return {"version": c.get("version"), "label": c.get("label"), "size": c.get("size"), "created_at": c.get("createdAt"), "state": c.get("state")}

    def _path(self, tail: str) -> str:
        return f"/worker/tasks/{quote(self.task_id, safe='')}/{tail}"

    def checkpoint(self, state: Any, label: Optional[str] = None) -> Dict[str, Any]:
        """Stores the next version of the task's state (event `checkpoint`); every later attempt reads the latest as
        ctx.last_checkpoint. Over the server's limit (default 1 MiB of JSON): CheckpointTooLargeError, nothing stored.
        Returns {"version", "label", "size", "created_at"}."""
        if self._suspension is not None:
            raise self._suspension
        self._events.flush()
        body: Dict[str, Any] = {"attemptToken": self.attempt_token, "state": _to_json(state)}
        if label is not None:
            body["label"] = label
        info = self._http.post(self._path("checkpoints"), body)
        return {"version": info.get("version"), "label": info.get("label"), "size": info.get("size"), "created_at": info.get("createdAt")}

    def _use(self, kind: str, name: str) -> None:
        if self._suspension is not None:
            raise self._suspension
        self._events.flush()
        if self._used is None:
            self._used = set()
        key = (kind, name)
        if key in self._used:
            raise ValueError(f'{kind} "{name}" is used twice in one run: {kind} names must be unique within a task')
        self._used.add(key)

    def _load_steps(self) -> Dict[str, Any]:
        answer = self._http.request("GET", self._path("steps"))[1]
        return {s["name"]: s for s in answer["steps"]}

    def step(self, name: str, fn: Callable[[], Any]) -> Any:
        """Runs fn() at most once to success per task and name: its result is stored (as JSON), and a later run (a
        retry, a recover, a run after a suspension) returns the stored result without calling fn."""
        _check_name("ctx.step", name)
        if not callable(fn):
            raise TypeError(f'ctx.step "{name}": the second argument must be a function')
        self._use("step", name)
        if self._steps is None:
            self._steps = self._load_steps()
        stored = self._steps.get(name)
        if stored is not None:
            return stored["result"]
        result = _to_json(fn())
        self._events.flush()  # what fn() wrote goes before its result
        try:
            self._http.request("PUT", self._path(f"steps/{quote(name, safe='')}"), {"attemptToken": self.attempt_token, "result": result})
        except StepExistsError:
            # Another run of this task stored it first (a lease that expired under a slow step): its result stands.
            first = self._load_steps().get(name)
            if first is None:
                raise
            return first["result"]
        self._steps[name] = {"name": name, "result": result}
        return result

    def children(self, specs: List[Dict[str, Any]], name: Optional[str] = None, settle: bool = False) -> List[Any]:
        """Creates the child tasks (each a dict of task_spec()'s arguments or wire fields: {"type", "payload", ...})
        atomically and suspends this task until all finished, holding no slot; returns their results in order. A
        child that failed or was cancelled raises ChildTaskFailedError; settle=True returns every
        {"id", "status", "result", "error"} instead. `name` must be stable across runs (default "children:<n>", n
        counting children calls in the run)."""
        from .client import task_spec

        self._children_calls += 1
        wait_name = name if name is not None else f"children:{self._children_calls}"
        _check_name("ctx.children", wait_name)
        if not isinstance(specs, (list, tuple)):
            raise TypeError("ctx.children: a list of task specs is required")
        self._use("children", wait_name)
        tasks = [task_spec(**dict(spec)) for spec in specs]
        outcome = self._wait({"kind": "children", "name": wait_name, "tasks": tasks})
        children = outcome.get("children", []) if outcome.get("kind") == "children" else []
        if settle:
            return children
        failed = [c for c in children if c.get("status") != "completed"]
        if failed:
            raise ChildTaskFailedError(self.task_id, wait_name, failed, children)
        return [c.get("result") for c in children]

    def sleep(self, name: str, ms: float) -> None:
        """Suspends the task for `ms` milliseconds (as the TypeScript ctx.sleep) without holding a slot. The end time
        is stored as step "sleep:<name>", so every run waits for the same moment and passes once it has come."""
        _check_name("ctx.sleep", name, 185)
        if not _non_negative(ms):
            raise ValueError(f'ctx.sleep "{name}": ms must be a number >= 0')
        self._use("sleep", name)
        until = self.step(f"sleep:{name}", lambda: int(time.time() * 1000 + ms))
        self._wait({"kind": "sleep", "name": name, "until": until})

    def wait_for_signal(self, name: str, timeout_ms: Optional[float] = None) -> Any:
        """Suspends until signal `name` is sent to the task (client.signal(id, name, data); one sent earlier counts)
        and returns its data; after `timeout_ms` milliseconds without it, raises SignalTimeoutError. The timeout's
        moment is stored as step "signal-timeout:<name>"."""
        _check_name("ctx.wait_for_signal", name, 185)
        if timeout_ms is not None and not _non_negative(timeout_ms):
            raise ValueError(f'ctx.wait_for_signal "{name}": timeout_ms must be a number >= 0')
        self._use("signal", name)
        timeout_at = None if timeout_ms is None else self.step(f"signal-timeout:{name}", lambda: int(time.time() * 1000 + timeout_ms))
        outcome = self._wait({"kind": "signal", "name": name, "timeoutAt": timeout_at})
        if outcome.get("kind") == "signal":
            return outcome["signal"].get("data")
        raise SignalTimeoutError(self.task_id, name, timeout_at)

    def _wait(self, wait: Dict[str, Any]) -> Dict[str, Any]:
        """Suspends unless the wait holds already; a suspension ends the run by raising TaskSuspended."""
        answer = self._http.post(self._path("suspend"), {"attemptToken": self.attempt_token, "wait": wait})
        if answer.get("suspended"):
            self._suspension = TaskSuspended(self.task_id, answer.get("waitingFor"))
            if self._on_suspend is not None:
                self._on_suspend(answer.get("waitingFor"))
            self._halt("suspended")
            raise self._suspension
        return answer.get("outcome") or {}

    def _halt(self, reason: str) -> None:
        if self.stop_reason is None:
            self.stop_reason = reason
        self._stop.set()


def _to_json(value: Any) -> Any:
    """The JSON value `value` stores as (what a later run reads back)."""
    return json.loads(json.dumps(value))


def _non_negative(value: Any) -> bool:
    """A finite number >= 0 (not a bool)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value >= 0


def _check_name(what: str, name: Any, longest: int = 200) -> None:
    """Names are 1 to 200 characters; a sleep's or signal wait's at most 185, so its step's name fits too."""
    if not isinstance(name, str) or not name or len(name) > longest:
        raise ValueError(f"{what}: a name of 1 to {longest} characters is required")


# ---------------------------------------------------------------------------------------------------------------
# Handler references: the child process finds a handler by (module, qualified name).


def handler_ref(fn: Any) -> Tuple[str, str]:
    """(module, qualname) under which a child process can import `fn`; raises ValueError if it cannot."""
    module = getattr(fn, "__module__", None)
    qualname = getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None)
    if module == "__mp_main__":
        module = "__main__"
    if not module or not qualname or "<locals>" in qualname or "<lambda>" in qualname:
        raise ValueError(
            f"handler {fn!r} must be a module-level function (or task): the worker runs handlers in child processes, "
            "which import them by module and name"
        )
    if module == "__main__" and not getattr(sys.modules.get("__main__"), "__file__", None):
        raise ValueError(f"handler {qualname} is defined in an interactive session; put it in a module or script file")
    try:
        found = resolve_ref((module, qualname))
    except (ImportError, AttributeError) as error:
        raise ValueError(f"handler {module}.{qualname} cannot be imported by name: {error}") from error
    if found is not fn:
        raise ValueError(f"{module}.{qualname} is not this handler (is it redefined or wrapped?); register the object the module holds")
    return module, qualname


def resolve_ref(ref: Tuple[str, str]) -> Any:
    module_name, qualname = ref
    module = sys.modules.get(module_name) or importlib.import_module(module_name)
    obj: Any = module
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


def _call_handler(obj: Any, payload: Any, ctx: TaskContext) -> Any:
    call = getattr(obj, "_taskhub_call", None)
    return call(payload, ctx) if call is not None else obj(payload, ctx)


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
    elif isinstance(error, SoftTimeLimitExceeded):
        out["code"] = "SOFT_TIME_LIMIT"
    return out


# ---------------------------------------------------------------------------------------------------------------
# The child process: one per slot, runs one handler at a time in its main thread.


def _child_main(conn: Any, url: str, token: Optional[str], request_timeout: float, log_level: int) -> None:
    # The parent decides when a handler stops: a Ctrl-C or a SIGTERM to the process group must not kill a handler
    # mid-way (the parent gives it its grace period, then kills it).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if not logging.getLogger().handlers:
        logging.basicConfig(level=log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    http = _Http(url, token, request_timeout)
    inbox: "queue.Queue[Any]" = queue.Queue()
    lock = threading.Lock()
    state: Dict[str, Any] = {"ctx": None, "stops": {}}

    def reader() -> None:
        while True:
            try:
                message = conn.recv()
            except (EOFError, OSError):
                os._exit(0)  # the parent is gone (killed, crashed): so is this attempt
            if message[0] == "stop":
                _, task_id, reason = message
                with lock:
                    ctx = state["ctx"]
                    if ctx is not None and ctx.task_id == task_id:
                        ctx._halt(reason)
                    else:
                        state["stops"][task_id] = reason
            else:
                inbox.put(message)

    threading.Thread(target=reader, name="taskhub-child-reader", daemon=True).start()
    conn.send(("ready", os.getpid()))
    while True:
        message = inbox.get()
        if message[0] == "exit":
            return
        _, claim, ref, soft = message
        ctx = TaskContext(http, claim, soft)
        # The parent stops heartbeating the moment the server has ended the attempt, not when the handler returns.
        ctx._on_suspend = lambda waiting_for: conn.send(("suspended", ctx.task_id, waiting_for))
        ctx._on_cost = lambda units: conn.send(("cost", ctx.task_id, units))
        with lock:
            state["ctx"] = ctx
            reason = state["stops"].pop(ctx.task_id, None)
            if reason is not None:
                ctx._halt(reason)
        outcome = _run_one(ctx, ref, soft)
        with lock:
            state["ctx"] = None
        conn.send(outcome)


def _run_one(ctx: TaskContext, ref: Tuple[str, str], soft: Optional[float]) -> Tuple[Any, ...]:
    try:
        handler = resolve_ref(ref)
    except Exception as error:  # noqa: BLE001
        return ("done", False, {"message": f"cannot import the handler {ref[0]}.{ref[1]}: {error}", "code": "HANDLER_IMPORT", "retryable": False})
    armed = soft is not None and soft > 0 and hasattr(signal, "setitimer")
    if armed:

        def on_alarm(_signum: int, _frame: Any) -> None:
            # Raised here, or as soon as the handler's thread leaves an output sender's lock (_events.py).
            _raise_soft_limit(SoftTimeLimitExceeded(f"soft time limit ({soft:g} s) exceeded"))

        signal.signal(signal.SIGALRM, on_alarm)
        signal.setitimer(signal.ITIMER_REAL, soft)
    try:
        try:
            result = _call_handler(handler, ctx.payload, ctx)
        finally:
            if armed:
                signal.setitimer(signal.ITIMER_REAL, 0)
    except BaseException as error:  # noqa: BLE001 - a handler's exception fails its attempt, never the slot
        ctx._events.end()  # the outcome goes after the progress and output written before it
        if ctx._suspension is not None:
            return ("done", False, None)  # the parent reports nothing for a suspended attempt
        if not ctx.cancelled:
            ctx.log.warning("task attempt failed: %s", error)
        return ("done", False, _task_error(error))
    refusal = ctx._events.end()
    if refusal is not None and ctx._suspension is None and not ctx.cancelled:
        # A refused entry the handler never heard of (it returned first) fails the attempt, as if its next call had
        # raised it: a completed task's history never silently lacks output its handler wrote.
        ctx.log.warning("task attempt failed: progress or output was refused after the handler returned: %s", refusal)
        return ("done", False, _task_error(refusal))
    if ctx._suspension is not None:
        return ("done", False, None)  # a handler that caught TaskSuspended: what it returns is ignored
    try:
        text = json.dumps(result)
    except (TypeError, ValueError) as error:
        return ("done", False, {"message": f"the handler's result is not JSON-serialisable: {error}", "code": "BAD_RESULT", "retryable": False})
    return ("done", True, text)


class _Slot:
    """One child process; respawned after it is killed or dies."""

    def __init__(self, worker: "Worker", index: int):
        self.worker = worker
        self.index = index
        self.process: Optional[Any] = None
        self.conn: Optional[Any] = None
        self.ready = False
        self.busy = False

    def spawn(self) -> None:
        mp = multiprocessing.get_context("spawn")
        parent_end, child_end = mp.Pipe()
        w = self.worker
        process = mp.Process(
            target=_child_main,
            args=(child_end, w._url, w._token, w._request_timeout, logging.getLogger().getEffectiveLevel()),
            name=f"taskhub-slot-{self.index}",
            daemon=False,  # a daemonic process may not start processes of its own; the parent kills its children
        )
        process.start()
        child_end.close()
        self.process, self.conn, self.ready = process, parent_end, False

    def ensure(self, timeout: float) -> None:
        if self.process is None or not self.process.is_alive():
            self.discard()
            self.spawn()
        if self.ready:
            return
        assert self.conn is not None and self.process is not None
        deadline = time.monotonic() + timeout
        while not self.ready:
            left = deadline - time.monotonic()
            if left <= 0:
                raise RuntimeError(f"the handler process did not start within {timeout:g} s")
            got = multiprocessing.connection.wait([self.conn, self.process.sentinel], timeout=left)
            if self.conn in got:
                try:
                    message = self.conn.recv()
                except (EOFError, OSError):
                    message = None
                if message and message[0] == "ready":
                    self.ready = True
                    return
            if self.process.sentinel in got or self.conn in got:
                code = self.process.exitcode
                self.discard()
                raise RuntimeError(f"the handler process exited while starting (exit code {code}); is the main script guarded by if __name__ == '__main__'?")

    def kill(self) -> None:
        if self.process is not None and self.process.is_alive():
            self.process.kill()
        self.discard()

    def discard(self) -> None:
        if self.process is not None:
            self.process.join(2)
        if self.conn is not None:
            self.conn.close()
        self.process, self.conn, self.ready = None, None, False

    def exit(self, timeout: float) -> None:
        """Asks an idle child to exit; kills it if it does not within `timeout`."""
        if self.process is None:
            return
        try:
            if self.conn is not None:
                self.conn.send(("exit",))
        except OSError:
            pass
        self.process.join(timeout)
        self.kill()


def _soft_limit(task: Dict[str, Any], registration: "_Registration") -> Optional[float]:
    """The soft time limit in seconds: the task's softTimeoutMs (from the claim, as the hard limit comes from its
    timeoutMs), else the handler's soft_time_limit."""
    soft_ms = task.get("softTimeoutMs")
    if isinstance(soft_ms, (int, float)) and not isinstance(soft_ms, bool):
        return soft_ms / 1000.0
    return registration.soft_time_limit


class _Execution:
    def __init__(self, ctx: TaskContext, registration: "_Registration", slot: _Slot):
        self.ctx = ctx
        self.registration = registration
        self.slot = slot
        timeout_ms = ctx.task.get("timeoutMs")
        if isinstance(timeout_ms, (int, float)):
            self.limit: Optional[float] = timeout_ms / 1000.0
        else:
            self.limit = registration.time_limit
        self.deadline: Optional[float] = None
        self.kill_at: Optional[float] = None
        self.stop_sent = False
        self.settled = False  # the outcome was reported (or given up): report nothing more
        self.suspended = False  # the task suspended (children, sleep, signal): the attempt ended without an outcome
        self.lock = threading.Lock()
        self.thread: Optional[threading.Thread] = None

    def begin(self) -> None:
        if self.limit is not None:
            self.deadline = time.monotonic() + self.limit

    def settle(self) -> bool:
        """True for the one caller that gets to report this attempt's outcome."""
        with self.lock:
            if self.settled:
                return False
            self.settled = True
            return True

    def request_stop(self, reason: str, grace: float) -> None:
        with self.lock:
            self.ctx._halt(reason)
            kill_at = time.monotonic() + grace
            if self.kill_at is None or kill_at < self.kill_at:
                self.kill_at = kill_at


class _Registration:
    def __init__(self, fn: Any, ref: Tuple[str, str], time_limit: Optional[float], soft_time_limit: Optional[float]):
        self.fn = fn
        self.ref = ref
        self.time_limit = time_limit
        self.soft_time_limit = soft_time_limit


class Worker:
    """Claims tasks of the registered types from a Taskhub server and runs their handlers in child processes."""

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
        cancel_grace: float = 1.0,
        request_timeout: float = 30.0,
        report_interval: float = 5.0,
        child_start_timeout: float = 60.0,
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
        self.cancel_grace = cancel_grace
        self.report_interval = report_interval
        self.child_start_timeout = child_start_timeout
        self._handlers: Dict[str, _Registration] = {}
        self._pending: List[Tuple[str, Any, Dict[str, Any]]] = []
        self._slots: List[_Slot] = []
        self._active: Dict[str, _Execution] = {}
        self._lock = threading.Lock()
        self._slot_freed = threading.Event()
        self._stopping = threading.Event()
        self._stopped = threading.Event()
        # Reports and the unregister go one at a time: a report overtaken by the unregister would list this worker again.
        self._reporting = threading.Lock()
        self._unregistered = False
        self._started_at = int(time.time() * 1000)
        self._signals = 0

    # ---- registration ----

    def handle(self, task_type: str, fn: Handler, *, time_limit: Optional[float] = None, soft_time_limit: Optional[float] = None) -> "Worker":
        """Registers the handler of a task type: fn(payload, ctx) -> JSON-serialisable result. fn must be importable
        by the child process (a module-level function, or a task of the Celery-style layer). `time_limit` (seconds)
        applies to tasks submitted without `timeoutMs`; `soft_time_limit` (seconds, for tasks submitted without
        `softTimeoutMs`) raises SoftTimeLimitExceeded in the handler."""
        if not callable(fn) and not hasattr(fn, "_taskhub_call"):
            raise TypeError(f"handler for {task_type} must be callable")
        self._handlers[task_type] = _Registration(fn, handler_ref(fn), time_limit, soft_time_limit)
        return self

    def handler(self, task_type: str, **limits: Any) -> Callable[[Handler], Handler]:
        """Decorator form of handle(); keyword arguments as handle()'s. Apply it last (outermost)."""

        def register(fn: Handler) -> Handler:
            # The name the module will hold is this very function: check once the decorator has returned.
            self._pending.append((task_type, fn, limits))
            return fn

        return register

    def _register_pending(self) -> None:
        for task_type, fn, limits in self._pending:
            self.handle(task_type, fn, **limits)
        self._pending = []

    @property
    def running(self) -> int:
        with self._lock:
            return len(self._active)

    # ---- running ----

    def run(self, install_signal_handlers: bool = True) -> None:
        """Claims and runs tasks until stop() (or SIGTERM/SIGINT), then shuts down gracefully. Blocks."""
        self._register_pending()
        if not self._handlers:
            raise RuntimeError("register at least one handler before run()")
        if install_signal_handlers and threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, self._on_signal)
            signal.signal(signal.SIGINT, self._on_signal)
        # A wrong URL prefix or token shows at once rather than as a loop of refused claims.
        self._report(refusal_is_fatal=True)
        self._slots = [_Slot(self, i) for i in range(self.concurrency)]
        for slot in self._slots:
            slot.spawn()  # in parallel: each child imports the handlers' modules
        try:
            for slot in self._slots:
                slot.ensure(self.child_start_timeout)  # a child that cannot start stops the worker here, not each task
        except Exception:
            for slot in self._slots:
                slot.kill()
            self._unregister()
            raise
        background = threading.Thread(target=self._background, name="taskhub-heartbeats", daemon=True)
        background.start()
        log.info("worker %s started: types %s, queues %s, %d processes", self.id, sorted(self._handlers), self.queues or "all", self.concurrency)
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
        poll = self._poll
        if poll is not None:
            poll.cut()

    def _on_signal(self, signum: int, _frame: Any) -> None:
        self._signals += 1
        if self._signals > 1:
            log.warning("second signal: exiting at once")
            for slot in self._slots:
                if slot.process is not None and slot.process.is_alive():
                    slot.process.kill()
            os._exit(130)
        log.info("signal %s: stopping; running tasks get %.1f s to finish", signum, self.shutdown_grace)
        # From a thread, not here: a signal handler runs between two bytecodes of the main thread, which may hold a
        # lock stop() needs.
        threading.Thread(target=self.stop, name="taskhub-stop", daemon=True).start()

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
        registration = self._handlers.get(claim["task"]["type"])
        with self._lock:
            slot = next((s for s in self._slots if not s.busy), None)
            if slot is not None:
                slot.busy = True
        if registration is None or slot is None:  # cannot happen: the claim names only our types, max free slots
            self._release(claim["task"]["id"], claim["attemptToken"], "no handler or no free slot")
            return
        ctx = TaskContext(self._http, claim, _soft_limit(claim["task"], registration))
        execution = _Execution(ctx, registration, slot)
        execution.thread = threading.Thread(target=self._supervise, args=(execution,), name=f"task-{ctx.task_id}", daemon=True)
        with self._lock:
            self._active[ctx.task_id] = execution
        execution.thread.start()

    def _supervise(self, execution: _Execution) -> None:
        """Runs one attempt in its slot's child process and reports its outcome; kills the child at the hard time
        limit, or when a stop (cancel, lost lease, shutdown) was not obeyed within its grace."""
        ctx, slot = execution.ctx, execution.slot
        try:
            try:
                slot.ensure(self.child_start_timeout)
                assert slot.conn is not None and slot.process is not None
                slot.conn.send(("run", {"task": ctx.task, "attemptToken": ctx.attempt_token, "checkpoint": ctx._checkpoint}, execution.registration.ref, ctx.soft_time_limit))
                execution.begin()  # the time limit counts from here, not from a child's start-up
            except Exception as error:  # noqa: BLE001
                slot.kill()
                if execution.settle():
                    ctx.log.error("could not run the handler: %s", error)
                    self._fail(ctx, {"message": f"could not start the handler's process: {error}", "code": "WORKER_START", "retryable": True})
                return
            outcome = None
            ended = ""
            while True:
                now = time.monotonic()
                if execution.deadline is not None and now >= execution.deadline and execution.kill_at is None:
                    ended = "timed out"
                    break
                if execution.kill_at is not None and now >= execution.kill_at:
                    ended = "killed"
                    break
                if ctx.cancelled and not execution.stop_sent:
                    execution.stop_sent = True
                    try:
                        slot.conn.send(("stop", ctx.task_id, ctx.stop_reason))
                    except OSError:
                        pass
                wake = [0.1]
                if execution.deadline is not None and execution.kill_at is None:
                    wake.append(execution.deadline - now)
                if execution.kill_at is not None:
                    wake.append(execution.kill_at - now)
                got = multiprocessing.connection.wait([slot.conn, slot.process.sentinel], timeout=max(0.0, min(wake)))
                if slot.conn in got:
                    try:
                        outcome = slot.conn.recv()
                    except (EOFError, OSError):
                        outcome = None
                    if outcome is not None and outcome[0] == "cost":
                        ctx._reported_cost = outcome[2]  # sent with the outcome (complete or fail)
                        outcome = None
                        continue
                    if outcome is not None and outcome[0] == "suspended":
                        # The task waits (children, a sleep, a signal): the server ended the attempt. Report neither
                        # complete nor fail and stop heartbeating; the slot is free once the handler has returned.
                        execution.suspended = True
                        execution.settle()
                        ctx.log.info("suspended: waiting for %s", (outcome[2] or {}).get("kind"))
                        outcome = None
                        continue
                    if outcome is not None and outcome[0] == "done":
                        break
                    if outcome is None:
                        ended = "died"
                        break
                elif slot.process.sentinel in got:
                    ended = "died"
                    break

            if outcome is not None:
                ok, value = outcome[1], outcome[2]
                if not ok and value is None:
                    execution.settle()  # a suspended attempt: nothing to report
                    return
                if execution.settle():
                    if ctx.cancelled:
                        self._report_cancel_or_release(execution)
                    elif ok:
                        self._call(ctx, "complete", {"result": json.loads(value)})
                    else:
                        self._fail(ctx, value)
                return
            # The child is killed (or is dead): the slot is free at once and its process is replaced.
            code = slot.process.exitcode if slot.process is not None else None
            slot.kill()
            if ended == "timed out":
                ctx._halt("timed out")
                if execution.settle():
                    ctx.log.warning("hard time limit (%g s) reached: the handler's process was killed", execution.limit)
                    self._fail(ctx, {"message": f"attempt timed out after {execution.limit * 1000:.0f} ms (hard time limit: the handler's process was killed)", "code": "TIMEOUT", "retryable": True})
            elif ended == "killed":
                ctx.log.warning("the handler did not stop within its grace period (%s): its process was killed", ctx.stop_reason)
                if execution.settle():
                    self._report_cancel_or_release(execution)
            elif execution.settle():
                if ctx.cancelled:
                    self._report_cancel_or_release(execution)
                else:
                    ctx.log.error("the handler's process died (exit code %s)", code)
                    self._fail(ctx, {"message": f"the handler's process died (exit code {code})", "code": "WORKER_CRASHED", "retryable": True})
            if not self._stopping.is_set():
                try:
                    slot.spawn()  # warm again before the next task needs it
                except Exception as error:  # noqa: BLE001 - ensure() tries again when the slot is next used
                    log.warning("could not restart a handler process: %s", error)
        finally:
            with self._lock:
                if self._active.get(ctx.task_id) is execution:
                    del self._active[ctx.task_id]
                slot.busy = False
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
        if ctx._reported_cost is not None:
            body = {**body, "reportedCost": ctx._reported_cost}
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
        """Heartbeats every running attempt (acting on cancel requests and lost leases); reports this worker."""
        last_report = time.monotonic()
        while not self._stopped.wait(self.heartbeat_interval):
            with self._lock:
                executions = list(self._active.values())
            for execution in executions:
                if execution.settled:
                    continue
                ctx = execution.ctx
                try:
                    lease = self._http.post(f"/worker/tasks/{quote(ctx.task_id, safe='')}/heartbeat", {"attemptToken": ctx.attempt_token})
                except StaleAttemptError:
                    # The attempt's own end also makes the token stale: a suspension (the child's "suspended" may be
                    # on its way), or an outcome reported while this heartbeat was in flight. Either settles it.
                    give_up = time.monotonic() + 0.5
                    while not execution.settled and time.monotonic() < give_up:
                        time.sleep(0.02)
                    if execution.settled:
                        continue
                    ctx.log.warning("lease lost: another attempt owns this task now; stopping this one")
                    execution.request_stop("lease lost", self.cancel_grace)
                    execution.settle()
                    continue
                except (TaskhubError, _Aborted) as error:
                    ctx.log.warning("heartbeat failed (%s); will retry", error)
                    continue
                if lease.get("cancelRequested"):
                    ctx.log.info("cancel requested")
                    execution.request_stop("cancelled", self.cancel_grace)
                    # Reported at once, as the TypeScript worker does; the handler's process is killed if it has not
                    # returned within cancel_grace.
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
        with self._reporting:
            if self._unregistered:
                return
            try:
                self._http.post("/worker/register", body)
            except (TaskhubError, _Aborted) as error:
                if refusal_is_fatal and getattr(error, "status", None) in (401, 403, 404):
                    raise
                log.warning("could not report this worker: %s", error)

    def _unregister(self) -> None:
        with self._reporting:
            self._unregistered = True
            try:
                self._http.post("/worker/unregister", {"workerId": self.id})
            except (TaskhubError, _Aborted) as error:
                log.warning("could not unregister: %s", error)

    def _shutdown(self) -> None:
        deadline = time.monotonic() + self.shutdown_grace
        while time.monotonic() < deadline:
            if self.running == 0:
                break
            self._slot_freed.wait(0.05)
            self._slot_freed.clear()
        with self._lock:
            left = list(self._active.values())
        for execution in left:
            # Given back at once; the handler gets a short grace to notice ctx.cancelled, then its process is killed.
            execution.request_stop("shutdown", min(self.cancel_grace, 0.5))
            if execution.settle():
                self._release(execution.ctx.task_id, execution.ctx.attempt_token, "worker shut down")
        for execution in left:
            if execution.thread is not None:
                execution.thread.join(self.cancel_grace + 2)
        for slot in self._slots:
            slot.exit(1.0)
        self._unregister()
        log.info("worker %s stopped", self.id)


def main_options(argv: Optional[List[str]] = None, description: str = "Taskhub Python worker"):
    """Command-line options shared by worker scripts: --url, --token (or TASKHUB_URL, TASKHUB_TOKEN) and tuning."""
    import argparse

    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--url", default=os.environ.get("TASKHUB_URL", "http://127.0.0.1:8080"), help="server URL (env TASKHUB_URL)")
    parser.add_argument("--token", default=os.environ.get("TASKHUB_TOKEN"), help="bearer token with the worker scope (env TASKHUB_TOKEN)")
    parser.add_argument("--worker-id", default=None, help="default host-pid-random")
    parser.add_argument("--queues", default=None, help="comma-separated queues (default all)")
    parser.add_argument("--concurrency", type=int, default=4, help="handler processes")
    parser.add_argument("--heartbeat-interval", type=float, default=2.0, help="seconds; also how soon a cancel lands")
    parser.add_argument("--claim-wait", type=float, default=25.0, help="longest long-poll of an idle claim, seconds (0..30)")
    parser.add_argument("--shutdown-grace", type=float, default=10.0, help="seconds running tasks get to finish on SIGTERM")
    parser.add_argument("--cancel-grace", type=float, default=1.0, help="seconds a cancelled handler gets before its process is killed")
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
        cancel_grace=options.cancel_grace,
    )
