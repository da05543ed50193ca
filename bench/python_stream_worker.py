"""The Python worker of bench/python-output.ts: handler `py-bench-stream` writes payload["chunks"] chunks of ~40
characters through ctx.output as fast as the worker allows. argv: worker id, concurrency."""

import logging
import os
import sys

from taskhub import Worker


def stream(payload, ctx):
    for c in range(payload["chunks"]):
        ctx.output(f"t{payload['i']} c{c} ".ljust(40, "x"))
    return None


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    worker = Worker(os.environ["TASKHUB_URL"], None, worker_id=sys.argv[1], concurrency=int(sys.argv[2]), claim_wait=1)
    worker.handle("py-bench-stream", stream)
    worker.run()
