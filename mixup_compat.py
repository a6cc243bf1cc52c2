"""Every workaround mxnet-mixup needs to run Apache MXNet 1.9.1 (the last release, retired in
2023) on today's Pythons and numpy, in one home.

A top-level module, not ``mixup.compat``: the interpreter start-up hook below must load it
without importing the ``mixup`` package (which imports MXNet). It imports nothing but the
standard library; numpy and MXNet are imported only by the functions that need them.

**numpy >= 1.24 aliases, before MXNet loads.** MXNet 1.9.1 reads names that numpy has since
removed: ``np.bool``, ``np.int``, ``np.float`` ... (removed in 1.24), ``np.PZERO``, ``np.NINF``,
``np.alltrue``, ``np.product``, ``np.round_``, ``np.float_``, ``np.compat`` ... (removed in
2.0) and the financial functions ``np.mirr``, ``np.npv`` ... (removed in 1.20, then served as
stubs that raise until 2.0). Several are read while ``import mxnet`` runs, so that import
fails unless the names exist first. :func:`add_numpy_aliases` puts each missing name back as
what it was (the builtin type, the renamed function or constant; the financial functions as
stubs that raise, as numpy 1.20-1.26 had them), and nothing else: on numpy < 1.24 it does
nothing. It must run before MXNet loads *wherever MXNet is imported first*, and user code
writes ``import mxnet as mx`` before ``import mixup``; so the package installs a start-up hook
into its environment: the one line of ``mixup_compat.pth``, which Python runs at start-up and
which puts a finder on ``sys.meta_path`` (:func:`install_import_hook`). The finder does nothing
until something imports ``mxnet``; then, just before MXNet loads, it adds the aliases and
removes itself. Start-up cost: importing this file (no numpy, no MXNet).

``pip install`` of the package puts ``mixup_compat.pth`` into site-packages; an editable
install (``pip install -e``, what ``scripts/ensure-env.sh`` makes) cannot carry it, so
``python -m mixup_compat --install-hook`` copies it there (ensure-env.sh does).

**MKLDNN's convolution + BatchNorm fusion** (:func:`disable_mkldnn_conv_bn_fusion`) changes an
inference-only bind's outputs by up to 5e-3 in probability against the same parameters bound
for training; MXNet reads the switch once, when it loads, so ``import mixup`` sets it before
importing MXNet.
"""
import os
import sys

# ---------------------------------------------------------------------- numpy's removed names

PTH_FILE = "mixup_compat.pth"

# name -> what numpy < 1.24 had under that name; a string names a numpy attribute that still
# exists under its new name, a tuple (name, negate) a float constant
_BUILTIN_ALIASES = {  # removed in numpy 1.24 (deprecated in 1.20): they were the builtins
    "bool": bool, "int": int, "float": float, "complex": complex, "object": object,
    "str": str, "long": int, "unicode": str,
}
_RENAMED = {  # removed in numpy 2.0 (NEP 52): the same object under its remaining name
    "float_": "float64", "complex_": "complex128", "cfloat": "complex128",
    "singlecomplex": "complex64", "longfloat": "longdouble", "clongfloat": "clongdouble",
    "longcomplex": "clongdouble", "string_": "bytes_", "unicode_": "str_",
    "round_": "round", "product": "prod", "cumproduct": "cumprod", "sometrue": "any",
    "alltrue": "all", "Inf": "inf", "Infinity": "inf", "infty": "inf", "PINF": "inf",
    "NaN": "nan", "NAN": "nan", "trapz": "trapezoid",
}
_CONSTANTS = {"NINF": float("-inf"), "PZERO": 0.0, "NZERO": -0.0}  # removed in numpy 2.0
# removed in numpy 1.20 (NEP 32); numpy 1.20-1.26 served stubs that raise when called
_FINANCIAL = ("fv", "ipmt", "irr", "mirr", "nper", "npv", "pmt", "ppmt", "pv", "rate")


def _financial_stub(name):
    def removed(*args, **kwargs):
        raise RuntimeError(
            "In accordance with NEP 32, the function %s was removed from NumPy version 1.20. "
            "A replacement for this function is available in the numpy_financial library"
            % name)
    removed.__name__ = name
    return removed


