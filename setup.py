from setuptools import find_packages, setup

setup(
    name="mxnet-mixup",
    version="0.1.0",
    description="mixup (Zhang et al., 2017) as an Apache MXNet 1.x operator, with ResNet symbols "
                "and CIFAR-10 / Fashion-MNIST training scripts",
    python_requires=">=3.8",
    packages=find_packages(include=["mixup", "mixup.*", "symbols", "symbols.*"]),
    install_requires=["numpy", "tqdm", "matplotlib", "Pillow"],
    extras_require={
        # Choose exactly one of cpu / gpu. Install with `-c constraints.txt`.
        "cpu": ["mxnet==1.9.1"],
        "gpu": ["mxnet-cu112==1.9.1"],
        "test": ["pytest", "scipy"],
        "gluoncv": ["gluoncv==0.10.5.post0"],
        # ./tools.sh tabular: cross-validation, scaling and the bundled UCI sets
        "experiments": ["scikit-learn"],
    },
)
