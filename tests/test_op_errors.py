"""Every bad input through mx.nd.Custom / mx.sym.Custom is refused with a message naming the
parameter and the value, and the process survives. The cases run one after the other in a
separate interpreter, so that a crash (MXNet 1.9.1 dies on exceptions in
CustomOpProp.__init__) fails tests, not the run. (mixup.parse, mixup.symbol and the Gluon
block raise in Python: test_op_params.py.)"""
import pytest

from conftest import REPORT, assert_refused, last_json_line, refusal_outcomes, run_python

PRELUDE = """
import json, mxnet as mx, numpy as np, mixup
def nd(data=np.zeros((4, 3)), label=np.arange(4) % 2, **kw):
    kw.setdefault("num_classes", 2)
    with mx.autograd.train_mode():
        out = mx.nd.Custom(mx.nd.array(data), mx.nd.array(label), op_type="MixUp", **kw)
    out[0].asnumpy(); out[1].asnumpy()
def bound(**kw):
    kw.setdefault("num_classes", 2)
    s = mx.sym.Custom(mx.sym.var("data"), mx.sym.var("label"), op_type="MixUp", **kw)
    s.simple_bind(mx.cpu(), data=(4, 3), label=(4,))
"""

# case id -> (call, words the message must contain)
CASES = {
    "alpha_zero": ("nd(alpha=0)", ["alpha", "0"]),
    "alpha_negative": ("bound(alpha=-1)", ["alpha", "-1"]),
    "alpha_not_a_number": ("nd(alpha='abc')", ["alpha", "abc"]),
    "alpha_nan": ("nd(alpha=float('nan'))", ["alpha", "nan"]),
    "mix_rate_above_one": ("nd(mix_rate=1.5)", ["mix_rate", "1.5"]),
    "mix_rate_negative": ("bound(mix_rate=-0.1)", ["mix_rate", "-0.1"]),
    "num_classes_missing": ("nd(num_classes=None)", ["num_classes", "required"]),
    "num_classes_one": ("bound(num_classes=1)", ["num_classes", "1"]),
    "num_classes_fractional": ("nd(num_classes=2.5)", ["num_classes", "2.5"]),
    "lam_mode_unknown": ("nd(lam_mode='pixel')", ["lam_mode", "pixel"]),
    "unknown_parameter": ("nd(alhpa=0.3)", ["alhpa"]),
    "batch_size_zero": ("nd(batch_size=0)", ["batch_size", "0"]),
    "label_batch_differs": ("nd(label=np.arange(5) % 2)", ["label batch 5", "data batch 4"]),
    "label_columns_differ": ("nd(label=np.full((4, 3), 1 / 3))", ["3 columns", "num_classes=2"]),
    "class_index_too_large": ("nd(label=[0, 1, 2, 0])", ["label[2]", "2.0", "num_classes=2"]),
    "class_index_negative": ("nd(label=[0, -1, 1, 0])", ["label[1]", "-1.0"]),
    "class_index_fractional": ("nd(label=[0, 1, 0.5, 0])", ["label[2]", "0.5"]),
    "class_index_nan": ("nd(label=[0, 1, 0, float('nan')])", ["label[3]", "nan"]),
    "probability_row_bad": ("nd(label=[[1, 0], [0.5, 0.7], [0, 1], [1, 0]])",
                            ["label row 1", "probability"]),
    "integer_data": ("mx.nd.Custom(mx.nd.zeros((4, 3), dtype='int32'), mx.nd.zeros(4), "
                     "op_type='MixUp', num_classes=2)[0].asnumpy()", ["float16", "int32"]),
    "mode_unknown": ("bound(mode='mixcut')", ["mode", "mixcut"]),
    "cutmix_alpha_zero": ("nd(cutmix_alpha=0)", ["cutmix_alpha", "0"]),
    "label_smoothing_one": ("bound(label_smoothing=1)", ["label_smoothing", "1"]),
    "place_outside": ("nd(place=2, num_places=2)", ["place", "num_places=2"]),
    "cutmix_needs_4d_data": ("nd(mode='cutmix')", ["mode=cutmix", "(N, C, H, W)", "(4, 3)"]),
    "switch_needs_4d_data": ("bound(mode='switch')", ["mode=switch", "(4, 3)"]),
    "label_mode_unknown": ("nd(label_mode='soft')", ["label_mode", "soft"]),
    "num_mix_one": ("bound(num_mix=1)", ["num_mix", ">= 2", "1"]),
    "num_mix_with_cutmix": ("bound(num_mix=3, mode='cutmix')", ["num_mix=3", "'cutmix'"]),
    "num_mix_above_batch": ("nd(num_mix=5)", ["num_mix=5", "4 distinct others",
                                              "batch of 4"]),
    "num_mix_above_bound_batch": ("bound(num_mix=6)", ["num_mix=6", "batch of 4"]),
}


@pytest.fixture(scope="module")
def outcomes():
    return refusal_outcomes(PRELUDE, CASES)


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_is_refused_with_a_message_naming_it(outcomes, case):
    assert_refused(outcomes[case], CASES[case][1])


@pytest.mark.slow
def test_a_good_call_passes_the_same_harness():
    proc = run_python(PRELUDE + REPORT
                      + "report(lambda: nd(alpha=0.2, mix_rate=0.7, batch_size=128))")
    assert proc.returncode == 0 and last_json_line(proc.stdout)["caught"] is None
