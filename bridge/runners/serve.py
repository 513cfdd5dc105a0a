"""The other end of a Keras worker and of a launcher: answer one request per line of stdin until it closes.

Run as `python -m bridge.runners.serve`. A request names a module, a loop
function and its arguments; the problem and the trajectory travel in the wire
format (bridge.wire). A Keras worker stays up for many requests (importing a
framework takes seconds); a launcher gets one, and its process ends with it.
"""

from __future__ import annotations

import importlib
import json
import os
import sys

from bridge.runners.processes import die_with_parent
from bridge.wire import error_to_json, problem_from_json, trajectory_to_json


def answer(request: dict) -> dict:
    """Run the loop the request names; its trajectory, or the error it raised."""
    try:
        problem, arguments = problem_from_json(request["problem"]), request.get("arguments", {})
        if request.get("ranks"):  # a process per worker, each running the loop with its rank
            from bridge.runners import ranks

            module, loop = request["module"], request["loop"]
            trajectory = ranks.run(module, loop, request["problem"], request["device"], arguments["workers"])
        else:
            loop = getattr(importlib.import_module(request["module"]), request["loop"])
            trajectory = loop(problem, request["device"], **arguments)
        return {"trajectory": trajectory_to_json(trajectory, problem)}
    except Exception as error:  # sent back whole: the caller raises it with this message
        return error_to_json(error)


def serve() -> None:
    """Answer one request per line of stdin until it closes, one line of JSON each."""
    die_with_parent()
    nice = int(os.environ.get("DESCENT_NICENESS", "0"))
    if nice:  # a Keras worker yields to the rows of its parent, which come first in teaching order
        os.nice(nice)
    replies = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)  # anything a framework prints goes to stderr, never into the replies
    for line in sys.stdin:
        replies.write(json.dumps(answer(json.loads(line))) + "\n")
        replies.flush()
    os._exit(0)  # stdin closed: nothing left to save, and tearing down a framework takes seconds


if __name__ == "__main__":
    serve()
