"""Pickles read as data (mixup_app.data.pickles): CIFAR-10's batches and MXNet's optimizer state are
built exactly as the full unpickler builds them, and anything else they could name is refused
before it is called."""
import os
import pickle

import mxnet as mx
import numpy as np
import py2pickle
import pytest

from mixup_app.data import pickles
from mixup_app import runs

MAX = 100_000


def test_a_python2_cifar_batch_is_built_as_the_full_unpickler_builds_it(rng):
    batch = {b"batch_label": b"testing batch 1 of 1", b"labels": [3, 1, 4, 1, 5],
             b"data": rng.integers(0, 256, size=(5, 3072), dtype=np.uint8),
             b"filenames": [b"a.png", b"b.png", b"c.png", b"d.png", b"e.png"]}
    raw = py2pickle.dumps(batch)
    ours = pickles.check_plain(pickles.load(raw, pickles.NUMPY_ARRAYS, MAX, encoding="bytes"))
    reference = pickle.loads(raw, encoding="bytes")  # trusted here: we wrote it
    assert ours.keys() == reference.keys() == batch.keys()
    np.testing.assert_array_equal(ours[b"data"], reference[b"data"])
    np.testing.assert_array_equal(ours[b"data"], batch[b"data"])
    assert ours[b"data"].dtype == np.uint8
    assert ours[b"labels"] == reference[b"labels"] == batch[b"labels"]
    assert ours[b"filenames"] == batch[b"filenames"]


@pytest.mark.parametrize("dtype", ["uint8", "int64", "float32", "bool"])
def test_numpy_arrays_of_plain_dtypes_pickled_by_python3_load(rng, dtype):
    array = (rng.random((4, 5)) * 100).astype(dtype)
    raw = pickle.dumps({"x": array, "n": [1, 2.5, None, "s"]}, protocol=4)
    got = pickles.check_plain(pickles.load(raw, pickles.NUMPY_ARRAYS, MAX))
    np.testing.assert_array_equal(got["x"], array)
    assert got["x"].dtype == array.dtype and got["n"] == [1, 2.5, None, "s"]


@pytest.mark.parametrize("payload, words", [
    (pickle.dumps(np.array([object(), 1], dtype=object)[1:], protocol=4), ["object"]),
    (pickle.dumps(np.zeros(2, dtype=[("a", "u1"), ("b", "f4")]), protocol=4), ["dtype"]),
    # numpy.ndarray called directly would allocate any shape: ndarray((2**40,))
    (b"\x80\x02cnumpy\nndarray\nJ\x00\x00\x00\x01\x85\x85R.", ["calls numpy.ndarray"]),
    # _reconstruct with another start than numpy's own (0,)
    (b"\x80\x02cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\nJ\x00\x00\x00\x01\x85"
     b"U\x01b\x87R.", ["never pickles"]),
    (pickle.dumps({1}, protocol=2), ["__builtin__.set"]),
    (pickle.dumps({1}, protocol=4), ["holds a set"]),
    (b"cos\nsystem\n(S'true'\ntR.", ["os.system"]),
    (b"(S'true'\nios\nsystem\n.", ["os.system"]),
    (b"\x80\x02\x82\x01.", ["EXT1"]),
    (b"\x80\x02P1\n.", ["PERSID"]),
    # a memo slot far beyond the file: CPython's C unpickler would size its memo table in GB
    (b"\x80\x02K\x01r\x00\x00\x00\x40.", ["memo entry 1073741824"]),
])
def test_what_is_not_data_is_refused_before_it_is_built(payload, words):
    with pytest.raises(pickles.Refused) as caught:
        pickles.check_plain(pickles.load(payload, pickles.NUMPY_ARRAYS, MAX))
    assert not isinstance(caught.value, pickles.Corrupt)
    for word in words:
        assert word in str(caught.value)


def test_too_many_opcodes_are_refused_before_anything_is_built():
    raw = b"\x80\x02(" + b"]" * 1000 + b"l."
    pickle.loads(raw)  # a valid pickle of 1000 empty lists
    with pytest.raises(pickles.Refused, match="more than 500 pickle opcodes"):
        pickles.load(raw, pickles.NUMPY_ARRAYS, 500)


