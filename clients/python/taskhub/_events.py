"""An attempt's progress and output, sent in batches (POST /worker/events) by a thread of their own.

`ctx.output()` and `ctx.progress()` return once their entry is queued, while fewer than WINDOW of the attempt's
entries are unstored; beyond that they wait for the oldest to be stored. So a handler streaming tokens is not held to
one request (a connection and a commit) per token, and what it writes while one request is on its way goes in the
next, one request at a time: each attempt's entries are stored in the order written. The semantics are the
TypeScript worker's (docs/workers.md, "Output in flight"):
- a refused entry (409 STALE_ATTEMPT: the attempt is no longer current; 400: an entry the server's input rules
  refuse; the server unreachable) is raised by the handler's next output, progress or durable call, or by `flush()`;
- durable calls and the attempt's outcome wait until the entries written before them are stored (`flush()`), so the
  task's history keeps the handler's order.
"""

from __future__ import annotations

import json
import threading
from typing import Any, Dict, List, Optional
from urllib.parse import quote

from ._http import Http
from .errors import BadRequestError, NotFoundError, TaskhubError, http_error

# Entries of one attempt queued or on their way before output() and progress() wait: the TypeScript worker's
# OUTPUT_WINDOW (src/worker/context.ts).
WINDOW = 8
# Characters of chunks and progress one request gathers (an entry larger goes alone): well under the server's default
# body limit of 1 MiB, as the TypeScript worker's batches (src/worker/event-batches.ts).
MAX_BATCH_CHARS = 256 * 1024

_BATCH_PATH = "/worker/events"


def _chars(entry: Dict[str, Any]) -> int:
    chunk = entry.get("chunk")
    return len(chunk) if isinstance(chunk, str) else len(json.dumps(entry.get("progress")))


class EventSender:
    """One attempt's unsent entries, each {"chunk": str} or {"progress": {...}}, and the thread that sends them."""

    def __init__(self, http: Http, task_id: str, attempt_token: str):
        self._http = http
        self._task_id = task_id
        self._token = attempt_token
        self._cond = threading.Condition()
        self._queued: List[Dict[str, Any]] = []
        # Entries queued or in the request on its way.
        self._unstored = 0
        self._error: Optional[BaseException] = None
        self._thread: Optional[threading.Thread] = None
        self._closed = False
        # A server without the batch route (404) gets one request per entry for the rest of the attempt.
        self._batches = True

    def add(self, entry: Dict[str, Any]) -> None:
        """Queues an entry; raises a refusal of an earlier one instead, or waits while WINDOW entries are unstored."""
        with self._cond:
            self._raise_refusal()
            while self._unstored >= WINDOW and self._error is None:
                self._cond.wait()
            self._raise_refusal()
            self._queued.append(entry)
            self._unstored += 1
            if self._thread is None:
                self._thread = threading.Thread(target=self._send_loop, name=f"taskhub-events-{self._task_id}", daemon=True)
                self._thread.start()
            self._cond.notify_all()

    def flush(self) -> None:
        """Waits until every queued entry is stored or refused; raises the first refusal not raised yet."""
        with self._cond:
            while self._unstored > 0:
                self._cond.wait()
            self._raise_refusal()

    def close(self) -> None:
        """Lets the sending thread end once the queue is empty (the attempt is over; nothing more is added)."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def _raise_refusal(self) -> None:
        error = self._error
        if error is not None:
            self._error = None
            raise error

    def _take(self) -> List[Dict[str, Any]]:
        batch = [self._queued[0]]
        chars = _chars(batch[0])
        for entry in self._queued[1:]:
            chars += _chars(entry)
            if chars > MAX_BATCH_CHARS:
                break
            batch.append(entry)
        del self._queued[: len(batch)]
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
                refusal = self._send(batch)
            except Exception as error:  # noqa: BLE001 - a flush waiting on this thread must hear of it, not hang
                refusal = error
            with self._cond:
                # The first refusal is the one the handler hears of; later ones (of the same cause, mostly) add nothing.
                if refusal is not None and self._error is None:
                    self._error = refusal
                self._unstored -= len(batch)
                self._cond.notify_all()

    def _send(self, batch: List[Dict[str, Any]]) -> Optional[BaseException]:
        """Sends entries in their order; answers the first refusal among them, or None when all were stored."""
        if not self._batches:
            return _first([self._send_alone(entry) for entry in batch])
        body = {"events": [{"taskId": self._task_id, "attemptToken": self._token, **entry} for entry in batch]}
        try:
            answer = self._http.post(_BATCH_PATH, body)
        except NotFoundError:
            # The route answers unknown tasks entry by entry: a 404 for the request is an older server's.
            self._batches = False
            return self._send(batch)
        except BadRequestError:
            # One malformed entry refuses the whole request: each on its own route, so only that one is refused,
            # with the error that route gives (its field is the entry's, not the batch's).
            return _first([self._send_alone(entry) for entry in batch])
        except (TaskhubError, OSError) as error:
            return error
        for result in answer.get("results", []):
            problem = result.get("error")
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
