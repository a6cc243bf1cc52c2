"""Semi-supervised runs (mixup_app.semi, mixup_app.data.semisplit): the split, the teacher's
moving average, the ramp-up, the consistency target, the refusals; and, training, that the
unlabeled images' labels never matter and that a resumed ICT run (teacher included) is
bit-exact."""
import json
import math
import os
import shutil
import sys
from types import SimpleNamespace

import mxnet as mx
import numpy as np
import pytest

from conftest import ROOT, TINY, cli
from mixup.draws import symmetric_beta
from mixup_app import plots, report, runs, semi
from mixup_app.config import ConfigError, RunConfig
from mixup_app.data import semisplit, trainset
from mixup_app.semi import common, ict, mixmatch

SEMI = ["--labeled", "40", "--semi", "ict", "--alpha", "1", "--num-epochs", "1"]
# each method's short run (MixMatch mixes with its own alpha: --alpha is refused)
METHOD_RUNS = {"ict": SEMI, "mixmatch": ["--labeled", "40", "--semi", "mixmatch",
                                         "--num-epochs", "1"]}


# ------------------------------------------------------------------ the split

def test_split_is_the_balanced_draw_and_its_complement():
    labels = np.repeat(np.arange(4), 25)
    np.random.default_rng(1).shuffle(labels)
    labeled, rest = semisplit.split(labels, 8, 0, seed=3, num_classes=4)
    assert list(labeled) == list(trainset.balanced_subset(labels, 8, 3, 4))
    assert np.bincount(labels[labeled]).tolist() == [2, 2, 2, 2]
    assert sorted(np.concatenate([labeled, rest]).tolist()) == list(range(100))
    some = semisplit.split(labels, 8, 30, seed=3, num_classes=4)[1]
    assert len(some) == 30 and set(some) <= set(rest)
    assert list(some) == list(semisplit.split(labels, 8, 30, seed=3, num_classes=4)[1])
    assert list(some) != list(semisplit.split(labels, 8, 30, seed=4, num_classes=4)[1])


@pytest.mark.parametrize("labeled, unlabeled, words", [
    (200, 0, "--labeled 200 is larger than the 100 training images"),
    (15, 0, "--labeled 15 is not a multiple of the 10 classes"),
    (5, 0, "give 10"),
    (40, 61, "--unlabeled 61: only 60 training images are left unlabeled"),
    (100, 0, "only 0 training images are left unlabeled"),
])
def test_counts_refused_in_one_line(labeled, unlabeled, words):
    with pytest.raises(ValueError) as refused:
        semisplit.check_counts(labeled, unlabeled, 100, 10, "ict")
    assert words in str(refused.value) and "\n" not in str(refused.value)


@pytest.mark.parametrize("options, words", [
    (dict(semi="ict"), "--semi ict needs --labeled N"),
    (dict(labeled=40, unlabeled=10), "--unlabeled 10 goes with --semi"),
    (dict(labeled=40, train_subset=60), "--labeled and --train-subset"),
    (dict(labeled=40, semi="mixmatch", cpu_devices=3, batch_size=20),
     "--semi mixmatch needs --batch-size a multiple of the 3 devices (--cpu-devices 3), got 20"),
])
def test_options_refused_together(options, words):
    with pytest.raises(ConfigError) as refused:
        RunConfig.from_options(**options)
    assert words in str(refused.value)


