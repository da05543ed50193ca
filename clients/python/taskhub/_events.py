"""An attempt's progress and output, sent in batches (POST /worker/events) by a thread of their own.

`ctx.output()` and `ctx.progress()` return once their entry is queued, while fewer than WINDOW of the attempt's
entries are unstored; beyond that they wait for the oldest to be stored. So a handler streaming tokens is not held to
one request (a connection and a commit) per token, and what it writes while one request is on its way goes in the
next, one request at a time: each attempt's entries are stored in the order written. The semantics are the
TypeScript worker's (docs/workers.md, "Output in flight"):
- an entry is checked against the server's text rules before it is queued, so a malformed chunk fails its own call;
- a refusal that comes back (409 STALE_ATTEMPT: the attempt is no longer current; the server unreachable) is raised
  by the handler's next output, progress or durable call, and by every one after it;
- durable calls and the attempt's outcome wait until the entries written before them are stored (`flush()`), so the
  task's history keeps the handler's order; a refusal the handler never heard of fails an attempt whose handler
  returned (`end()`).

A soft time limit raises SoftTimeLimitExceeded from a SIGALRM handler that CPython runs in the main thread, at any
bytecode. While the main thread is inside this sender's lock, that handler only records the exception
(`raise_soft_limit`), and it is raised as the main thread leaves the lock (`_alarm_deferred`): never with the lock
held or the counts half updated. Blocking the signal would not do: a timer's signal goes to the process, and another
thread takes it while the main thread blocks it. The waits go in slices of 50 ms, so a soft limit still lands while
`ctx.output` waits.
"""

from __future__ import annotations

import json
import re
import threading
from contextlib import contextmanager
from typing import Any, Dict, Iterator, List, Optional, Tuple
from urllib.parse import quote

from ._http import Http
from .errors import BadRequestError, NotFoundError, TaskhubError, http_error

# Entries of one attempt queued or on their way before output() and progress() wait: the TypeScript worker's
# OUTPUT_WINDOW (src/worker/context.ts).
WINDOW = 8
# Bytes of JSON one request gathers (an entry larger goes alone): well under the server's default body limit of 1 MiB,
# as the TypeScript worker's batches (src/worker/event-batches.ts).
MAX_BATCH_BYTES = 256 * 1024
# How long a wait on the main thread lasts before a pending SIGALRM may land.
_SLICE_S = 0.05

_BATCH_PATH = "/worker/events"
_UNPAIRED_SURROGATE = re.compile("[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]")


def text_problem(value: str) -> Optional[str]:
    """What the server's input rules (src/core/input-rules.ts) refuse in a text, or None."""
    if "\x00" in value:
        return "contains U+0000 (NUL), which cannot be stored"
    if _UNPAIRED_SURROGATE.search(value) is not None:
        return "contains an unpaired UTF-16 surrogate (not valid Unicode)"
    return None


def refuse(field: str, problem: str) -> BadRequestError:
    """The error the server answers for a field its input rules refuse, raised here without a request."""
    return BadRequestError(f"{field}: {problem}", 400, "VALIDATION", field, title="Bad Request", detail=f"{field}: {problem}")


# The main thread's depth inside senders' locks, and a soft limit's exception that came meanwhile.
_deferring = 0
_deferred: Optional[BaseException] = None


def raise_soft_limit(error: BaseException) -> None:
    """Raises a soft time limit's exception from the SIGALRM handler, or keeps it until the main thread leaves the
    sender's lock."""
    global _deferred
    if _deferring > 0:
        _deferred = error
        return
    raise error


@contextmanager
def _alarm_deferred() -> Iterator[None]:
    global _deferring, _deferred
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _deferring += 1
    try:
        yield
    finally:
        _deferring -= 1
        if _deferring == 0 and _deferred is not None:
            error, _deferred = _deferred, None
            raise error


