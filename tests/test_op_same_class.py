"""pairing='same_class': the paper's ablation, partners of the sample's own class only: one
uniformly random cycle through each class's samples, a sample alone of its class unmixed; the
distribution against an independent enumeration, through the op (class indices and
probability labels, mixup and CutMix), every entry point, and bit-exact resume."""
import itertools
from collections import Counter

import mxnet as mx
import numpy as np
import pytest
from scipy import stats

import mixup
from conftest import assert_resume_is_bit_exact, draw_classes
from mixup import draws
from mixup.gluon import MixUp
from mixup_app import runs, train


@pytest.mark.parametrize("weights", [[1] * 10, [1, 1], [5, 1, 1], [20, 1], [1], [3, 3, 1, 1]])
def test_every_sample_with_a_classmate_gets_one_and_the_lonely_are_their_own(rng, weights):
    for batch in (2, 3, 5, 8, 17, 64, 128):
        classes = draw_classes(rng, batch, weights)
        partner = draws.same_class_partners(rng, classes)
        assert sorted(partner) == list(range(batch)), "a permutation"
        np.testing.assert_array_equal(classes[partner], classes)
        counts = np.bincount(classes)
        lonely = counts[classes] == 1
        # the most same-class pairs any pairing has: every sample that has a classmate
        np.testing.assert_array_equal(partner == np.arange(batch), lonely)


def _cycles_of(partner, members):
    """The cycle through `members` as a tuple starting at the smallest, or None if the
    partners of `members` do not form one cycle through them."""
    start = min(members)
    cycle, i = [start], partner[start]
    while i != start:
        cycle.append(int(i))
        i = partner[i]
    return tuple(cycle) if sorted(cycle) == sorted(members) else None


@pytest.mark.parametrize("classes", [[0, 1, 0, 0, 1, 2, 0], [2, 2, 2, 2, 2], [1, 0, 1, 0, 0]])
def test_each_class_is_one_uniformly_random_cycle(classes):
    """Against an independent enumeration: every cyclic order of each class's samples is
    equally likely, the classes independent (chi-square over the joint cycles)."""
    classes = np.array(classes)
    groups = [tuple(np.flatnonzero(classes == c)) for c in np.unique(classes)
              if np.sum(classes == c) > 1]
    # the (m - 1)! cycles through m samples: the first fixed, the others in every order
    every = list(itertools.product(*[[(g[0],) + rest for rest in itertools.permutations(g[1:])]
                                     for g in groups]))
    rng = np.random.default_rng(11)
    draws_count = 300 * len(every)
    seen = Counter()
    for _ in range(draws_count):
        partner = draws.same_class_partners(rng, classes)
        seen[tuple(_cycles_of(partner, g) for g in groups)] += 1
    assert set(seen) == set(every), "only single cycles through each class, all of them"
    assert stats.chisquare([seen[c] for c in every]).pvalue > 1e-4


def test_partners_are_uniform_over_the_classmates(rng):
    classes = np.array([0] * 6 + [1] * 3 + [2])
    counts = np.zeros((10, 10))
    for _ in range(6000):
        partner = draws.same_class_partners(rng, classes)
        counts[np.arange(10), partner] += 1
    for i in range(9):
        mates = np.flatnonzero((classes == classes[i]) & (np.arange(10) != i))
        assert counts[i].sum() == counts[i, mates].sum()
        assert stats.chisquare(counts[i, mates]).pvalue > 1e-4, (i, counts[i])
    assert counts[9, 9] == 6000


def _observed(x, label, seed, **params):
    mx.random.seed(seed)
    with mx.autograd.train_mode():
        out = mx.nd.Custom(mx.nd.array(x, dtype=x.dtype), mx.nd.array(label),
                           op_type="MixUp", pairing="same_class", **params)
    return out[0].asnumpy(), out[1].asnumpy()


