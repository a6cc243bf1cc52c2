"""One ./train.sh run parses its mixing options once and builds its training graph once (issue
30): RunConfig.from_options reads the options, the networks take the parsed Mixing as it is,
and the graph preflight builds to refuse a bad network is the one fit trains. MXNet's own
creation of a node parses the op's strings (MixUpProp, remembered per set of strings): counted
apart. Before: 15 parses of the options (9 in from_options, one at a time then all together;
2 in each of 3 builds of the graph) and 3 builds."""
import collections

import pytest

import mixup
import mixup_symbols
from mixup import op, params
from mixup_app import fit, preflight, train


@pytest.fixture
def calls(monkeypatch):
    """Counts of the calls of parse_mixing / parse from Python (under every name they are
    bound to), of the op's own parse of MXNet's strings, and of the networks' builds."""
    counts = collections.Counter()

    def counted(key, function):
        def wrapper(*args, **kwargs):
            counts[key] += 1
            return function(*args, **kwargs)
        return wrapper

    parse_mixing = counted("options", params.parse_mixing)
    parse = counted("options", params.parse)
    for module in (params, mixup):
        monkeypatch.setattr(module, "parse_mixing", parse_mixing)
        monkeypatch.setattr(module, "parse", parse)
    monkeypatch.setattr(op, "parse", counted("node", op.parse))
    monkeypatch.setattr(mixup_symbols, "get_symbol", counted("graph", mixup_symbols.get_symbol))
    op._parse_strings.cache_clear()
    fit._training_graph.cache_clear()
    return counts


def test_one_run_parses_its_mixing_options_once_and_builds_its_graph_once(calls, data_dir):
    args = train.build_parser().parse_args([
        "--dataset", "synthetic", "--data-dir", data_dir, "--synthetic-size", "120,45",
        "--num-layers", "8", "--image-shape", "3,28,28", "--batch-size", "20",
        "--alpha", "0.4"])
    config = preflight.new_config(train.config_options(args, None), lambda *_: None)
    symbol, mixes = fit.training_graph(config, config.num_classes)  # what fit.fit trains
    assert mixes and config.mixing.alpha == 0.4
    assert calls == {"options": 1, "node": 1, "graph": 1}
