"""Networks as MXNet symbols, each module with ``get_symbol(num_classes, ...)`` as in MXNet's
image-classification examples.

``get_symbol(network, ...)`` picks one by name: ``resnet`` (symbols/resnet.py) or
``gluoncv:NAME`` for a model of GluonCV's CIFAR model zoo (symbols/gluoncv_zoo.py).
"""


def get_symbol(network, **kwargs):
    if network == "resnet":
        from . import resnet
        return resnet.get_symbol(**kwargs)
    if network.startswith("gluoncv:"):
        from . import gluoncv_zoo
        return gluoncv_zoo.get_symbol(network.split(":", 1)[1], **kwargs)
    raise ValueError("network must be 'resnet' or 'gluoncv:NAME', got %r" % (network,))
