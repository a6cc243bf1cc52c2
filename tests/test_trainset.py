"""mixup_app/data/trainset.py and --augment none: the training set a run reads."""
import mxnet as mx
import numpy as np
import pytest
from scipy import stats

from mixup_app.data import records, sources, trainset
from mixup_app.data import iterators
from mixup_app.data import preparation


def _read_all(rec, idx):
    reader = mx.recordio.MXIndexedRecordIO(idx, rec, "r")
    out = {}
    for key in reader.keys:
        header, payload = mx.recordio.unpack(reader.read_idx(key))
        out[int(header.id)] = (int(header.label), payload)
    reader.close()
    return out


def test_label_noise_is_a_pure_function_of_seed_and_image_at_the_documented_rate():
    labels = np.arange(20000) % 10
    noisy = trainset.noisy_labels(labels, 0.4, seed=7, num_classes=10)
    np.testing.assert_array_equal(noisy, trainset.noisy_labels(labels, 0.4, 7, 10))
    assert not np.array_equal(noisy, trainset.noisy_labels(labels, 0.4, 8, 10))
    # replaced with probability 0.4 by any of 10 classes: changed with probability 0.36
    changed = int((noisy != labels).sum())
    assert stats.binomtest(changed, len(labels), 0.36).pvalue > 1e-3
    # the new labels of changed images are uniform over the other classes
    new = noisy[noisy != labels] - labels[noisy != labels]
    counts = np.bincount(new % 10, minlength=10)[1:]
    assert stats.chisquare(counts).pvalue > 1e-3
    # nested: what is corrupted at 0.2 is corrupted (identically) at 0.4
    lighter = trainset.noisy_labels(labels, 0.2, 7, 10)
    assert np.array_equal(noisy[lighter != labels], lighter[lighter != labels])


def test_subsets_are_seeded_sorted_and_distinct():
    labels = np.arange(1000) % 10
    for draw in trainset.SUBSET_DRAWS:
        a = trainset.subset_indices(labels, 100, 3, 10, draw)
        assert np.array_equal(a, trainset.subset_indices(labels, 100, 3, 10, draw))
        assert len(set(a)) == 100 and np.all(np.diff(a) > 0)
        assert not np.array_equal(a, trainset.subset_indices(labels, 100, 4, 10, draw))
        with pytest.raises(ValueError, match="--train-subset"):
            trainset.subset_indices(labels, 1001, 3, 10, draw)
        with pytest.raises(ValueError, match="--train-subset"):
            trainset.subset_indices(labels, 0, 3, 10, draw)


def test_the_uniform_draw_is_the_old_draw_exactly():
    # the only draw before --subset-draw: runs made then resume on the same images
    labels = np.random.default_rng(0).integers(0, 10, 5000)
    for seed, size in ((0, 1), (1, 2000), (7, 4999), (2 ** 31 - 1, 300)):
        old = np.sort(np.random.default_rng([seed, 1]).choice(5000, size, replace=False))
        np.testing.assert_array_equal(
            trainset.subset_indices(labels, size, seed, 10, "uniform"), old)
        np.testing.assert_array_equal(trainset.uniform_subset(5000, size, seed), old)


@pytest.mark.parametrize("size, k", [(100, 10), (2000, 10), (2005, 10), (7, 10), (999, 3),
                                     (1, 2), (350, 100)])
