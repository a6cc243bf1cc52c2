"""Devices: parsing --gpus, and checking that the installed MXNet can run on those GPUs
(which architectures the CUDA build of MXNet 1.9.1 runs on is a fact of mixup_compat's)."""
import sys

import mxnet as mx

from mixup_compat import query_gpus as query_capabilities
from mixup_compat import unsupported_gpus as unsupported


class DeviceError(Exception):
    pass


def parse_gpus(text):
    """'0,1' -> [0, 1]; '' -> []."""
    text = (text or "").strip()
    if not text:
        return []
    try:
        ids = [int(part) for part in text.split(",")]
    except ValueError:
        raise DeviceError("--gpus must be comma-separated GPU indices like 0,1, got %r"
                          % text) from None
    if any(i < 0 for i in ids) or len(set(ids)) != len(ids):
        raise DeviceError("--gpus must list distinct non-negative indices, got %r" % text)
    return ids


def contexts(gpus):
    """MXNet contexts for --gpus, after checking CUDA support and the GPUs' architecture."""
    if not gpus:
        return [mx.cpu()]
    available = mx.context.num_gpus()
    if not mx.runtime.Features().is_enabled("CUDA"):
        raise DeviceError("--gpus %s asked for GPUs but the installed MXNet is the CPU build. "
                          "Set it up with MIXUP_MXNET=gpu (package mxnet-cu112, CUDA 11.2)."
                          % ",".join(map(str, gpus)))
    missing = [g for g in gpus if g >= available]
    if missing:
        raise DeviceError("--gpus: GPU %s not present (this machine has %d)" % (missing,
                                                                                  available))
    rows = {index: (name, cap) for index, name, cap in query_capabilities()}
    unknown = [g for g in gpus if g not in rows]
    if unknown:  # nvidia-smi before driver R510 cannot report compute_cap
        print("warning: could not read the compute capability of GPU %s (nvidia-smi "
              "--query-gpu=compute_cap); mxnet-cu112 runs only on 5.0-8.6 (not H100/H200)"
              % ",".join(map(str, unknown)), file=sys.stderr)
    bad = unsupported([(g, rows[g][1]) for g in gpus if g in rows])
    if bad:
        raise DeviceError(
            "GPU %s (%s, compute capability %s) cannot run the installed mxnet-cu112 1.9.1, "
            "which has kernels for compute capability 5.0-8.6 only (V100, A100, RTX 30xx/40xx), "
            "not for Hopper (H100/H200) or newer. MXNet was retired in 2023; no newer build "
            "exists. Use an older GPU or the CPU (omit --gpus)."
            % (bad[0][0], rows[bad[0][0]][0], bad[0][1]))
    return [mx.gpu(g) for g in gpus]
