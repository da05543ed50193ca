"""Brand diagnosis, the flow of a Flask + Celery team, rebuilt on Taskhub with the Celery-style layer.

What the team had: a Flask API that started `diagnose_brand` on a Celery `diagnosis` queue (a crawl and a model call
that take minutes), a status endpoint reading the result backend for progress and timestamps, a cancel endpoint
(`revoke(terminate=True)`), `analytics` tasks computed from each diagnosis, a Celery beat job that cleans up old
results on a `cleanup` queue, and Flower for counts by state. On Taskhub the tasks stay Python functions; the status,
cancel and statistics endpoints are Taskhub's own HTTP API (GET /api/v1/tasks/{id}, POST .../cancel,
GET /api/v1/queues), beat is a cron schedule (PUT /api/v1/schedules/{name}), and Flower is the dashboard.

Run it against a server (`npm start` in the repository, or `npx taskhub serve`):

    python3 examples/python/brand_diagnosis.py --url http://127.0.0.1:8080 [--token T]

It starts its own worker (three handler processes, in a thread of this script), runs the flow, prints what happens
and exits 0 when every step behaved as expected. The token, with auth on, needs the `admin` scope (it submits, runs
tasks as a worker, reads queue statistics and writes a schedule).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import threading
import time
from datetime import datetime, timezone

# Runs from a clone without installing the package; an installed `taskhub` works the same.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "clients", "python"))

from taskhub import NonRetryableError, SoftTimeLimitExceeded, TaskCancelledError, TaskFailedError, Taskhub, encode_call  # noqa: E402

# Worker processes import this script again: the app must be defined at module level, and the flow must only run
# under `if __name__ == "__main__"`. They find the server through TASKHUB_URL / TASKHUB_TOKEN, which main() sets.
app = Taskhub(main="brand_diagnosis")

STEPS = ["crawling the site", "reading reviews", "scoring the tone", "comparing competitors", "writing the report"]


@app.task(queue="diagnosis", bind=True, max_retries=2, default_retry_delay=0.2, time_limit=30, soft_time_limit=20)
def diagnose_brand(self, brand, depth=3, step_seconds=0.15, fail_first_attempts=0):
    """The long job: progress per step, a line of output per finding, retried on a transient failure."""
    if not brand:
        raise NonRetryableError("brand is required", code="BAD_BRAND")  # no retry for bad input
    if self.request.retries < fail_first_attempts:
        raise ConnectionError(f"crawler unreachable (attempt {self.request.attempt})")  # retried with the backoff
    findings = []
    steps = STEPS[: max(1, min(depth + 2, len(STEPS)))]
    for i, step in enumerate(steps):
        self.update_state(state=step, meta={"current": i, "total": len(steps), "brand": brand})
        if self.wait(step_seconds):  # True as soon as the task is cancelled
            return None
        finding = f"{brand}: {step} done"
        self.output(finding + "\n")
        findings.append(finding)
    self.progress(100, "diagnosis ready", phase="done")
    score = sum(ord(c) for c in brand) % 40 + 60
    return {"brand": brand, "score": score, "findings": findings, "attempt": self.request.attempt}


@app.task(queue="analytics", max_retries=1)
def compute_analytics(brand, score):
    band = "strong" if score >= 80 else "average" if score >= 65 else "weak"
    return {"brand": brand, "band": band, "score": score}


@app.task(queue="cleanup")
def cleanup_expired(max_age_seconds=86400, queues=("diagnosis", "analytics")):
    """Celery beat's cleanup job: deletes finished tasks older than max_age_seconds (the result backend's expiry)."""
    cutoff = time.time() * 1000 - max_age_seconds * 1000
    checked = deleted = 0
    for queue in queues:
        for status in ("completed", "failed", "cancelled"):
            for task in app.client.list(queue=queue, status=status, limit=1000)["tasks"]:
                checked += 1
                if (task.get("completedAt") or task["updatedAt"]) < cutoff:
                    app.client.delete(task["id"])
                    deleted += 1
    return {"checked": checked, "deleted": deleted}


@app.task(queue="diagnosis", max_retries=0, time_limit=1)
def stuck_crawl(brand):
    """A handler that ignores every limit (a hung socket, a C extension): the worker kills it at the hard limit."""
    time.sleep(3600)


@app.task(queue="diagnosis", soft_time_limit=0.5, time_limit=10)
def quick_report(brand):
    """Stops at its soft limit and returns what it has (SoftTimeLimitExceeded is raised inside the handler)."""
    sections = []
    try:
        for n in range(100):
            time.sleep(0.1)
            sections.append(f"section {n + 1}")
    except SoftTimeLimitExceeded:
        return {"brand": brand, "sections": sections, "partial": True}
    return {"brand": brand, "sections": sections, "partial": False}


# ---------------------------------------------------------------------------------------------------------------


def clock(ms):
    return "-" if ms is None else datetime.fromtimestamp(ms / 1000, timezone.utc).strftime("%H:%M:%S.%f")[:-3]


def show(handle, label):
    task = handle.task
    progress = task.get("progress") or {}
    print(
        f"  {label:<22} {task['status']:<10} attempts {task['attempts']}/{task['maxAttempts']}  "
        f"progress {progress.get('percent', 0):>5.1f}% {progress.get('message') or ''!s:<22} "
        f"created {clock(task['createdAt'])} started {clock(task.get('startedAt'))} finished {clock(task.get('completedAt'))}"
    )


def check(condition, what):
    if not condition:
        print(f"FAILED: {what}")
        sys.exit(1)
    print(f"  ok: {what}")


def main():
    parser = argparse.ArgumentParser(description="Brand diagnosis on Taskhub (the Flask + Celery flow)")
    parser.add_argument("--url", default=os.environ.get("TASKHUB_URL", "http://127.0.0.1:8080"))
    parser.add_argument("--token", default=os.environ.get("TASKHUB_TOKEN"))
    options = parser.parse_args()
    os.environ["TASKHUB_URL"] = options.url
    if options.token:
        os.environ["TASKHUB_TOKEN"] = options.token
    app.configure(options.url, options.token)
    logging.basicConfig(level=logging.WARNING, format="    worker: %(levelname)s %(message)s")
    run_id = f"{int(time.time() * 1000):x}"  # keeps idempotency keys of this run apart from earlier runs'

    print(f"Taskhub at {options.url}; starting a worker: queues diagnosis, analytics, cleanup; 3 processes")
    worker = app.worker(queues=["diagnosis", "analytics", "cleanup"], concurrency=3, heartbeat_interval=0.5, claim_wait=5, cancel_grace=0.5)
    runner = threading.Thread(target=worker.run, kwargs={"install_signal_handlers": False}, daemon=True)
    runner.start()
    try:
        flow(run_id)
    finally:
        worker.stop()
        runner.join(30)
    print("done")


def flow(run_id):
    client = app.client

    print("\n1. A periodic cleanup (Celery beat): every 2 seconds on the cleanup queue")
    schedule = client.put_schedule(
        "brand-cleanup",
        "*/2 * * * * *",
        {"type": cleanup_expired.name, "queue": "cleanup", "payload": encode_call(kwargs={"max_age_seconds": 86400})},
    )
    print(f"  schedule {schedule['name']}: cron {schedule['cron']}, next run {clock(schedule['nextRunAt'])}")

    print("\n2. Submit diagnoses with priorities (higher runs first), one idempotent")
    acme = diagnose_brand.apply_async(("acme",), {"depth": 3}, priority=1)
    globex = diagnose_brand.apply_async(("globex",), {"depth": 3}, priority=9, idempotency_key=f"globex-{run_id}")
    again = diagnose_brand.apply_async(("globex",), {"depth": 3}, priority=9, idempotency_key=f"globex-{run_id}")
    check(again.id == globex.id, "the same idempotency key gives the same task")
    flaky = diagnose_brand.apply_async(("initech",), {"fail_first_attempts": 1})
    later = diagnose_brand.apply_async(("umbrella",), countdown=60)
    print(f"  acme {acme.id} (priority 1), globex {globex.id} (priority 9), initech {flaky.id} (fails once), umbrella {later.id} (in 60 s)")

    print("\n3. Follow globex live (SSE): progress and output as they happen")
    for event in globex.follow():
        data = event.get("data") or {}
        detail = data.get("message") or data.get("chunk", "").strip() or data.get("workerId") or ""
        print(f"  {clock(event['at'])} #{event['seq']:<2} {event['kind']:<9} {detail}")
    result = globex.get(timeout=30)
    print(f"  result: score {result['score']}, {len(result['findings'])} findings")

    print("\n4. Status with progress and timestamps")
    check(acme.get(timeout=30)["brand"] == "acme", "acme diagnosed")
    for handle, label in ((acme, "acme"), (globex, "globex"), (later, "umbrella (countdown)")):
        show(handle, label)

    print("\n5. Retries: initech's crawler fails on the first attempt")
    result = flaky.get(timeout=30)
    show(flaky, "initech")
    check(result["attempt"] == 2, "initech succeeded on its second attempt (max_retries=2)")

    print("\n6. Analytics from each diagnosis on the analytics queue")
    reports = [compute_analytics.delay(r["brand"], r["score"]) for r in (acme.get(), globex.get(), flaky.get())]
    for report in reports:
        r = report.get(timeout=30)
        print(f"  {r['brand']}: {r['band']} ({r['score']})")

    print("\n7. Cancel: the scheduled one at once, a running one through the worker")
    cancelled = later.cancel(reason="customer withdrew")
    check(cancelled["status"] == "cancelled", "the scheduled diagnosis is cancelled at once")
    long_one = diagnose_brand.apply_async(("hooli",), {"depth": 3, "step_seconds": 5})
    while long_one.status != "running":
        time.sleep(0.05)
    long_one.revoke(terminate=True)
    try:
        long_one.get(timeout=15)
        check(False, "a cancelled task raises")
    except TaskCancelledError as error:
        check(error.task["status"] == "cancelled", f"the running diagnosis ended cancelled ({error.error.get('message')})")

    print("\n8. Time limits")
    stuck = stuck_crawl.delay("wayne")
    started = time.monotonic()
    try:
        stuck.get(timeout=15)
        check(False, "the stuck task fails")
    except TaskFailedError as error:
        print(f"  stuck_crawl failed after {time.monotonic() - started:.1f} s: {error.error.get('code')}: {error.error.get('message')}")
        check(error.error.get("code") == "TIMEOUT", "the hard limit (time_limit=1) killed the hung handler")
    partial = quick_report.delay("wayne").get(timeout=15)
    check(partial["partial"] and partial["sections"], f"the soft limit let quick_report return {len(partial['sections'])} sections")
    check(diagnose_brand.delay("stark").get(timeout=15)["brand"] == "stark", "the slot killed at the hard limit runs the next task")

    print("\n9. The cleanup schedule fired")
    deadline = time.time() + 10
    runs = []
    while time.time() < deadline and not runs:
        runs = client.list(queue="cleanup", status="completed", type=cleanup_expired.name)["tasks"]
        time.sleep(0.2)
    check(bool(runs), "cleanup_expired ran from the schedule")
    print(f"  last cleanup: {runs[0]['result']}")
    client.delete_schedule("brand-cleanup")

    print("\n10. Statistics by status (GET /api/v1/queues)")
    for queue in client.queues():
        if queue["queue"] in ("diagnosis", "analytics", "cleanup"):
            counts = ", ".join(f"{status} {n}" for status, n in queue["counts"].items() if n)
            print(f"  {queue['queue']:<10} {counts}")


if __name__ == "__main__":
    main()
