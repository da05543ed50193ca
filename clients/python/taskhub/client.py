"""TaskhubClient: the HTTP API (v1) from Python, standard library only.

    from taskhub import TaskhubClient

    client = TaskhubClient("http://127.0.0.1:8080", token="thk_...")
    task = client.submit("travel-plan", {"city": "Shanghai"}, priority=5, idempotency_key="plan-42")
    for event in client.follow(task["id"]):          # SSE; reconnects with Last-Event-ID; falls back to polling
        print(event["seq"], event["kind"], event["data"])
    done = client.result(task["id"], timeout=120)    # the finished task: check done["status"]

Times are seconds (floats) on this side and milliseconds on the wire. Tasks and events are the server's JSON as
dicts (camelCase keys, epoch-ms timestamps).
"""

from __future__ import annotations

import datetime as _dt
import http.client
import json
import threading
import time
from typing import Any, Dict, Iterator, List, Optional, Tuple
from urllib.parse import quote

from ._http import Http
from .errors import (
    NotFoundError,
    TaskhubError,
    TaskhubHttpError,
    TaskhubNetworkError,
    TaskhubTimeoutError,
)

__all__ = ["TaskhubClient", "TERMINAL_STATUSES"]

TERMINAL_STATUSES = frozenset(["completed", "failed", "cancelled"])
_MAX_WAIT = 30.0


def _ms(seconds: Optional[float]) -> Optional[int]:
    return None if seconds is None else int(round(seconds * 1000))


def _epoch_ms(when: Any) -> Any:
    if isinstance(when, _dt.datetime):
        if when.tzinfo is None:
            when = when.astimezone()
        return int(when.timestamp() * 1000)
    return when


def task_spec(
    type: str,  # noqa: A002 - the wire name
    payload: Any = None,
    *,
    queue: Optional[str] = None,
    priority: Optional[int] = None,
    delay: Optional[float] = None,
    run_at: Any = None,
    max_attempts: Optional[int] = None,
    backoff: Optional[Dict[str, Any]] = None,
    timeout: Optional[float] = None,
    soft_timeout: Optional[float] = None,
    tags: Optional[Dict[str, str]] = None,
    parent_id: Optional[str] = None,
    idempotency_key: Optional[str] = None,
    throttle: Optional[Dict[str, Any]] = None,
    cost: Optional[int] = None,
    debounce: Optional[Dict[str, Any]] = None,
    singleton: Optional[Dict[str, Any]] = None,
    **wire: Any,
) -> Dict[str, Any]:
    """The wire body of a task. `delay`, `timeout` (the hard limit) and `soft_timeout` (below it: the handler is told
    and may still return) are seconds; `run_at` a datetime or epoch ms; `backoff` as on
    the wire ({"type": "fixed"|"exponential", "delayMs", "maxDelayMs", "jitter"}). Extra keyword arguments are
    passed through as wire fields (e.g. timeoutMs=None for no limit).

    `throttle={"key", "limit", "period"}` (period in seconds, or "periodMs"): at most `limit` tasks with `key` start
    per period. `cost`: units this task uses of a cost limit (docs/queues.md).

    `debounce={"key": "doc-1", "delay": 0.3, "max_wait": 5}` (seconds): submits of one key collapse into one task
    that runs `delay` after the last of them, with the last payload, but no later than `max_wait` after the first.
    `singleton={"key": "report", "policy": "reject" | "queue-one" | "supersede"}`: at most one task of the key runs
    at a time. Both also take their wire form (delayMs, maxWaitMs)."""
    spec: Dict[str, Any] = {"type": type, "payload": payload}
    for key, value in (
        ("queue", queue),
        ("priority", priority),
        ("delayMs", _ms(delay)),
        ("runAt", _epoch_ms(run_at)),
        ("maxAttempts", max_attempts),
        ("backoff", backoff),
        ("timeoutMs", _ms(timeout)),
        ("softTimeoutMs", _ms(soft_timeout)),
        ("tags", tags),
        ("parentId", parent_id),
        ("idempotencyKey", idempotency_key),
        ("throttle", _throttle(throttle)),
        ("cost", cost),
        ("debounce", _debounce(debounce)),
        ("singleton", singleton),
    ):
        if value is not None:
            spec[key] = value
    spec.update(wire)
    return spec


