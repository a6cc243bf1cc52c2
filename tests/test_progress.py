"""Progress off a terminal: plain lines, early and then at a steady pace."""
import io

from mixup import progress


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
