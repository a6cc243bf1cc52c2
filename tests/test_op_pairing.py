"""pairing='other_class': partners of another class wherever the batch allows it, the fewest
same-class pairs otherwise, with the documented distribution; through the op (class indices and
probability labels), the trainer option, and bit-exact resume."""
import itertools
from collections import Counter

import mxnet as mx
import numpy as np
import pytest
from scipy import stats

import mixup
from conftest import assert_resume_is_bit_exact, draw_classes, observed_matrix
from mixup import draws
from mixup_app import runs, train


@pytest.mark.parametrize("weights", [[1] * 10, [1, 1], [5, 1, 1], [20, 1], [1], [3, 3, 1, 1]])
def test_partners_are_a_derangement_of_other_classes_or_the_fewest_same_class(rng, weights):
    for batch in (2, 3, 5, 8, 17, 64, 128):
        classes = draw_classes(rng, batch, weights)
        partner = draws.other_class_partners(rng, classes)
        assert sorted(partner) == list(range(batch))
        assert np.all(partner != np.arange(batch))
        same = int(np.sum(classes[partner] == classes))
        largest = np.bincount(classes).max()
        # no permutation can do better: the largest class has only batch - largest others
        assert same == max(0, 2 * largest - batch), (classes, partner)


def _documented_distribution(classes):
    """P(partner of i is j), by enumerating the documented process: every order of the
    classes, every order within each class, every allowed shift (an independent
    implementation of the docstring of draws.other_class_partners)."""
    batch = len(classes)
    present = sorted(set(classes))
    members = {c: [i for i in range(batch) if classes[i] == c] for c in present}
    largest = max(len(m) for m in members.values())
    shifts = ([batch // 2] if 2 * largest > batch
              else list(range(largest, batch - largest + 1)))
    counts, total = Counter(), 0
    for class_order in itertools.permutations(present):
        for inner in itertools.product(*(itertools.permutations(members[c])
                                         for c in class_order)):
            layout = [i for block in inner for i in block]
            for shift in shifts:
                for k, i in enumerate(layout):
                    counts[(i, layout[(k + shift) % batch])] += 1
                total += 1
    return {pair: n / total for pair, n in counts.items()}


@pytest.mark.parametrize("classes", [[0, 0, 1, 1, 2], [0, 0, 0, 1], [0, 1, 1, 2, 2, 2]])
def test_partners_follow_the_documented_distribution(classes):
    expected = _documented_distribution(classes)
    rng = np.random.default_rng(7)
    draws_count = 6000
    observed = Counter()
    for _ in range(draws_count):
        partner = draws.other_class_partners(rng, np.array(classes))
        observed.update((i, int(j)) for i, j in enumerate(partner))
    assert set(observed) <= set(expected)
    pairs = sorted(expected)
    # per sample i, the partner's distribution (chi-square over the possible partners)
    for i in range(len(classes)):
        mine = [p for p in pairs if p[0] == i]
        f_obs = [observed[p] for p in mine]
        f_exp = [expected[p] * draws_count for p in mine]
        if len(mine) > 1:
            assert stats.chisquare(f_obs, f_exp).pvalue > 1e-4, (i, f_obs, f_exp)


def _partners_seen(matrix):
    """The partner of each mixed row of an observed mixing matrix (None if not mixed)."""
    off = matrix - np.diag(np.diag(matrix))
    return [int(np.argmax(row)) if row.max() > 0 else None for row in off]


@pytest.mark.parametrize("as_probabilities", [False, True])
def test_the_op_mixes_only_acrossdraw_classes(rng, as_probabilities):
    batch, k = 24, 4
    for seed in range(8):
        classes = draw_classes(rng, batch, [2, 1, 1, 1])
        label = classes.astype(np.float64)
        if as_probabilities:  # soft rows whose largest entry is the class
            soft = np.full((batch, k), 0.1 / (k - 1))
            soft[np.arange(batch), classes] = 0.9
            label = soft
        mx.random.seed(seed)
        eye = np.eye(batch)
        with mx.autograd.train_mode():
            out = mx.nd.Custom(mx.nd.array(eye, dtype="float64"), mx.nd.array(label),
                               num_classes=k, alpha=1.0, mix_rate=1.0, lam_mode="sample",
                               pairing="other_class", op_type="MixUp")
        matrix, label_out = out[0].asnumpy(), out[1].asnumpy()
        partners = _partners_seen(matrix)
        assert None not in partners  # mix_rate 1: every row mixed (lambda never exactly 1)
        same = sum(classes[p] == classes[i] for i, p in enumerate(partners))
        assert same == max(0, 2 * np.bincount(classes).max() - batch), (classes, partners)
        if not as_probabilities:
            # each mixed label row holds exactly its own class and its partner's
            for i, p in enumerate(partners):
                if p is not None:
                    assert set(np.flatnonzero(label_out[i] > 1e-9)) == {classes[i], classes[p]}


def test_random_pairing_is_unchanged_and_the_default(rng):
    """The same draws as before pairing existed: one random cycle (the observed matrix under
    the default and under pairing='random' agree, and it is a single cycle)."""
    a = observed_matrix(12, seed=3, alpha=1.0, mix_rate=1.0)
    b = observed_matrix(12, seed=3, alpha=1.0, mix_rate=1.0, pairing="random")
    np.testing.assert_array_equal(a, b)
    partners = _partners_seen(a)
    seen, i = set(), 0
    while i not in seen:
        seen.add(i)
        i = partners[i]
    assert len(seen) == 12


def test_pairing_is_validated_everywhere():
    with pytest.raises(ValueError, match=r"pairing must be one of "
                                         r"\('random', 'other_class', 'same_class', 'flip'\)"):
        mixup.parse(num_classes=3, pairing="nearest")
    with pytest.raises(ValueError, match="pairing"):
        mixup.symbol(mx.sym.var("d"), mx.sym.var("l"), num_classes=3, pairing="x")
    from mixup.gluon import MixUp
    block = MixUp(num_classes=3, pairing="other_class")
    assert block.mixup_params.pairing == "other_class"
    with pytest.raises(SystemExit) as refused:  # argparse's choices, in one line
        train.main(["--pairing", "nearest"])
    assert refused.value.code == 2


@pytest.mark.slow
def test_other_class_runs_resume_bit_exactly(tmp_path, data_dir):
    whole = assert_resume_is_bit_exact(tmp_path, data_dir, [
        "--alpha", "1", "--mix-rate", "1", "--seed", "3", "--pairing", "other_class"])
    assert runs.load_config(whole).mixing.pairing == "other_class"