def _throttle(throttle: Optional[Dict[str, Any]]) -> Optional[Dict[str, Any]]:
    """{"key", "limit", "period" (seconds)} or the wire's {"key", "limit", "periodMs"} as the wire's."""
    if throttle is None:
        return None
    wire = {k: v for k, v in throttle.items() if k != "period"}
    if "period" in throttle:
        wire["periodMs"] = _ms(throttle["period"])
    return wire


def parse_cost_limit(limit: Any) -> Optional[Dict[str, Any]]:
    """None, or {"budget", "period" (seconds) or "periodMs", "per_key"/"perKey"?} as the wire's CostLimit."""
    if limit is None:
        return None
    wire: Dict[str, Any] = {"budget": limit["budget"], "periodMs": limit["periodMs"] if "periodMs" in limit else _ms(limit["period"])}
    per_key = limit.get("perKey", limit.get("per_key"))
    if per_key is not None:
        wire["perKey"] = bool(per_key)
    return wire


def _debounce(debounce: Optional[Dict[str, Any]]) -> Optional[Dict[str, Any]]:
    """A debounce in seconds (delay, max_wait) to its wire form (delayMs, maxWaitMs); wire fields pass unchanged."""
    if debounce is None:
        return None
    wire = {k: v for k, v in debounce.items() if k not in ("delay", "max_wait")}
    if "delay" in debounce:
        wire["delayMs"] = _ms(debounce["delay"])
    if "max_wait" in debounce:
        wire["maxWaitMs"] = _ms(debounce["max_wait"])
    return wire


_RATE_UNITS = {"s": 1000, "m": 60_000, "h": 3_600_000}


def parse_rate_limit(rate: Any) -> Optional[Dict[str, int]]:
    """None, {"count", "intervalMs"}, or Celery's "N/s", "N/m", "N/h" (a bare number is per second)."""
    if rate is None or isinstance(rate, dict):
        return rate
    text = str(rate).strip()
    count, _, unit = text.partition("/")
    if not count.isdigit() or (unit or "s") not in _RATE_UNITS:
        raise ValueError(f"rate limit {rate!r}: expected N/s, N/m or N/h, or {{'count', 'intervalMs'}}")
    return {"count": int(count), "intervalMs": _RATE_UNITS[unit or "s"]}


def _tid(task_id: str) -> str:
    if not isinstance(task_id, str) or not task_id:
        raise TypeError("task id must be a non-empty string")
    return f"/tasks/{quote(task_id, safe='')}"


def _transient(error: BaseException) -> bool:
    return isinstance(error, TaskhubNetworkError) or (isinstance(error, TaskhubHttpError) and error.status in (429, 502, 503, 504))


