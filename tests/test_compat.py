"""mixup_compat: numpy's removed names put back before MXNet loads (also when user code imports
mxnet first), the interpreter start-up hook, the choice of MXNet build; and the interpreter
choice of scripts/ensure-env.sh."""
import os
import subprocess
import sys
import types

import numpy as np
import pytest

import mixup_compat
from conftest import ROOT

ENSURE_ENV = os.path.join(ROOT, "scripts", "ensure-env.sh")


def fake_numpy(version, **names):
    module = types.SimpleNamespace(__version__=version, **names)
    return module


def test_no_aliases_below_numpy_1_24():
    assert mixup_compat.numpy_aliases(fake_numpy("1.23.5")) == {}
    assert mixup_compat.numpy_aliases(fake_numpy("1.16.6")) == {}


def test_aliases_are_what_numpy_had_and_never_replace_a_name_numpy_has():
    numpy2 = fake_numpy("2.2.6", bool=np.bool_, float64=np.float64, round=np.round,
                        prod=np.prod, all=np.all, inf=np.inf, nan=np.nan, vstack=np.vstack,
                        long=np.int64)
    added = mixup_compat.numpy_aliases(numpy2)
    assert "bool" not in added and "long" not in added  # numpy 2 has them again: kept
    assert added["int"] is int and added["float"] is float and added["object"] is object
    assert added["float_"] is np.float64 and added["round_"] is np.round
    assert added["product"] is np.prod and added["alltrue"] is np.all
    assert added["PZERO"] == 0.0 and np.copysign(1, added["NZERO"]) == -1
    assert added["NINF"] == -np.inf and added["PINF"] == np.inf and np.isnan(added["NaN"])
    assert added["compat"].basestring is str
    assert "cumproduct" not in added  # its new name is missing from this fake: nothing to alias
    a = np.array([[3, 1], [2, 5], [1, 4]])
    np.testing.assert_array_equal(added["msort"](a), np.sort(a, axis=0))
    np.testing.assert_array_equal(added["in1d"](np.array([[1, 2], [3, 4]]), [2, 3]),
                                  [False, True, True, False])
    with pytest.raises(RuntimeError, match="NEP 32"):  # as numpy 1.20-1.26 had them
        added["npv"](0.1, [1, 2])


def test_the_aliases_of_this_numpy_are_exactly_the_missing_names():
    added = mixup_compat.add_numpy_aliases()  # conftest imported mixup: already added
    assert added == []
    if mixup_compat._needs_aliases(np):
        for name in ("int", "float", "object", "str", "PZERO", "NINF", "mirr", "npv"):
            assert name in dir(np), name
    else:
        assert np.__version__.startswith("1.23")


def _python(code, **env):
    """`code` in a fresh interpreter of this environment, without the repository on sys.path
    (as user code runs), with OMP_NUM_THREADS=1."""
    full = dict(os.environ, OMP_NUM_THREADS="1", **env)
    full.pop("PYTHONPATH", None)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300, env=full, cwd="/")


def test_the_start_up_hook_is_installed_and_imports_nothing_heavy():
    out = _python("import sys, mixup_compat as c; "
                  "print(any(isinstance(f, c.MXNetImportHook) for f in sys.meta_path), "
                  "'numpy' in sys.modules, 'mxnet' in sys.modules)")
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["True", "False", "False"]


