"""One batch's random draws, as pure host functions of a numpy Generator: lambda, the mixed
subset, the partner cycle, CutMix's boxes, the switch between the two, manifold mixup's place.

They are the plan the MixUp op (mixup/op.py) carries out on the device (mixup/mixing.py):
O(N) numbers per batch, drawn on the host from ``numpy.random.default_rng([seed, step])``, so
a batch's draws depend on nothing but the op's seed and the step (see ``mixup.seek``).
"""
from collections import namedtuple

import numpy as np

from .params import LAM_INPUT, mixed_count

MixPlan = namedtuple("MixPlan", "partner give mixed")
MixPlan.__doc__ = """One batch's mixup draws, as numpy arrays.

partner[i]: the sample whose input is mixed into sample i (a permutation without fixed points,
            but for pairing='same_class', where a sample alone of its class is its own, and
            'flip', where the middle row of an odd batch is).
give[i]:    weight of the partner's input in output i: 1 - lam_i if i is mixed, else 0.
mixed:      the mixed samples (indices); with lambda from the graph, the rows whose output
            depends on their lam_i (even where lam_i = 1 makes give[i] = 0).

With num_mix = k > 2, partner and give are (k - 1, N): partner[j] the permutation that gives
each row its (j + 1)-th partner and give[j] that partner's weight (the row's own weight is
1 - give.sum(axis=0)).
"""

CutMixPlan = namedtuple("CutMixPlan", "partner give boxes")
CutMixPlan.__doc__ = """One batch's CutMix draws.

partner[i]: as in MixPlan.
boxes[i]:   (top, bottom, left, right) of the pasted box, rows top..bottom-1 and columns
            left..right-1, already clipped to the image; (0, 0, 0, 0) if i is not mixed.
give[i]:    the box's area / (H * W): the partner's weight in label i (1 - lam'_i).
"""


def symmetric_dirichlet(rng, alpha, k, size):
    """``size`` draws of Dirichlet(alpha, ..., alpha) with k components from the numpy
    Generator ``rng``, for any alpha > 0: a (k, size) array whose columns sum to 1.

    numpy's own Beta sampler rejects until it accepts, which for alpha -> 0 takes longer and
    longer (alpha=1e-12: ~85 s for one draw; 1e-20: forever). Here component c is
    G_c / (G_1 + ... + G_k) with G ~ Gamma(a), and each Gamma(a) = Gamma(a + 1) * U**(1/a)
    (U uniform on (0, 1]) is kept in log space, where neither factor underflows: a fixed
    number of operations per draw. The ratios are taken relative to the largest G, so nothing
    overflows either. As alpha -> 0 one component tends to 1, each with probability 1/k.
    """
    log_gamma = np.log(rng.gamma(alpha + 1.0, size=(k, size)))
    log_gamma += np.log1p(-rng.random((k, size))) / alpha
    # G_c / sum(G) = exp(log G_c - max) / sum(exp(log G - max)): the largest term is 1
    relative = np.exp(log_gamma - log_gamma.max(axis=0))
    return relative / relative.sum(axis=0)


def symmetric_beta(rng, alpha, size):
    """``size`` draws of Beta(alpha, alpha) from the numpy Generator ``rng``, for any
    alpha > 0: the first component of :func:`symmetric_dirichlet` with two (as alpha -> 0 the
    draws tend to 0 or 1 with probability 1/2 each, as Beta(alpha, alpha))."""
    return symmetric_dirichlet(rng, alpha, 2, size)[0]


def random_partners(rng, batch):
    """pairing='random': one uniformly random cycle through the batch (a permutation without
    fixed points: partner[i] != i, uniform over the other samples)."""
    order = rng.permutation(batch)
    partner = np.empty(batch, dtype=np.int64)
    partner[order[:-1]] = order[1:]  # the sample after i on a random cycle
    partner[order[-1]] = order[0]
    return partner


