"""4. Training throughput of ERM vs MixUp over short real runs (the training CLI), alternating."""
import os
import tempfile

from mixup_app import runs, train

from .common import table


def run(data_dir, dataset, num_layers=20, rounds=4, extra=()):
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(rounds):
            pair = (("ERM", "0"), ("MixUp", "0.7"))
            for name, mix in (pair if r % 2 == 0 else pair[::-1]):  # alternate who goes first
                out = os.path.join(tmp, "%s-%d" % (name, r))
                code = train.main(["--dataset", dataset, "--data-dir", data_dir,
                                   "--num-layers", str(num_layers), "--num-epochs", "1",
                                   "--mix-rate", mix, "--out-dir", out, "--progress", "off"]
                                  + list(extra))
                assert code == 0, "training failed"
                row = runs.read_metrics(out)[-1]
                rows.append({"run": "%s #%d" % (name, r + 1),
                             "images_per_s": row["images_per_sec"],
                             "epoch_s": row["seconds"]})
    table("4. Throughput over one-epoch runs (ResNet-%d, %s)" % (num_layers, dataset), rows,
          ["run", "images_per_s", "epoch_s"])
    return rows