USER_SCRIPT = """
import mxnet as mx          # first, as user code writes it
import numpy as np
import mixup
x = mx.nd.array(np.arange(12, dtype=np.float32).reshape(4, 3))
y = mx.nd.array([0, 1, 2, 1])
with mx.autograd.train_mode():
    data, label = mx.nd.Custom(x, y, num_classes=3, alpha=1.0, op_type='MixUp')
rows = label.asnumpy()
assert np.allclose(rows.sum(axis=1), 1)
# a bound symbolic graph, one training step
d, l = mx.sym.var('data'), mx.sym.var('softmax_label')
md, ml = mx.sym.Custom(data=d, label=l, num_classes=3, alpha=0.2, batch_size=4, mix_rate=0.7,
                       op_type='MixUp')
net = mx.sym.SoftmaxOutput(mx.sym.FullyConnected(md, num_hidden=3, name='fc'), ml,
                           normalization='null', name='softmax')
mod = mx.mod.Module(net, data_names=['data'], label_names=['softmax_label'])
mod.bind(data_shapes=[('data', (4, 3))], label_shapes=[('softmax_label', (4,))])
mod.init_params()
mod.init_optimizer(optimizer='sgd', optimizer_params={'learning_rate': 0.1})
before = mod.get_params()[0]['fc_weight'].asnumpy()
mod.forward_backward(mx.io.DataBatch([x], [y]))
mod.update()
after = mod.get_params()[0]['fc_weight'].asnumpy()
assert not np.allclose(before, after)
print('ok', np.__version__)
"""


@pytest.mark.slow
def test_user_code_that_imports_mxnet_first_mixes_and_trains():
    out = _python(USER_SCRIPT)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.split()[0] == "ok"


@pytest.mark.slow
def test_without_the_hook_only_the_aliases_differ():
    """The hook is what makes mxnet-first work on numpy >= 1.24 (and is a no-op below)."""
    code = ("import sys, mixup_compat as c; c.uninstall_import_hook(); import numpy as np\n"
            "try:\n    import mxnet\n    print('loaded')\nexcept AttributeError as e:\n"
            "    print('failed', e)")
    out = _python(code)
    if mixup_compat._needs_aliases(np):
        assert "failed" in out.stdout, out.stdout + out.stderr
    else:
        assert "loaded" in out.stdout, out.stdout + out.stderr


def test_mxnet_recordio_packs_on_this_numpy():
    """MXNet's recordio calls ndarray.tostring (numpy < 2.3): no alias can add a method to
    ndarray, so the pins must keep a numpy that has it."""
    import mxnet as mx
    header = mx.recordio.IRHeader(0, np.array([1.0, 2.0], dtype=np.float32), 7, 0)
    packed = mx.recordio.pack(header, b"payload")
    unpacked, payload = mx.recordio.unpack(packed)
    assert payload == b"payload" and unpacked.id == 7
    np.testing.assert_array_equal(unpacked.label, [1.0, 2.0])
    image = np.arange(48, dtype=np.uint8).reshape(4, 4, 3)
    _, png = mx.recordio.unpack(mx.recordio.pack_img(mx.recordio.IRHeader(0, 3, 1, 0), image,
                                                     img_fmt=".png"))
    assert png.startswith(b"\x89PNG")


@pytest.mark.parametrize("gpus, listed, build", [
    ([], 0, "cpu"),
    ([], 2, "gpu"),  # nvidia-smi too old to tell the compute capability
    ([(0, "NVIDIA A100-SXM4-40GB", "8.0")], 1, "gpu"),
    ([(0, "NVIDIA GeForce RTX 4090", "8.9")], 1, "gpu"),
    ([(0, "NVIDIA H100 80GB HBM3", "9.0"), (1, "NVIDIA H100 80GB HBM3", "9.0")], 2, "cpu"),
    ([(0, "NVIDIA H100 80GB HBM3", "9.0"), (1, "Tesla V100-SXM2-16GB", "7.0")], 2, "gpu"),
])
def test_the_mxnet_build_follows_the_gpus_compute_capability(gpus, listed, build):
    chosen, reason = mixup_compat.choose_mxnet_build(gpus=gpus, listed=listed)
    assert chosen == build
    if build == "cpu" and gpus:
        assert "H100 80GB HBM3 9.0" in reason and "MIXUP_MXNET=gpu" in reason


