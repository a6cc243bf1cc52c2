"""Networks as MXNet symbols, each module with ``get_symbol(num_classes, ...)`` as in MXNet's
image-classification examples.

``get_symbol(network, ...)`` picks one by name: ``resnet`` (mixup_symbols/resnet.py) or
``gluoncv:NAME`` for a model of GluonCV's CIFAR model zoo (mixup_symbols/gluoncv_zoo.py).
"""


def get_symbol(network: str, *, with_label: bool = False, **kwargs):
    """The training (or, with ``train=False``, scoring) symbol of ``network``.

    Args:
        network (str): ``resnet`` or ``gluoncv:NAME`` (a ``cifar_*`` model of GluonCV).
        with_label (bool): return ``(loss, label)``: ``label`` is the (mixed, probability)
            label the loss trains against when MixUp is in the graph, else None. Default
            False: the loss symbol alone.
        **kwargs: the network module's own ``get_symbol`` parameters (``num_classes``,
            ``num_layers``, ``image_shape``, ``mixup_at``, ``alpha``, ``mix_rate``,
            ``lam_mode``, ``mode``, ``cutmix_alpha``, ``switch_prob``, ``label_smoothing``,
            ``dtype``, ``train``, ...; see mixup_symbols/resnet.py).
    """
    if network == "resnet":
        from . import resnet
        return resnet.get_symbol(with_label=with_label, **kwargs)
    if network.startswith("gluoncv:"):
        from . import gluoncv_zoo
        return gluoncv_zoo.get_symbol(network.split(":", 1)[1], with_label=with_label, **kwargs)
    raise ValueError("network must be 'resnet' or 'gluoncv:NAME', got %r" % (network,))
