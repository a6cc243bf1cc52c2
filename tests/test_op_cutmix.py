"""CutMix (mode='cutmix') and the per-batch switch (mode='switch'): boxes observed in the
output against the documented semantics, labels against the exact kept area, the gradient
against finite differences, and the switch frequency against a binomial test."""
import mxnet as mx
import numpy as np
import pytest
from scipy import stats

from conftest import mixup_nd

N, C, H, W = 6, 3, 7, 9


def coded_batch():
    """x[n, c, h, w] = 1000 n + 100 c + (h W + w) / (H W): a pixel value says where it came
    from (sample, channel, position)."""
    n, c, h, w = np.meshgrid(np.arange(N), np.arange(C), np.arange(H), np.arange(W),
                             indexing="ij")
    return 1000.0 * n + 100.0 * c + (h * W + w) / (H * W)


def observe(out):
    """Per output row: the (H, W) map of source samples, checked channel- and
    position-faithful."""
    source = np.floor(out / 1000.0 + 1e-9).astype(int)
    rest = out - 1000.0 * source
    n, c, h, w = np.meshgrid(np.arange(N), np.arange(C), np.arange(H), np.arange(W),
                             indexing="ij")
    np.testing.assert_allclose(rest, 100.0 * c + (h * W + w) / (H * W), atol=1e-6,
                               err_msg="pixels are copied, not moved or blended")
    assert np.all(source == source[:, :1]), "the box is shared by all channels"
    return source[:, 0]


def box_of(source_map, i):
    """The rectangle (top, bottom, left, right) of row i's pasted pixels, checked to be one."""
    inside = source_map != i
    if not inside.any():
        return (0, 0, 0, 0)
    rows, cols = np.flatnonzero(inside.any(axis=1)), np.flatnonzero(inside.any(axis=0))
    top, bottom, left, right = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    rectangle = np.zeros_like(inside)
    rectangle[top:bottom, left:right] = True
    np.testing.assert_array_equal(inside, rectangle, err_msg="the pasted pixels form a box")
    assert len(np.unique(source_map[inside])) == 1, "one partner per row"
    return (top, bottom, left, right)


@pytest.mark.parametrize("lam_mode", ["batch", "sample"])
@pytest.mark.parametrize("mix_rate", [1.0, 0.5])
def test_boxes_are_rectangles_of_one_partner_and_labels_weigh_the_exact_kept_area(lam_mode,
                                                                                  mix_rate):
    x = coded_batch()
    labels = np.arange(N)  # distinct classes: label row i shows both weights
    distinct_boxes = set()
    for seed in range(15):
        out, soft = mixup_nd(x, labels, seed, num_classes=N, mode="cutmix",
                             cutmix_alpha=1.0, mix_rate=mix_rate, lam_mode=lam_mode)
        source = observe(out)
        boxes = [box_of(source[i], i) for i in range(N)]
        pasted = [i for i in range(N) if boxes[i] != (0, 0, 0, 0)]
        assert len(pasted) <= int(np.floor(mix_rate * N + 0.5))
        partners = {int(source[i][source[i] != i][0]) for i in pasted}
        if lam_mode == "batch":
            assert len({boxes[i] for i in pasted}) <= 1, "one box for the batch"
        distinct_boxes.update(boxes[i] for i in pasted)
        for i in range(N):
            top, bottom, left, right = boxes[i]
            area = (bottom - top) * (right - left) / (H * W)
            expect = np.zeros(N)
            expect[i] = 1 - area
            if area:
                expect[int(source[i][top, left])] += area
            np.testing.assert_allclose(soft[i], expect, rtol=1e-6, atol=1e-7)
        assert len(partners) == len(pasted), "each sample is the partner of at most one"
    if lam_mode == "sample":
        assert len(distinct_boxes) > 15, "per-sample boxes differ"


@pytest.mark.parametrize("cutmix_alpha", [0.5, 2.0])
def test_kept_area_follows_the_documented_box_draw(cutmix_alpha):
    """The label weight of the partner (the clipped box's area fraction) against a reference
    drawn with scipy from the documented recipe: lam ~ Beta(a, a), sides int(H sqrt(1 - lam))
    and int(W sqrt(1 - lam)), centre uniform over the pixels, clipped (two-sample KS)."""
    height, width = 12, 20
    x = np.zeros((2, 1, height, width))
    observed = [mixup_nd(x, np.array([0, 1]), 7000 + seed, num_classes=2, mode="cutmix",
                         cutmix_alpha=cutmix_alpha)[1][0, 1] for seed in range(400)]
    ref_rng = np.random.default_rng(1)

    def reference(a):
        lam = stats.beta(a, a).rvs(size=20000, random_state=ref_rng)

        def clipped_side(size):
            side = (size * np.sqrt(1 - lam)).astype(int)
            start = ref_rng.integers(0, size, len(lam)) - side // 2
            return np.clip(start + side, 0, size) - np.clip(start, 0, size)
        return clipped_side(height) * clipped_side(width) / (height * width)

    assert stats.ks_2samp(observed, reference(cutmix_alpha)).pvalue > 1e-3
    assert stats.ks_2samp(observed, reference(cutmix_alpha * 4)).pvalue < 1e-3  # it can tell