def _msort(a):
    """numpy.msort (removed in 2.0): a copy sorted along the first axis."""
    import numpy
    return numpy.sort(a, axis=0)


def _in1d(ar1, ar2, assume_unique=False, invert=False, **kwargs):
    """numpy.in1d (removed in 2.4): isin on the flattened first array."""
    import numpy
    return numpy.isin(ar1, ar2, assume_unique=assume_unique, invert=invert, **kwargs).ravel()


def _needs_aliases(numpy):
    major, minor = (int(part) for part in numpy.__version__.split(".")[:2])
    return (major, minor) >= (1, 24)


def numpy_aliases(numpy):
    """{name: value} of the names MXNet 1.9.1 reads that this numpy lacks (empty below 1.24)."""
    if not _needs_aliases(numpy):
        return {}
    # not hasattr: numpy 1.24-1.26 warn on some lookups; and numpy 2's dir() lists a fixed set
    # of names, so a name set afterwards is found in vars() only
    have = set(dir(numpy)) | set(vars(numpy))
    wanted = dict(_BUILTIN_ALIASES)
    wanted.update({old: getattr(numpy, new) for old, new in _RENAMED.items()
                   if new in have})
    wanted.update(_CONSTANTS)
    wanted.update({name: _financial_stub(name) for name in _FINANCIAL})
    wanted.update(msort=_msort, in1d=_in1d, row_stack=getattr(numpy, "vstack"))
    if "compat" not in have:  # numpy.compat (removed in 2.0): MXNet reads compat.basestring
        import types
        wanted["compat"] = types.SimpleNamespace(basestring=str, unicode=str, long=int,
                                                 bytes=bytes)
    return {name: value for name, value in wanted.items() if name not in have}


def add_numpy_aliases():
    """Put back the numpy names MXNet 1.9.1 reads (see the module's docstring). Does nothing on
    numpy < 1.24 or when they are there already. Returns the names added."""
    import numpy
    added = numpy_aliases(numpy)
    for name, value in added.items():
        setattr(numpy, name, value)
    return sorted(added)


class MXNetImportHook:
    """A ``sys.meta_path`` finder that adds numpy's aliases just before ``mxnet`` is imported
    (whoever imports it first), then steps aside: it finds nothing itself."""

    def find_spec(self, name, path=None, target=None):
        if name == "mxnet":
            uninstall_import_hook()
            add_numpy_aliases()
        return None


def install_import_hook():
    """Called by the start-up line of mixup_compat.pth. Idempotent; a no-op once MXNet is
    loaded (the aliases are then too late to matter, or already there)."""
    if "mxnet" in sys.modules or any(isinstance(f, MXNetImportHook) for f in sys.meta_path):
        return
    sys.meta_path.insert(0, MXNetImportHook())


def uninstall_import_hook():
    sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, MXNetImportHook)]


def install_startup_hook(site_packages=None):
    """Copy mixup_compat.pth into ``site_packages`` (default: this environment's), so every
    interpreter of the environment installs the import hook. Returns the path written."""
    import shutil
    import sysconfig
    target_dir = site_packages or sysconfig.get_paths()["purelib"]
    source = os.path.join(os.path.dirname(os.path.abspath(__file__)), PTH_FILE)
    target = os.path.join(target_dir, PTH_FILE)
    if os.path.abspath(source) != os.path.abspath(target):
        tmp = target + ".part-%d" % os.getpid()
        shutil.copyfile(source, tmp)
        os.replace(tmp, target)
    return target


# ---------------------------------------------------------------------- which MXNet build

# mxnet-cu112 1.9.1 (like every CUDA build of 1.9.1) carries GPU kernels (SASS) for compute
# capabilities 5.0-8.6 and no PTX: it runs on Maxwell through Ampere, and on Ada (8.9, which
# runs 8.x code), but every kernel launch fails on Hopper (H100/H200, 9.0) and newer.
SUPPORTED_CUDA_MAJORS = (5, 6, 7, 8)


