"""A new user's first ./train.sh: options refused before any data work, the data looked up
where they are before the network is tried."""
import os

import pytest

from mixup_app.data import preparation, records, sources
from mixup_app import train


@pytest.fixture
def offline(monkeypatch):
    """No download may be tried."""
    def refuse(*args, **kwargs):
        pytest.fail("a download was tried: %r" % (args,))
    monkeypatch.setattr(sources, "download", refuse)


@pytest.fixture
def prepared(monkeypatch):
    """preparation.prepare recorded, not run: the datasets it was asked for."""
    calls = []
    monkeypatch.setattr(preparation, "prepare", lambda name, data_dir, **kw: calls.append(name))
    return calls


def test_auto_takes_a_prepared_fashion_mnist_without_trying_cifar10(tmp_path, offline,
                                                                    prepared):
    open(records.manifest_path(str(tmp_path), "fashion-mnist"), "w").close()
    said = []
    dataset, reason = preparation.resolve_dataset("auto", str(tmp_path), said.append)
    assert dataset == "fashion-mnist" and prepared == ["fashion-mnist"]
    assert len(said) == 1 and "FASHION-MNIST" in said[0] and "tools.sh data cifar10" in said[0]


def test_auto_takes_cifar10_files_that_are_here_before_a_prepared_fashion_mnist(
        tmp_path, offline, prepared):
    open(records.manifest_path(str(tmp_path), "fashion-mnist"), "w").close()
    os.makedirs(tmp_path / "downloads")
    open(tmp_path / "downloads" / "cifar-10-python.tar.gz", "w").close()
    assert preparation.resolve_dataset("auto", str(tmp_path), print)[0] == "cifar10"
    assert prepared == ["cifar10"]


def test_a_bad_option_is_refused_before_any_data_work(tmp_path, monkeypatch, capsys):
    def no_data(*args, **kwargs):
        pytest.fail("the data were prepared before the options were checked")
    monkeypatch.setattr(preparation, "resolve_dataset", no_data)
    monkeypatch.setattr(preparation, "prepare", no_data)
    code = train.main(["--data-dir", str(tmp_path), "--num-layers", "7",
                       "--out-dir", str(tmp_path / "run")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "num_layers=7" in err
    assert not os.path.exists(tmp_path / "run")
