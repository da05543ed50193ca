"""A small JSON-over-HTTP caller on http.client, shared by the client and the worker. Requests in flight can be cut
from another thread (a worker stopping cuts its long-poll claim)."""

from __future__ import annotations

import http.client
import json
import socket
import threading
from typing import Any, Dict, Optional, Tuple
from urllib.parse import urlencode, urlsplit

from .errors import TaskhubNetworkError, http_error

API = "/api/v1"


class Aborted(Exception):
    """A request was cut short on purpose (the caller is stopping)."""


class Http:
    def __init__(self, url: str, token: Optional[str], timeout: float = 30.0):
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"url must be http(s)://host[:port][/prefix], not {url!r}")
        self.url = url
        self.https = parts.scheme == "https"
        self.host = parts.hostname
        self.port = parts.port
        self.prefix = parts.path.rstrip("/")
        self.token = token
        self.timeout = timeout
        self._lock = threading.RLock()
        self._open: set = set()
        self._closed = False
        # Whether the server has POST /worker/events (_events.py falls back to one request per entry without it).
        self.events_route = True

    def connection(self, timeout: Optional[float] = None) -> http.client.HTTPConnection:
        cls = http.client.HTTPSConnection if self.https else http.client.HTTPConnection
        return cls(self.host, self.port, timeout=timeout or self.timeout)

    def headers(self, extra: Optional[Dict[str, str]] = None) -> Dict[str, str]:
        headers = {"accept": "application/json"}
        if self.token:
            headers["authorization"] = f"Bearer {self.token}"
        if extra:
            headers.update(extra)
        return headers

    def target(self, path: str, query: Optional[Dict[str, Any]] = None) -> str:
        qs = urlencode({k: v for k, v in (query or {}).items() if v is not None})
        return f"{self.prefix}{API}{path}" + (f"?{qs}" if qs else "")

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        query: Optional[Dict[str, Any]] = None,
        headers: Optional[Dict[str, str]] = None,
        timeout: Optional[float] = None,
        send_body: bool = False,
    ) -> Tuple[int, Any]:
        """One request; (status, parsed JSON or None) for a 2xx answer, else raises the typed error."""
        all_headers = self.headers(headers)
        data = None
        if body is not None or send_body:
            all_headers["content-type"] = "application/json"
            data = json.dumps(body if body is not None else {}).encode("utf-8")
        conn = self.connection(timeout)
        with self._lock:
            if self._closed:
                raise Aborted()
            self._open.add(conn)
        try:
            conn.request(method, self.target(path, query), body=data, headers=all_headers)
            response = conn.getresponse()
            text = response.read().decode("utf-8")
            status = response.status
            retry_after = response.getheader("retry-after")
        except (OSError, http.client.HTTPException) as error:
            if self._closed:
                raise Aborted() from error
            raise TaskhubNetworkError(f"{method} {path}: {error}") from error
        finally:
            with self._lock:
                self._open.discard(conn)
            conn.close()
        if 200 <= status < 300:
            return status, (json.loads(text) if text else None)
        raise http_error(method, path, status, text, retry_after)

    def post(self, path: str, body: Dict[str, Any], timeout: Optional[float] = None) -> Any:
        return self.request("POST", path, body, timeout=timeout)[1]

    def cut(self) -> None:
        """Cuts every request in flight and refuses new ones."""
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