def _ensure_env(*args, path=None, **env):
    # The caller's own choices (CI runs the suite with PYTHON=python3.12, MIXUP_MXNET, ...) must
    # not leak into the script under test: only what the test sets counts.
    full = {k: v for k, v in os.environ.items() if k not in ("PYTHON", "MIXUP_MXNET")}
    full.update(MIXUP_VENV="/nonexistent/venv", **env)
    if path is not None:
        full["PATH"] = path
    return subprocess.run(["/bin/bash", ENSURE_ENV] + list(args), capture_output=True, text=True,
                          timeout=60, env=full)


def _stub_pythons(tmp_path, versions):
    """A PATH of stub interpreters that report the given versions, and nothing else but the
    tools the interpreter choice uses (the machine's own pythons stay out of sight)."""
    import shutil
    for name, version in versions.items():
        stub = tmp_path / name
        stub.write_text("#!/bin/sh\necho %s\n" % version)
        stub.chmod(0o755)
    for tool in ("dirname", "sed"):
        os.symlink(shutil.which(tool), str(tmp_path / tool))
    return str(tmp_path)


@pytest.mark.parametrize("found, chosen", [
    ({"python3.11": "3.11", "python3.12": "3.12", "python3.13": "3.13"}, "python3.11"),
    ({"python3.12": "3.12", "python3.13": "3.13", "python3": "3.12"}, "python3.13"),
    ({"python3.12": "3.12", "python3": "3.12"}, "python3.12"),
    ({"python3": "3.13"}, "python3"),
])
def test_ensure_env_prefers_3_11_then_the_newest_supported(tmp_path, found, chosen):
    out = _ensure_env("--which-python", path=_stub_pythons(tmp_path, found))
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == [str(tmp_path / chosen), found[chosen]]


def test_ensure_env_refuses_pythons_it_cannot_serve_in_one_line(tmp_path):
    path = _stub_pythons(tmp_path, {"python3": "3.10", "python3.14": "3.14"})
    out = _ensure_env("--which-python", path=path)
    assert out.returncode == 2 and out.stderr.count("\n") == 1
    assert "3.11, 3.12, 3.13" in out.stderr and "PYTHON=python3.12" in out.stderr
    for wanted in ("python3.14", "python3", "no-such-python"):
        out = _ensure_env("--which-python", path=path, PYTHON=wanted)
        assert out.returncode == 2 and out.stderr.count("\n") == 1, out.stderr
        assert "PYTHON=python3.12 make test" in out.stderr
    assert "3.14" in _ensure_env(path=path, PYTHON="python3.14").stderr


def test_ctrl_c_while_the_environment_is_set_up_says_so_in_one_line(tmp_path):
    # A stub interpreter whose "pip" is interrupted as Ctrl-C interrupts pip: the whole process
    # group gets SIGINT and pip exits 1 by itself. The set-up must not pass for a failure (and
    # print pip's log), nor leave a stamp that would make the half-made environment count.
    stub = tmp_path / "python3.11"
    stub.write_text("#!/bin/sh\n"
                    "case \"$*\" in\n"
                    "  *'import sys'*) echo 3.11 ;;\n"
                    "  '-m venv '*) mkdir -p \"$3/bin\" && cp \"$0\" \"$3/bin/python\" ;;\n"
                    "  *'pip install'*) trap 'exit 1' INT; kill -INT 0; sleep 5; exit 1 ;;\n"
                    "esac\n")
    stub.chmod(0o755)
    venv = tmp_path / "venv"
    full = {k: v for k, v in os.environ.items() if k not in ("PYTHON", "MIXUP_MXNET")}
    full.update(MIXUP_VENV=str(venv), PYTHON=str(stub), MIXUP_MXNET="cpu")
    out = subprocess.run(["/bin/bash", ENSURE_ENV], capture_output=True, text=True, timeout=60,
                         env=full, start_new_session=True)  # its own group: the test's is spared
    lines = out.stderr.splitlines()
    assert out.returncode == 130, out.stderr
    assert lines[0].startswith("setting up %s" % venv) and len(lines) == 2, out.stderr
    assert lines[1].startswith("interrupted: %s was not finished" % venv)
    assert out.stdout == "" and not (venv / ".mixup-stamp").exists()