@pytest.mark.parametrize("argv, words", [
    (["--semi", "ict"], "--semi ict needs --labeled N"),
    (["--labeled", "15"], "--labeled 15 is not a multiple of the 10 classes"),
    (["--labeled", "40", "--semi", "ict", "--unlabeled", "81"], "--unlabeled 81: only 80"),
    (["--labeled", "40", "--semi", "ict", "--mixmatch-k", "3"],
     "--mixmatch-k goes with --semi mixmatch, not --semi ict"),
    (["--sharpen-temperature", "0.3"], "--sharpen-temperature goes with --semi mixmatch"),
    (["--labeled", "40", "--semi", "mixmatch", "--mixmatch-k", "0"], "--mixmatch-k must be"),
    (["--labeled", "40", "--semi", "mixmatch", "--alpha", "1"], "drop --alpha 1"),
])
def test_train_refuses_in_one_line(argv, words, capsys, data_dir, tmp_path):
    from mixup_app import train
    out_dir = str(tmp_path / "run")
    assert train.main(TINY + ["--data-dir", data_dir, "--out-dir", out_dir] + argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert words in err[-1] and err[-1].startswith("./train.sh: error:"), err
    assert not os.path.exists(os.path.join(out_dir, "config.json"))


# ------------------------------------------------------------------ the teacher and the ramp

def test_ema_update_equals_numpy_over_two_steps():
    rng = np.random.default_rng(0)
    teacher = [rng.standard_normal((3, 4)).astype(np.float32), rng.standard_normal(5)
               .astype(np.float32)]
    students = [[rng.standard_normal(a.shape).astype(np.float32) for a in teacher]
                for _ in range(2)]
    arrays = [mx.nd.array(a) for a in teacher]
    expected = [a.copy() for a in teacher]
    for step, student in enumerate(students, start=1):
        decay = common.ema_decay(step, 0.999)
        assert decay == min(1 - 1 / (step + 1), 0.999)
        common.ema_update(list(zip(arrays, [mx.nd.array(s) for s in student])), decay)
        expected = [e * np.float32(decay) + s * np.float32(1 - decay)
                    for e, s in zip(expected, student)]
    for got, want in zip(arrays, expected):
        np.testing.assert_allclose(got.asnumpy(), want, rtol=1e-6, atol=1e-7)
    assert common.ema_decay(10 ** 6, 0.999) == 0.999


def test_sigmoid_rampup():
    assert common.sigmoid_rampup(0, 100) == pytest.approx(math.exp(-5))
    assert common.sigmoid_rampup(50, 100) == pytest.approx(math.exp(-1.25))
    assert common.sigmoid_rampup(100, 100) == common.sigmoid_rampup(300, 100) == 1.0
    assert common.sigmoid_rampup(0, 0) == 1.0


def test_consistency_target_is_the_teachers_probabilities_mixed_with_the_ops_partners():
    n, k, n_features = 6, 4, 8
    logits = mx.sym.FullyConnected(mx.sym.var("data"), num_hidden=k, name="fc")
    graph = ict.consistency_symbol(logits, k, alpha=1.0, with_mixed=True)
    module = mx.mod.Module(graph, data_names=["data"], label_names=["ulabel", "cons_weight"])
    module.bind(data_shapes=[("data", (n, n_features))],
                label_shapes=[("ulabel", (n, k)), ("cons_weight", (n,))])
    module.init_params(mx.init.Xavier())
    # image i: 1 in feature i, so a mixed row shows its partner and lambda
    images = np.eye(n, n_features, dtype=np.float32)
    probs = np.random.default_rng(2).dirichlet(np.ones(k), size=n).astype(np.float32)
    for _ in range(3):
        module.forward(mx.io.DataBatch([mx.nd.array(images)],
                                       [mx.nd.array(probs), mx.nd.ones((n,))]), is_train=True)
        _, per_row, target, mixed = [o.asnumpy() for o in module.get_outputs()]
        lam = mixed[np.arange(n), np.arange(n)]
        assert np.allclose(lam, lam[0])  # one lambda per batch
        others = mixed.copy()
        others[np.arange(n), np.arange(n)] = 0
        partner = others[:, :n].argmax(axis=1)
        if lam[0] < 1:
            assert sorted(partner) == list(range(n)) and (partner != np.arange(n)).all()
        want = lam[:, None] * probs + (1 - lam[:, None]) * probs[partner]
        np.testing.assert_allclose(target, want, rtol=1e-5, atol=1e-6)
        assert per_row.shape == (n,) and (per_row >= 0).all()


def _teacher_module():
    config = SimpleNamespace(network="resnet", num_layers=8, image_shape=(3, 28, 28),
                             dtype="float32")
    return mx.mod.Module(mx.sym.softmax(common.logits_symbol(config, 10), axis=1),
                         data_names=["data"], label_names=None)


def test_teacher_computes_with_its_current_parameters():
    """The cause of the old non-exact ICT resume: an inference bind partitioned into MKLDNN
    subgraphs (MXNet 1.9.1's default) kept computing partly with the parameters of its first
    forward; the teacher, bound in common.unpartitioned(), follows its in-place updates (the
    EMA's) as a new bind of the updated parameters does."""
    shape = (4, 3, 28, 28)
    batch = mx.io.DataBatch([mx.nd.array(np.random.default_rng(0).uniform(size=shape))])
    params, probs = [], []
    for seed in (1, 2):
        mx.random.seed(seed)
        module = _teacher_module()
        with common.unpartitioned():
            module.bind(data_shapes=[("data", shape)], for_training=False)
        module.init_params(mx.init.Xavier(magnitude=2))
        module.forward(batch, is_train=False)
        params.append(module.get_params())
        probs.append(module.get_outputs()[0].asnumpy())
    assert "MXNET_SUBGRAPH_BACKEND" not in os.environ  # put back as it was
    teacher, values = _bound(params[0], shape), dict(params[1][0], **params[1][1])
    for name, arrays in common._arrays(teacher).items():  # as common.ema_update writes
        arrays[0][:] = values[name]
    teacher.forward(batch, is_train=False)
    np.testing.assert_array_equal(teacher.get_outputs()[0].asnumpy(), probs[1])


def _bound(params, shape):
    """A teacher-like module bound as ICT binds its teacher, on ``params``, run once."""
    module = _teacher_module()
    with common.unpartitioned():
        module.bind(data_shapes=[("data", shape)], for_training=False)
    module.init_params(arg_params=params[0], aux_params=params[1])
    module.forward(mx.io.DataBatch([mx.nd.zeros(shape)]), is_train=False)
    module.get_outputs()[0].wait_to_read()
    return module


# ------------------------------------------------------------------ MixMatch's parts

def test_sharpen_and_the_guessed_label_equal_numpy():
    rng = np.random.default_rng(3)
    probs = rng.dirichlet(np.ones(5), size=(2, 7))  # K = 2 augmentations of 7 images
    for temperature in (0.5, 1.0, 0.25):
        mean = probs.mean(axis=0)
        logs = np.log(mean) / temperature  # p^(1/T) / sum p^(1/T), as exp(log p / T)
        want = np.exp(logs - logs.max(axis=1, keepdims=True))
        want /= want.sum(axis=1, keepdims=True)
        got = mixmatch.guess_labels(list(probs), temperature)
        np.testing.assert_allclose(got, want, rtol=1e-12)
        np.testing.assert_allclose(mixmatch.sharpen(mean, temperature), want, rtol=1e-12)
    np.testing.assert_allclose(mixmatch.sharpen(mean, 1.0), mean, rtol=1e-12)
    assert (mixmatch.sharpen(mean, 0.01).argmax(axis=1) == mean.argmax(axis=1)).all()


def test_mixmatch_lambda_is_per_row_at_least_a_half_and_a_function_of_seed_and_step():
    draws = np.concatenate([mixmatch.mixmatch_lambda(seed, step, 0.75, 30)
                            for seed in (0, 1) for step in range(200)])
    assert draws.shape == (2 * 200 * 30,) and draws.min() >= 0.5 and draws.max() <= 1.0
    assert len(set(draws.tolist())) == len(draws)  # one lambda per row, not per batch
    np.testing.assert_array_equal(mixmatch.mixmatch_lambda(1, 7, 0.75, 30),
                                  mixmatch.mixmatch_lambda(1, 7, 0.75, 30))
    assert not np.array_equal(mixmatch.mixmatch_lambda(1, 7, 0.75, 30),
                              mixmatch.mixmatch_lambda(1, 8, 0.75, 30))
    raw = symmetric_beta(np.random.default_rng([mixmatch.MIXMATCH_SEED_TAG, 1, 7]), 0.75, 30)
    np.testing.assert_array_equal(mixmatch.mixmatch_lambda(1, 7, 0.75, 30),
                                  np.maximum(raw, 1 - raw))
    # rank 0 of a cluster draws what a run of one worker draws, the other workers their own
    np.testing.assert_array_equal(mixmatch.mixmatch_lambda(1, 7, 0.75, 30, rank=0),
                                  mixmatch.mixmatch_lambda(1, 7, 0.75, 30))
    assert not np.array_equal(mixmatch.mixmatch_lambda(1, 7, 0.75, 30, rank=1),
                              mixmatch.mixmatch_lambda(1, 7, 0.75, 30))
    # as float32 (what the graph receives) too, and for tiny and large alphas
    for alpha in (1e-6, 0.75, 100.0):
        assert (mixmatch.mixmatch_lambda(3, 2, alpha, 1000).astype(np.float32) >= 0.5).all()


def test_mixmatch_graph_mixes_with_lambda_prime_and_splits_its_loss():
    """Through the running op: every mixed row keeps lambda' >= 0.5 of its own image, the
    targets are numpy's mix of the labels with the op's partners, the labeled rows' loss is the
    cross-entropy and the unlabeled rows' the squared error over the classes."""
    labeled, n, k, n_features = 3, 9, 4, 12
    logits = mx.sym.FullyConnected(mx.sym.var("data"), num_hidden=k, name="fc")
    graph = mixmatch.mixmatch_symbol(logits, k, labeled, with_mixed=True)
    module = mx.mod.Module(graph, data_names=["data"],
                           label_names=["mixlabel", "lam", "row_weight"])
    module.bind(data_shapes=[("data", (n, n_features))],
                label_shapes=[("mixlabel", (n, k)), ("lam", (n,)), ("row_weight", (n,))])
    module.init_params(mx.init.Xavier())
    images = np.eye(n, n_features, dtype=np.float32)  # image i: 1 in feature i
    rng = np.random.default_rng(4)
    targets = np.concatenate([np.eye(k)[rng.integers(0, k, labeled)],
                              mixmatch.sharpen(rng.dirichlet(np.ones(k), n - labeled), 0.5)])
    for step in range(4):
        lam_prime = mixmatch.mixmatch_lambda(0, step, 0.75, n)[:, None]
        module.forward(mx.io.DataBatch(
            [mx.nd.array(images)], [mx.nd.array(targets), mx.nd.array(lam_prime[:, 0]),
                                    mx.nd.ones((n,))]), is_train=True)
        loss, per_row, target, out_probs, mixed = [o.asnumpy() for o in module.get_outputs()]
        own = mixed[np.arange(n), np.arange(n)]
        np.testing.assert_allclose(own, lam_prime[:, 0], rtol=1e-6)
        assert (own >= 0.5 - 1e-6).all()
        others = mixed.copy()
        others[np.arange(n), np.arange(n)] = 0
        partner = others[:, :n].argmax(axis=1)
        assert sorted(partner) == list(range(n)) and (partner != np.arange(n)).all()
        want = lam_prime * targets + (1 - lam_prime) * targets[partner]
        np.testing.assert_allclose(target, want, rtol=1e-5, atol=1e-6)
        logit = mixed @ module.get_params()[0]["fc_weight"].asnumpy().T \
            + module.get_params()[0]["fc_bias"].asnumpy()
        probs = np.exp(logit - logit.max(axis=1, keepdims=True))
        probs /= probs.sum(axis=1, keepdims=True)
        np.testing.assert_allclose(out_probs, probs, rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(per_row[:labeled],
                                   -(want * np.log(probs)).sum(axis=1)[:labeled], rtol=1e-4)
        np.testing.assert_allclose(per_row[labeled:],
                                   ((probs - want) ** 2).sum(axis=1)[labeled:] / k, rtol=1e-4)
        np.testing.assert_allclose(loss, per_row, rtol=1e-6)


def _crops(view, image, views, pad):
    """The (top, left, mirrored) placements at which ``view`` is a crop of ``image`` padded
    with ``pad`` black pixels, possibly mirrored, normalised as ``views`` normalises."""
    padded = np.pad(image, ((0, 0), (pad, pad), (pad, pad)))
    height, width = view.shape[1:]
    found = []
    for top in range(padded.shape[1] - height + 1):
        for left in range(padded.shape[2] - width + 1):
            crop = padded[:, top:top + height, left:left + width]
            for mirrored in (False, True):
                pixels = crop[:, :, ::-1] if mirrored else crop
                if np.array_equal((pixels - views.mean) * views.scale, view):
                    found.append((top, left, mirrored))
    return found


@pytest.mark.parametrize("stored, shape, mirror, pad", [
    ((3, 8, 8), (3, 8, 8), True, 4),    # the stored size: padded, cropped, mirrored
    ((3, 10, 10), (3, 7, 7), False, 0),  # a smaller crop of the stored image, no mirror
])
def test_each_view_is_the_standard_augmentation_of_its_image(stored, shape, mirror, pad):
    """Every view is a crop of its image (padded with black pixels when the network's image
    has the stored size), mirrored only where the dataset allows, normalised as MXNet's
    iterator normalises; the views vary, and are a function of (seed, step)."""
    rng = np.random.default_rng(5)
    images = rng.integers(0, 256, size=(6,) + stored).astype(np.float32)
    mean, std = [120.5, 110.25, 100.0], [50.0, 60.5, 70.0]
    views = mixmatch.Views(stored, shape, mean, std, mirror=mirror, augment=True)
    assert views.pad == pad
    made = views.make(images, np.random.default_rng(1), 3)
    assert made.shape == (3, 6) + shape and made.dtype == np.float32
    placements = set()
    for k in range(3):
        for i in range(6):
            found = _crops(made[k, i], images[i], views, pad)
            assert found, (k, i)
            placements.update(found)
    assert len(placements) > 6  # not one place for all
    assert any(m for _, _, m in placements) == mirror
    again = views.make(images, np.random.default_rng(1), 3)
    np.testing.assert_array_equal(made, again)
    config = SimpleNamespace(seed=3, mixmatch_k=2)
    method = SimpleNamespace(config=config, views=views, rank=0)
    first = mixmatch.MixMatch.make_views(method, images, 7)
    np.testing.assert_array_equal(first, mixmatch.MixMatch.make_views(method, images, 7))
    assert not np.array_equal(first, mixmatch.MixMatch.make_views(method, images, 8))
    # a cluster's other workers draw their own
    other = SimpleNamespace(config=config, views=views, rank=1)
    assert not np.array_equal(first, mixmatch.MixMatch.make_views(other, images, 7))
    assert not np.array_equal(first[0], first[1])  # K views, each drawn apart
    # --augment none: the centre crop, as the iterator's
    plain = mixmatch.Views(stored, shape, mean, std, mirror=mirror, augment=False)
    centre = plain.make(images, np.random.default_rng(1), 2)
    top, left = (stored[1] - shape[1]) // 2, (stored[2] - shape[2]) // 2
    want = (images[:, :, top:top + shape[1], left:left + shape[2]] - plain.mean) * plain.scale
    np.testing.assert_array_equal(centre, np.stack([want, want]))


def test_views_of_stored_images_match_the_iterators_normalisation(data_dir):
    """Views.of_run reads the dataset's mean, std and mirror flag; the iterator's centre crop
    of the stored images, normalised by MXNet, is what --augment none's views give."""
    from mixup_app.data import iterators
    config = SimpleNamespace(data_dir=data_dir, dataset="synthetic", image_shape=(3, 28, 28),
                             augment="none")
    views = mixmatch.Views.of_run(config)
    assert (views.pad, views.mirror) == (0, False)
    stored = next(iter(iterators.record_iter(data_dir, "synthetic", "train", 8, None,
                                             train=False, normalize=False)))
    plain = next(iter(iterators.record_iter(data_dir, "synthetic", "train", 8, (3, 28, 28),
                                            train=False)))
    made = views.make(stored.data[0].asnumpy(), np.random.default_rng(0), 1)[0]
    np.testing.assert_array_equal(made, plain.data[0].asnumpy())


def _tiny_mixmatch(logits, batch, classes, shape=(1, 6, 6), k=2, devices=1, **config):
    """A MixMatch around a tiny student (``logits`` on ``data``) on ``devices`` CPU
    contexts."""
    contexts = [mx.cpu(i) for i in range(devices)]
    student = mx.mod.Module(mx.sym.SoftmaxOutput(logits, name="softmax"), data_names=["data"],
                            label_names=["softmax_label"], context=contexts)
    student.bind(data_shapes=[("data", (batch,) + shape)],
                 label_shapes=[("softmax_label", (batch,))])
    mx.random.seed(3)
    student.init_params(mx.init.Normal(0.5))
    student.init_optimizer(optimizer="sgd", optimizer_params=dict(learning_rate=0.1))
    config = SimpleNamespace(**dict(dict(
        batch_size=batch, image_shape=shape, mixmatch_k=k, seed=11, sharpen_temperature=0.5,
        unlabeled_alpha=0.75, unlabeled_weight=75.0, rampup_epochs=10.0, ema_decay=0.999),
        **config))
    lay = SimpleNamespace(batches_per_epoch=4, num_classes=classes, contexts=contexts,
                          val_batch=batch, rank=0)
    views = mixmatch.Views(shape, shape, [100.0], [50.0], mirror=True, augment=True)
    return mixmatch.MixMatch(config, lay, student, 5, logits=logits, views=views), student


def _softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


@pytest.mark.parametrize("devices", [1, 2])
def test_one_mixmatch_step_is_the_papers_loss_and_its_gradient(devices):
    """A step's loss and gradient against numpy: the views and lambda' of the step's (seed,
    step), the guesses from numpy's forward of the net on each view (averaged, sharpened),
    the partners read off the graph's probabilities (a linear net mixes its logits as its
    inputs), the mixed batch built by hand; the loss L_X + lambda_U L_U of the paper, its
    gradient w.r.t. every parameter by central finite differences of numpy's loss, against
    the student's gradient as its optimizer scales it (summed over the devices). On two
    devices each device's slice holds B/2 labeled rows, then B/2 of each view's, and every
    row's partner is in its own slice: the same loss, of other pairs."""
    batch, classes, k, weight = 4, 5, 2, 30.0
    logits = mx.sym.FullyConnected(mx.sym.var("data"), num_hidden=classes, name="fc")
    method, student = _tiny_mixmatch(logits, batch, classes, k=k, devices=devices)
    rows, share = (k + 1) * batch, batch // devices
    slices = method.order.reshape(devices, rows // devices)  # canonical rows, per device
    for j, taken in enumerate(slices):
        assert (taken[:share] < batch).all() and (taken[share:] >= batch).all()
        for part in range(k + 1):  # the labeled rows, then each view's, of images j*share..
            assert sorted(taken[taken // batch == part] % batch) == list(
                range(j * share, (j + 1) * share))
    rng = np.random.default_rng(8)
    labeled = rng.standard_normal((batch, 1, 6, 6)).astype(np.float32)
    labels = np.array([3, 0, 4, 1])
    stored = rng.integers(0, 256, (batch, 1, 6, 6)).astype(np.float32)
    loss, per_row, target, probs = [o.asnumpy() for o in method.forward_backward(
        mx.io.DataBatch([mx.nd.array(labeled)], [mx.nd.array(labels)]),
        mx.io.DataBatch([mx.nd.array(stored)]), weight)]
    params = {n: v.asnumpy().astype(np.float64) for n, v in student.get_params()[0].items()}

    def net(x, p):
        return x.reshape(len(x), -1) @ p["fc_weight"].T + p["fc_bias"]

    views = method.make_views(stored, 5).astype(np.float64)
    guesses = np.mean([_softmax(net(v, params)) for v in views], axis=0) ** 2  # T = 0.5
    guesses /= guesses.sum(axis=1, keepdims=True)
    x = np.concatenate([labeled.astype(np.float64)] + list(views))
    t = np.concatenate([np.eye(classes)[labels]] + [guesses] * k)
    lam = mixmatch.mixmatch_lambda(11, 5, 0.75, len(x)).astype(np.float32).astype(np.float64)
    z = net(x, params)  # mixed logits: lam z_i + (1 - lam) z_j, for the partner j of i
    mixes = lam[:, None, None] * z[:, None] + (1 - lam[:, None, None]) * z[None]
    distance = np.abs(np.log(_softmax(mixes.reshape(-1, classes)).reshape(mixes.shape))
                      - np.log(probs)[:, None]).max(axis=2)
    partner = distance.argmin(axis=1)
    assert sorted(partner) == list(range(len(x))) and (partner != np.arange(len(x))).all()
    assert (np.sort(distance, axis=1)[:, 1] > 100 * distance.min(axis=1)).all()  # unambiguous
    device = np.argsort(method.order) // (rows // devices)  # of each canonical row
    assert (device[partner] == device).all()
    mixed = lam[:, None, None, None] * x + (1 - lam[:, None, None, None]) * x[partner]
    mixed_t = lam[:, None] * t + (1 - lam[:, None]) * t[partner]
    np.testing.assert_allclose(target, mixed_t, rtol=1e-5, atol=1e-6)

    def paper_loss(p):
        q = _softmax(net(mixed, p))
        supervised = -(mixed_t[:batch] * np.log(q[:batch])).sum(axis=1).mean()
        unsupervised = ((q[batch:] - mixed_t[batch:]) ** 2).mean()  # over rows and classes
        return supervised + weight * unsupervised

    scale = student._optimizer.rescale_grad
    assert scale == 1.0 / batch
    assert loss.sum() * scale == pytest.approx(paper_loss(params), rel=1e-5)
    np.testing.assert_allclose(per_row[batch:], ((probs - target) ** 2).sum(axis=1)[batch:]
                               / classes, rtol=1e-5)
    group = student._exec_group
    for name, grads in zip(group.param_names, group.grad_arrays):
        got = sum(g.asnumpy() for g in grads) * scale  # as the kvstore sums them
        want, h = np.zeros(params[name].shape), 1e-6
        for index in np.ndindex(want.shape):
            for sign in (1, -1):
                moved = dict(params, **{name: params[name].copy()})
                moved[name][index] += sign * h
                want[index] += sign * paper_loss(moved) / (2 * h)
        np.testing.assert_allclose(got, want, rtol=2e-3, atol=2e-6, err_msg=name)


def test_the_guess_uses_batch_statistics_and_leaves_the_moving_ones():
    """The guessed labels: the student in training mode (BatchNorm with each view's own batch
    statistics, as the authors' guessing forward), and the student's moving statistics as
    they were before."""
    batch, classes = 6, 3
    hidden = mx.sym.FullyConnected(mx.sym.var("data"), num_hidden=4, name="fc1")
    normed = mx.sym.BatchNorm(hidden, fix_gamma=False, eps=1e-3, name="bn")
    logits = mx.sym.FullyConnected(normed, num_hidden=classes, name="fc2")
    method, student = _tiny_mixmatch(logits, batch, classes, shape=(1, 4, 4), k=3)
    arg, aux = student.get_params()
    aux = {"bn_moving_mean": mx.nd.full((4,), 5.0), "bn_moving_var": mx.nd.full((4,), 9.0)}
    student.set_params(arg, aux)
    views = np.random.default_rng(2).standard_normal((3, batch, 1, 4, 4)).astype(np.float32)
    got = method.guess(views)
    p = {n: v.asnumpy().astype(np.float64) for n, v in arg.items()}
    probs = []
    for view in views:
        h = view.reshape(batch, -1) @ p["fc1_weight"].T + p["fc1_bias"]
        h = (h - h.mean(axis=0)) / np.sqrt(h.var(axis=0) + 1e-3) * p["bn_gamma"] + p["bn_beta"]
        probs.append(_softmax(h @ p["fc2_weight"].T + p["fc2_bias"]))
    np.testing.assert_allclose(got, mixmatch.guess_labels(probs, 0.5), rtol=1e-4, atol=1e-6)
    for name, value in student.get_params()[1].items():
        np.testing.assert_array_equal(value.asnumpy(), aux[name].asnumpy(), err_msg=name)


def test_ict_targets_use_batch_statistics_and_leave_the_teachers_moving_ones():
    """ICT's targets: the teacher in training mode (BatchNorm with the unlabeled batch's own
    statistics, as the authors' ema_model.train()), its moving statistics (the EMA of the
    student's, which its validation uses) as they were before."""
    batch, classes = 6, 3
    hidden = mx.sym.FullyConnected(mx.sym.var("data"), num_hidden=4, name="fc1")
    normed = mx.sym.BatchNorm(hidden, fix_gamma=False, eps=1e-3, name="bn")
    logits = mx.sym.FullyConnected(normed, num_hidden=classes, name="fc2")
    teacher = mx.mod.Module(mx.sym.softmax(logits, axis=1), data_names=["data"],
                            label_names=None)
    with common.unpartitioned():
        teacher.bind(data_shapes=[("data", (batch, 1, 4, 4))], for_training=False)
    teacher.init_params(mx.init.Xavier(magnitude=2))
    arg, _ = teacher.get_params()
    aux = {"bn_moving_mean": mx.nd.full((4,), 5.0), "bn_moving_var": mx.nd.full((4,), 9.0)}
    teacher.set_params(arg, aux)
    method = ict.ICT.__new__(ict.ICT)  # the targets need the teacher alone
    method.teacher = teacher
    images = np.random.default_rng(4).standard_normal((batch, 1, 4, 4)).astype(np.float32)
    got = method.targets(mx.nd.array(images)).asnumpy()
    p = {n: v.asnumpy().astype(np.float64) for n, v in arg.items()}
    h = images.reshape(batch, -1) @ p["fc1_weight"].T + p["fc1_bias"]
    h = (h - h.mean(axis=0)) / np.sqrt(h.var(axis=0) + 1e-3) * p["bn_gamma"] + p["bn_beta"]
    np.testing.assert_allclose(got, _softmax(h @ p["fc2_weight"].T + p["fc2_bias"]),
                               rtol=1e-4, atol=1e-6)
    on_device = common._arrays(teacher)  # the arrays themselves, not get_params' copies
    for name, value in aux.items():
        np.testing.assert_array_equal(on_device[name][0].asnumpy(), value.asnumpy(),
                                      err_msg=name)


def test_the_method_defaults_are_resolved_and_recorded(tmp_path):
    ict_run = RunConfig.from_options(labeled=40, semi="ict")
    assert (ict_run.unlabeled_weight, ict_run.rampup_epochs, ict_run.unlabeled_alpha,
            ict_run.ema_decay) == (100.0, 100.0, 1.0, 0.999)
    assert (ict_run.mixmatch_k, ict_run.sharpen_temperature) == (None, None)
    mm = RunConfig.from_options(labeled=40, semi="mixmatch", num_epochs=128)
    assert (mm.unlabeled_weight, mm.rampup_epochs, mm.unlabeled_alpha, mm.ema_decay,
            mm.mixmatch_k, mm.sharpen_temperature) == (75.0, 2.0, 0.75, 0.999, 2, 0.5)
    given = RunConfig.from_options(labeled=40, semi="mixmatch", unlabeled_weight=10,
                                   rampup_epochs=0, unlabeled_alpha=2, mixmatch_k=3,
                                   sharpen_temperature="0.25")
    assert (given.unlabeled_weight, given.rampup_epochs, given.unlabeled_alpha,
            given.mixmatch_k, given.sharpen_temperature) == (10.0, 0.0, 2.0, 3, 0.25)
    plain = RunConfig.from_options()
    assert (plain.unlabeled_weight, plain.mixmatch_k) == (None, None)
    mm.save(str(tmp_path))  # recorded as resolved: a longer run keeps its ramp
    assert json.load(open(str(tmp_path / "config.json")))["rampup_epochs"] == 2.0
    longer = RunConfig.from_options(**dict(RunConfig.load(str(tmp_path)).flat(),
                                           num_epochs=256))
    assert longer.rampup_epochs == 2.0


def test_an_ict_run_recorded_before_the_weight_was_shared_keeps_its_weight(tmp_path):
    # ICT's weight was recorded as consistency_weight (before MixMatch shared the option)
    RunConfig.from_options(labeled=40, semi="ict").save(str(tmp_path))
    path = str(tmp_path / "config.json")
    raw = json.load(open(path))
    raw["consistency_weight"] = 30.0
    del raw["unlabeled_weight"]
    with open(path, "w") as f:
        json.dump(raw, f)
    assert RunConfig.load(str(tmp_path)).unlabeled_weight == 30.0


def test_mixmatch_ramps_linearly():
    assert common.linear_rampup(0, 4) == 0.0 and common.linear_rampup(1, 4) == 0.25
    assert (common.linear_rampup(4, 4) == common.linear_rampup(9, 4)
            == common.linear_rampup(0, 0) == 1)


@pytest.mark.parametrize("options, words", [
    (dict(labeled=40, semi="ict", mixmatch_k=2), "--mixmatch-k goes with --semi mixmatch"),
    (dict(sharpen_temperature=0.5), "--sharpen-temperature goes with --semi mixmatch"),
    (dict(labeled=40, semi="mixmatch", mixmatch_k=0), "--mixmatch-k must be >= 1"),
    (dict(labeled=40, semi="mixmatch", mixmatch_k=1.5), "--mixmatch-k must be a whole"),
    (dict(labeled=40, semi="mixmatch", sharpen_temperature=0), "--sharpen-temperature"),
    (dict(labeled=40, semi="mixmatch", unlabeled_alpha=0), "--unlabeled-alpha"),
    (dict(labeled=40, semi="mixmatch", unlabeled_weight=-1), "--unlabeled-weight"),
    (dict(labeled=40, semi="mixmatch", alpha=1), "mixes the labeled and unlabeled images "
     "itself (lambda ~ Beta(--unlabeled-alpha)): drop --alpha 1"),
    (dict(labeled=40, semi="mixmatch", policy="adaptive"), "drop --policy adaptive"),
    (dict(labeled=40, semi="mixmatch", gpus="0,1,2", batch_size=16),
     "--semi mixmatch needs --batch-size a multiple of the 3 devices (--gpus 0,1,2), got 16"),
    (dict(semi="mixmatch"), "--semi mixmatch needs --labeled N"),
])
def test_mixmatch_options_refused(options, words):
    with pytest.raises(ConfigError) as refused:
        RunConfig.from_options(**options)
    assert words in str(refused.value) and "\n" not in str(refused.value)


# ------------------------------------------------------------------ training

def _train(argv):
    from mixup_app import train
    assert train.main(TINY + list(argv)) == 0


def _params(run_dir, epoch, model="model"):
    blob = mx.nd.load(os.path.join(run_dir, "%s-%04d.params" % (model, epoch)))
    return {k: v.asnumpy() for k, v in blob.items()}


def _assert_same(a, b):
    assert a.keys() == b.keys()
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)


def _permute_labels(rec, idx, seed=0):
    """Rewrite a RecordIO pair in place with its labels permuted (bytes otherwise kept: the
    same size, so the derived set's summary still matches)."""
    reader = mx.recordio.MXIndexedRecordIO(idx, rec, "r")
    keys = sorted(reader.keys)
    items = [mx.recordio.unpack(reader.read_idx(k)) for k in keys]
    reader.close()
    labels = np.array([h.label for h, _ in items])
    permuted = np.random.default_rng(seed).permutation(labels)
    while (permuted == labels).all():
        permuted = np.roll(permuted, 1)
    size = os.path.getsize(rec)
    writer = mx.recordio.MXIndexedRecordIO(idx, rec, "w")
    for k, (header, payload), label in zip(keys, items, permuted):
        writer.write_idx(k, mx.recordio.pack(header._replace(label=float(label)), payload))
    writer.close()
    assert os.path.getsize(rec) == size
    return int((permuted != labels).sum())


@pytest.mark.slow
@pytest.mark.parametrize("method", sorted(METHOD_RUNS))
def test_unlabeled_labels_never_matter(tmp_path, data_dir, method):
    data = str(tmp_path / "data")
    shutil.copytree(data_dir, data)
    argv = METHOD_RUNS[method] + ["--data-dir", data]
    _train(argv + ["--out-dir", str(tmp_path / "a")])
    derived = os.path.join(data, "derived", "synthetic_train-unlabeled-l40-seed0")
    assert _permute_labels(derived + ".rec", derived + ".idx") > 0
    _train(argv + ["--out-dir", str(tmp_path / "b")])
    for model in ("model", "teacher"):
        _assert_same(_params(str(tmp_path / "a"), 1, model), _params(str(tmp_path / "b"), 1,
                                                                     model))
    labeled = json.load(open(str(tmp_path / "a" / "labeled.json")))
    assert len(labeled["record_ids"]) == 40 == labeled["labeled"]
    row = json.loads(open(str(tmp_path / "a" / "metrics.jsonl")).readline())
    assert {"sup_loss", "unsup_loss", "ramp_weight"} <= set(row)


# each method on one device and on two (MixMatch's rows interleaved over them, the teacher's
# BatchNorm statistics averaged after each epoch), and ICT with AdaMixup's supervised graph
RESUMED = [(method, []) for method in sorted(METHOD_RUNS)] + [
    (method, ["--cpu-devices", "2"]) for method in sorted(METHOD_RUNS)] + [
    ("ict", ["--policy", "adaptive"])]


@pytest.mark.slow
@pytest.mark.parametrize("method, options", RESUMED,
                         ids=["-".join([m] + [o.lstrip("-") for o in opts])
                              for m, opts in RESUMED])
def test_resume_is_bit_exact_with_the_teacher(tmp_path, data_dir, method, options):
    from mixup_app import runs, train
    argv = METHOD_RUNS[method][:-1] + ["2", "--data-dir", data_dir] + options
    whole, parts = str(tmp_path / "whole"), str(tmp_path / "parts")
    _train(argv + ["--out-dir", whole])
    _train(argv + ["--out-dir", parts])
    os.remove(runs.params_path(parts, 2))
    assert train.main(["--resume", "--out-dir", parts, "--progress", "off"]) == 0
    for model in ("model", "teacher"):
        _assert_same(_params(whole, 2, model), _params(parts, 2, model))
    keys = ("train_loss", "train_accuracy", "sup_loss", "unsup_loss", "ramp_weight",
            "val_accuracy", "val_accuracy_teacher")
    rows = runs.read_metrics(whole)
    assert ([{k: r[k] for k in keys} for r in runs.read_metrics(parts)]
            == [{k: r[k] for k in keys} for r in rows])
    # it trained: finite losses, the student and the teacher moved, one teacher per epoch
    assert all(math.isfinite(r[k]) for r in rows for k in keys) and rows[1]["unsup_loss"] > 0
    for model in ("model", "teacher"):
        first, second = _params(whole, 1, model), _params(whole, 2, model)
        assert any(not np.array_equal(first[k], second[k]) for k in first), model
    config = RunConfig.load(whole)
    if method == "mixmatch":  # the method's defaults, recorded as resolved
        assert (config.unlabeled_weight, config.rampup_epochs, config.unlabeled_alpha,
                config.mixmatch_k, config.sharpen_temperature) == (75.0, 2 / 64, 0.75, 2, 0.5)
        # linear ramp over 1/32 epoch: 0 at the first of 4 steps, 75 after
        assert [r["ramp_weight"] for r in rows] == [75.0 * 3 / 4, 75.0]
    if "adaptive" in options:  # AdaMixup's figures of the supervised graph, recorded too
        assert all({"policy_low", "policy_high", "intrusion_accuracy"} <= set(r) for r in rows)
        assert any(k.startswith("arg:adamixup_gen") for k in _params(whole, 2))
        assert not any(k.startswith("arg:adamixup") for k in _params(whole, 2, "teacher"))


@pytest.mark.slow
def test_two_device_ict_teacher_is_the_ema_of_the_students_steps(tmp_path, data_dir,
                                                                 monkeypatch):
    """On two devices: every step the devices hold the same (kvstore-synced) parameters and
    their own BatchNorm statistics; each checkpoint's teacher weights are numpy's EMA of each
    device's student after each step, the devices' teachers averaged after each epoch (as the
    trainer averages the students'); its statistics are then its own measure."""
    steps, initial = [], []
    update = common.SemiMethod.update_teacher

    def recording(self):
        if not initial:  # the teacher before its first update: the student's start
            initial.append({n: [a.asnumpy() for a in arrays]
                            for n, arrays in common._arrays(self.teacher).items()})
        steps.append({n: [a.asnumpy() for a in arrays]
                      for n, arrays in common._arrays(self.student).items()})
        update(self)

    monkeypatch.setattr(common.SemiMethod, "update_teacher", recording)
    out = str(tmp_path / "run")
    _train(SEMI[:-1] + ["2", "--cpu-devices", "2", "--data-dir", data_dir, "--out-dir", out])
    per_epoch = len(steps) // 2
    assert per_epoch == 4 and len(steps) == 8  # 80 unlabeled images, batch 20
    aux_names = set(runs.load_params(out, 1)[1])
    for step in steps:
        for name, (first, second) in step.items():
            if name not in aux_names:
                np.testing.assert_array_equal(first, second, err_msg=name)
    assert any(not np.array_equal(*steps[1][n]) for n in aux_names)  # each device's own
    teacher = {n: [a.copy() for a in arrays] for n, arrays in initial[0].items()}
    for number, step in enumerate(steps, start=1):
        decay = common.ema_decay(number, 0.999)
        for name, arrays in teacher.items():
            for t, s in zip(arrays, step[name]):
                t *= np.float32(decay)
                t += s * np.float32(1 - decay)
        if number % per_epoch == 0:
            for name, arrays in teacher.items():
                mean = (arrays[0] + arrays[1]) / np.float32(2)
                teacher[name] = [mean.copy(), mean.copy()]
            saved = _params(out, number // per_epoch, "teacher")
            assert {k.split(":", 1)[1] for k in saved} == set(teacher)
            for key, value in saved.items():
                name = key.split(":", 1)[1]
                if name in aux_names:
                    # ICT's teacher then measures its own statistics (checked in
                    # test_ict_teachers_statistics_are_its_own...): the EMA continues from them
                    teacher[name] = [value.copy(), value.copy()]
                    continue
                np.testing.assert_allclose(value, teacher[name][0], rtol=1e-5, atol=1e-6,
                                           err_msg=key)


def _images(batches):
    """The set of images (their bytes) of an epoch's batches, padding left out."""
    seen = set()
    for batch in batches:
        rows = batch.data[0].asnumpy()
        seen.update(row.tobytes() for row in rows[:len(rows) - batch.pad])
    return seen


def test_each_worker_reads_its_own_shard_of_labeled_and_unlabeled_images(data_dir):
    """On a cluster every worker reads its own part of the labeled and of the unlabeled
    images (together all of them, once), and all run the same number of steps: the larger
    shard's batches, the unlabeled ones here (a synchronous kvstore waits forever for a
    worker that stops early)."""
    from mixup_app import fit, preflight
    config = preflight.new_config(dict(
        dataset="synthetic", data_dir=data_dir, synthetic_size=(120, 45), num_layers=8,
        image_shape=(3, 28, 28), batch_size=20, labeled=40, unlabeled=70, semi="ict",
        augment="none"), lambda *_: None)

    def worker(rank, workers):
        return fit.layout(config, SimpleNamespace(
            num_workers=workers, rank=rank, type="dist_sync" if workers > 1 else "device"))

    assert worker(0, 1).batches_per_epoch == 4  # 70 unlabeled images in batches of 20
    shards = {True: [], False: []}
    for rank in (0, 1):
        lay = worker(rank, 2)
        assert lay.batches_per_epoch == 2  # 35 unlabeled images (20 labeled) each
        for unlabeled in (False, True):
            batches = list(fit.train_iter(config, lay, 0, unlabeled=unlabeled))
            assert len(batches) == 2
            shards[unlabeled].append(_images(batches))
    for unlabeled, count in ((False, 20), (True, 35)):
        first, second = shards[unlabeled]
        assert len(first) == len(second) == count and not first & second
    everything = _images(fit.train_iter(config, worker(0, 1), 0, unlabeled=True))
    assert shards[True][0] | shards[True][1] == everything and len(everything) == 70
    with pytest.raises(ValueError, match="larger than the 13 training images of each of 3"):
        worker(0, 3)  # 40 labeled images over 3 workers


# A dist_sync worker that saves its student's and teacher's parameters and BatchNorm
# statistics (its first device's) as they were when training started ("start:MODEL:NAME") and
# as they are at the end ("MODEL:arg:NAME", "MODEL:aux:NAME") to OUT/worker-RANK.params (rank 0
# alone writes the run directory).
WORKER = """
import os, sys
import mixup
import mxnet as mx
from mixup_app import semi, train
from mixup_app.semi import common
made, started, start = [], {}, semi.start

def starting(*args, **kwargs):
    made.append(start(*args, **kwargs))
    for model, module in (("model", made[-1].student), ("teacher", made[-1].teacher)):
        started.update({"start:%s:%s" % (model, name): arrays[0].copy()
                        for name, arrays in common._arrays(module).items()})
    return made[-1]

semi.start = starting
code = train.main(sys.argv[1:])
if code == 0:
    blob = dict(started)
    for model, module in (("model", made[-1].student), ("teacher", made[-1].teacher)):
        for kind, params in zip(("arg", "aux"), module.get_params()):
            blob.update({"%s:%s:%s" % (model, kind, k): v for k, v in params.items()})
    out = sys.argv[sys.argv.index("--out-dir") + 1]
    mx.nd.save(os.path.join(out, "worker-%d.params" % made[-1].rank), blob)
sys.exit(code)
"""


def _cluster(argv):
    from mixup_app import launch
    return launch.run_local(list(argv), 2, 1, log=lambda *_: None,
                            command=[sys.executable, "-c", WORKER])


def _assert_one_teacher(out, epoch, begin=0):
    """The two workers started alike (a resumed run, ``begin``: from that checkpoint, student
    and teacher, BatchNorm statistics too) and end with the same parameters, student and
    teacher (their BatchNorm statistics each worker's own, as a supervised run's); rank 0's
    are the checkpoint's."""
    workers = [{k: v.asnumpy() for k, v in mx.nd.load(os.path.join(out, "worker-%d.params"
                                                                     % rank)).items()}
               for rank in (0, 1)]
    for model in ("model", "teacher"):
        saved = _params(out, epoch, model)
        _assert_same(saved, {k.split(":", 1)[1]: v for k, v in workers[0].items()
                             if k.startswith(model + ":")})
        args = [{k: v for k, v in w.items() if k.startswith(model + ":arg:")} for w in workers]
        assert args[0]
        _assert_same(*args)
        started = [{k.rsplit(":", 1)[1]: v for k, v in w.items()
                    if k.startswith("start:%s:" % model)} for w in workers]
        _assert_same(*started)
        if begin:
            _assert_same(started[0], {k.split(":", 1)[1]: v
                                      for k, v in _params(out, begin, model).items()})
    os.remove(os.path.join(out, "worker-0.params"))
    os.remove(os.path.join(out, "worker-1.params"))


@pytest.mark.slow
@pytest.mark.parametrize("method", sorted(METHOD_RUNS))
def test_two_workers_keep_one_teacher_and_resume(tmp_path, data_dir, method, monkeypatch):
    """dist_sync, two workers (each its own shard of the labeled and of the unlabeled
    images, gradients summed by the kvstore): both workers' teachers are the same and rank
    0 checkpoints it; a resumed run's workers all start from rank 0's checkpoint (only rank 0
    reads it), their teachers the same again."""
    monkeypatch.setenv("PYTHONPATH", ROOT)
    out = str(tmp_path / "run")
    assert _cluster(TINY + METHOD_RUNS[method][:-1] + [
        "2", "--data-dir", data_dir, "--out-dir", out, "--kv-store", "dist_sync",
        "--num-workers", "2"]) == 0
    rows = runs.read_metrics(out)
    assert [(r["epoch"], r["num_workers"]) for r in rows] == [(1, 2), (2, 2)]
    assert all(math.isfinite(r["unsup_loss"]) and "val_accuracy_teacher" in r for r in rows)
    assert len(json.load(open(os.path.join(out, "labeled.json")))["record_ids"]) == 40
    _assert_one_teacher(out, 2)
    os.remove(runs.params_path(out, 2))
    assert _cluster(["--out-dir", out]) == 0  # as ./train.sh --resume starts the workers
    assert [r["epoch"] for r in runs.read_metrics(out)] == [1, 2]
    _assert_one_teacher(out, 2, begin=1)


# ------------------------------------------------------------------ report and curves

def _semi_run(root, name, rows, **options):
    """A --semi run directory with these metrics rows (config.json, metrics.jsonl)."""
    path = os.path.join(str(root), name)
    os.makedirs(path)
    options = dict(dict(dataset="synthetic", labeled=40, semi="ict"), **options)
    RunConfig.from_options(**options).resolved(train_count=0).save(path)
    base = {"train_accuracy": 0.5, "lr": 0.1, "seconds": 1.0, "images_per_sec": 1.0,
            "num_workers": 1, "rank": 0, "mixup": True}
    runs.write_metrics(path, [dict(base, **row) for row in rows])
    return path


SEMI_ROWS = [dict(row, train_accuracy=0.5) for row in [
    dict(epoch=1, train_loss=2.5, sup_loss=2.5, unsup_loss=0.02, ramp_weight=0.7,
         val_accuracy=0.30, val_loss=2.0, val_count=45, val_accuracy_teacher=0.40,
         val_loss_teacher=1.9),
    dict(epoch=2, train_loss=2.0, sup_loss=2.0, unsup_loss=0.01, ramp_weight=0.8),
    dict(epoch=3, train_loss=1.5, sup_loss=1.5, unsup_loss=0.005, ramp_weight=0.9,
         val_accuracy=0.50, val_loss=1.5, val_count=45, val_accuracy_teacher=0.35,
         val_loss_teacher=1.6),
]]


def test_report_shows_the_semi_fields_and_the_teachers_validation(tmp_path):
    run = _semi_run(tmp_path, "ict", SEMI_ROWS)
    _, _, figures = report.measure(run)
    assert figures["teacher best val acc"] == 0.40 and figures["teacher last val acc"] == 0.35
    assert (figures["sup loss, last epoch"], figures["unsup loss, last epoch"],
            figures["unsup weight, last epoch"]) == (1.5, 0.005, 0.9)
    header, _, line = report.table([(run,) + report.measure(run)]).splitlines()
    cells = dict(zip([c.strip() for c in header.split("|")], [c.strip() for c in line.split("|")]))
    assert cells["training"].startswith("ICT (") and cells["setting"].startswith("40 labeled + ")
    assert (cells["teacher best val acc"], cells["teacher last val acc"]) == ("40.00", "35.00")
    assert (cells["sup loss, last epoch"], cells["unsup loss, last epoch"],
            cells["unsup weight, last epoch"]) == ("1.5000", "0.0050", "0.9000")
    # a supervised run has none of these columns
    plain = _semi_run(tmp_path, "erm", [{k: v for k, v in row.items()
                                         if k in ("epoch", "train_loss", "val_accuracy",
                                                  "val_loss", "val_count")}
                                        for row in SEMI_ROWS], labeled=0, semi="none")
    header = report.table([(plain,) + report.measure(plain)]).splitlines()[0]
    assert "teacher" not in header and "unsup" not in header and "sup loss" not in header


def test_report_names_mixmatch_by_its_own_mixing(tmp_path):
    run = _semi_run(tmp_path, "mixmatch", SEMI_ROWS, semi="mixmatch", sharpen_temperature=0.25)
    header, _, line = report.table([(run,) + report.measure(run)]).splitlines()
    cells = dict(zip([c.strip() for c in header.split("|")], [c.strip() for c in line.split("|")]))
    assert cells["training"] == "MixMatch (α=0.75, K=2, T=0.25)"
    assert cells["teacher best val acc"] == "40.00"
    assert RunConfig.load(run).describe_mixup().startswith("MixMatch alpha=0.75 over")


def test_curves_draw_the_semi_fields_and_the_teachers_validation(drawn, tmp_path):
    plots.curves(SEMI_ROWS, str(tmp_path / "curves.png"))
    acc, loss, panel, weight = drawn["axes"]  # the weight on the panel's twin axis
    lines = {line.get_label(): line for ax in (acc, loss, panel, weight)
             for line in ax.get_lines()}
    assert list(lines["teacher, validation"].get_xdata()) == [1, 3]
    assert list(lines["teacher, validation"].get_ydata()) == [0.40, 0.35]
    assert list(lines["teacher, validation CE"].get_ydata()) == [1.9, 1.6]
    for label, key in (("supervised loss (CE)", "sup_loss"),
                       ("unsupervised loss (unweighted)", "unsup_loss")):
        assert list(lines[label].get_ydata()) == [r[key] for r in SEMI_ROWS]
    assert list(weight.get_lines()[0].get_ydata()) == [r["ramp_weight"] for r in SEMI_ROWS]
    plots.curves([{k: v for k, v in r.items() if "teacher" not in k and k not in semi.ROW_FIELDS}
                  for r in SEMI_ROWS], str(tmp_path / "curves.png"))
    assert len(drawn["axes"]) == 2  # a supervised run's picture, as before


@pytest.mark.slow
@pytest.mark.parametrize("method", sorted(METHOD_RUNS))
def test_the_rows_teacher_validation_is_its_checkpoints_score(tmp_path, data_dir, method):
    """val_accuracy_teacher / val_loss_teacher of each validated epoch equal a separate
    scoring of that epoch's teacher checkpoint (./test.sh --model teacher's graph)."""
    from mixup_app import scoring
    from mixup_app.data import iterators
    from mixup_app.metrics import predict, summarize
    out = str(tmp_path / "run")
    _train(METHOD_RUNS[method][:-1] + ["2", "--data-dir", data_dir, "--out-dir", out,
                                       "--keep-last", "0"])
    config = RunConfig.load(out)
    for row in runs.read_metrics(out):
        checkpoint = scoring.load(out, config, row["epoch"], runs.TEACHER)
        module = scoring.module_for(checkpoint, 15, config.image_shape, [mx.cpu()])
        val = iterators.record_iter(data_dir, "synthetic", "val", 15, config.image_shape,
                                    train=False)
        scores = summarize(*predict(module, val), 10)
        assert row["val_accuracy_teacher"] == pytest.approx(scores["accuracy"], abs=1e-12)
        assert row["val_loss_teacher"] == pytest.approx(scores["cross_entropy"], rel=1e-5)
        assert {"sup_loss", "unsup_loss", "ramp_weight"} <= set(row)
    # ./test.sh --model teacher writes test-teacher.json, and ./tools.sh report shows it
    proc = cli("mixup_app.score", "--out-dir", out, "--model", "teacher")
    assert proc.returncode == 0, proc.stderr[-3000:]
    with open(os.path.join(out, "test-teacher.json")) as f:
        scored = json.load(f)
    assert scored["accuracy"] == pytest.approx(row["val_accuracy_teacher"], abs=1e-12)
    _, _, figures = report.measure(out)
    assert (figures["teacher test acc"], figures["teacher ECE"]) == (scored["accuracy"],
                                                                     scored["ece"])
    assert "test acc" not in figures  # the student was not scored
    header, _, line = report.table([(out,) + report.measure(out)]).splitlines()
    cells = dict(zip([c.strip() for c in header.split("|")], [c.strip() for c in line.split("|")]))
    assert cells["teacher ECE"] == "%.4f" % scored["ece"]  # a fraction, as ECE


@pytest.mark.slow
def test_ict_teachers_statistics_are_its_own_and_change_nothing_else(tmp_path, data_dir,
                                                                     monkeypatch):
    """The same ICT epoch with the teacher's BatchNorm statistics left as the EMA of the
    student's: the student (parameters and statistics) and the teacher's weights the same bit
    for bit, the teacher's statistics those measured with its weights (mixup_app.batchnorm,
    checked against numpy in tests/test_batchnorm.py) on the unlabeled images."""
    from mixup_app import fit, runs
    from mixup_app.config import RunConfig
    from mixup_app.semi.ict import ICT
    argv = METHOD_RUNS["ict"] + ["--data-dir", data_dir]
    _train(argv + ["--out-dir", str(tmp_path / "own")])
    monkeypatch.setattr(ICT, "own_statistics", False)
    _train(argv + ["--out-dir", str(tmp_path / "ema")])
    monkeypatch.undo()
    own, ema = str(tmp_path / "own"), str(tmp_path / "ema")
    _assert_same(_params(own, 1), _params(ema, 1))
    teacher_own, teacher_ema = _params(own, 1, "teacher"), _params(ema, 1, "teacher")
    assert teacher_own.keys() == teacher_ema.keys()
    for key in teacher_own:
        if key.startswith("arg:"):
            np.testing.assert_array_equal(teacher_own[key], teacher_ema[key], err_msg=key)
    statistics = [k for k in teacher_own if k.startswith("aux:")]
    assert statistics and all(not np.array_equal(teacher_own[k], teacher_ema[k])
                              for k in statistics)
    # ... and they are what one measure of the teacher's weights on the unlabeled images gives
    config = RunConfig.load(own)
    lay = fit.layout(config, mx.kv.create("local"))
    args, auxs = runs.load_params(own, 1, runs.TEACHER)
    _, measured = fit.recalibrate(config, lay, 0, (args, auxs),
                                  fit.recalibration(config, lay, ICT), unlabeled=True)
    for key in statistics:
        np.testing.assert_array_equal(measured[key[4:]].asnumpy(), teacher_own[key], key)
