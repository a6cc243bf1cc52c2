"""mixup_app/plots.py: what the comparison plot shows of groups of runs."""
from mixup_app import plots


def test_runs_of_one_group_share_a_colour_and_differ_in_line_style(drawn, tmp_path):
    rows = [{"epoch": e, "val_accuracy": 0.5 + e / 100, "val_loss": 1.0 / e} for e in (1, 2, 3)]
    named = {"erm s1": rows, "erm s2": rows, "mixup s1": rows, "mixup s2": rows}
    groups = {"erm s1": "erm", "erm s2": "erm", "mixup s1": "mixup", "mixup s2": "mixup"}
    plots.compare(named, str(tmp_path / "cmp.png"), groups=groups)
    panels = zip(drawn["axes"][:2], ("val_accuracy", "val_loss"))  # accuracy, then loss
    for ax, key in panels:
        lines = {line.get_label(): line for line in ax.get_lines()}
        assert lines["erm s1"].get_color() == lines["erm s2"].get_color()
        assert lines["mixup s1"].get_color() == lines["mixup s2"].get_color()
        assert lines["erm s1"].get_color() != lines["mixup s1"].get_color()
        assert lines["erm s1"].get_linestyle() != lines["erm s2"].get_linestyle()
        assert list(lines["mixup s2"].get_ydata()) == [r[key] for r in rows]
    # without groups every run has its own colour
    plots.compare(named, str(tmp_path / "cmp.png"))
    colours = {line.get_color() for line in drawn["axes"][0].get_lines()}
    assert len(colours) == 4
