"""The data command: datasets as RecordIO.

    ./tools.sh data cifar10|fashion-mnist [--data-dir DIR] [--from FILE]
    ./tools.sh data synthetic [--data-dir DIR] [--synthetic-size TRAIN,VAL]
    ./tools.sh data images FOLDER [--data-dir DIR] [--name NAME] [--image-size H,W]
                                  [--channels 1|3] [--no-mirror]

write DIR/NAME_train.rec, DIR/NAME_val.rec (each with .idx) and DIR/NAME.json (the manifest),
NAME being the dataset (cifar10, fashion-mnist, synthetic) or the images' dataset name. Images
are stored as lossless PNG, the validation split in the official test order (a folder's in
class, then file name order). FOLDER holds train/CLASS/*.png|jpg|jpeg and val/CLASS/*; classes
are the folder names in sorted order. Exit code 2 when an input is refused.
"""
import os
import sys

from mixup_app import interrupts, paths
from mixup_app.cli import ArgumentParser
from mixup_app.data.catalogue import DATASETS, check_synthetic_counts
from mixup_app.data.preparation import prepare, prepare_images
from mixup_app.data.records import DataError


COMMAND = "./tools.sh data"   # works from a fresh clone (sets up the environment first)
# which option is meant for which dataset (anything else is refused, not silently ignored)
_ONLY_FOR = {"source": ("--from", ("cifar10", "fashion-mnist")),
             "synthetic_size": ("--synthetic-size", ("synthetic",)),
             "name": ("--name", ("images",)), "image_size": ("--image-size", ("images",)),
             "channels": ("--channels", ("images",)), "mirror": ("--no-mirror", ("images",))}


def _ints(parser, text, option, count):
    try:
        values = tuple(int(v) for v in text.split(","))
    except ValueError:
        values = ()
    if len(values) != count or min(values) < 1:
        parser.error("%s must be %d positive integers separated by commas, got %r"
                     % (option, count, text))
    return values


def build_parser():
    parser = ArgumentParser(prog=COMMAND, description=__doc__)
    parser.add_argument("dataset", metavar="DATASET", choices=sorted(DATASETS) + ["images"],
                        help="cifar10, fashion-mnist, synthetic, or images (a folder of "
                             "images, given as DIR)")
    parser.add_argument("folder", metavar="DIR", nargs="?",
                        help="images: the folder with train/CLASS/* and val/CLASS/*")
    parser.add_argument("--data-dir", default=paths.default_data_dir(),
                        help="where the .rec files and the manifest go (default: %(default)s)")
    group = parser.add_argument_group("cifar10 and fashion-mnist")
    group.add_argument("--from", dest="source", metavar="FILE",
                       help="cifar10: an archive you already have (cifar-10-python.tar.gz); "
                            "fashion-mnist: a directory with its four IDX files (default: "
                            "files in DATA_DIR/downloads, else downloaded)")
    group = parser.add_argument_group("synthetic")
    group.add_argument("--synthetic-size", metavar="TRAIN,VAL",
                       help="images in the training and validation splits; a set of another "
                            "size in DATA_DIR is rebuilt (default: 2000,500)")
    group = parser.add_argument_group("images")
    group.add_argument("--name", help="the dataset's name: DATA_DIR/NAME_train.rec ... "
                                      "(default: DIR's base name, sanitised)")
    group.add_argument("--image-size", metavar="H,W",
                       help="resize every image to H x W (default: keep the size, which must "
                            "then be the same for all images)")
    group.add_argument("--channels", type=int, choices=(1, 3),
                       help="store every image as grayscale (1) or RGB (3) (default: as they "
                            "are, which must then be the same for all images)")
    group.add_argument("--no-mirror", dest="mirror", action="store_false", default=None,
                       help="horizontal flips change the class: training never mirrors "
                            "(default: mirror)")
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    for key, (option, datasets) in _ONLY_FOR.items():
        if getattr(args, key) is not None and args.dataset not in datasets:
            parser.error("%s is for %s, not %s" % (option, " and ".join(datasets),
                                                   args.dataset))
    if (args.dataset == "images") != (args.folder is not None):
        parser.error("images needs the folder DIR" if args.dataset == "images" else
                     "DIR %r is for images only, not %s" % (args.folder, args.dataset))
    if os.path.exists(args.data_dir) and not os.path.isdir(args.data_dir):
        parser.error("--data-dir %s is a file, not a folder" % args.data_dir)
    counts = None
    if args.synthetic_size is not None:
        counts = _ints(parser, args.synthetic_size, "--synthetic-size", 2)
        try:
            check_synthetic_counts(counts)
        except DataError as error:
            parser.error(str(error))
    image_size = args.image_size and _ints(parser, args.image_size, "--image-size", 2)
    try:
        interrupts.raise_anywhere()  # preparing data runs no MXNet engine: safe to raise
        if args.dataset == "images":
            prepare_images(args.folder, args.data_dir, name=args.name, image_size=image_size,
                           channels=args.channels, mirror=args.mirror is not False)
        else:
            prepare(args.dataset, args.data_dir, args.source,
                    synthetic_counts=counts or (DATASETS["synthetic"].official_counts
                                                if args.dataset == "synthetic" else None))
    except DataError as error:
        print("error: %s" % error, file=sys.stderr)
        return 2
    except OSError as error:  # unwritable --data-dir, full disk, ...
        print("error: %s: %s" % (error.filename or args.data_dir, error.strerror or error),
              file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: no half-written file is left", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
