"""mixup_app/devices.py: --gpus parsing and the GPU architecture check."""
import mxnet as mx
import pytest

from mixup_app import devices


def test_gpu_architecture_check():
    assert devices.unsupported([(0, "9.0"), (1, "8.6"), (2, "7.0"), (3, "3.7"),
                                (4, "8.9")]) == [(0, "9.0"), (3, "3.7")]
    assert devices.parse_gpus("0, 2") == [0, 2]
    with pytest.raises(devices.DeviceError, match="distinct"):
        devices.parse_gpus("1,1")
    if not mx.runtime.Features().is_enabled("CUDA"):
        with pytest.raises(devices.DeviceError, match="MIXUP_MXNET=gpu"):
            devices.contexts([0])


def test_gpu_detection_on_a_simulated_cuda_machine(monkeypatch, capsys):
    class CudaBuild:
        def is_enabled(self, name):
            return name == "CUDA"

    monkeypatch.setattr(devices.mx.runtime, "Features", CudaBuild)
    monkeypatch.setattr(devices.mx.context, "num_gpus", lambda: 3)
    monkeypatch.setattr(devices, "query_capabilities",
                        lambda: [(0, "NVIDIA H100 80GB HBM3", "9.0"),
                                 (1, "NVIDIA A100-SXM4-40GB", "8.0")])
    with pytest.raises(devices.DeviceError) as caught:
        devices.contexts([1, 0])
    assert "GPU 0 (NVIDIA H100 80GB HBM3, compute capability 9.0)" in str(caught.value)
    assert "5.0-8.6" in str(caught.value)
    assert devices.contexts([1]) == [mx.gpu(1)]
    with pytest.raises(devices.DeviceError, match="GPU \\[3\\] not present"):
        devices.contexts([3])
    assert devices.contexts([2]) == [mx.gpu(2)]  # no capability known: warned, not refused
    assert "could not read the compute capability of GPU 2" in capsys.readouterr().err