class TaskhubClient:
    """The HTTP API of one Taskhub server. Thread-safe: each call uses its own connection."""

    def __init__(
        self,
        url: str,
        token: Optional[str] = None,
        *,
        timeout: float = 30.0,
        reconnect_delay: float = 1.0,
        poll_interval: float = 1.0,
        stream_read_timeout: float = 60.0,
    ):
        self.url = url
        self.token = token
        self._http = Http(url, token, timeout)
        self.reconnect_delay = reconnect_delay
        self.poll_interval = poll_interval
        self.stream_read_timeout = stream_read_timeout

    # ---- tasks ----

    def create(self, type: str, payload: Any = None, **options: Any) -> Tuple[Dict[str, Any], bool]:  # noqa: A002
        """Submits a task; (task, created). created is False when the idempotency key was used before, or when the
        submit was merged into an existing task: then the task carries "merged" ("debounce" or "queue-one") and, for a
        debounce, "debounced": True. A singleton "reject" raises SingletonConflictError (its task_id: the holder)."""
        spec = task_spec(type, payload, **options)
        headers = {}
        key = spec.pop("idempotencyKey", None)
        if key is not None:
            headers["idempotency-key"] = key
        traceparent = spec.pop("traceparent", None)
        if traceparent is not None:
            headers["traceparent"] = traceparent
        status, task = self._http.request("POST", "/tasks", spec, headers=headers)
        return task, status == 202 and not task.get("merged")

    def submit(self, type: str, payload: Any = None, **options: Any) -> Dict[str, Any]:  # noqa: A002
        """Submits a task and returns it (durable once this returns). Options: see task_spec()."""
        return self.create(type, payload, **options)[0]

    def submit_many(self, specs: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
        """Submits many tasks in one transaction (all or none). Each spec: task_spec()'s keyword arguments as a dict,
        e.g. {"type": "resize", "payload": {...}, "priority": 3, "idempotency_key": "img-1"}."""
        body = {"tasks": [task_spec(**dict(spec)) for spec in specs]}
        return self._http.request("POST", "/tasks/batch", body)[1]["tasks"]

    def get(self, task_id: str) -> Dict[str, Any]:
        return self._http.request("GET", _tid(task_id))[1]

    def list(self, *, queue: Optional[str] = None, status: Optional[str] = None, type: Optional[str] = None,  # noqa: A002
             limit: Optional[int] = None, cursor: Optional[str] = None, parent_id: Optional[str] = None) -> Dict[str, Any]:
        """One page, newest first: {"tasks": [...], "nextCursor": str | None}. `parent_id`: a task's children (of its
        ctx.children waits) and derived tasks."""
        query = {"queue": queue, "status": status, "type": type, "limit": limit, "cursor": cursor, "parentId": parent_id}
        return self._http.request("GET", "/tasks", query=query)[1]

    def events(self, task_id: str, after: int = 0) -> List[Dict[str, Any]]:
        """The task's history after seq `after`, oldest first (one page)."""
        return self._http.request("GET", f"{_tid(task_id)}/events", query={"after": after})[1]["events"]

    def cancel(self, task_id: str, reason: Optional[str] = None) -> Dict[str, Any]:
        """Cancels at once when queued/scheduled; a running task is asked to stop (`cancelRequested`)."""
        body = {} if reason is None else {"reason": reason}
        return self._http.request("POST", f"{_tid(task_id)}/cancel", body)[1]

    def retry(self, task_id: str) -> Dict[str, Any]:
        """Puts a failed or cancelled task back in its queue."""
        return self._http.request("POST", f"{_tid(task_id)}/retry", send_body=True)[1]

    def delete(self, task_id: str) -> None:
        self._http.request("DELETE", _tid(task_id))

    def follow_token(self, task_id: str, ttl_seconds: Optional[int] = None, signals: Optional[List[str]] = None) -> Dict[str, Any]:
        """A short-lived token that reads this one task only: {"token", "expiresAt"}. Hand it to a browser or app:
        TaskhubClient(url, token=that) can get, follow and wait for that task and nothing else. With `signals`
        (needs tasks:write) it may also send those signals to the task (client.signal), e.g. an approval."""
        body: Dict[str, Any] = {} if ttl_seconds is None else {"ttlSeconds": ttl_seconds}
        if signals is not None:
            body["signals"] = list(signals)
        return self._http.request("POST", f"{_tid(task_id)}/token", body)[1]

    # ---- durable execution (docs/durable.md) ----

    def recover(self, task_id: str, from_version: Optional[int] = None) -> Dict[str, Any]:
        """Puts a failed or cancelled task back in its queue, resuming from its latest checkpoint, or from
        `from_version` (saved again as the new latest, label "recover:N"). Returns the task."""
        body = {} if from_version is None else {"fromVersion": from_version}
        return self._http.request("POST", f"{_tid(task_id)}/recover", body)[1]

    def derive(self, task_id: str, payload: Any = None, *, type: Optional[str] = None, queue: Optional[str] = None,  # noqa: A002
               priority: Optional[int] = None, max_attempts: Optional[int] = None, timeout: Optional[float] = None,
               tags: Optional[Dict[str, str]] = None, from_checkpoint: Any = None, **wire: Any) -> Dict[str, Any]:
        """A new task derived from this one (its parentId): the original's settings and payload, `payload` (a dict)
        merged into the original's; with `from_checkpoint` ("latest" or a version) it starts from that state as its
        version 1. `timeout` is seconds; extra keyword arguments are wire fields. Returns the new task."""
        body: Dict[str, Any] = {}
        for key, value in (("payload", payload), ("type", type), ("queue", queue), ("priority", priority),
                           ("maxAttempts", max_attempts), ("timeoutMs", _ms(timeout)), ("tags", tags),
                           ("fromCheckpoint", from_checkpoint)):
            if value is not None:
                body[key] = value
        body.update(wire)
        return self._http.request("POST", f"{_tid(task_id)}/derive", body)[1]

    def checkpoints(self, task_id: str) -> List[Dict[str, Any]]:
        """The task's checkpoints, oldest first: [{"version", "label", "size", "createdAt"}, ...]."""
        return self._http.request("GET", f"{_tid(task_id)}/checkpoints")[1]["checkpoints"]

    def checkpoint(self, task_id: str, version: Any = "latest") -> Dict[str, Any]:
        """One checkpoint with its state ("latest" or a version); NotFoundError when there is none."""
        return self._http.request("GET", f"{_tid(task_id)}/checkpoints/{quote(str(version), safe='')}")[1]

    def signal(self, task_id: str, name: str, data: Any = None) -> Dict[str, Any]:
        """Sends signal `name` to the task: {"resumed", "task"}. resumed is True when the task waited for it (it is
        queued again), False when the signal is kept for a later ctx.wait_for_signal. A finished task: ConflictError."""
        return self._http.request("POST", f"{_tid(task_id)}/signals/{quote(name, safe='')}", {"data": data})[1]

    def result(self, task_id: str, timeout: Optional[float] = 60.0) -> Dict[str, Any]:
        """Waits for the task to finish (completed, failed or cancelled) and returns the whole task; long-polls
        GET /result?wait=. Raises TaskhubTimeoutError after `timeout` seconds (None: wait forever)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        last_status: Optional[str] = None
        while True:
            remaining = _MAX_WAIT if deadline is None else deadline - time.monotonic()
            if remaining <= 0:
                raise TaskhubTimeoutError(f"task {task_id} did not finish within {timeout} s" + (f" (it is {last_status})" if last_status else ""), task_id, last_status)
            wait = round(min(_MAX_WAIT, remaining), 3)
            started = time.monotonic()
            try:
                status, answer = self._http.request("GET", f"{_tid(task_id)}/result", query={"wait": wait}, timeout=wait + 10)
            except TaskhubError as error:
                if not _transient(error):
                    raise
                time.sleep(min(error.retry_after or self.reconnect_delay, max(0.0, remaining)))
                continue
            if isinstance(answer, dict):
                last_status = answer.get("status")
            if status == 200:
                return self.get(task_id)
            if time.monotonic() - started < wait / 2:
                time.sleep(min(self.poll_interval, max(0.0, remaining)))

    # ---- following ----

    def follow(self, task_id: str, after: int = 0, stop: Optional[threading.Event] = None) -> Iterator[Dict[str, Any]]:
        """The task's events, each once and in order, ending after the terminal one (completed, failed, cancelled).

        Reads the SSE stream; when the connection drops it reconnects with `Last-Event-ID` and resumes after the last
        event it yielded; when the server cannot stream (anything but 200 text/event-stream) it polls GET /events for
        the rest of the follow. Setting `stop` (a threading.Event) ends it at the next event or ping. Non-transient
        HTTP errors (404, 401, ...) are raised."""
        last = after
        if last > 0:
            task = self.get(task_id)
            if task["status"] in TERMINAL_STATUSES and task["lastEventSeq"] <= last:
                return
        streaming = True
        retry = self.reconnect_delay
        while not (stop is not None and stop.is_set()):
            if not streaming:
                try:
                    page = self.events(task_id, last)
                except TaskhubError as error:
                    if not _transient(error):
                        raise
                    time.sleep(error.retry_after or self.reconnect_delay)
                    continue
                advanced = False
                for event in page:
                    if event["seq"] <= last:
                        continue
                    yield event
                    last = event["seq"]
                    advanced = True
                    if event["kind"] in TERMINAL_STATUSES:
                        return
                if not advanced:
                    time.sleep(self.poll_interval)
                continue

            conn = self._http.connection(self.stream_read_timeout)
            try:
                headers = self._http.headers({"accept": "text/event-stream", "cache-control": "no-cache"})
                if last > 0:
                    headers["last-event-id"] = str(last)
                try:
                    conn.request("GET", self._http.target(f"{_tid(task_id)}/stream"), headers=headers)
                    response = conn.getresponse()
                except (OSError, http.client.HTTPException):
                    time.sleep(retry)  # refused or reset before an answer: the server may be restarting
                    continue
                if response.status == 204:
                    return  # finished, and every event seen
                content_type = (response.getheader("content-type") or "").lower()
                if response.status != 200 or not content_type.startswith("text/event-stream"):
                    try:
                        response.read()
                    except (OSError, http.client.HTTPException):
                        pass
                    streaming = False  # a real error (404, 401) resurfaces from the first poll
                    continue
                try:
                    for kind, data, server_retry in _sse_messages(response, stop):
                        if server_retry is not None:
                            retry = server_retry
                            continue
                        try:
                            event = json.loads(data)
                        except ValueError:
                            continue
                        if not isinstance(event, dict) or not isinstance(event.get("seq"), int) or event["seq"] <= last:
                            continue
                        if event["seq"] > last + 1:
                            # A gap should not happen; fill it from the history rather than skip events.
                            for missing in self.events(task_id, last):
                                if last < missing["seq"] < event["seq"]:
                                    yield missing
                                    last = missing["seq"]
                                    if missing["kind"] in TERMINAL_STATUSES:
                                        return
                        yield event
                        last = event["seq"]
                        if event["kind"] in TERMINAL_STATUSES:
                            return
                except (OSError, http.client.HTTPException, ValueError):
                    pass  # the connection dropped: reconnect below
            finally:
                conn.close()
            if stop is not None and stop.is_set():
                return
            time.sleep(retry)

    # ---- topics, queues, schedules, workers ----

    def publish(self, topic: str, payload: Any = None, idempotency_key: Optional[str] = None) -> Dict[str, Any]:
        """Publishes an event: one task per matching subscription. Returns {"topic", "tasks"}."""
        body: Dict[str, Any] = {"topic": topic, "payload": payload}
        if idempotency_key is not None:
            body["idempotencyKey"] = idempotency_key
        return self._http.request("POST", "/events", body)[1]

    def subscribe(self, name: str, pattern: str, queue: Optional[str] = None, type: Optional[str] = None) -> Dict[str, Any]:  # noqa: A002
        body = {k: v for k, v in {"pattern": pattern, "queue": queue, "type": type}.items() if v is not None}
        return self._http.request("PUT", f"/subscriptions/{quote(name, safe='')}", body)[1]

    def queues(self) -> List[Dict[str, Any]]:
        """Every queue with its task counts by status: [{"queue", "counts": {"queued": n, ...}}, ...]."""
        return self._http.request("GET", "/queues")[1]["queues"]

    def queue(self, name: str) -> Dict[str, Any]:
        return self._http.request("GET", f"/queues/{quote(name, safe='')}")[1]

    def pause_queue(self, name: str) -> Dict[str, Any]:
        return self._http.request("POST", f"/queues/{quote(name, safe='')}/pause", send_body=True)[1]

    def resume_queue(self, name: str) -> Dict[str, Any]:
        return self._http.request("POST", f"/queues/{quote(name, safe='')}/resume", send_body=True)[1]

    def put_schedule(self, name: str, cron: Optional[str], task: Dict[str, Any], *, every: Any = None,
                     timezone: Optional[str] = None, missed_policy: Optional[str] = None,
                     paused: Optional[bool] = None) -> Dict[str, Any]:
        """Creates or replaces a schedule: a cron expression (5 fields, or 6 with seconds), or cron=None and a fixed
        interval every="30s" / "5m" / "1h" / milliseconds (as Celery beat's timedelta schedules). `task`: {"type",
        "payload"?, "queue"?, "priority"?, "maxAttempts"?, "timeoutMs"?}."""
        body: Dict[str, Any] = {"task": task}
        for key, value in (("cron", cron), ("every", every), ("timezone", timezone), ("missedPolicy", missed_policy), ("paused", paused)):
            if value is not None:
                body[key] = value
        return self._http.request("PUT", f"/schedules/{quote(name, safe='')}", body)[1]

    def get_schedule(self, name: str) -> Dict[str, Any]:
        return self._http.request("GET", f"/schedules/{quote(name, safe='')}")[1]

    def delete_schedule(self, name: str) -> None:
        self._http.request("DELETE", f"/schedules/{quote(name, safe='')}")

    def schedules(self) -> List[Dict[str, Any]]:
        return self._http.request("GET", "/schedules")[1]["schedules"]

    def workers(self) -> List[Dict[str, Any]]:
        return self._http.request("GET", "/workers")[1]["workers"]

    # ---- task types (admin) ----

    def types(self) -> List[Dict[str, Any]]:
        """Every task type's settings: [{"type", "defaults", "payloadSchema", "rateLimit", "updatedAt"}, ...]."""
        return self._http.request("GET", "/types")[1]["types"]

    def get_type(self, type: str) -> Dict[str, Any]:  # noqa: A002
        return self._http.request("GET", f"/types/{quote(type, safe='')}")[1]

    def put_type(self, type: str, *, defaults: Optional[Dict[str, Any]] = None, payload_schema: Any = None,  # noqa: A002
                 rate_limit: Any = None, cost_limit: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
        """Replaces a task type's settings as a whole: `defaults` ({"maxAttempts", "backoff", "timeoutMs",
        "softTimeoutMs", "queue"}), a JSON Schema for payloads, and `rate_limit`: at most N starts of the type across
        every queue and worker, as Celery's rate_limit ("10/m": N per s, m or h) or {"count", "intervalMs"}."""
        body: Dict[str, Any] = {
            "defaults": defaults or {},
            "payloadSchema": payload_schema,
            "rateLimit": parse_rate_limit(rate_limit),
            "costLimit": parse_cost_limit(cost_limit),
        }
        return self._http.request("PUT", f"/types/{quote(type, safe='')}", body)[1]

    def set_type_rate_limit(self, type: str, rate_limit: Any) -> Dict[str, Any]:  # noqa: A002
        """Sets (or, with None, removes) a type's rate limit, keeping its other settings."""
        try:
            current = self.get_type(type)
        except NotFoundError:
            current = {}
        return self.put_type(type, defaults=current.get("defaults"), payload_schema=current.get("payloadSchema"), rate_limit=rate_limit,
                             cost_limit=current.get("costLimit"))

    def set_queue_limits(self, name: str, **limits: Any) -> Dict[str, Any]:
        """Sets a queue's limits (admin): max_concurrency=, rate_limit= ("10/s" or {"count", "intervalMs"}) and
        cost_limit= ({"budget", "period" (seconds) or "periodMs", "per_key"?}); None removes one, an absent one stays."""
        body: Dict[str, Any] = {}
        if "max_concurrency" in limits:
            body["maxConcurrency"] = limits.pop("max_concurrency")
        if "rate_limit" in limits:
            body["rateLimit"] = parse_rate_limit(limits.pop("rate_limit"))
        if "cost_limit" in limits:
            body["costLimit"] = parse_cost_limit(limits.pop("cost_limit"))
        if limits:
            raise TypeError(f"unknown queue limits: {sorted(limits)}")
        return self._http.request("PUT", f"/queues/{quote(name, safe='')}/limits", body)[1]


def _sse_messages(response: http.client.HTTPResponse, stop: Optional[threading.Event]) -> Iterator[Tuple[str, str, Optional[float]]]:
    """(event, data, None) per SSE message, and (\"\", \"\", seconds) for a `retry:` field. Comments (pings) yield
    nothing but give `stop` a chance. A message cut off by a drop is discarded."""
    kind, data = "", []
    while True:
        if stop is not None and stop.is_set():
            return
        raw = response.readline()
        if not raw:
            return  # the stream ended (or dropped)
        line = raw.decode("utf-8").rstrip("\r\n")
        if line == "":
            if data:
                yield kind or "message", "\n".join(data), None
            kind, data = "", []
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        if value.startswith(" "):
            value = value[1:]
        if name == "event":
            kind = value
        elif name == "data":
            data.append(value)
        elif name == "retry" and value.isdigit():
            yield "", "", int(value) / 1000.0