def unsupported_gpus(capabilities):
    """The (index, 'X.Y') pairs of `capabilities` that mxnet-cu112 1.9.1 has no kernels for."""
    return [(index, capability) for index, capability in capabilities
            if int(str(capability).split(".")[0]) not in SUPPORTED_CUDA_MAJORS]


def query_gpus():
    """[(index, name, 'X.Y')] from nvidia-smi, or [] if there is none or it cannot tell (the
    compute_cap query needs driver R510 or newer)."""
    import subprocess
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=index,name,compute_cap",
                              "--format=csv,noheader"], capture_output=True, text=True,
                             timeout=30)
    except (OSError, subprocess.SubprocessError):
        return []
    rows = []
    for line in out.stdout.strip().splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) == 3 and parts[0].isdigit():
            rows.append((int(parts[0]), parts[1], parts[2]))
    return rows


def listed_gpus():
    """How many GPUs `nvidia-smi -L` lists (0 without nvidia-smi)."""
    import subprocess
    try:
        out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return 0
    return sum(1 for line in out.stdout.splitlines() if line.startswith("GPU"))


def choose_mxnet_build(gpus=None, listed=None):
    """('cpu' | 'gpu', reason): the MXNet 1.9.1 build for this machine. The CUDA build when
    at least one GPU can run it (or when nvidia-smi lists GPUs but cannot tell their compute
    capability); the CPU build when there is no GPU or every GPU is newer than the build."""
    gpus = query_gpus() if gpus is None else gpus
    listed = listed_gpus() if listed is None else listed
    if not gpus:
        if listed:
            return "gpu", ("nvidia-smi lists %d GPU(s) but not their compute capability: "
                           "installing mxnet-cu112 (kernels for 5.0-8.6)" % listed)
        return "cpu", "no GPU found (nvidia-smi)"
    bad = unsupported_gpus([(index, cap) for index, _, cap in gpus])
    if len(bad) < len(gpus):
        return "gpu", "GPU(s) of compute capability %s" % ", ".join(
            sorted({cap for _, _, cap in gpus}))
    return "cpu", ("every GPU here (%s) is newer than mxnet-cu112 1.9.1, the last MXNet "
                   "release, can run (kernels for compute capability 5.0-8.6, not 9.0 and "
                   "newer): installing the CPU build; MIXUP_MXNET=gpu forces the CUDA build"
                   % ", ".join("%s %s" % (name, cap) for _, name, cap in gpus))


def mxnet_install_command(version=None):
    """The one pip command line that installs MXNet 1.9.1 (CPU build) with a numpy it runs on,
    for a Python ``version`` ((major, minor); default this one), as constraints.txt pins them:
    3.11 numpy < 1.24; 3.12 numpy < 2 (MXNet's own bound; distutils from setuptools); 3.13
    MXNet without its requirements (it declares numpy < 2, which has no 3.13 build) beside
    numpy < 2.3, then the requirements it has besides numpy."""
    major, minor = version or sys.version_info[:2]
    if (major, minor) < (3, 12):
        return 'pip install "mxnet==1.9.1" "numpy<1.24"'
    if (major, minor) == (3, 12):
        return 'pip install "mxnet==1.9.1" "numpy>=1.24,<2" setuptools'
    return ('pip install --no-deps "mxnet==1.9.1" && pip install "numpy>=2,<2.3" '
            '"requests>=2.20,<3" "graphviz>=0.8.1,<0.9" setuptools')


def missing_mxnet_message(version=None):
    """One line saying MXNet is missing and exactly what to install (``import mixup`` without
    MXNet: the wheel does not bring it, since the build, CPU or CUDA, is the user's choice)."""
    return ("mxnet-mixup needs Apache MXNet 1.9.1, which is not installed in this Python: "
            "install it with  %s  (for NVIDIA GPUs of compute capability 5.0-8.6: "
            "mxnet-cu112==1.9.1 in place of mxnet==1.9.1; see docs/INSTALL.md)"
            % mxnet_install_command(version))


