"""A stand-in worker speaking the real worker's file protocol, without TensorFlow.

A cell whose id contains "segv" kills the process with a real SIGSEGV, "abort"
with SIGABRT, "exit3" exits with status 3, "hang" sleeps until killed, "slow" takes 2 s; every
other cell writes a ``pass`` record.
"""
import json
import os
import signal
import sys
import time

task = json.load(open(sys.argv[1]))
if task.get("pid_file"):
    with open(task["pid_file"], "w") as handle:
        handle.write(str(os.getpid()))
if task.get("fail_at_start"):
    sys.stderr.write("ImportError: numpy.core.multiarray failed to import\n")
    sys.exit(1)
with open(task["results_path"], "a") as results:
    for cell in task["cells"]:
        if task.get("stop_path") and os.path.exists(task["stop_path"]):
            break  # the supervisor splits the cells left over more workers
        with open(task["progress_path"], "w") as progress:
            json.dump({"cell": cell["id"], "started": time.time()}, progress)
        if task.get("cell_s"):
            time.sleep(task["cell_s"])
        if "segv" in cell["id"]:
            os.kill(os.getpid(), signal.SIGSEGV)
        if "abort" in cell["id"]:
            os.abort()
        if "exit3" in cell["id"]:
            os._exit(3)
        if "hang" in cell["id"]:
            time.sleep(3600)
        if "slow" in cell["id"]:
            time.sleep(2)
        results.write(json.dumps({"id": cell["id"], "verdict": "pass", "key": cell.get("key"),
                                  "worker_pid": os.getpid()}) + "\n")
        results.flush()
