"""Semi-supervised mixup: ``./train.sh --labeled N --semi ict|mixmatch``.

One module per job: common (the shared machinery of a run: the EMA teacher, the ramps, the
epoch loop, SemiMethod), ict (ICT) and mixmatch (MixMatch), the latter two each built on
common and never on each other. Here: what the rest of the application uses, :func:`start`
(which picks the method) and the metrics rows' fields.
"""
import mxnet as mx

from mixup_app import runs
from mixup_app.semi.ict import ICT
from mixup_app.semi.mixmatch import MixMatch
from mixup_app.semi.common import ROW_FIELDS, VAL_FIELDS


METHODS = {"ict": ICT, "mixmatch": MixMatch}


def start(config, lay, student, run_dir, begin_epoch, seed, kv=None):
    """The run's semi-supervised method around the bound student (None: supervised): its
    teacher the student's parameters (a new run) or the checkpoint's teacher (--resume; on a
    cluster rank 0 reads it and ``kv`` gives it to every worker); MXNet's RNG is seeded with
    ``seed`` before its MixUp node is made (which draws its own)."""
    if config.semi == "none":
        return None
    mx.random.seed(seed)
    method = METHODS[config.semi](config, lay, student, begin_epoch * lay.batches_per_epoch)
    method.start_teacher(runs.load_params(run_dir, begin_epoch, runs.TEACHER)
                         if begin_epoch and lay.rank == 0 else None, kv)
    return method
