"""Progress off a terminal: plain lines, early and then at a steady pace."""
import io

from mixup_app import progress
from mixup_app.data import preparation


def test_off_a_terminal_the_trainer_gets_lines_not_silence(monkeypatch):
    monkeypatch.delenv("MIXUP_PROGRESS", raising=False)
    assert isinstance(progress.bar(100, "epoch 1/2", lines=True), progress.Lines)
    # without lines (data preparation, the experiments) it stays quiet as before
    assert progress.bar(100, "x").disable


def test_lines_come_after_the_first_steps_then_every_so_many():
    out = io.StringIO()
    lines = progress.Lines(128 * 120, "epoch 1/5", out=out)
    for _ in range(120):
        lines.update(128)
    text = out.getvalue().splitlines()
    assert len(text) == 3  # after 5, 50 and 100 updates
    assert text[0].startswith("epoch 1/5: 640/15360 img (4%) in 0m0")
    assert "img/s" not in text[0]  # no rate over the first, asynchronous steps
    assert text[2].startswith("epoch 1/5: 12800/15360 img (83%) in ")
    assert "img/s, ETA " in text[2]


def test_a_slow_step_still_gives_a_line_every_so_many_seconds(monkeypatch):
    out = io.StringIO()
    clock = [1000.0]
    monkeypatch.setattr(progress.time, "time", lambda: clock[0])
    lines = progress.Lines(100, "epoch 1/1", out=out)
    for _ in range(8):
        clock[0] += progress.LINE_SECONDS / 2
        lines.update(1)
    # after 5 updates, then every second update (30 s apart)
    assert len(out.getvalue().splitlines()) == 2


def test_mixup_progress_0_silences_the_lines_too(monkeypatch):
    monkeypatch.setenv("MIXUP_PROGRESS", "0")
    assert progress.bar(100, "epoch 1/2", lines=True).disable


def test_data_preparation_says_how_far_it_is_off_a_terminal(tmp_path, monkeypatch, capsys):

    monkeypatch.delenv("MIXUP_PROGRESS", raising=False)
    monkeypatch.setattr(progress, "LINE_SECONDS", 1e9)
    preparation.prepare("synthetic", str(tmp_path), log=lambda *_: None, synthetic_counts=(120, 45))
    err = capsys.readouterr().err
    # after the first few images of each split; every 10 000 images beyond
    assert "synthetic train: 5/120 img (4%) in " in err
    assert "synthetic val: 5/45 img (11%) in " in err