def other_class_partners(rng, classes):
    """pairing='other_class': partners of another class wherever the batch allows it.

    The classes present are put in a uniformly random order and the samples of each class in
    a uniformly random order, one class after the other: a layout L of the N samples. With
    c the largest class count, a shift s is drawn uniformly from c .. N - c when c <= N / 2,
    else s = N // 2; the partner of L[k] is L[(k + s) mod N]. Since every class occupies a
    run of at most c <= s, N - s positions of L, no sample then has a partner of its own
    class; when c > N / 2, exactly 2c - N samples do, the fewest any permutation allows (the
    c samples of that class have only N - c others to go to). The result is a permutation
    without fixed points (1 <= s < N). Pure: a function of ``rng`` and ``classes``.
    """
    classes = np.asarray(classes)
    batch = len(classes)
    present, inverse, counts = np.unique(classes, return_inverse=True, return_counts=True)
    class_order = rng.permutation(len(present))
    within = rng.random(batch)
    layout = np.lexsort((within, class_order[inverse]))
    largest = int(counts.max())
    shift = (batch // 2 if 2 * largest > batch
             else int(rng.integers(largest, batch - largest + 1)))
    partner = np.empty(batch, dtype=np.int64)
    partner[layout] = layout[(np.arange(batch) + shift) % batch]
    return partner


def same_class_partners(rng, classes):
    """pairing='same_class': partners of the sample's own class only.

    The samples are laid out class after class (classes in ascending order), each class's
    samples in a uniformly random order, and the partner of a sample is the next one of its
    class in that order, the last taking the first: one uniformly random cycle through each
    class, so the partner of i is uniform over the other samples of i's class. A sample alone
    of its class in the batch is its own partner (a fixed point: the mixing leaves it as it
    is). Every sample whose class has another sample in the batch gets a partner of its own
    class, the most any pairing allows. Pure: a function of ``rng`` and ``classes``.
    """
    classes = np.asarray(classes)
    batch = len(classes)
    layout = np.lexsort((rng.random(batch), classes))
    grouped = classes[layout]
    position = np.arange(batch)
    # where each class's run of the layout starts, for every position
    first = np.flatnonzero(np.r_[True, grouped[1:] != grouped[:-1]])
    run_start = first[np.searchsorted(first, position, side="right") - 1]
    last = np.r_[grouped[1:] != grouped[:-1], True]
    following = np.where(last, run_start, position + 1)
    partner = np.empty(batch, dtype=np.int64)
    partner[layout] = layout[following]
    return partner


def flip_partners(batch):
    """pairing='flip': the partner of row i is row N-1-i, the batch reversed (an involution:
    i and N-1-i are each other's partner; with N odd the middle row is its own). No draw:
    the iterator's shuffle makes the pairs random, and the graph can build each row's partner
    itself (``mx.sym.reverse(data, axis=0)``)."""
    return np.arange(batch - 1, -1, -1, dtype=np.int64)


def partners_and_mixed(rng, batch, mix_rate, classes=None, pairing="random"):
    """(partner, mixed): the partner permutation (random, or by the samples' ``classes``
    under ``pairing``) and the mixed samples, round(mix_rate * N) of them chosen uniformly,
    less any that are their own partner (same_class: alone of their class; flip: the middle
    row of an odd batch), which stay unmixed."""
    if pairing == "random":
        partner = random_partners(rng, batch)
    elif pairing == "flip":
        partner = flip_partners(batch)
    elif classes is None:
        raise ValueError("MixUp: pairing=%r needs the samples' classes" % pairing)
    elif pairing == "other_class":
        partner = other_class_partners(rng, classes)
    else:
        partner = same_class_partners(rng, classes)
    mixed = rng.permutation(batch)[:mixed_count(mix_rate, batch)]
    if pairing in ("same_class", "flip"):  # a row that is its own partner stays unmixed
        mixed = mixed[partner[mixed] != mixed]
    return partner, mixed


def partner_powers(partner, count):
    """(count, N): row j is the partner cycle applied j + 1 times, the (j + 1)-th sample after
    each on its cycle (num_mix = count + 1). On a single cycle through the batch (pairing
    'random') the rows are count distinct others of each sample when count < N, their order
    a uniformly random arrangement of count of the other samples."""
    powers = [partner]
    for _ in range(count - 1):
        powers.append(partner[powers[-1]])
    return np.stack(powers)


