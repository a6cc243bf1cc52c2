"""./tools.sh show: a picture of a batch before and after mixing, captioned from the label."""
import pytest
import numpy as np

from conftest import cli
from mixup_app import show


def test_label_parts_name_the_two_classes_and_their_weights():
    row = np.array([0.0, 0.7, 0.0, 0.3])
    assert show.label_parts(row, ["a", "b", "c", "d"]) == [("b", 0.7), ("d", 0.3)]
    assert show.label_parts(np.eye(4)[2], list("abcd")) == [("c", 1.0)]


@pytest.mark.slow
def test_mixed_batch_is_what_the_op_makes_and_the_picture_is_written(data_dir, tmp_path):
    before, after, soft, classes = show.mixed_batch(data_dir, "synthetic", 6, seed=2,
                                                    mode="cutmix", mix_rate=1.0)
    assert before.shape == after.shape == (6, 3, 32, 32) and soft.shape == (6, 10)
    np.testing.assert_allclose(soft.sum(1), 1, atol=1e-6)
    # CutMix: every output pixel is the pixel of its own image or of one other image
    for i in range(6):
        own = after[i] == before[i]
        others = [np.all((after[i] == before[j]) | own) for j in range(6) if j != i]
        assert any(others)
    out = str(tmp_path / "grid.png")
    proc = cli("mixup_app.show", "--dataset", "synthetic", "--data-dir", data_dir, "--mode",
               "mixup", "--count", "4", "--out", out)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert open(out, "rb").read(4) == b"\x89PNG"
    refused = cli("mixup_app.show", "--dataset", "synthetic", "--data-dir", data_dir,
                  "--alpha", "-1", "--out", out)
    assert refused.returncode == 2 and "alpha" in refused.stderr and "-1" in refused.stderr
