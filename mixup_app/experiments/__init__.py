"""Studies beyond image classification, each a command of ./tools.sh:

    tabular      ERM against mixup on scikit-learn's bundled UCI sets, by repeated cross-validation
    gan          a GAN on 2-D Gaussians whose discriminator trains on mixed points (the paper's
                 figure 5, as its authors' demo runs it); gan_report compares runs
"""
