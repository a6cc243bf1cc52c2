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

# command (the wrapper's name: ./train.sh is train, ./tools.sh gan-report is gan-report) ->
# the module that runs it; the wrappers' own table (tools.sh) is tested against this one
MODULES = {
    "train": "mixup_app.train",
    "test": "mixup_app.score",
    "data": "mixup_app.data.command",
    "report": "mixup_app.report",
    "show": "mixup_app.show",
    "tabular": "mixup_app.experiments.tabular",
    "gan": "mixup_app.experiments.gan",
    "gan-report": "mixup_app.experiments.gan_report",
}


def _run(command):
    # alter_sys=False keeps sys.argv[0], the command's own name, which the parsers show
    runpy.run_module(MODULES[command], run_name="__main__", alter_sys=False)


def train():
    _run("train")


def test():
    _run("test")


def data():
    _run("data")


def report():
    _run("report")


def show():
    _run("show")


def tabular():
    _run("tabular")


def gan():
    _run("gan")


def gan_report():
    _run("gan-report")