def require_mxnet():
    """Check that MXNet can be imported, or fail with :func:`missing_mxnet_message`: as
    ``ModuleNotFoundError`` for code that imports mixup; as that one line and exit status 1
    for the installed commands (mixup-train, ...), which print no traceback for a missing
    package."""
    import importlib.machinery
    # found on sys.path, not imported (numpy's aliases must be in place before MXNet loads),
    # and without the start-up hook's finder, which would import numpy
    if "mxnet" in sys.modules or importlib.machinery.PathFinder.find_spec("mxnet"):
        return
    message = missing_mxnet_message()
    if sys.argv and os.path.basename(sys.argv[0] or "").startswith("mixup-"):
        raise SystemExit("error: " + message)
    raise ModuleNotFoundError(message, name="mxnet")


# ---------------------------------------------------------------------- Python CustomOps

def _custom_op_registry():
    import mxnet.operator
    return mxnet.operator._registry


class CustomOpBackwardDependencies:
    """Keeps MixUp from breaking, and from being broken by, other Python CustomOps' backward.

    MXNet 1.9.1 (python/mxnet/operator.py) keeps ONE process-global set,
    ``_registry.result_deps``: every time any Custom node is created (its CustomOpProp parsed:
    ``mx.sym.Custom``, ``mx.nd.Custom``, ``load_json``), its declare_backward_dependency result
    replaces the set. At backward time *every* Python CustomOp's callback asks, for each of the
    tensors handed to it, "is index i in result_deps?"; if so it reads the tensor's storage
    type from the handle. Tensors an op did not declare are handed over as empty handles, whose
    storage type is -1, hence ``CustomOp.backward raised Exception: unknown storage type: -1``
    as soon as the last-created node of *another* op type declared an index that this op did
    not. Our op used to declare only out_grad[0] (index 0); a softmax loss written as a
    CustomOp with need_top_grad=False declares indices 1, 2, 3: created after MixUp, it made
    MixUp's backward read the empty handles 1, 2, 3; created before it, MixUp's set {0} made
    the loss's backward read its own empty out_grad (index 0).

    Both directions are closed here without touching MXNet's code:
    * MixUp declares every out_grad, input and output as a dependency, so none of the tensors
      its backward is handed is empty, whatever set the global holds (the cost: the input of
      the node stays alive until the backward);
    * when MXNet has recorded MixUp's own set, the first callback into a MixUp prop puts back
      the set that the other ops' last declaration left (MixUp nodes do not need it: they
      declare everything), so creating a MixUp node never changes how another op's backward
      reads its tensors.
    """

    def __init__(self, indices):
        self.indices = frozenset(indices)  # the op's own declaration
        self._others = set()  # the global as the other op types' last declaration left it

    def declared_by_mixup(self):
        """Called just before MXNet overwrites the global with MixUp's declaration."""
        current = set(_custom_op_registry().result_deps)
        if current != self.indices:  # else a MixUp node's set not yet given back
            self._others = current

    def give_back(self):
        registry = _custom_op_registry()
        if registry.result_deps == self.indices:
            registry.result_deps = set(self._others)


def callback_viewer():
    """``view(array, writeable=False)``: a numpy array over the memory of a CPU NDArray that
    MXNet 1.9.1 handed to a CustomOp's ``forward`` or ``backward``, without a copy and without
    a wait for MXNet's engine. Imports MXNet.

    Safe only inside that callback, and only while the callback has pushed no operator that
    reads or writes the array: MXNet hands the callbacks NDArrays made for the call (custom.cc,
    ``AllocateNDArrayCopy``: the node's memory under an engine variable of their own, or a
    default-layout copy of MKLDNN-laid-out data), and its engine holds the node's own variables
    until the callback has returned, so nothing else touches that memory meanwhile. A view must
    not outlive the callback. The public ways cost more than the work on a small array:
    ``asnumpy`` copies, and ``_sync_copyfrom`` (or ``[:] =``) first waits for an empty
    operation to pass through the engine's threads (``NDArray::WaitToWrite``). Inputs are
    viewed read-only unless ``writeable``. ``shape`` and ``dtype``, when given, are the array's
    as MXNet's shape and type inference fixed them (else they are read from the array)."""
    import ctypes
    import math

    import numpy
    from mxnet.base import _LIB, check_call

    dtypes = {}  # MXNet's dtype (a numpy type) -> numpy.dtype

    def view(array, writeable=False, shape=None, dtype=None):
        shape = array.shape if shape is None else shape
        dtype = array.dtype if dtype is None else dtype
        if dtype not in dtypes:
            dtypes[dtype] = numpy.dtype(dtype)
        dtype = dtypes[dtype]
        size = math.prod(shape) * dtype.itemsize  # > 0: the op refuses empty batches
        pointer = ctypes.c_void_p()
        check_call(_LIB.MXNDArrayGetData(array.handle, ctypes.byref(pointer)))
        values = numpy.frombuffer((ctypes.c_char * size).from_address(pointer.value),
                                  dtype=dtype).reshape(shape)
        values.flags.writeable = writeable
        return values
    return view


