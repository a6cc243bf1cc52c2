"""A local dist_sync cluster: one scheduler, servers and workers as plain processes on this
machine, configured by MXNet's DMLC_* environment variables (the same mechanism MXNet's own
tools/launch.py uses across machines; see the README for several machines)."""
import os
import signal
import socket
import subprocess
import sys
import time


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_local(worker_argv, num_workers, num_servers):
    """Run `python -m mixup.train worker_argv` as num_workers workers; wait for all of them.

    Returns 0 when every worker succeeded, else the first failing worker's exit code (and the
    other processes are stopped)."""
    env = dict(os.environ, DMLC_PS_ROOT_URI="127.0.0.1", DMLC_PS_ROOT_PORT=str(free_port()),
               DMLC_NUM_WORKER=str(num_workers), DMLC_NUM_SERVER=str(num_servers),
               DMLC_INTERFACE="lo", PS_VERBOSE="0")
    # Servers and the scheduler only need MXNet: its import runs their loop, then exits.
    support = [subprocess.Popen([sys.executable, "-c", "import mxnet"],
                                env=dict(env, DMLC_ROLE=role))
               for role in ["scheduler"] + ["server"] * num_servers]
    workers = [subprocess.Popen([sys.executable, "-m", "mixup.train"] + worker_argv,
                                env=dict(env, DMLC_ROLE="worker"))
               for _ in range(num_workers)]
    print("launched scheduler, %d server(s), %d worker(s) on 127.0.0.1:%s"
          % (num_servers, num_workers, env["DMLC_PS_ROOT_PORT"]), flush=True)
    status = 0
    try:
        pending = list(workers)
        while pending:
            for proc in list(pending):
                code = proc.poll()
                if code is not None:
                    pending.remove(proc)
                    if code != 0 and status == 0:
                        status = code
                        raise RuntimeError("a worker exited with %d" % code)
            time.sleep(0.2)
        for proc in support:
            proc.wait(timeout=60)
    except (RuntimeError, KeyboardInterrupt, subprocess.TimeoutExpired) as why:
        print("stopping the cluster: %s" % why, file=sys.stderr, flush=True)
        status = status or 1
    finally:
        for proc in workers + support:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in workers + support:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
    return status