class EventSender:
    """One attempt's unsent entries, each {"chunk": str} or {"progress": {...}}, and the thread that sends them."""

    def __init__(self, http: Http, task_id: str, attempt_token: str):
        self._http = http
        self._task_id = task_id
        self._token = attempt_token
        self._cond = threading.Condition()
        # Entries with their size in bytes of JSON, oldest first.
        self._queued: List[Tuple[Dict[str, Any], int]] = []
        # Entries added, and entries stored or refused: their difference is what is unstored.
        self._added = 0
        self._done = 0
        self._refusal: Optional[BaseException] = None
        self._told = False
        self._thread: Optional[threading.Thread] = None
        self._closed = False

    def add(self, entry: Dict[str, Any]) -> None:
        """Queues an entry; raises an earlier entry's refusal instead, or waits while WINDOW entries are unstored."""
        size = len(json.dumps(entry))
        while True:
            refusal = None
            with _alarm_deferred(), self._cond:
                if self._refusal is not None:
                    refusal = self._refusal
                elif self._closed:
                    raise RuntimeError("ctx.output/progress after the attempt ended")
                elif self._added - self._done < WINDOW:
                    if self._thread is None:
                        # Started before the entry is counted: a thread that failed to start leaves nothing to wait for.
                        thread = threading.Thread(target=self._send_loop, name=f"taskhub-events-{self._task_id}", daemon=True)
                        thread.start()
                        self._thread = thread
                    self._queued.append((entry, size))
                    self._added += 1
                    self._cond.notify_all()
                    return
                else:
                    self._cond.wait(_SLICE_S)
            if refusal is not None:
                self._tell(refusal)

    def flush(self) -> None:
        """Waits until the entries added before this call are stored or refused; raises a refusal."""
        with _alarm_deferred(), self._cond:
            target = self._added
        self._wait_for(target)
        with _alarm_deferred(), self._cond:
            refusal = self._refusal
        if refusal is not None:
            self._tell(refusal)

    def _tell(self, refusal: BaseException) -> None:
        """Raises a refusal to the handler, which has then heard of it (end() answers it no more)."""
        self._told = True
        raise refusal

    def end(self) -> Optional[BaseException]:
        """The attempt is over: nothing more is added; waits for what was, and for the sending thread to end. Answers
        a refusal no call raised to the handler (it returned first), or None."""
        with _alarm_deferred(), self._cond:
            self._closed = True
            target = self._added
            self._cond.notify_all()
        self._wait_for(target)
        if self._thread is not None:
            self._thread.join()
        return None if self._told else self._refusal

    def _wait_for(self, target: int) -> None:
        while True:
            with _alarm_deferred(), self._cond:
                if self._done >= target:
                    return
                self._cond.wait(_SLICE_S)

    def _take(self) -> List[Tuple[Dict[str, Any], int]]:
        count, size = 1, self._queued[0][1]
        for _, more in self._queued[1:]:
            size += more
            if size > MAX_BATCH_BYTES:
                break
            count += 1
        batch = self._queued[:count]
        del self._queued[:count]
        return batch

    def _send_loop(self) -> None:
        while True:
            with self._cond:
                while not self._queued and not self._closed:
                    self._cond.wait()
                if not self._queued:
                    return
                batch = self._take()
            try:
                refusal = self._send([entry for entry, _ in batch])
            except Exception as error:  # noqa: BLE001 - a flush waiting on this thread must hear of it, not hang
                refusal = error
            with self._cond:
                # The first refusal is the one every later call raises, as the TypeScript worker's.
                if refusal is not None and self._refusal is None:
                    self._refusal = refusal
                self._done += len(batch)
                self._cond.notify_all()

    def _send(self, batch: List[Dict[str, Any]]) -> Optional[BaseException]:
        """Sends entries in their order; answers the first refusal among them, or None when all were stored."""
        if not self._http.events_route:
            return _first([self._send_alone(entry) for entry in batch])
        body = {"events": [{"taskId": self._task_id, "attemptToken": self._token, **entry} for entry in batch]}
        try:
            answer = self._http.post(_BATCH_PATH, body)
        except NotFoundError:
            # The route answers unknown tasks entry by entry: a 404 for the request is an older server's.
            self._http.events_route = False
            return self._send(batch)
        except TaskhubError as error:
            # A malformed entry (400), or one too large for a batch (413), refuses the whole request: each on its own
            # route, so only that one is refused, with the error that route gives.
            if isinstance(error, BadRequestError) or (error.status == 413 and len(batch) > 1):
                return _first([self._send_alone(entry) for entry in batch])
            return error
        except OSError as error:
            return error
        results = answer.get("results") if isinstance(answer, dict) else None
        if not isinstance(results, list) or len(results) != len(batch):
            return TaskhubError(f"POST {_BATCH_PATH}: {len(batch)} events sent, an answer without as many results")
        for result in results:
            problem = result.get("error") if isinstance(result, dict) else None
            if isinstance(problem, dict):
                status = problem.get("status") if isinstance(problem.get("status"), int) else 500
                return http_error("POST", _BATCH_PATH, status, json.dumps(problem))
        return None

    def _send_alone(self, entry: Dict[str, Any]) -> Optional[BaseException]:
        kind = "output" if "chunk" in entry else "progress"
        body = {"attemptToken": self._token, **(entry if kind == "output" else entry["progress"])}
        try:
            self._http.post(f"/worker/tasks/{quote(self._task_id, safe='')}/{kind}", body)
        except (TaskhubError, OSError) as error:
            return error
        return None


def _first(refusals: List[Optional[BaseException]]) -> Optional[BaseException]:
    return next((r for r in refusals if r is not None), None)
