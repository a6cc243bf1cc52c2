"""GluonCV's CIFAR model zoo as MXNet symbols (``--network gluoncv:NAME``), with MixUp in
front, so the networks of GluonCV's published mixup results train through the same fit loop.

The HybridBlock is called on a Symbol. Its parameters get the fixed prefix ``gcv_``, so the
names are the same every time the network is built: a training checkpoint loads into the
scoring graph. GluonCV's CIFAR networks expect normalised 32x32 inputs (use
``--image-shape 3,32,32``); MixUp can only sit at the input (``mixup_at`` input or none).
"""
from typing import Optional

import mxnet as mx

import mixup
from mixup.params import Mixing

from .resnet import loss

PREFIX = "gcv_"


def available():
    from gluoncv.model_zoo import get_model_list
    return sorted(name for name in get_model_list() if name.startswith("cifar_"))


def get_symbol(name: str, *, num_classes: int, image_shape=None, mixup_at: str = "input",
               mixing: Optional[Mixing] = None, train: bool = True, dtype: str = "float32",
               with_label: bool = False, **kwargs):
    """GluonCV's CIFAR model ``name`` as a symbol ending in ``SoftmaxOutput`` named
    ``softmax``, with MixUp at the input when ``mixup_at='input'`` and ``train``.

    Args:
        name (str): a ``cifar_*`` model of GluonCV's zoo (see :func:`available`).
        num_classes (int): number of classes.
        image_shape: accepted for a common signature (the networks expect 3x32x32).
        mixup_at (str): ``input`` or ``none``. Default ``input``.
        mixing (mixup.Mixing): how MixUp mixes (see ``mixup.symbol``); MixUp parameters
            given one by one (``alpha=0.4``) are laid over it, other ``kwargs`` ignored.
        train (bool): training graph (with MixUp) or scoring graph. Default True.
        dtype (str): ``float32`` only.
        with_label (bool): return ``(loss, label)``, ``label`` the (mixed) label the loss
            trains against when MixUp is in the graph, else None. Default False.
    """
    try:
        from gluoncv.model_zoo import get_model
    except ImportError:
        raise ValueError("--network gluoncv:%s needs GluonCV: MIXUP_EXTRAS=gluoncv "
                         "./scripts/ensure-env.sh (installed by default)" % name) from None
    except Exception as error:  # GluonCV 0.10.5 (2022) failing on a newer stack
        import sys
        import numpy
        raise ValueError("--network gluoncv:%s: GluonCV does not load on Python %d.%d with "
                         "numpy %s (%s: %s); it is tested with the pins of constraints.txt on "
                         "Python 3.11-3.13" % (name, sys.version_info[0], sys.version_info[1],
                                               numpy.__version__, type(error).__name__,
                                               error)) from None
    if not name.startswith("cifar_") or name not in available():
        raise ValueError("gluoncv:%s is not a GluonCV CIFAR model; choose one of %s"
                         % (name, ", ".join(available())))
    if mixup_at not in ("input", "none"):
        raise ValueError("gluoncv networks take MixUp at the input only, got mixup_at=%r"
                         % (mixup_at,))
    if dtype != "float32":
        raise ValueError("gluoncv networks are built in float32 here, got dtype=%r" % (dtype,))
    mixing, _ = mixup.params.mixing_from(mixing, **kwargs)
    net = get_model(name, classes=num_classes, prefix=PREFIX)
    data, label = mx.sym.var("data"), mx.sym.var("softmax_label")
    mixes = train and mixup_at == "input"
    if mixes:
        data, label = mixup.node_symbol(data, label, mixing.node(num_classes=num_classes),
                                        name="mixup")
    symbol = loss(net(data), label)
    if with_label:
        return symbol, (label if mixes else None)
    return symbol
