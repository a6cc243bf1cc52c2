"""The installed package: its commands' names, its numpy bounds, and ``import mixup`` without
MXNet (the wheel does not bring it)."""
import os
import re
import subprocess
import sys

import pytest

import mixup_compat
from conftest import ROOT
from mixup_app.commands import MODULES


def run(argv, **kwargs):
    env = dict(os.environ, PYTHONPATH=ROOT, OMP_NUM_THREADS="1")
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, env=env, **kwargs)


def console_scripts():
    """{name: function} of setup.py's console entry points."""
    text = open(os.path.join(ROOT, "setup.py")).read()
    return dict(re.findall(r'"(mixup-[a-z-]+) = mixup_app\.commands:([a-z_]+)"', text))


def test_every_wrapper_command_has_an_installed_name():
    assert set(console_scripts()) == {"mixup-train", "mixup-test", "mixup-data",
                                      "mixup-report", "mixup-show", "mixup-tabular",
                                      "mixup-gan", "mixup-gan-report"}


def test_the_wrappers_run_the_modules_the_installed_commands_run():
    # ./train.sh and ./test.sh name their module; ./tools.sh maps each tool in a case table;
    # all three hand it to scripts/run-command.sh, which runs it
    for wrapper, command in (("train.sh", "train"), ("test.sh", "test")):
        assert ('scripts/run-command.sh" %s "$@"' % MODULES[command]
                in open(os.path.join(ROOT, wrapper)).read())
    runner = open(os.path.join(ROOT, "scripts", "run-command.sh")).read()
    assert 'exec "$py" -P -m mixup_compat --run "$module" "$@"' in runner
    tools = open(os.path.join(ROOT, "tools.sh")).read()
    table = dict(re.findall(r"^  ([a-z-]+)\) module=([a-z_.]+) ;;$", tools, re.M))
    assert dict(table, train=MODULES["train"], test=MODULES["test"]) == MODULES


@pytest.mark.slow
@pytest.mark.parametrize("name", ["mixup-train", "mixup-test", "mixup-data"])
def test_an_installed_command_shows_its_own_name(name, tmp_path):
    # the script pip writes for a console entry point
    script = tmp_path / name
    script.write_text("import sys\nfrom mixup_app.commands import %s\nsys.exit(%s())\n"
                      % ((console_scripts()[name],) * 2))
    proc = run([sys.executable, str(script), "--help"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.startswith("usage: %s " % name)


@pytest.mark.slow
def test_the_modules_keep_the_wrappers_name(tmp_path):
    proc = run([sys.executable, "-P", "-m", "mixup_app.score", "--help"], cwd=tmp_path)
    assert proc.returncode == 0 and proc.stdout.startswith("usage: ./test.sh ")


def test_import_mixup_without_mxnet_says_in_one_line_what_to_install(tmp_path):
    # -S: no site-packages, so neither numpy nor MXNet can be found
    code = "import sys; sys.path.insert(0, %r); import mixup" % ROOT
    proc = subprocess.run([sys.executable, "-S", "-c", code], capture_output=True, text=True,
                          timeout=60, cwd=tmp_path)
    assert proc.returncode == 1
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("ModuleNotFoundError: mxnet-mixup needs Apache MXNet 1.9.1")
    assert mixup_compat.mxnet_install_command() in last


def test_an_installed_command_without_mxnet_prints_only_that_line(tmp_path):
    script = tmp_path / "mixup-train"
    script.write_text("import sys\nsys.path.insert(0, %r)\nfrom mixup_app.commands import train\n"
                      "sys.exit(train())\n" % ROOT)
    proc = subprocess.run([sys.executable, "-S", str(script), "--help"], capture_output=True,
                          text=True, timeout=60, cwd=tmp_path)
    assert proc.returncode == 1
    assert proc.stderr.strip() == "error: " + mixup_compat.missing_mxnet_message()


def numpy_pins():
    """{python_version marker: numpy version} of constraints.txt."""
    text = open(os.path.join(ROOT, "constraints.txt")).read()
    return dict((marker, version) for version, marker in
                re.findall(r"^numpy==([0-9.]+); (python_version .+)$", text, flags=re.M))


@pytest.mark.parametrize("python", [(3, 11), (3, 12), (3, 13)])
def test_numpy_bounds_hold_the_pinned_numpy(python):
    """setup.py's numpy bound and the install command of the missing-MXNet message admit the
    numpy constraints.txt pins for that Python, and nothing MXNet cannot run with."""
    from packaging.markers import Marker
    from packaging.requirements import Requirement
    env = {"python_version": "%d.%d" % python, "python_full_version": "%d.%d.0" % python}
    pinned = [v for marker, v in numpy_pins().items() if Marker(marker).evaluate(env)]
    assert len(pinned) == 1
    text = open(os.path.join(ROOT, "setup.py")).read()
    bounds = [Requirement(r) for r in re.findall(r"'(numpy[^']*)'", text)]
    mine = [r for r in bounds if r.marker.evaluate(env)]
    assert len(mine) == 1 and mine[0].specifier.contains(pinned[0])
    assert not mine[0].specifier.contains({(3, 11): "1.24.0", (3, 12): "2.0.0",
                                           (3, 13): "2.3.0"}[python])
    command = mixup_compat.mxnet_install_command(python)
    said = Requirement(re.search(r'"(numpy[^"]*)"', command).group(1))
    assert said.specifier.contains(pinned[0])
    assert ("--no-deps" in command) == (python >= (3, 13))


def test_tools_help_exits_0_and_an_unknown_tool_2():
    tools = os.path.join(ROOT, "tools.sh")
    helped = run([tools, "--help"])
    assert helped.returncode == 0 and "./tools.sh data DATASET" in helped.stdout
    assert run([tools, "bogus"]).returncode == 2
    assert run([tools]).returncode == 2
