"""MXNet's floor for a Python operator: an identity CustomOp (data copied in -> out, gradient
grad -> grad), and the timed calls of an op, imperative and in a bound graph (benchmarks only)."""
import mxnet as mx
import numpy as np

IDENTITY_OP_TYPE = "IdentityFloor"
NUM_CLASSES = 10


class Identity(mx.operator.CustomOp):
    """The least a Python CustomOp can do: copy, with CustomOp's own ``assign``."""

    def forward(self, is_train, req, in_data, out_data, aux):
        self.assign(out_data[0], req[0], in_data[0])

    def backward(self, req, out_grad, in_data, out_data, in_grad, aux):
        self.assign(in_grad[0], req[0], out_grad[0])


@mx.operator.register(IDENTITY_OP_TYPE)
class IdentityProp(mx.operator.CustomOpProp):
    def __init__(self):
        super().__init__(need_top_grad=True)

    def list_arguments(self):
        return ["data"]

    def list_outputs(self):
        return ["output"]

    def infer_shape(self, in_shape):
        return in_shape, in_shape, []

    def create_operator(self, ctx, shapes, dtypes):
        return Identity()


PAIR_OP_TYPE = "IdentityPairFloor"


class IdentityPair(mx.operator.CustomOp):
    """The same floor for MixUp's signature: (data, label) in, (data_out, label_out) out, the
    label_out (N, num_classes) zeros; the label gets a zero gradient. MXNet's default
    backward dependencies (every tensor), as MixUp declares."""

    def forward(self, is_train, req, in_data, out_data, aux):
        self.assign(out_data[0], req[0], in_data[0])
        self.assign(out_data[1], req[1], 0)

    def backward(self, req, out_grad, in_data, out_data, in_grad, aux):
        self.assign(in_grad[0], req[0], out_grad[0])
        self.assign(in_grad[1], req[1], 0)


@mx.operator.register(PAIR_OP_TYPE)
class IdentityPairProp(mx.operator.CustomOpProp):
    def __init__(self, num_classes):
        super().__init__(need_top_grad=True)
        self.num_classes = int(num_classes)

    def list_arguments(self):
        return ["data", "label"]

    def list_outputs(self):
        return ["data_out", "label_out"]

    def infer_shape(self, in_shape):
        return in_shape, [in_shape[0], (in_shape[0][0], self.num_classes)], []

    def create_operator(self, ctx, shapes, dtypes):
        return IdentityPair()


def _inputs(shape, ctx):
    data = mx.nd.random.normal(shape=shape, ctx=ctx)
    label = mx.nd.array(np.arange(shape[0]) % NUM_CLASSES, ctx=ctx)
    head = mx.nd.random.normal(shape=shape, ctx=ctx)
    return data, label, head


def imperative(shape, ctx, op_type, **params):
    """One call of ``mx.nd.Custom`` under ``autograd.record()``, forward + backward, waited
    for. op_type IDENTITY_OP_TYPE takes data only; others (data, label), num_classes and
    ``params``."""
    data, label, head = _inputs(shape, ctx)
    data.attach_grad()

    def step():
        with mx.autograd.record():
            if op_type == IDENTITY_OP_TYPE:
                out = mx.nd.Custom(data, op_type=op_type)
            elif op_type == PAIR_OP_TYPE:
                out = mx.nd.Custom(data, label, op_type=op_type, num_classes=NUM_CLASSES)[0]
            else:
                out = mx.nd.Custom(data, label, op_type=op_type, num_classes=NUM_CLASSES,
                                   **params)[0]
        out.backward(head)
        mx.nd.waitall()
    return step


def imperative_graph(shape, ctx, build, **params):
    """The same for a composition of ndarray operators: ``build(mx.nd, data, label, ...)``
    returns (data_out, label_out)."""
    data, label, head = _inputs(shape, ctx)
    data.attach_grad()

    def step():
        with mx.autograd.record():
            out = build(mx.nd, data, label, num_classes=NUM_CLASSES, batch=shape[0],
                        ndim=len(shape), **params)[0]
        out.backward(head)
        mx.nd.waitall()
    return step


def bound(shape, ctx, build, **params):
    """One forward(is_train=True) + backward of a bound graph, waited for. ``build(data,
    label)`` returns the graph's (data_out, label_out) symbols; label_out gets no gradient."""
    data, label = build(mx.sym.var("data"), mx.sym.var("label"), **params)
    outputs = [data] if label is None else [data, mx.sym.BlockGrad(label)]
    exe = mx.sym.Group(outputs).simple_bind(
        ctx, data=shape, label=(shape[0],), grad_req={"data": "write", "label": "null"})
    values, labels, head = _inputs(shape, ctx)
    values.copyto(exe.arg_dict["data"])
    if "label" in exe.arg_dict:
        labels.copyto(exe.arg_dict["label"])
    heads = [head] + [mx.nd.zeros(o.shape, ctx=ctx) for o in exe.outputs[1:]]

    def step():
        exe.forward(is_train=True)
        exe.backward(heads)
        mx.nd.waitall()
    return step


def identity_symbol(data, label):
    return mx.sym.Custom(data, op_type=IDENTITY_OP_TYPE), None


def identity_pair_symbol(data, label):
    node = mx.sym.Custom(data, label, op_type=PAIR_OP_TYPE, num_classes=NUM_CLASSES)
    return node[0], node[1]


def custom_symbol(op_type):
    """build(data, label, **params) for a (data, label) -> (data_out, label_out) CustomOp."""
    def build(data, label, **params):
        node = mx.sym.Custom(data, label, op_type=op_type, num_classes=NUM_CLASSES, **params)
        return node[0], node[1]
    return build


def copy_floor(shape, ctx):
    """The memory floor: copy the data forward and the gradient back, nothing else."""
    x, dy = (mx.nd.random.normal(shape=shape, ctx=ctx) for _ in range(2))
    out, dx = mx.nd.zeros(shape, ctx=ctx), mx.nd.zeros(shape, ctx=ctx)

    def step():
        x.copyto(out)
        dy.copyto(dx)
        mx.nd.waitall()
    return step