def draw_plan(rng, batch, mix_rate, alpha, lam_mode="batch", classes=None, lam=None,
              pairing=None, num_mix=2):
    """Draw one batch's mixup :class:`MixPlan` from the numpy Generator ``rng`` (pure);
    ``classes``: the samples' classes, for the class pairings (``pairing``; given classes
    alone mean 'other_class'). With lam_mode='input', ``lam`` (N weights from the graph)
    replaces the draw of lambda: the partners and the mixed rows are drawn as for the other
    modes (the same draws, from the same ``rng``). With ``num_mix`` = k > 2, partner and give
    are (k - 1, N): the k - 1 partners of each row (:func:`partner_powers`) and their weights,
    the first k - 1 components of Dirichlet(alpha, ..., alpha); with k = 2 they are (N,), the
    draws of mixup (Dirichlet(alpha, alpha)'s first component is its Beta(alpha, alpha))."""
    if pairing is None:
        pairing = "random" if classes is None else "other_class"
    partner, mixed = partners_and_mixed(rng, batch, mix_rate, classes, pairing)
    others = num_mix - 1
    give = np.zeros((others, batch), dtype=np.float64)
    if lam_mode == LAM_INPUT:
        give[0, mixed] = 1.0 - np.asarray(lam, dtype=np.float64)[mixed]
    else:
        # one weight vector for the batch, or one per mixed sample; the partners' weights are
        # the first k - 1 components (the distribution is symmetric: any k - 1 of them will do)
        count = 1 if lam_mode == "batch" else len(mixed)
        give[:, mixed] = symmetric_dirichlet(rng, alpha, num_mix, count)[:others]
    if num_mix == 2:
        return MixPlan(partner=partner, give=give[0], mixed=mixed)
    return MixPlan(partner=partner_powers(partner, others), give=give, mixed=mixed)


def draw_cutmix_plan(rng, batch, height, width, mix_rate, alpha, lam_mode="batch",
                     classes=None, pairing=None):
    """Draw one batch's :class:`CutMixPlan` for images of height x width (pure, host-side)."""
    if pairing is None:
        pairing = "random" if classes is None else "other_class"
    partner, mixed = partners_and_mixed(rng, batch, mix_rate, classes, pairing)
    count = 1 if lam_mode == "batch" else len(mixed)
    cut = np.sqrt(1.0 - symmetric_beta(rng, alpha, count))  # side ratio: area ~ 1 - lam
    cut_h, cut_w = (height * cut).astype(np.int64), (width * cut).astype(np.int64)
    centre_y, centre_x = rng.integers(0, height, count), rng.integers(0, width, count)
    top = np.clip(centre_y - cut_h // 2, 0, height)
    bottom = np.clip(centre_y - cut_h // 2 + cut_h, 0, height)
    left = np.clip(centre_x - cut_w // 2, 0, width)
    right = np.clip(centre_x - cut_w // 2 + cut_w, 0, width)
    boxes = np.zeros((batch, 4), dtype=np.int64)
    boxes[mixed] = np.stack([top, bottom, left, right], axis=1)  # one row broadcasts
    area = (boxes[:, 1] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 2])
    return CutMixPlan(partner=partner, give=area / float(height * width), boxes=boxes)


def draw_batch_plan(rng, params, shape, classes=None, lam=None):
    """This batch's plan under ``params`` (a MixUpParams) for data of ``shape``: a MixPlan or
    a CutMixPlan; mode='switch' decides first, with one draw. ``classes`` (the samples'
    classes) are needed with the class pairings only, ``lam`` (the graph's weights) with
    lam_mode='input' only."""
    batch = shape[0]
    cutmix = params.mode == "cutmix" or (params.mode == "switch"
                                         and rng.random() < params.switch_prob)
    if cutmix:
        return draw_cutmix_plan(rng, batch, shape[2], shape[3], params.mix_rate,
                                params.cutmix_alpha, params.lam_mode, classes, params.pairing)
    return draw_plan(rng, batch, params.mix_rate, params.alpha, params.lam_mode, classes, lam,
                     params.pairing, params.num_mix)


def chosen_place(place_seed, step, num_places):
    """Manifold mixup: the place (0 .. num_places - 1) that mixes at training step `step`,
    uniform, a pure function of the seed shared by the nodes of one executor and the step."""
    return int(np.random.default_rng([place_seed, step]).integers(num_places))
