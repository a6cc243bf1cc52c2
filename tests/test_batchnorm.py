"""mixup_app.batchnorm: BatchNorm's moving statistics measured again (AdaMixup's epochs end
with it), checked against numpy on every BatchNorm of a ResNet."""
import json

import mxnet as mx
import numpy as np
import pytest

import mixup_symbols
from mixup_app import batchnorm

SHAPE = (6, 3, 12, 12)


def _network():
    return mixup_symbols.get_symbol("resnet", num_classes=4, num_layers=8,
                                    image_shape=SHAPE[1:], train=False)


def _params(symbol, rng):
    """Random parameters and moving statistics for ``symbol``: (arg_params, aux_params)."""
    arg_shapes, _, aux_shapes = symbol.infer_shape(data=SHAPE, softmax_label=SHAPE[:1])
    args = {name: mx.nd.array(rng.normal(0.3, 0.5, size=shape))
            for name, shape in zip(symbol.list_arguments(), arg_shapes)
            if name not in ("data", "softmax_label")}
    auxs = {name: mx.nd.array(rng.uniform(0.5, 2.0, size=shape))
            for name, shape in zip(symbol.list_auxiliary_states(), aux_shapes)}
    return args, auxs


def _batches(rng, count):
    return [mx.io.DataBatch(data=[mx.nd.array(rng.normal(1.0, 2.0, size=SHAPE))],
                            label=[mx.nd.array(rng.integers(0, 4, SHAPE[0]))])
            for _ in range(count)]


def _reference(symbol, args, batches):
    """numpy: every BatchNorm's input, computed in training mode (each BatchNorm on its batch's
    own statistics, as the network trains), per channel its mean and biased variance on each
    batch, averaged over the batches: {moving statistic's name: value}."""
    graph = json.loads(symbol.tojson())
    nodes = graph["nodes"]
    inputs = {}
    for node in nodes:
        if node["op"] == "BatchNorm":
            source = nodes[node["inputs"][0][0]]
            inputs[node["name"]] = (source["name"] if source["op"] == "null"
                                    else source["name"] + "_output")
    internals = symbol.get_internals()
    probe = mx.sym.Group([internals[name] for name in inputs.values()])
    exe = probe.simple_bind(mx.cpu(), grad_req="null", data=SHAPE)
    sums = {}
    for batch in batches:
        exe.copy_params_from(args, allow_extra_params=True)
        exe.arg_dict["data"][:] = batch.data[0]
        outputs = exe.forward(is_train=True)
        for (bn, _), out in zip(inputs.items(), outputs):
            values = out.asnumpy().astype(np.float64)
            axes = (0, 2, 3)
            for key, value in ((bn + "_moving_mean", values.mean(axis=axes)),
                               (bn + "_moving_var", values.var(axis=axes))):
                sums[key] = sums.get(key, 0) + value
    return {key: value / len(batches) for key, value in sums.items()}


def test_moving_statistics_are_the_mean_of_each_batchnorms_batch_statistics(rng):
    symbol = _network()
    args, auxs = _params(symbol, rng)
    batches = _batches(rng, 3)
    measured = batchnorm.Recalibration(symbol, SHAPE, mx.cpu())(args, auxs, iter(batches), 3)
    expected = _reference(symbol, args, batches)
    assert set(measured) == set(auxs) == set(expected) and len(expected) >= 10
    for name, value in expected.items():
        np.testing.assert_allclose(measured[name].asnumpy(), value, rtol=2e-4, atol=1e-5,
                                   err_msg=name)


@pytest.fixture
def recalibrated(rng):
    """(a ResNet's random parameters, statistics, 3 batches, its Recalibration)."""
    symbol = _network()
    args, auxs = _params(symbol, rng)
    return args, auxs, _batches(rng, 3), batchnorm.Recalibration(symbol, SHAPE, mx.cpu())


def test_the_result_does_not_depend_on_the_old_statistics_nor_extra_entries(recalibrated):
    args, auxs, batches, recalibration = recalibrated
    first = recalibration(args, auxs, iter(batches), 2)
    garbage = {name: value * 1000 - 7 for name, value in auxs.items()}
    garbage["another_graphs_bn_moving_var"] = mx.nd.ones(3)
    second = recalibration(dict(args, other_weight=mx.nd.ones(2)), garbage, iter(batches), 2)
    assert set(second) == set(first)
    for name in first:
        np.testing.assert_array_equal(first[name].asnumpy(), second[name].asnumpy(), name)


def test_only_the_first_count_batches_are_read_and_too_few_are_refused(recalibrated):
    args, auxs, batches, recalibration = recalibrated
    two = recalibration(args, auxs, iter(batches), 2)
    again = recalibration(args, auxs, iter(batches[:2]), 2)
    for name in two:
        np.testing.assert_array_equal(two[name].asnumpy(), again[name].asnumpy(), name)
    with pytest.raises(ValueError, match="asked for 4 batches, got 3"):
        recalibration(args, auxs, iter(batches), 4)


def test_with_attrs_sets_every_batchnorm_and_nothing_else():
    symbol = batchnorm.with_attrs(_network(), use_global_stats=True)
    nodes = json.loads(symbol.tojson())["nodes"]
    norms = [n for n in nodes if n["op"] == "BatchNorm"]
    assert norms and all(n["attrs"]["use_global_stats"] == "True" for n in norms)
    assert not any("use_global_stats" in n.get("attrs", {}) for n in nodes
                   if n["op"] != "BatchNorm")
