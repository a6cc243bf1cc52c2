import json
import os
import subprocess
import sys

import sys as _sys
assert "mxnet" not in _sys.modules, "mxnet was imported before conftest"
import mixup  # noqa: F401,I001  (first: registers MixUp and sets MXNet's switches before it loads)
import mxnet as mx
import numpy as np
import pytest
from mixup_app.data import preparation

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def mixup_nd(data, label, seed, train=True, **params):
    """Run the op imperatively after mx.random.seed(seed); numpy outputs."""
    params.setdefault("num_classes", 3)
    mx.random.seed(seed)
    with mx.autograd.train_mode() if train else mx.autograd.predict_mode():
        out = mx.nd.Custom(mx.nd.array(data, dtype=data.dtype), mx.nd.array(label),
                           op_type="MixUp", **params)
    return out[0].asnumpy(), out[1].asnumpy()


def observed_matrix(batch, seed, dtype=np.float64, **params):
    """The mixing matrix M of the draws made under `seed`: data_out = M @ I = M."""
    eye = np.eye(batch, dtype=dtype)
    return mixup_nd(eye, np.zeros(batch), seed, **params)[0].astype(np.float64)


def run_python(code, timeout=120):
    """Run `code` in a fresh interpreter (so a crash fails a test, not the test run)."""
    env = dict(os.environ, PYTHONPATH=ROOT)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=timeout, env=env, cwd=ROOT)


def last_json_line(text):
    for line in reversed(text.strip().splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    raise AssertionError("no JSON line in output:\n" + text)


# ------------------------------------------------------------------ refusals in a subprocess

REPORT = """
import json
def report(fn):
    try:
        fn(); mx.nd.waitall(); print(json.dumps({"caught": None}))
    except Exception as e:
        print(json.dumps({"caught": type(e).__name__, "message": str(e)}))
"""
CASE_MARK = "### case "


def refusal_outcomes(prelude, cases):
    """Run every call of ``cases`` ({case: (call, words)}) one after the other in one fresh
    interpreter, after ``prelude`` (which imports mx): a crash (MXNet 1.9.1 dies on some
    exceptions in a CustomOp's callbacks) fails cases, not the test run. Returns
    case -> (that case's stdout, or None if the interpreter died before its end; the process)."""
    script = prelude + REPORT + "".join(
        "print(%r, flush=True)\nreport(lambda: %s)\nprint('survived', flush=True)\n"
        % (CASE_MARK + case, call) for case, (call, _) in cases.items())
    proc = run_python(script, timeout=300)
    sections = {}
    for chunk in proc.stdout.split(CASE_MARK)[1:]:
        case, _, text = chunk.partition("\n")
        sections[case] = text if "survived" in text else None
    return {case: (sections.get(case), proc) for case in cases}


def assert_refused(outcome, words):
    """The case of :func:`refusal_outcomes` was refused and its message holds every word."""
    text, proc = outcome
    assert text is not None, "process died (%d) in or before this case:\n%s\n%s" % (
        proc.returncode, proc.stdout[-3000:], proc.stderr[-2000:])
    result = last_json_line(text)
    # simple_bind wraps the MXNetError of shape inference in a RuntimeError
    assert result["caught"] in ("ValueError", "MXNetError", "RuntimeError"), result
    # MXNet prints a CustomOp's own message to stdout and wraps it in a generic MXNetError.
    text = text + result.get("message", "")
    for word in words:
        assert word in text, "%r not in the message:\n%s" % (word, text[-3000:])


@pytest.fixture(autouse=True)
def mixup_steps_from_zero():
    """mixup.seek is process-wide and a trainer run in this process (train.main) leaves its
    step behind: every test starts with the ops' steps at 0."""
    mixup.seek(0)


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


# ------------------------------------------------------------------ the command lines

# A tiny training configuration: seconds per epoch on 2 cores.
TINY = ["--dataset", "synthetic", "--synthetic-size", "120,45", "--num-layers", "8",
        "--batch-size", "20", "--image-shape", "3,28,28", "--progress", "off"]


def cli(module, *args, timeout=300, env=None, cwd=None):
    """Run `python -m module args` as a user would (exit code, stdout, stderr)."""
    full_env = dict(os.environ, PYTHONPATH=ROOT, OMP_NUM_THREADS="1")
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-m", module] + list(args), capture_output=True,
                          text=True, timeout=timeout, env=full_env, cwd=cwd or ROOT)


