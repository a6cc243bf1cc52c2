"""Another checkout's MixUp op beside this one, for before/after timings (benchmarks only).

    git worktree add --detach /tmp/mixup-before COMMIT
    load_op("/tmp/mixup-before")   # registers its op as op_type 'MixUpBefore'
"""
import importlib
import importlib.util
import os
import sys

BEFORE_OP_TYPE = "MixUpBefore"


def load_op(checkout, op_type=BEFORE_OP_TYPE):
    """Import the ``mixup`` package of ``checkout`` (a directory holding ``mixup/``) as the
    package ``mixup_before``, its operator registered under ``op_type`` instead of 'MixUp'.
    Returns the package. Its parameters are renamed before its op module registers itself."""
    name = "mixup_before"
    if name in sys.modules:
        return sys.modules[name]
    package_dir = os.path.join(os.path.abspath(checkout), "mixup")
    init = os.path.join(package_dir, "__init__.py")
    if not os.path.isfile(init):
        raise ValueError("--before: %s holds no mixup/__init__.py" % checkout)
    spec = importlib.util.spec_from_file_location(name, init,
                                                  submodule_search_locations=[package_dir])
    package = importlib.util.module_from_spec(spec)
    sys.modules[name] = package
    importlib.import_module(name + ".params").OP_TYPE = op_type
    spec.loader.exec_module(package)
    return package


# configurations whose draws and results the two ops must share, element for element
SAME_RESULTS = [
    ((256, 2), "float32", {}),
    ((16, 30), "float64", {"lam_mode": "sample", "label_smoothing": 0.1}),
    ((16, 30), "float16", {"mix_rate": 0.5, "pairing": "other_class"}),
    ((8, 3, 8, 8), "float32", {"mode": "switch", "lam_mode": "sample"}),
    ((8, 3, 8, 8), "float16", {"mode": "cutmix"}),
    ((64, 3, 32, 32), "float32", {"mode": "cutmix"}),
    ((128, 3, 32, 32), "float32", {}),
]


def same_results(before_op_type=BEFORE_OP_TYPE, steps=3, configurations=SAME_RESULTS):
    """[(configuration, identical)]: whether MixUp and the op registered as before_op_type,
    bound after the same mx.random.seed, give identical outputs and gradients (every element
    equal, NaN where NaN) for ``steps`` training steps of the same inputs."""
    import mxnet as mx
    import numpy as np
    out = []
    for shape, dtype, params in configurations:
        rng = np.random.default_rng(0)
        batches = [(rng.normal(size=shape), rng.integers(0, 10, size=shape[0]),
                    rng.normal(size=shape)) for _ in range(steps)]
        results = []
        for op_type in ("MixUp", before_op_type):
            mx.random.seed(7)
            node = mx.sym.Custom(mx.sym.var("data", dtype=dtype), mx.sym.var("label"),
                                 op_type=op_type, num_classes=10, alpha=0.4, **params)
            exe = node.simple_bind(mx.cpu(), data=shape, label=(shape[0],),
                                   type_dict={"data": dtype},
                                   grad_req={"data": "write", "label": "null"})
            seen = []
            for x, y, head in batches:
                exe.forward(is_train=True, data=mx.nd.array(x, dtype=dtype),
                            label=mx.nd.array(y))
                exe.backward([mx.nd.array(head, dtype=dtype), mx.nd.zeros((shape[0], 10))])
                seen += [o.asnumpy() for o in exe.outputs] + [exe.grad_dict["data"].asnumpy()]
            results.append(seen)
        identical = all(np.array_equal(a, b, equal_nan=True) for a, b in zip(*results))
        out.append(("%s %s %s" % ("x".join(map(str, shape)), dtype, params or ""), identical))
    return out
