"""The installed package's commands (console entry points, setup.py): what ``./train.sh``,
``./test.sh`` and ``./tools.sh TOOL`` run in the repository, under names of their own.

    mixup-train        ./train.sh          (python -m mixup_app.train)
    mixup-test         ./test.sh           (python -m mixup_app.score)
    mixup-data         ./tools.sh data     (python -m mixup_app.data.command), and likewise
    mixup-report, mixup-show, mixup-tabular, mixup-gan, mixup-gan-report

Each runs its module exactly as ``python -m`` does (its ``__main__`` part included: the
thread count chosen before MXNet's pool is sized, MXNet's repeated native lines shown once),
and its ``--help`` and messages name the command as it was invoked (:func:`mixup_app.cli.prog`).
"""
import runpy


def _run(module):
    # alter_sys=False keeps sys.argv[0], the command's own name, which the parsers show
    runpy.run_module(module, run_name="__main__", alter_sys=False)


def train():
    _run("mixup_app.train")


def test():
    _run("mixup_app.score")


def data():
    _run("mixup_app.data.command")


def report():
    _run("mixup_app.report")


def show():
    _run("mixup_app.show")


def tabular():
    _run("mixup_app.experiments.tabular")


def gan():
    _run("mixup_app.experiments.gan")


def gan_report():
    _run("mixup_app.experiments.gan_report")
