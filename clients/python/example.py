"""Example Taskhub worker in Python: a simulated slow AI generation that reports progress, streams its text, and
stops early when the task is cancelled.

    python3 example.py --url http://127.0.0.1:8080 --token "$TASKHUB_TOKEN"

Then submit one:

    curl -s -X POST localhost:8080/api/v1/tasks -H 'content-type: application/json' \\
         -d '{"type":"travel-plan","payload":{"city":"Shanghai","days":3}}'
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from taskhub_worker import NonRetryableError, main_options, worker_from_options  # noqa: E402

options = main_options(description="Taskhub example worker: travel-plan")
worker = worker_from_options(options)

SIGHTS = ["the old town", "the river front", "a night market", "the museum quarter", "a tea house", "the hills"]


@worker.handler("travel-plan")
def travel_plan(payload, ctx):
    city = payload.get("city") if isinstance(payload, dict) else None
    if not city:
        raise NonRetryableError("payload.city is required", code="BAD_PAYLOAD")
    days = int(payload.get("days", 3))
    delay = float(payload.get("chunkDelayMs", 200)) / 1000.0
    ctx.progress(5, f"planning {days} days in {city}", phase="plan")
    text = []
    for day in range(1, days + 1):
        if ctx.wait(delay):  # returns True as soon as the task is cancelled (or the worker stops)
            ctx.log.info("stopping early: %s", ctx.stop_reason)
            return None
        line = f"Day {day}: {SIGHTS[(day - 1) % len(SIGHTS)]} in {city}.\n"
        ctx.output(line)
        text.append(line)
        ctx.progress(5 + round(95 * day / days), f"day {day} of {days}", phase="generate")
    return {"city": city, "days": days, "plan": "".join(text), "worker": worker.id, "attempt": ctx.attempt}


if __name__ == "__main__":
    worker.run()