class ConciseRefusals:
    """Stands in for the ``traceback`` module inside ``mxnet.operator``.

    MXNet 1.9.1 prints the full Python traceback of any exception raised in a CustomOp
    callback (``print('Error in %s.infer_shape: %s' % (name, traceback.format_exc()))``) and
    then raises its own MXNetError. For the op's refusals of bad input (a ValueError whose
    message starts with the op's prefix, "MixUp:") the traceback says nothing the message does
    not, so only the message is printed; every other exception, of any op, keeps its full
    traceback."""

    def __init__(self, real, prefix, types=(ValueError,)):
        self._real, self._prefix, self._types = real, prefix, types

    def __getattr__(self, name):
        return getattr(self._real, name)

    def format_exc(self, *args, **kwargs):
        error = sys.exc_info()[1]
        if isinstance(error, self._types) and str(error).startswith(self._prefix):
            return "%s: %s" % (type(error).__name__, error)
        return self._real.format_exc(*args, **kwargs)


def install_concise_refusals(prefix, types=(ValueError,)):
    """Make MXNet print only the message of an exception of one of ``types`` (ValueError: the
    op's refusals) starting with `prefix` raised in a CustomOp callback (see ConciseRefusals).
    Idempotent; other exceptions keep their tracebacks. Imports MXNet."""
    import traceback
    import mxnet.operator
    current = getattr(mxnet.operator, "traceback", None)
    if isinstance(current, ConciseRefusals):
        current._prefix, current._types = prefix, types
        return
    mxnet.operator.traceback = ConciseRefusals(traceback, prefix, types)


# ---------------------------------------------------------------------- MXNet's load-time switches

def disable_mkldnn_conv_bn_fusion():
    """MXNet 1.9.1's MKLDNN fusion of convolution + BatchNorm (with the ReLU and sum of
    pre-activation residual units) changes an inference-only bind's outputs by up to 5e-3 in
    probability against the same parameters bound for training (tests/test_symbols.py shows
    it). MXNet reads the switch once, when it loads: effective only before ``import mxnet``.
    A value the user set is kept."""
    os.environ.setdefault("MXNET_DISABLE_MKLDNN_FUSE_CONV_BN", "1")


# ---------------------------------------------------------------------- Ctrl-C from the start

# A command's Ctrl-C is held until a safe point (mixup_app/interrupts.py): in MXNet 1.9.1 a
# KeyboardInterrupt raised wherever the main thread is can abort the process or hang its engine.
# Before the command has loaded its modules (importing mixup imports MXNet: seconds) nothing
# of the package exists yet to hold it, and Python would print a traceback of the import. So
# the wrappers (train.sh, test.sh, tools.sh) start each command through run_command, which holds
# the signal from the first instant; the command's own StopRequest takes over what was held.
_early = {"signals": 0}
EARLY_SIGNAL_VARIABLE = "MIXUP_HELD_SIGNAL"  # carries a held signal across a re-exec