def test_a_balanced_subset_has_n_over_k_per_class_and_the_remainder_spread(size, k):
    rng = np.random.default_rng(size + k)
    per_class = max(40, size // k + 5)
    labels = rng.permutation(np.arange(per_class * k) % k)   # as many per class, shuffled
    chosen = trainset.subset_indices(labels, size, 5, k)
    counts = np.bincount(labels[chosen], minlength=k)
    assert len(chosen) == size and len(set(chosen)) == size
    assert sorted(set(counts)) == sorted({size // k, size // k + (size % k > 0)})
    assert (counts == size // k + 1).sum() == size % k      # one more for N % K classes
    np.testing.assert_array_equal(counts, trainset.class_shares(size, k, 5))
    assert trainset.class_counts(labels[chosen], k) == tuple(counts)
    # which classes get the remainder is seeded: another seed, other classes (for some seed)
    if size % k:
        assert any(not np.array_equal(trainset.class_shares(size, k, s), counts)
                   for s in range(6, 16))


def test_a_balanced_subset_draws_each_class_uniformly_without_replacement():
    labels = np.arange(200) % 4                              # 50 images per class
    hits = np.zeros(200)
    for seed in range(400):
        chosen = trainset.subset_indices(labels, 40, seed, 4)
        assert len(set(chosen)) == 40
        hits[chosen] += 1
    # each image is in a subset with probability 10/50: the counts are binomial(400, 0.2)
    assert stats.chisquare(hits.reshape(4, 50).sum(axis=0)).pvalue > 1e-3
    assert 40 < hits.min() and hits.max() < 130


def test_a_balanced_subset_is_a_pure_function_of_seed_and_labels():
    labels = np.random.default_rng(1).permutation(np.arange(3000) % 10)
    first = trainset.subset_indices(labels, 500, 9, 10)
    # other draws in between (other seeds, sizes, numpy's global state) change nothing
    trainset.subset_indices(labels, 700, 2, 10)
    np.random.seed(123)
    np.random.random(10)
    np.testing.assert_array_equal(trainset.subset_indices(labels.copy(), 500, 9, 10), first)
    assert not np.array_equal(trainset.subset_indices(labels, 500, 10, 10), first)
    # nested: a larger subset of the same seed holds the smaller one
    larger = trainset.subset_indices(labels, 1203, 9, 10)
    assert set(first) <= set(larger)
    # a class's images depend on that class's record ids only: relabelling other classes'
    # images keeps its choice
    other = labels.copy()
    other[other == 3] = 4
    other[np.flatnonzero(labels == 4)[:300]] = 3             # class 3: other ids, as many
    again = trainset.subset_indices(other, 500, 9, 10)
    for c in (0, 1, 2, 5, 6, 7, 8, 9):
        np.testing.assert_array_equal(first[labels[first] == c], again[other[again] == c])


def test_a_class_too_small_for_its_share_is_refused_naming_it():
    labels = np.r_[np.zeros(100, int), np.ones(100, int), np.full(7, 2)]
    chosen = trainset.subset_indices(labels, 21, 1, 3)      # 7 each: class 2 just suffices
    assert trainset.class_counts(labels[chosen], 3) == (7, 7, 7)
    with pytest.raises(ValueError) as refused:
        trainset.subset_indices(labels, 30, 1, 3)
    message = str(refused.value)
    assert len(message.splitlines()) == 1
    assert "--train-subset 30" in message and "class 2" in message and "has 7" in message
    assert "--subset-draw uniform" in message
    # the uniform draw takes what it finds
    assert len(trainset.subset_indices(labels, 30, 1, 3, "uniform")) == 30
    with pytest.raises(ValueError, match="--subset-draw.*'even'"):
        trainset.subset_indices(labels, 30, 1, 3, "even")
    with pytest.raises(records.DataError, match="0 .. 2, found 5"):
        trainset.subset_indices(np.r_[labels, 5], 9, 1, 3)


def test_derived_set_keeps_the_images_and_changes_only_the_chosen_labels(tmp_path):
    data_dir = str(tmp_path)
    preparation.prepare("synthetic", data_dir, log=lambda *_: None, synthetic_counts=(200, 20))
    original = _read_all(*records.paths(data_dir, "synthetic", "train"))
    made = trainset.training_set(data_dir, "synthetic", 10, seed=5, subset=80,
                                 label_noise=0.5, log=lambda *_: None)
    derived = _read_all(made.rec, made.idx)
    labels = np.array([original[i][0] for i in range(200)])
    chosen = trainset.subset_indices(labels, 80, 5, 10)      # balanced, on the clean labels
    assert sorted(derived) == list(chosen) and made.count == 80
    assert made.class_counts == (8,) * 10 and "8 per class" in made.source
    expect = trainset.noisy_labels(labels, 0.5, 5, 10)
    for i in chosen:
        assert derived[i][1] == original[i][1]           # the same image bytes
        assert derived[i][0] == expect[i]                # the label the noise gives
    assert made.labels_changed == int((expect[chosen] != labels[chosen]).sum())
    again = trainset.training_set(data_dir, "synthetic", 10, seed=5, subset=80,
                                  label_noise=0.5, log=lambda *_: None)
    assert again == made  # reused, not rebuilt
    plain = trainset.training_set(data_dir, "synthetic", 10, seed=5)
    assert plain.count == 200 and plain.labels_changed == 0


def test_augment_none_feeds_the_stored_pixels(tmp_path):
    data_dir = str(tmp_path)
    preparation.prepare("synthetic", data_dir, log=lambda *_: None, synthetic_counts=(40, 8))
    images, labels = sources.make_synthetic(40, 8)["train"]
    it = iterators.record_iter(data_dir, "synthetic", "train", 8, (3, 32, 32), train=True,
                          seed=1, augment=False, normalize=False)
    seen = []
    for batch in it:
        seen += list(batch.data[0].asnumpy().transpose(0, 2, 3, 1).astype(np.uint8))
    stored = {img.tobytes() for img in images}
    assert len(seen) == 40 and {img.tobytes() for img in seen} == stored
    # and the standard augmentation does change them (padding + crop)
    it = iterators.record_iter(data_dir, "synthetic", "train", 8, (3, 32, 32), train=True,
                          seed=1, augment=True, normalize=False)
    augmented = [img for batch in it
                 for img in batch.data[0].asnumpy().transpose(0, 2, 3, 1).astype(np.uint8)]
    assert sum(img.tobytes() not in stored for img in augmented) > 20


def test_a_derived_set_follows_its_source_when_the_data_are_prepared_again(tmp_path):
    data_dir = str(tmp_path)
    quiet = dict(log=lambda *_: None)
    preparation.prepare("synthetic", data_dir, synthetic_counts=(200, 20), **quiet)
    first = trainset.training_set(data_dir, "synthetic", 10, seed=5, subset=80, **quiet)
    labels = sources.make_synthetic(200, 20)["train"][1]
    assert sorted(_read_all(first.rec, first.idx)) == list(
        trainset.subset_indices(labels, 80, 5, 10))
    # the same options over a set of another size: a new cut, not the stale one
    preparation.prepare("synthetic", data_dir, synthetic_counts=(300, 20), **quiet)
    second = trainset.training_set(data_dir, "synthetic", 10, seed=5, subset=80, **quiet)
    labels = sources.make_synthetic(300, 20)["train"][1]
    assert sorted(_read_all(second.rec, second.idx)) == list(
        trainset.subset_indices(labels, 80, 5, 10))
    # a damaged summary is derived again rather than trusted or fatal
    with open(second.rec[:-len(".rec")] + ".json", "w") as f:
        f.write("{not json")
    again = trainset.training_set(data_dir, "synthetic", 10, seed=5, subset=80, **quiet)
    assert again == second


def test_balanced_and_uniform_cuts_are_kept_apart(tmp_path):
    data_dir = str(tmp_path)
    said = []
    preparation.prepare("synthetic", data_dir, synthetic_counts=(200, 20), log=lambda *_: None)
    labels = sources.make_synthetic(200, 20)["train"][1]
    uniform = trainset.training_set(data_dir, "synthetic", 10, seed=5, subset=85,
                                    draw="uniform", log=said.append)
    balanced = trainset.training_set(data_dir, "synthetic", 10, seed=5, subset=85,
                                     log=said.append)
    assert len(said) == 2 and uniform.rec != balanced.rec     # each derived, in its own file
    assert sorted(_read_all(uniform.rec, uniform.idx)) == list(
        np.sort(np.random.default_rng([5, 1]).choice(200, 85, replace=False)))
    assert sorted(_read_all(balanced.rec, balanced.idx)) == list(
        trainset.subset_indices(labels, 85, 5, 10))
    assert sorted(balanced.class_counts) == [8] * 5 + [9] * 5
    assert "balanced subset of 85" in balanced.source and "uniform" in uniform.source
    assert uniform.class_counts == trainset.class_counts(
        labels[sorted(_read_all(uniform.rec, uniform.idx))], 10)
    # a uniform cut stored before --subset-draw existed (its summary says no draw) is never
    # taken for anything but uniform, and is derived again once to count its classes
    import json
    summary_path = uniform.rec[:-len(".rec")] + ".json"
    old = json.load(open(summary_path))
    del old["draw"], old["class_counts"]
    json.dump(old, open(summary_path, "w"))
    again = trainset.training_set(data_dir, "synthetic", 10, seed=5, subset=85,
                                  draw="uniform", log=said.append)
    assert len(said) == 3 and again == uniform
    assert json.load(open(summary_path))["draw"] == "uniform"
    # and each is reused from then on
    assert trainset.training_set(data_dir, "synthetic", 10, seed=5, subset=85,
                                 log=said.append) == balanced
    assert len(said) == 3
