"""What the workers of a dist_sync run take from rank 0 through the kvstore (a kvstore init
is rank 0's value): a number they must agree on, a resumed run's BatchNorm statistics, a
--semi run's teacher. Each worker calls these at the same point of its run, in the same order
(the kvstore's barriers count the calls); without a cluster they do nothing."""


def agree(kv, value):
    """Rank 0's value of an integer, on every worker (a kvstore init is rank 0's)."""
    if kv.num_workers == 1:
        return value
    import mxnet as mx
    kv.init("mixup_agree", mx.nd.array([value]))
    out = mx.nd.zeros((1,))
    kv.pull("mixup_agree", out=out)
    return int(out.asscalar())


def from_rank0(kv, prefix, named):
    """Every worker's arrays set to rank 0's through the kvstore (a kvstore init is rank 0's):
    ``named`` {name: [array per device]}, keyed ``prefix + name``; nothing without a cluster
    (``kv`` None or of one worker). Every worker calls it at the same point, with the same
    names."""
    if kv is None or kv.num_workers == 1 or not named:
        return
    keys = [prefix + name for name in sorted(named)]
    kv.init(keys, [named[name][0] for name in sorted(named)])
    kv.pull(keys, out=[named[name] for name in sorted(named)])