def wait_for_pending_work_at_exit():
    """Wait for MXNet's queued work before MXNet shuts its engine down at the interpreter's
    exit. MXNet 1.9.1 hangs at exit when a Python CustomOp call is still queued (a script that
    ends right after ``mx.nd.Custom(...)`` without reading the result: measured, every time);
    waiting first avoids it. Registered after MXNet is imported, so it runs before MXNet's own
    exit handler (``atexit`` runs last-registered first). An error the queued work raises is
    not raised again here: the script has finished, and MXNet reports it itself."""
    import atexit
    import mxnet as mx

    def wait():
        try:
            mx.nd.waitall()
        except Exception:  # noqa: BLE001  the work's own error, already the script's business
            pass

    if not getattr(wait_for_pending_work_at_exit, "registered", False):
        atexit.register(wait)
        wait_for_pending_work_at_exit.registered = True


def say(message):
    """Write bytes to the command's stderr from a signal handler: unbuffered, to the file that
    sys.stderr writes to (the commands send MXNet's own fd 2 through a filter thread,
    mixup_app.console.quiet_native_repeats, which would deliver it out of order)."""
    try:
        fd = sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):
        fd = 2
    try:
        sys.stderr.flush()  # what the command printed comes first
    except (OSError, ValueError, RuntimeError):  # closed, or interrupted inside a write
        pass
    os.write(fd, message)


def _hold_early(signum, frame):
    _early["signals"] += 1
    if _early["signals"] > 1:
        say(b"\nstopped at once\n")
        os._exit(130)
    say(b"\nstopping as soon as the command can (Ctrl-C again to stop at once) ...\n")


def holding_early():
    """Whether run_command's handler holds SIGINT now (the command has not taken it over)."""
    import signal
    return signal.getsignal(signal.SIGINT) is _hold_early


def interrupted_early():
    """Whether Ctrl-C (or SIGTERM) arrived while run_command held it for the command."""
    return _early["signals"] > 0


def run_command(module, argv):
    """Run ``python -m module argv`` with SIGINT and SIGTERM held from the start (see above).
    Returns the exit code: the command's, or 130 after one line if it was interrupted before
    it took the signal over."""
    import runpy
    import signal
    # a signal held before the command re-executed itself (mixup_app.threads) is still held
    if os.environ.pop(EARLY_SIGNAL_VARIABLE, None):
        _early["signals"] = 1
    # the wrappers ignore SIGINT while the interpreter starts (MIXUP_HOLD_INT): taken over here
    wrapped = os.environ.pop("MIXUP_HOLD_INT", None) == "1"
    for signum in (signal.SIGINT, signal.SIGTERM):
        if signal.getsignal(signum) is not signal.SIG_IGN or (wrapped and
                                                             signum == signal.SIGINT):
            signal.signal(signum, _hold_early)
    sys.argv = [module] + list(argv)
    try:
        runpy.run_module(module, run_name="__main__", alter_sys=True)
    except KeyboardInterrupt:
        print("interrupted: nothing was written (run the same command again)", file=sys.stderr)
        return 130
    except SystemExit as done:
        code = done.code
        if code == 130:
            # An interrupted command has saved what it keeps (atomically, synced). MXNet's own
            # shutdown (MXNotifyShutdown at exit waits for every engine operation) can hang
            # after a signal was delivered mid-run (seen with one in about four Ctrl-C's while
            # training): leave without it.
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(130)
        _finished()
        if code is None:
            return 0
        if not isinstance(code, int):
            print(code, file=sys.stderr)
            return 1
        return code
    _finished()
    return 130 if interrupted_early() else 0


def _finished():
    """The command is done (its files written): from here Ctrl-C has nothing to stop, and is
    ignored. Otherwise it would kill the process: Python's finalization puts a Python-level
    SIGINT handler back to the default before MXNet's shutdown, which can take seconds on a busy
    machine (seen: a command that had written its output died of SIGINT, exit -2)."""
    import signal
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _main(argv):
    if argv[:1] == ["--run"] and len(argv) >= 2:
        import mixup_compat  # this file as the module the package imports, not as __main__
        return mixup_compat.run_command(argv[1], argv[2:])
    if argv == ["--install-hook"]:
        print(install_startup_hook())
        return 0
    if argv == ["--mxnet-build"]:  # for scripts/ensure-env.sh: the build, then the reason
        print("%s\n%s" % choose_mxnet_build())
        return 0
    print("usage: python -m mixup_compat --install-hook | --mxnet-build | --run MODULE [ARG ...]",
          file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