@pytest.mark.parametrize("raw", [b"", b"\x80\x02}q\x00(U\x01aq\x01", b"\x00\x01\x02"])
def test_truncated_or_corrupt_pickles_are_corrupt(raw):
    with pytest.raises(pickles.Corrupt):
        pickles.load(raw, pickles.NUMPY_ARRAYS, MAX)


# ------------------------------------------------------------------ MXNet's optimizer state

def _states_of_a_module(path, momentum):
    """A .states file as the trainer writes it: Module.save_optimizer_states after a step."""
    data = mx.sym.var("data")
    net = mx.sym.SoftmaxOutput(mx.sym.FullyConnected(data, num_hidden=3, name="fc"),
                               name="softmax")
    module = mx.mod.Module(net, context=[mx.cpu()])
    module.bind(data_shapes=[("data", (4, 5))], label_shapes=[("softmax_label", (4,))])
    module.init_params()
    module.init_optimizer(kvstore="device", optimizer="sgd",
                          optimizer_params={"learning_rate": 0.1, "momentum": momentum})
    batch = mx.io.DataBatch([mx.nd.ones((4, 5))], [mx.nd.array([0, 1, 2, 0])])
    module.forward_backward(batch)
    module.update()
    module.save_optimizer_states(path)
    return module


@pytest.mark.parametrize("momentum", [0.9, 0.0])
def test_mxnet_states_pass_and_load_as_mxnet_loads_them(tmp_path, momentum):
    path = runs.states_path(str(tmp_path), 1)
    _states_of_a_module(path, momentum)
    runs.check_states(str(tmp_path), 1)
    raw = open(path, "rb").read()
    ours = pickles.load(raw, runs.MXNET_STATES, runs.STATES_MAX_OPCODES)
    reference = pickle.loads(raw)  # trusted here: MXNet wrote it in this test
    assert ours.keys() == reference.keys() and ours
    for key, state in reference.items():
        if state is None:
            assert ours[key] is None
        else:
            np.testing.assert_array_equal(ours[key].asnumpy(), state.asnumpy())


class _Calls:
    def __init__(self, func, *args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


@pytest.mark.parametrize("content, words", [
    (lambda marker: pickle.dumps({"fc_weight": _Calls(os.system, "touch " + marker)}, 4),
     ["posix.system"]),
    (lambda marker: pickle.dumps(_Calls(eval, "open(%r, 'w')" % marker), 2),
     ["__builtin__.eval"]),
    # NDArray(handle) would free that address when collected
    (lambda marker: pickle.dumps({0: _Calls(mx.nd.NDArray, 12345)}, 4), ["NDArray from 12345"]),
    # bytearray(n) would allocate n zero bytes
    (lambda marker: pickle.dumps({0: _Calls(bytearray, 10 ** 12)}, 4), ["bytearray from 'int'"]),
    (lambda marker: pickle.dumps([1, 2], 4), ["holds a list"]),
])
def test_other_states_are_refused_not_fallen_back_from(tmp_path, content, words):
    marker = str(tmp_path / "MARKER")
    with open(runs.states_path(str(tmp_path), 1), "wb") as f:
        f.write(content(marker))
    with pytest.raises(runs.RefusedCheckpoint) as caught:
        runs.check_states(str(tmp_path), 1)
    for word in words + ["model-0001.states"]:
        assert word in str(caught.value)
    assert not os.path.exists(marker)


def test_a_truncated_states_file_is_damage_to_fall_back_from(tmp_path):
    path = runs.states_path(str(tmp_path), 1)
    _states_of_a_module(path, 0.9)
    raw = open(path, "rb").read()
    open(path, "wb").write(raw[: len(raw) // 2])
    with pytest.raises(runs.CheckpointError, match="truncated or corrupt") as caught:
        runs.check_states(str(tmp_path), 1)
    assert not isinstance(caught.value, runs.RefusedCheckpoint)
