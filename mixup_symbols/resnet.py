"""Pre-activation ResNets (He et al., "Identity Mappings in Deep Residual Networks") as MXNet
symbols, with a MixUp node at the input or inside the body.

Two families, chosen by the image height (after cropping):

* height <= 28, the CIFAR family: three stages; ``num_layers = 6n + 2`` gives n basic units per
  stage (filters 16, 16, 32, 64), ``9n + 2`` with ``num_layers >= 164`` gives n bottleneck units
  (16, 64, 128, 256). ``num_layers=50`` at 28x28 is three stages of 8 basic units.
* height > 28, the ImageNet family: 18, 34 (basic), 50, 101, 152 (bottleneck) layers, four
  stages (64, 256, 512, 1024, 2048 for bottleneck). At height <= 32 (CIFAR at 32x32) the stem is
  a 3x3 stride-1 convolution without max-pooling, the usual bottleneck ResNet-50 for CIFAR;
  larger images get the 7x7 stride-2 stem and max-pooling.

Every parameter has an explicit name that does not depend on MixUp, so a checkpoint of the
training graph loads into the scoring graph (``train=False``), which omits MixUp.
"""
from typing import Callable, Optional, Sequence, Tuple, Union

import mxnet as mx

import mixup
from mixup.params import Mixing

BN_MOMENTUM = 0.9
BN_EPS = 2e-5
IMAGENET_UNITS = {18: [2, 2, 2, 2], 34: [3, 4, 6, 3], 50: [3, 4, 6, 3], 101: [3, 4, 23, 3],
                  152: [3, 8, 36, 3]}
# Where a MixUp node can sit, in data order: the single home of these names (the trainer's
# --mixup-at choices come from here).
MIXUP_PLACES = ("none", "input", "stem", "stage1", "stage2", "stage3")


def _bn(data, name):
    return mx.sym.BatchNorm(data=data, fix_gamma=False, eps=BN_EPS, momentum=BN_MOMENTUM,
                            name=name)


