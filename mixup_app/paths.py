"""Where the project's default folders are.

``./train.sh``, ``./test.sh`` and ``./tools.sh`` keep the caller's working directory (relative
paths a user gives are the user's) and set ``MIXUP_HOME`` to the repository, so the defaults
``data/`` and ``runs/`` are the repository's wherever the command is run from. Without it (plain
``python -m mixup_app.train``) they are relative to the working directory.
"""
import os


def home():
    return os.environ.get("MIXUP_HOME") or os.getcwd()


def default_data_dir():
    return os.path.join(home(), "data")


def default_runs_root():
    return os.path.join(home(), "runs")
