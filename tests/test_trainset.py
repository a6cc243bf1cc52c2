"""mixup/trainset.py and --augment none: the training set a run reads."""
import mxnet as mx
import numpy as np
import pytest
from scipy import stats

from mixup import data, records, sources, trainset


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
    a = trainset.subset_indices(1000, 100, seed=3)
    assert np.array_equal(a, trainset.subset_indices(1000, 100, seed=3))
    assert len(set(a)) == 100 and np.all(np.diff(a) > 0)
    assert not np.array_equal(a, trainset.subset_indices(1000, 100, seed=4))
    with pytest.raises(ValueError, match="--train-subset"):
        trainset.subset_indices(1000, 1001, seed=3)


def test_derived_set_keeps_the_images_and_changes_only_the_chosen_labels(tmp_path):
    data_dir = str(tmp_path)
    data.prepare("synthetic", data_dir, log=lambda *_: None, synthetic_counts=(200, 20))
    original = _read_all(*records.paths(data_dir, "synthetic", "train"))
    made = trainset.training_set(data_dir, "synthetic", 10, seed=5, subset=80,
                                 label_noise=0.5, log=lambda *_: None)
    derived = _read_all(made.rec, made.idx)
    chosen = trainset.subset_indices(200, 80, seed=5)
    assert sorted(derived) == list(chosen) and made.count == 80
    labels = np.array([original[i][0] for i in range(200)])
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
    data.prepare("synthetic", data_dir, log=lambda *_: None, synthetic_counts=(40, 8))
    images, labels = sources.make_synthetic(40, 8)["train"]
    it = data.record_iter(data_dir, "synthetic", "train", 8, (3, 32, 32), train=True,
                          seed=1, augment=False, normalize=False)
    seen = []
    for batch in it:
        seen += list(batch.data[0].asnumpy().transpose(0, 2, 3, 1).astype(np.uint8))
    stored = {img.tobytes() for img in images}
    assert len(seen) == 40 and {img.tobytes() for img in seen} == stored
    # and the standard augmentation does change them (padding + crop)
    it = data.record_iter(data_dir, "synthetic", "train", 8, (3, 32, 32), train=True,
                          seed=1, augment=True, normalize=False)
    augmented = [img for batch in it
                 for img in batch.data[0].asnumpy().transpose(0, 2, 3, 1).astype(np.uint8)]
    assert sum(img.tobytes() not in stored for img in augmented) > 20


def test_a_derived_set_follows_its_source_when_the_data_are_prepared_again(tmp_path):
    data_dir = str(tmp_path)
    quiet = dict(log=lambda *_: None)
    data.prepare("synthetic", data_dir, synthetic_counts=(200, 20), **quiet)
    first = trainset.training_set(data_dir, "synthetic", 10, seed=5, subset=80, **quiet)
    assert sorted(_read_all(first.rec, first.idx)) == list(trainset.subset_indices(200, 80, 5))
    # the same options over a set of another size: a new cut, not the stale one
    data.prepare("synthetic", data_dir, synthetic_counts=(300, 20), **quiet)
    second = trainset.training_set(data_dir, "synthetic", 10, seed=5, subset=80, **quiet)
    assert sorted(_read_all(second.rec, second.idx)) == list(trainset.subset_indices(300, 80, 5))
    # a damaged summary is derived again rather than trusted or fatal
    with open(second.rec[:-len(".rec")] + ".json", "w") as f:
        f.write("{not json")
    again = trainset.training_set(data_dir, "synthetic", 10, seed=5, subset=80, **quiet)
    assert again == second
