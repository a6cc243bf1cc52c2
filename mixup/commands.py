"""The installed package's commands (console entry points, setup.py): what ``./train.sh``,
``./test.sh`` and ``./tools.sh TOOL`` run in the repository, under names of their own.

    mixup-train        ./train.sh          (python -m mixup.train)
    mixup-test         ./test.sh           (python -m mixup.evaluate)
    mixup-data         ./tools.sh data     (python -m mixup.data), and likewise
    mixup-report, mixup-show, mixup-tabular, mixup-gan, mixup-gan-report

Each runs its module exactly as ``python -m`` does (its ``__main__`` part included: the
thread count chosen before MXNet's pool is sized, MXNet's repeated native lines shown once),
and its ``--help`` and messages name the command as it was invoked (:func:`mixup.cli.prog`).
"""
import runpy


def _run(module):
    # alter_sys=False keeps sys.argv[0], the command's own name, which the parsers show
    runpy.run_module(module, run_name="__main__", alter_sys=False)


def train():
    _run("mixup.train")


def test():
    _run("mixup.evaluate")


def data():
    _run("mixup.data")


def report():
    _run("mixup.report")


def show():
    _run("mixup.show")


def tabular():
    _run("mixup.tabular")


def gan():
    _run("mixup.gan")


def gan_report():
    _run("mixup.gan_report")
