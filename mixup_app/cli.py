"""Command-line manners shared by the project's commands: a refused option prints one line
naming it and a hint to --help (not the whole usage text), exit code 2; --help shows every
default."""
import argparse
import dataclasses
import math
import os
import sys

from mixup import params


def prog(wrapper):
    """The name a command shows (usage, --help, refusals): ``wrapper`` (``./train.sh``, the
    repository's way, also under ``python -m``) unless the command was invoked as one of the
    installed package's commands (``mixup-train``, ...: mixup_app/commands.py), whose own name it
    then is."""
    invoked = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else ""
    return invoked if invoked.startswith("mixup-") else wrapper


class ArgumentParser(argparse.ArgumentParser):
    def __init__(self, **kwargs):
        kwargs.setdefault("formatter_class", argparse.RawDescriptionHelpFormatter)
        if kwargs.get("prog"):
            kwargs["prog"] = prog(kwargs["prog"])
        super().__init__(**kwargs)

    def error(self, message):
        self.fail(message)

    def report(self, error):
        """Print 'PROG: error: MESSAGE  (see PROG --help)' on stderr; the exit code for a
        refusal is 2."""
        print("%s: error: %s  (see %s --help)" % (self.prog, error, self.prog),
              file=sys.stderr, flush=True)
        return 2

    def fail(self, error):
        sys.exit(self.report(error))

    def at_least(self, *checks):
        """Refuse the first (flag, value, least) whose value is below its least."""
        for flag, value, least in checks:
            if value < least:
                self.fail("%s must be >= %d, got %d" % (flag, least, value))

    def directory(self, flag, path):
        """Make the output directory ``path`` (given as ``flag``) if needed; refuse a file
        there or a directory that cannot be made."""
        if os.path.exists(path) and not os.path.isdir(path):
            self.fail("%s %s is a file, not a directory" % (flag, path))
        try:
            os.makedirs(path, exist_ok=True)
        except OSError as error:
            self.fail("%s %s: %s" % (flag, path, error.strerror or error))

    def output_file(self, flag, path):
        """Refuse, before any work, an output file ``path`` (given as ``flag``) that cannot be
        written: a directory there, or no directory to hold it (it is not made: a mistyped
        folder should not appear)."""
        if os.path.isdir(path):
            self.fail("%s %s is a directory, not a file" % (flag, path))
        folder = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(folder):
            self.fail("%s %s: no directory %s" % (flag, path, folder))
        if not os.access(folder, os.W_OK):
            self.fail("%s %s: directory %s is not writable" % (flag, path, folder))


def finite(text):
    """argparse ``type`` of a number option: float(text), refusing what is not a number and
    the infinities and NaN that float() accepts (no option means them), in the option's own
    one-line refusal ('argument --lr: must be a finite number, got 'inf'')."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError("must be a number, got %r" % text) from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError("must be a finite number, got %r" % text)
    return value


def add(group, flag, default, help_text, shown=None, **kwargs):
    """add_argument with the default shown in --help, as it is typed: a list default of an
    option taking several values (``nargs``) space-separated, any other list comma-separated.
    ``shown``: what to show instead, for a default that the command works out itself (give
    ``default=None``, and let the code test for None: the words in --help are never compared
    with)."""
    if shown is None:
        separator = " " if kwargs.get("nargs") not in (None, "?") else ","
        shown = (default if not isinstance(default, (tuple, list))
                 else separator.join(map(str, default)))
        if isinstance(default, str) and default == "":
            shown = "none"
    group.add_argument(flag, default=default, help="%s (default: %s)" % (help_text, shown),
                       **kwargs)


def explicit_options(parser, argv):
    """The destinations of the options actually given in argv (not left at their default)."""
    unset = object()
    namespace = argparse.Namespace(**{a.dest: unset for a in parser._actions
                                      if a.dest != argparse.SUPPRESS})
    parser.parse_args(argv, namespace=namespace)
    return {name for name, value in vars(namespace).items() if value is not unset}


def add_mixing_options(group, defaults=None):
    """Add --alpha, --mix-rate, ... (every mixing parameter) to an argparse group, with their
    defaults shown and their choices; ``defaults`` maps a parameter to the entry point's
    default (see :func:`mixup.params.mixing_defaults`). The values are checked by :func:`mixup.params.parse_mixing`."""
    defaults = defaults or params.mixing_defaults()
    # lam_mode='input' is not offered: the trainer's networks give the node no lam input
    choices = {"lam_mode": params.DRAWN_LAM_MODES, "mode": params.MODES,
               "pairing": params.PAIRINGS, "label_mode": params.LABEL_MODES}
    for f in dataclasses.fields(params.Mixing):
        kwargs = {"choices": list(choices[f.name])} if f.name in choices else {}
        if f.metadata["kind"] in ("float", "int"):
            kwargs["type"] = {"float": float, "int": int}[f.metadata["kind"]]
        add(group, "--" + f.name.replace("_", "-"), defaults[f.name], f.metadata["option"],
            **kwargs)
