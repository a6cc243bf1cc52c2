"""dist_sync clusters: a local one (scheduler, servers and workers as plain processes on this
machine, configured by MXNet's DMLC_* environment variables, the mechanism MXNet's own
tools/launch.py uses across machines; see docs/TRAINING.md for several machines), and how a worker
joins one: its view of the run directory and the start epoch all workers agree on."""
import os
import signal
import socket
import subprocess
import sys
import time

from mixup_app import cluster, threads


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def join_cluster(options, out_dir, log):
    """One worker of a dist_sync run (DMLC_ROLE=worker), launched locally or on a cluster.

    Rank 0 owns the run directory; every worker prepares or checks its own data; where to
    start is rank 0's last loadable checkpoint, and the parameters come from rank 0 via the
    kvstore. Returns (config, run_dir, begin_epoch, kv)."""
    import mxnet as mx
    from mixup_app import preflight, runs
    from mixup_app.config import ConfigError, RunConfig
    if not out_dir:
        raise ConfigError("a dist_sync worker needs --out-dir (the run directory rank 0 "
                          "writes)")
    # a resumed run's workers are started without its options: they come from config.json
    stored = RunConfig.load(out_dir) if runs.holds_run(out_dir) else None
    kv = mx.kv.create((stored or options).kv_store)
    quiet = log if kv.rank == 0 else (lambda *_: None)
    if stored is not None:
        config = stored
        preflight.prepare_data(config, quiet)
    else:
        if options.dataset == "auto":
            raise ConfigError("on a cluster give --dataset explicitly (auto could choose "
                              "differently on different machines)")
        config = preflight.new_config(options.flat(), quiet)
        if kv.rank == 0:
            runs.check_writable_dir(out_dir, "--out-dir")
            config.save(out_dir)
    begin = cluster.agree(kv, runs.last_loadable_checkpoint(out_dir, quiet) if kv.rank == 0
                          else 0)
    return config, out_dir, begin, kv


def run_local(worker_argv, num_workers, num_servers, log=print, command=None):
    """Run `python -m mixup_app.train worker_argv` (``command`` + worker_argv where given: a
    worker of another program, as the tests run one) as num_workers workers; wait for all of
    them.

    Returns 0 when every worker succeeded, else the first failing worker's exit code (and the
    other processes are stopped)."""
    env = dict(os.environ, DMLC_PS_ROOT_URI="127.0.0.1", DMLC_PS_ROOT_PORT=str(free_port()),
               DMLC_NUM_WORKER=str(num_workers), DMLC_NUM_SERVER=str(num_servers),
               DMLC_INTERFACE="lo", PS_VERBOSE="0")
    # the workers share this machine's cores (unless the user chose their threads)
    env.setdefault("OMP_NUM_THREADS", str(max(1, threads.available_cores() // num_workers)))
    # Servers and the scheduler only need MXNet: its import runs their loop, then exits.
    support = [subprocess.Popen([sys.executable, "-c", "import mxnet"],
                                env=dict(env, DMLC_ROLE=role))
               for role in ["scheduler"] + ["server"] * num_servers]
    command = command or [sys.executable, "-m", "mixup_app.train"]
    workers = [subprocess.Popen(list(command) + worker_argv,
                                env=dict(env, DMLC_ROLE="worker"))
               for _ in range(num_workers)]
    log("launched scheduler, %d server(s), %d worker(s) on 127.0.0.1:%s"
        % (num_servers, num_workers, env["DMLC_PS_ROOT_PORT"]))
    status = 0
    try:
        pending = list(workers)
        while pending:
            for proc in list(pending):
                code = proc.poll()
                if code is not None:
                    pending.remove(proc)
                    if code != 0 and status == 0:
                        status = code if code > 0 else 1  # killed by a signal
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