@pytest.mark.parametrize("as_probabilities", [False, True])
def test_the_op_mixes_only_within_classes_and_leaves_the_lonely_alone(rng, as_probabilities):
    batch, k = 24, 5
    for seed in range(6):
        classes = draw_classes(rng, batch, [4, 2, 2, 1, 0.3])
        label = classes.astype(np.float64)
        if as_probabilities:  # soft rows whose largest entry is the class: argmax decides
            label = np.full((batch, k), 0.1 / (k - 1))
            label[np.arange(batch), classes] = 0.9
        matrix, label_out = _observed(np.eye(batch), label, seed, num_classes=k, alpha=1.0,
                                      mix_rate=1.0, lam_mode="sample")
        lonely = np.bincount(classes, minlength=k)[classes] == 1
        np.testing.assert_array_equal(matrix[lonely], np.eye(batch)[lonely])
        off = matrix - np.diag(np.diag(matrix))
        mixed = off.max(axis=1) > 0
        np.testing.assert_array_equal(mixed, ~lonely)  # mix_rate 1: every row with a mate
        partners = np.argmax(off, axis=1)
        np.testing.assert_array_equal(classes[partners[mixed]], classes[mixed])
        assert np.all((off > 0).sum(axis=1)[mixed] == 1)
        if not as_probabilities:  # mixing within a class leaves one-hot labels one-hot
            np.testing.assert_allclose(label_out, np.eye(k)[classes], atol=1e-6)


def test_mix_rate_draws_the_mixed_rows_as_before_less_the_lonely(rng):
    """The mixed subset is drawn as under the other pairings (round(mix_rate * N) rows); the
    lonely among them stay unmixed."""
    classes = np.array([0, 0, 0, 1, 1, 2, 3, 0, 1, 0])
    seen = []
    for seed in range(30):
        matrix, _ = _observed(np.eye(10), classes, seed, num_classes=4, alpha=1.0,
                              mix_rate=0.6)
        mixed = np.diag(matrix) != 1
        assert not mixed[5] and not mixed[6]
        seen.append(mixed.sum())
    assert set(seen) <= {4, 5, 6} and 6 in seen and min(seen) < 6


def test_cutmix_pastes_only_classmates_and_gradients_are_the_transpose(rng):
    classes = np.array([0, 1, 0, 1, 2, 0])
    x = rng.normal(size=(6, 2, 5, 5))
    data, label = _observed(x, classes, 4, num_classes=3, mode="cutmix", mix_rate=1.0,
                            lam_mode="sample")
    np.testing.assert_array_equal(data[4], x[4])  # class 2 is alone
    np.testing.assert_allclose(label, np.eye(3)[classes], atol=1e-6)
    for i in range(6):
        changed = data[i] != x[i]
        if changed.any():
            sources = [j for j in range(6) if np.array_equal(data[i][changed], x[j][changed])]
            assert sources and classes[sources[0]] == classes[i]


def test_same_class_in_every_entry_point():
    assert mixup.parse(num_classes=3, pairing="same_class").pairing == "same_class"
    node = mixup.symbol(mx.sym.var("d"), mx.sym.var("l"), num_classes=3, pairing="same_class")
    assert node[0].list_arguments() == ["d", "l"]
    assert MixUp(num_classes=3, pairing="same_class").mixup_params.pairing == "same_class"
    assert train.build_parser().parse_args(["--pairing", "same_class"]).pairing == "same_class"
    with pytest.raises(ValueError, match=r"pairing must be one of \('random', 'other_class', "
                                         r"'same_class', 'flip'\)"):
        mixup.parse(num_classes=3, pairing="same")


def test_seek_continues_same_class_draws_bit_exactly():
    label = mx.nd.array([0, 1, 0, 1, 1, 2, 0, 0])

    def run(seed, steps, start=0):
        mixup.seek(start)
        sym = mx.sym.Custom(mx.sym.var("data"), mx.sym.var("label"), op_type="MixUp",
                            num_classes=3, alpha=1.0, mix_rate=0.7, pairing="same_class",
                            lam_mode="sample")
        mx.random.seed(seed)
        exe = sym.simple_bind(mx.cpu(), data=(8, 8), label=(8,), grad_req="null")
        out = []
        for _ in range(steps):
            exe.forward(is_train=True, data=mx.nd.array(np.eye(8)), label=label)
            out.append(exe.outputs[0].asnumpy())
        return out

    whole = run(5, 5)
    try:
        resumed = run(5, 2, start=3)
    finally:
        mixup.seek(0)
    for k in (3, 4):
        np.testing.assert_array_equal(resumed[k - 3], whole[k])


def test_same_class_runs_with_own_labels_resume_bit_exactly(tmp_path, data_dir):
    whole = assert_resume_is_bit_exact(tmp_path, data_dir, [
        "--alpha", "1", "--mix-rate", "1", "--seed", "3", "--pairing", "same_class",
        "--label-mode", "own"])
    mixing = runs.load_config(whole).mixing
    assert (mixing.pairing, mixing.label_mode) == ("same_class", "own")
