"""`python -m taskhub worker --app MODULE:APP`: Celery's `celery -A proj worker -Q a,b -c 8`.

    python -m taskhub worker --app proj.tasks:app --queues diagnosis,analytics --concurrency 8 \\
        --url http://127.0.0.1:8080 --token "$TASKHUB_TOKEN"

MODULE is imported from the current directory (as `celery -A` does); APP defaults to `app`.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m taskhub", description="Taskhub for Python")
    commands = parser.add_subparsers(dest="command", required=True)
    worker = commands.add_parser("worker", help="run the tasks of a Celery-style app")
    worker.add_argument("-A", "--app", required=True, help="MODULE[:ATTRIBUTE] of the Taskhub app (attribute default: app)")
    worker.add_argument("-Q", "--queues", default=None, help="comma-separated queues (default all)")
    worker.add_argument("-c", "--concurrency", type=int, default=4, help="handler processes (default 4)")
    worker.add_argument("--url", default=None, help="server URL (default: the app's, or env TASKHUB_URL)")
    worker.add_argument("--token", default=None, help="token with the worker scope (default: the app's, or env TASKHUB_TOKEN)")
    worker.add_argument("--worker-id", default=None)
    worker.add_argument("--heartbeat-interval", type=float, default=2.0)
    worker.add_argument("--claim-wait", type=float, default=25.0)
    worker.add_argument("--shutdown-grace", type=float, default=10.0)
    worker.add_argument("--cancel-grace", type=float, default=1.0)
    worker.add_argument("--log-level", default=os.environ.get("TASKHUB_LOG_LEVEL", "info"))
    options = parser.parse_args(argv)

    logging.basicConfig(level=getattr(logging, options.log_level.upper(), logging.INFO),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    if options.url:
        os.environ["TASKHUB_URL"] = options.url  # the children import the app module again and read these
    if options.token:
        os.environ["TASKHUB_TOKEN"] = options.token
    if "" not in sys.path and os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    module_name, _, attribute = options.app.partition(":")
    app = getattr(importlib.import_module(module_name), attribute or "app")
    if options.url or options.token:
        app.configure(options.url, options.token)
    queues = [q.strip() for q in options.queues.split(",") if q.strip()] if options.queues else None
    app.worker(queues=queues, concurrency=options.concurrency, worker_id=options.worker_id,
               heartbeat_interval=options.heartbeat_interval, claim_wait=options.claim_wait,
               shutdown_grace=options.shutdown_grace, cancel_grace=options.cancel_grace).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