def _conv(data, filters, kernel, stride, name, workspace):
    pad = (kernel // 2, kernel // 2)
    return mx.sym.Convolution(data=data, num_filter=filters, kernel=(kernel, kernel),
                              stride=(stride, stride), pad=pad, no_bias=True,
                              workspace=workspace, name=name)


def residual_unit(data, filters, stride, project, name, bottleneck, workspace):
    """BN-ReLU-conv units; the shortcut is a 1x1 projection when shape changes."""
    act = mx.sym.Activation(data=_bn(data, name + "_bn1"), act_type="relu", name=name + "_relu1")
    if bottleneck:
        inner = filters // 4
        body = _conv(act, inner, 1, 1, name + "_conv1", workspace)
        body = mx.sym.Activation(_bn(body, name + "_bn2"), act_type="relu", name=name + "_relu2")
        body = _conv(body, inner, 3, stride, name + "_conv2", workspace)
        body = mx.sym.Activation(_bn(body, name + "_bn3"), act_type="relu", name=name + "_relu3")
        body = _conv(body, filters, 1, 1, name + "_conv3", workspace)
    else:
        body = _conv(act, filters, 3, stride, name + "_conv1", workspace)
        body = mx.sym.Activation(_bn(body, name + "_bn2"), act_type="relu", name=name + "_relu2")
        body = _conv(body, filters, 3, 1, name + "_conv2", workspace)
    shortcut = (mx.sym.Convolution(data=act, num_filter=filters, kernel=(1, 1),
                                   stride=(stride, stride), no_bias=True, workspace=workspace,
                                   name=name + "_sc") if project else data)
    return body + shortcut


def architecture(num_layers, image_shape):
    """(units per stage, filters [stem, stage1, ...], bottleneck, family) for a configuration."""
    height = image_shape[1]
    if height <= 28:
        if (num_layers - 2) % 9 == 0 and num_layers >= 164:
            return [(num_layers - 2) // 9] * 3, [16, 64, 128, 256], True, "cifar"
        if (num_layers - 2) % 6 == 0 and num_layers >= 8:
            return [(num_layers - 2) // 6] * 3, [16, 16, 32, 64], False, "cifar"
        raise ValueError("num_layers=%d has no CIFAR-family ResNet (height %d <= 28): use 6n+2 "
                         "(basic units) or 9n+2 >= 164 (bottleneck)" % (num_layers, height))
    if num_layers not in IMAGENET_UNITS:
        raise ValueError("num_layers=%d has no ImageNet-family ResNet (height %d > 28): use "
                         "one of %s" % (num_layers, height, sorted(IMAGENET_UNITS)))
    bottleneck = num_layers >= 50
    filters = [64, 256, 512, 1024, 2048] if bottleneck else [64, 64, 128, 256, 512]
    return IMAGENET_UNITS[num_layers], filters, bottleneck, "imagenet"


def parse_places(mixup_at: Union[str, Sequence[str]]) -> Tuple[str, ...]:
    """The MixUp places named by ``mixup_at`` ("none", one place, a comma-separated list or a
    sequence of places), in data order, each one of :data:`MIXUP_PLACES`; () for none."""
    names = mixup_at.split(",") if isinstance(mixup_at, str) else list(mixup_at)
    names = [str(name).strip() for name in names]
    unknown = [name for name in names if name not in MIXUP_PLACES]
    if unknown or not names:
        raise ValueError("mixup_at must be one of %s or a comma-separated list of them, got %r"
                         % (MIXUP_PLACES, mixup_at))
    if "none" in names:
        if len(names) > 1:
            raise ValueError("mixup_at cannot combine 'none' with places, got %r" % (mixup_at,))
        return ()
    if len(set(names)) != len(names):
        raise ValueError("mixup_at names a place twice: %r" % (mixup_at,))
    return tuple(place for place in MIXUP_PLACES if place in names)


def get_symbol(num_classes: int, num_layers: int, image_shape: Union[str, Sequence[int]], *,
               mixup_at: Union[str, Sequence[str]] = "none", mixing: Optional[Mixing] = None,
               train: bool = True, dtype: str = "float32", with_label: bool = False,
               conv_workspace: int = 256, mixup_impl: Optional[Callable] = None, **kwargs):
    """The network ending in ``SoftmaxOutput`` named ``softmax`` (label ``softmax_label``).

    With MixUp in the training graph the loss takes the mixed probability labels;
    ``train=False`` builds the scoring graph without MixUp (same parameter names, so a training
    checkpoint loads into it). ``kwargs`` (unused options of a training script) are ignored, as
    in MXNet's examples, except the MixUp parameters given one by one (``alpha=0.4``), which
    are laid over ``mixing``.

    Args:
        num_classes (int): number of classes.
        num_layers (int): depth; CIFAR family (height <= 28): 6n+2, or 9n+2 >= 164
            (bottleneck); ImageNet family: 18, 34, 50, 101, 152.
        image_shape (str or ints): C,H,W after cropping.
        mixup_at (str or sequence): where MixUp sits: ``none`` | ``input`` | ``stem`` (after
            the first convolution: mixup on feature maps) | ``stage1`` | ``stage2`` |
            ``stage3`` (after that stage), or several of them (``"input,stage1,stage2"`` or a
            tuple): `manifold mixup <https://arxiv.org/abs/1806.05236>`_, a MixUp node at each
            place, exactly one of which, chosen uniformly at random for every batch (and
            every device's slice), mixes, the soft label following from there to the loss.
            Default ``none``. The places are :data:`MIXUP_PLACES`.
        mixing (mixup.Mixing): how the MixUp nodes mix (alpha, mix_rate, mode, ...; see
            ``mixup.symbol``); default ``mixup.Mixing()``, the operator's defaults. CutMix needs
            4-D feature maps, which every place has.
        train (bool): the training graph (with MixUp) or the scoring graph (without). Default
            True.
        dtype (str): ``float32`` or ``float16`` (cast after a MixUp at the input, logits back
            to float32). Default ``float32``.
        with_label (bool): return ``(loss, label)``, ``label`` being the (mixed, probability)
            label the loss trains against when MixUp is in the graph, else None (e.g. to
            ``mx.sym.Group([loss, mx.sym.BlockGrad(label)])`` for training metrics). Default
            False: the loss symbol alone.
        conv_workspace (int): MXNet's convolution workspace (MB).
        mixup_impl (callable): ``mixup_impl(data, label, name=..., num_classes=..., alpha=...,
            mix_rate=..., lam_mode=...) -> (data, label)`` replaces the MixUp node at a single
            place (benchmarks compare other implementations with it; it takes those three
            mixing parameters only).
    """
    image_shape = tuple(int(v) for v in (image_shape.split(",") if isinstance(image_shape, str)
                                          else image_shape))
    places = parse_places(mixup_at)
    if dtype not in ("float32", "float16"):
        raise ValueError("dtype must be float32 or float16, got %r" % (dtype,))
    if mixup_impl is not None and len(places) > 1:
        raise ValueError("mixup_impl replaces a single MixUp node, got mixup_at=%r"
                         % (mixup_at,))
    units, filters, bottleneck, family = architecture(num_layers, image_shape)
    if not train:
        places = ()
    # a parsed Mixing is taken as it is; keywords given the old way (alpha=0.4) are parsed
    # here, even for a graph (scoring) in which no node is placed
    mixing, _ = mixup.params.mixing_from(mixing, **kwargs)
    label = mx.sym.var("softmax_label")

    def mixup_node(data, label, name, **wiring):
        if mixup_impl is not None:
            return mixup_impl(data, label, name=name, num_classes=num_classes,
                              alpha=mixing.alpha, mix_rate=mixing.mix_rate,
                              lam_mode=mixing.lam_mode)
        return mixup.node_symbol(data, label, mixing.node(num_classes=num_classes, **wiring),
                                 name=name)

    def place(symbol, where):
        nonlocal label
        if where not in places:
            return symbol
        k = places.index(where)
        extra = {}
        if len(places) > 1:
            # the labels of the later nodes come checked (and smoothed) from the first
            extra = dict(place=k, num_places=len(places), check_labels=k == 0)
        name = "mixup" if len(places) == 1 else "mixup_" + where
        symbol, label = mixup_node(symbol, label, name, **extra)
        return symbol

    body = place(mx.sym.var("data"), "input")
    if dtype == "float16":
        body = mx.sym.Cast(body, dtype="float16")
    # bn_data: input normalisation without learned scale (a fixed-gamma BatchNorm)
    body = mx.sym.BatchNorm(body, fix_gamma=True, eps=BN_EPS, momentum=BN_MOMENTUM,
                            name="bn_data")
    height = image_shape[1]
    if family == "cifar" or height <= 32:
        body = _conv(body, filters[0], 3, 1, "conv0", conv_workspace)
    else:
        body = _conv(body, filters[0], 7, 2, "conv0", conv_workspace)
        body = mx.sym.Activation(_bn(body, "bn0"), act_type="relu", name="relu0")
        body = mx.sym.Pooling(body, kernel=(3, 3), stride=(2, 2), pad=(1, 1), pool_type="max")
    body = place(body, "stem")
    for stage, count in enumerate(units):
        for unit in range(count):
            stride = 2 if unit == 0 and stage > 0 else 1
            project = unit == 0 and (stride != 1 or filters[stage] != filters[stage + 1])
            body = residual_unit(body, filters[stage + 1], stride, project,
                                 "stage%d_unit%d" % (stage + 1, unit + 1), bottleneck,
                                 conv_workspace)
        body = place(body, "stage%d" % (stage + 1))
    body = mx.sym.Activation(_bn(body, "bn_final"), act_type="relu", name="relu_final")
    body = mx.sym.Pooling(body, global_pool=True, kernel=(7, 7), pool_type="avg", name="pool")
    logits = mx.sym.FullyConnected(mx.sym.flatten(body), num_hidden=num_classes, name="fc")
    if dtype == "float16":
        logits = mx.sym.Cast(logits, dtype="float32")
    net = loss(logits, label)
    if with_label:
        return net, (label if places else None)
    return net


def loss(logits, label):
    """Softmax cross-entropy for class labels (N,) or probability labels (N, C).

    normalization='null' in both cases: the gradient is p - y per sample, so the trainer's
    ``rescale_grad = 1 / batch_size`` is the only division by the batch and one learning rate
    means the same with and without MixUp.
    """
    return mx.sym.SoftmaxOutput(data=logits, label=label, normalization="null", name="softmax")