def test_float16_cutmix_is_the_same_selection(rng):
    x = rng.normal(size=(N, C, H, W))
    out64, soft64 = mixup_nd(x, np.arange(N) % 3, 4, mode="cutmix", lam_mode="sample")
    out16, soft16 = mixup_nd(x.astype(np.float16), np.arange(N) % 3, 4, mode="cutmix",
                             lam_mode="sample")
    assert out16.dtype == np.float16
    np.testing.assert_array_equal(out16, out64.astype(np.float16))
    np.testing.assert_array_equal(soft16, soft64)


def bind(shape, seed, dtype=np.float64, **params):
    mx.random.seed(seed)
    sym = mx.sym.Custom(mx.sym.var("data", dtype=dtype), mx.sym.var("label"), op_type="MixUp",
                        num_classes=3, mode="cutmix", **params)
    return sym.simple_bind(mx.cpu(), data=shape, label=(shape[0],), type_dict={"data": dtype},
                           grad_req={"data": "write", "label": "null"})


@pytest.mark.parametrize("lam_mode", ["batch", "sample"])
def test_gradient_matches_central_finite_differences(rng, lam_mode):
    shape = (4, 2, 4, 5)
    x, head = rng.normal(size=shape), rng.normal(size=shape)
    y = mx.nd.array(np.arange(4) % 3)

    def loss(values):
        exe = bind(shape, 9, lam_mode=lam_mode, mix_rate=0.75)
        exe.forward(is_train=True, data=mx.nd.array(values, dtype="float64"), label=y)
        return float((exe.outputs[0].asnumpy() * head).sum())

    exe = bind(shape, 9, lam_mode=lam_mode, mix_rate=0.75)
    exe.forward(is_train=True, data=mx.nd.array(x, dtype="float64"), label=y)
    exe.backward([mx.nd.array(head, dtype="float64"), mx.nd.zeros((4, 3))])
    analytic = exe.grad_dict["data"].asnumpy()
    numeric = np.zeros_like(x)
    for idx in np.ndindex(*shape):
        step = np.zeros_like(x)
        step[idx] = 1e-4
        numeric[idx] = (loss(x + step) - loss(x - step)) / 2e-4
    np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-8)
    assert not np.allclose(analytic, head), "pixels moved between samples"


def test_non_finite_pixels_reach_only_the_outputs_copying_them(rng):
    shape = (N, C, H, W)
    x = coded_batch()
    for seed in range(10):
        out, _ = mixup_nd(x, np.arange(N) % 3, seed, mode="cutmix", lam_mode="sample",
                          mix_rate=0.5)
        source = observe(out)  # where each output pixel comes from
        sick = seed % N
        bad = x.copy()
        bad[sick] = np.nan  # the whole sample
        got, _ = mixup_nd(bad, np.arange(N) % 3, seed, mode="cutmix", lam_mode="sample",
                          mix_rate=0.5)
        np.testing.assert_array_equal(np.isnan(got), np.broadcast_to(
            (source == sick)[:, None], shape))
        exe = bind(shape, seed, lam_mode="sample", mix_rate=0.5)
        head = rng.normal(size=shape)
        head[sick] = np.inf
        exe.forward(is_train=True, data=mx.nd.array(x, dtype="float64"),
                    label=mx.nd.array(np.arange(N) % 3))
        exe.backward([mx.nd.array(head, dtype="float64"), mx.nd.zeros((N, 3))])
        grad = exe.grad_dict["data"].asnumpy()
        # input pixel (n, h, w) receives the gradient of the output pixel it was copied to
        receives = np.zeros((N, H, W), bool)
        for i in range(N):
            receives[source[i], np.arange(H)[:, None], np.arange(W)[None, :]] |= (i == sick)
        np.testing.assert_array_equal(~np.isfinite(grad), np.broadcast_to(
            receives[:, None], shape))


@pytest.mark.slow
@pytest.mark.parametrize("switch_prob", [0.0, 0.3, 1.0])
def test_switch_makes_cutmix_batches_with_probability_switch_prob(switch_prob):
    x = coded_batch()
    cutmix_batches, batches = 0, 300
    for seed in range(batches):
        out, _ = mixup_nd(x, np.arange(N) % 3, 50000 + seed, mode="switch",
                          switch_prob=switch_prob, alpha=1.0)
        pure_copies = np.all(np.isin(np.round(out, 6), np.round(x, 6)))
        cutmix_batches += int(pure_copies)  # mixup blends (lam in (0, 1)), CutMix copies
    if switch_prob in (0.0, 1.0):
        assert cutmix_batches == batches * switch_prob
    else:
        assert stats.binomtest(cutmix_batches, batches, switch_prob).pvalue > 1e-3
