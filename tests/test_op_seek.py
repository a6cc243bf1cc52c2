"""Draws are a pure function of (the op's seed, the training step): a re-bound graph continues
an interrupted run exactly after ``mx.random.seed`` + ``mixup.seek``. Observed through the
mixing matrices (identity data in, M out)."""
import mxnet as mx
import numpy as np
import pytest

import mixup

N = 6


@pytest.fixture(autouse=True)
def back_to_step_zero():
    yield
    mixup.seek(0)  # seek is process-wide: later tests start at step 0 again


def bind(seed, **params):
    sym = mx.sym.Custom(mx.sym.var("data"), mx.sym.var("label"), op_type="MixUp",
                        num_classes=2, alpha=1.0, mix_rate=0.7, **params)
    mx.random.seed(seed)
    return sym.simple_bind(mx.cpu(), data=(N, N), label=(N,), grad_req="null")


def step(exe, train=True):
    exe.forward(is_train=train, data=mx.nd.array(np.eye(N)), label=mx.nd.zeros(N))
    return exe.outputs[0].asnumpy()


@pytest.mark.parametrize("lam_mode", ["batch", "sample"])
def test_rebind_and_seek_continue_the_uninterrupted_draws(lam_mode):
    uninterrupted = bind(11, lam_mode=lam_mode)
    matrices = [step(uninterrupted) for _ in range(6)]
    assert not any(np.array_equal(matrices[0], m) for m in matrices[1:]), "every step draws anew"
    interrupted = bind(11, lam_mode=lam_mode)
    for k in range(3):
        np.testing.assert_array_equal(step(interrupted), matrices[k])
    del interrupted
    mixup.seek(3)
    resumed = bind(11, lam_mode=lam_mode)  # a new graph created after seek starts at step 3
    for k in range(3, 6):
        np.testing.assert_array_equal(step(resumed), matrices[k])


def test_seek_moves_the_ops_alive_and_paused_or_inference_steps_count_right():
    reference = bind(5)
    matrices = [step(reference) for _ in range(5)]
    exe = bind(5)
    step(exe)
    with mixup.paused():  # a training step that mixes nothing still counts as a step
        np.testing.assert_array_equal(step(exe), np.eye(N))
    np.testing.assert_array_equal(step(exe, train=False), np.eye(N))  # inference: not a step
    np.testing.assert_array_equal(step(exe), matrices[2])
    mixup.seek(1)  # an op alive now goes back to step 1
    np.testing.assert_array_equal(step(exe), matrices[1])
    np.testing.assert_array_equal(step(exe), matrices[2])


def test_other_seeds_draw_otherwise_and_bad_steps_are_refused():
    assert not np.array_equal(step(bind(1)), step(bind(2)))
    for bad in (-1, 1.5, "3", None, True, float("nan")):
        with pytest.raises(ValueError, match="step must be a whole number >= 0, got"):
            mixup.seek(bad)