def draw_classes(rng, batch, weights):
    """`batch` class indices drawn with probabilities proportional to `weights`."""
    return rng.choice(len(weights), size=batch, p=np.asarray(weights) / np.sum(weights))


def assert_resume_is_bit_exact(tmp_path, data_dir, options):
    """A TINY run of 3 epochs with `options`, and the same run with epochs 2 and 3 taken away
    and resumed, record the same metrics. Returns the uninterrupted run's directory."""
    from mixup_app import runs, train
    common = TINY + ["--data-dir", data_dir, "--num-epochs", "3"] + list(options)
    whole, parts = str(tmp_path / "whole"), str(tmp_path / "parts")
    for out_dir in (whole, parts):
        assert train.main(common + ["--out-dir", out_dir]) == 0
    for epoch in (2, 3):
        os.remove(runs.params_path(parts, epoch))
    assert train.main(["--resume", "--out-dir", parts]) == 0
    keys = ("epoch", "train_accuracy", "train_loss", "val_accuracy", "val_loss")
    assert ([{k: r[k] for k in keys} for r in runs.read_metrics(parts)]
            == [{k: r[k] for k in keys} for r in runs.read_metrics(whole)])
    return whole


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory):
    """A prepared synthetic dataset of 120 training and 45 validation images."""

    path = str(tmp_path_factory.mktemp("data"))
    preparation.prepare("synthetic", path, log=lambda *_: None, synthetic_counts=(120, 45))
    return path


def read_records(rec, idx, shape, batch_size=4):
    """Every record of a .rec/.idx pair through mx.io.ImageRecordIter, in index order, padding
    dropped: (uint8 images (N, H, W, C), int64 labels)."""
    it = mx.io.ImageRecordIter(path_imgrec=rec, path_imgidx=idx, data_shape=tuple(shape),
                               batch_size=batch_size, round_batch=True, shuffle=False)
    pixels, labels = [], []
    for batch in it:
        keep = batch_size - batch.pad
        pixels.append(batch.data[0].asnumpy()[:keep])
        labels.append(batch.label[0].asnumpy()[:keep])
    return (np.concatenate(pixels).transpose(0, 2, 3, 1).astype(np.uint8),
            np.concatenate(labels).astype(np.int64))


class Watch(mx.mon.Monitor):
    """A Monitor that keeps what the graph's nodes received and gave (monitor_all) whose
    names match ``pattern``, as numpy arrays: ``steps[k]`` = [(name, array)] of step k in the
    order the executor reported them. Install it on an executor (``Module.install_monitor``);
    the trainer calls tic() / toc() around each step, as ``Module.fit`` does."""

    def __init__(self, pattern):
        super().__init__(1, stat_func=lambda array: array.copy(), pattern=pattern,
                         monitor_all=True)
        self.steps = []

    def toc(self):
        # the queue holds the forward/backward callbacks; Monitor.toc would add the arguments
        # again and turn everything into strings
        self.steps.append([(name, array.asnumpy()) for _, name, array in self.queue])
        self.queue = []
        self.activated = False
        return []


def named(step, name):
    """The arrays called ``name`` in one step of a Watch, in the order they were reported."""
    return [array for n, array in step if n == name]


def refusal(main, argv, capsys):
    """The one-line message with which ``main(argv)`` refuses (exit code 2)."""
    with pytest.raises(SystemExit) as refused:
        main(argv)
    err = capsys.readouterr().err.strip()
    assert refused.value.code == 2 and len(err.splitlines()) == 1, err
    return err


@pytest.fixture
def drawn(monkeypatch):
    """{"axes": the axes of the last figure mixup_app.plots drew}, instead of writing it."""
    from mixup_app import plots
    kept = {}

    def keep(fig, path):
        kept["axes"] = fig.axes
        plots.plt.close(fig)

    monkeypatch.setattr(plots, "_save", keep)
    return kept
