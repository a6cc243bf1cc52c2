import os
import re
import shutil

from setuptools import Distribution, find_packages, setup

# Python versions: 3.11 (the pins MXNet 1.9.1 was used with), 3.12 and 3.13 (newer numpy with
# the aliases of mixup_compat). scripts/ensure-env.sh picks and checks the interpreter.
NEWER = 'python_version >= "3.13"'  # no numpy 1.x wheel: MXNet goes in with --no-deps

_install_data = Distribution().get_command_class("install_data")


class StartupHookIntoSitePackages(_install_data):
    """Installs mixup_compat.pth (mixup_compat's interpreter start-up hook) into site-packages
    beside the modules, where Python runs it at start-up, instead of under the prefix."""

    def run(self):
        target = self.get_finalized_command("install").install_lib
        os.makedirs(target, exist_ok=True)
        for _, files in self.data_files:
            for name in files:
                self.outfiles.append(shutil.copy(name, target))



def version():
    """mixup.__version__, read without importing the package (which imports MXNet)."""
    with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "mixup",
                           "__init__.py")) as f:
        return re.search(r'^__version__ = "([^"]+)"', f.read(), re.M).group(1)


setup(
    name="mxnet-mixup",
    version=version(),
    description="mixup (Zhang et al., 2017) as an Apache MXNet 1.x operator, with ResNet symbols "
                "and CIFAR-10 / Fashion-MNIST training scripts",
    long_description=open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "README.md"),
                          encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    author="the mxnet-mixup authors",
    url="https://github.com/mxnet-mixup/mxnet-mixup",
    license="Apache-2.0",
    license_files=["LICENSE"],
    classifiers=["Programming Language :: Python :: 3.11", "Programming Language :: Python :: 3.12",
                 "Programming Language :: Python :: 3.13"],
    python_requires=">=3.11,<3.14",
    packages=find_packages(include=["mixup", "mixup_symbols", "mixup_app", "mixup_app.*"]),
    py_modules=["mixup_compat"],
    data_files=[("", ["mixup_compat.pth"])],
    cmdclass={"install_data": StartupHookIntoSitePackages},
    # MXNet imports distutils, which Python 3.12 removed; setuptools provides it
    # numpy bounded per Python as constraints.txt pins it, so that a plain install never gets a
    # numpy MXNet 1.9.1 cannot run with (3.11: < 1.24, no aliases needed; 3.12: MXNet's own
    # numpy < 2; 3.13: < 2.3, which removed ndarray.tostring). MXNet itself is an extra (cpu or
    # gpu: choose the build); `import mixup` without it says in one line what to install.
    install_requires=['numpy>=1.17,<1.24; python_version < "3.12"',
                      'numpy>=1.24,<2; python_version == "3.12"',
                      'numpy>=2,<2.3; python_version >= "3.13"',
                      'matplotlib<3.9; python_version < "3.12"',
                      'matplotlib; python_version >= "3.12"',
                      "tqdm", "Pillow", 'setuptools; python_version >= "3.12"'],
    entry_points={"console_scripts": [
        # the wrappers' commands, installed: ./train.sh is mixup-train, ./test.sh mixup-test,
        # ./tools.sh TOOL is mixup-TOOL (mixup_app/commands.py)
        "mixup-train = mixup_app.commands:train", "mixup-test = mixup_app.commands:test",
        "mixup-data = mixup_app.commands:data", "mixup-report = mixup_app.commands:report",
        "mixup-show = mixup_app.commands:show", "mixup-tabular = mixup_app.commands:tabular",
        "mixup-gan = mixup_app.commands:gan", "mixup-gan-report = mixup_app.commands:gan_report",
    ]},
    extras_require={
        # Choose exactly one of cpu / gpu. Install with `-c constraints.txt`. On 3.13 MXNet
        # (which declares numpy < 2) is installed first with `pip install --no-deps`, and these
        # extras bring its other requirements.
        "cpu": ['mxnet==1.9.1; python_version < "3.13"',
                "requests>=2.20,<3; " + NEWER, "graphviz>=0.8.1,<0.9; " + NEWER],
        "gpu": ['mxnet-cu112==1.9.1; python_version < "3.13"',
                "requests>=2.20,<3; " + NEWER, "graphviz>=0.8.1,<0.9; " + NEWER],
        "test": ["pytest", "pytest-xdist", "scipy"],
        "gluoncv": ["gluoncv==0.10.5.post0"],
        # ./tools.sh tabular: cross-validation, scaling and the bundled UCI sets
        "experiments": ["scikit-learn"],
    },
)
