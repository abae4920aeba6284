"""Training curves: metrics.jsonl parsing (redone epochs, bad lines) and the plot."""

import json

import pytest

from supernet import DataError, plot_curves, read_metrics


def _write(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _row(phase, index, epoch, global_epoch, acc):
    return {"phase": phase, "phase_index": index, "epoch": epoch, "global_epoch": global_epoch,
            "acc_smallest": acc - 5, "acc_largest": acc, "acc_random": acc - 2}


def test_read_metrics_orders_epochs_and_keeps_a_redone_epochs_last_line(tmp_path):
    path = _write(tmp_path / "metrics.jsonl", [_row("full", 0, 2, 2, 70.0), _row("full", 0, 1, 1, 60.0),
                                                _row("full", 0, 2, 2, 72.0)])
    rows = read_metrics(path)
    assert [r["global_epoch"] for r in rows] == [1, 2]
    assert rows[1]["acc_largest"] == 72.0


@pytest.mark.parametrize("line", ["not json", '{"phase": "full"}', "[1, 2]"])
def test_read_metrics_names_the_bad_line(tmp_path, line):
    path = tmp_path / "metrics.jsonl"
    path.write_text(json.dumps(_row("full", 0, 1, 1, 60.0)) + "\n" + line + "\n")
    with pytest.raises(DataError, match="line 2"):
        read_metrics(path)


def test_read_metrics_missing_file(tmp_path):
    with pytest.raises(DataError, match="no such metrics file"):
        read_metrics(tmp_path / "nope.jsonl")


def test_plot_curves_of_two_runs_writes_a_png(tmp_path):
    ps = _write(tmp_path / "ps.jsonl", [_row("full", 0, 1, 1, 80.0), _row("full", 0, 2, 2, 85.0),
                                        _row("kernel", 1, 1, 3, 86.0)])
    uni = _write(tmp_path / "uni.jsonl", [_row("uniform", 0, e, e, 78.0 + e) for e in (1, 2, 3)])
    out = plot_curves({"ps": ps, "uniform": uni}, tmp_path / "plots" / "curves.png")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list(out.parent.glob(".*.tmp"))  # written atomically, nothing left behind
    with pytest.raises(DataError, match="no runs"):
        plot_curves({}, tmp_path / "empty.png")
