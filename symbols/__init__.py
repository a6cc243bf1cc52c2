"""Networks as MXNet symbols, each module with ``get_symbol(num_classes, ...)`` as in MXNet's
image-classification examples.

``get_symbol(network, ...)`` picks one by name: ``resnet`` (symbols/resnet.py) or
``gluoncv:NAME`` for a model of GluonCV's CIFAR model zoo (symbols/gluoncv_zoo.py).
"""


def get_symbol(network, with_label=False, **kwargs):
    if network == "resnet":
        from . import resnet
        net = resnet.get_symbol(**kwargs)
    elif network.startswith("gluoncv:"):
        from . import gluoncv_zoo
        net = gluoncv_zoo.get_symbol(network.split(":", 1)[1], **kwargs)
    else:
        raise ValueError("network must be 'resnet' or 'gluoncv:NAME', got %r" % (network,))
    if not with_label:
        return net
    internals = net.get_internals()
    label = (internals["mixup_label_out"] if "mixup_label_out" in internals.list_outputs()
             else None)
    return net, label
