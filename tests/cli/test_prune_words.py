"""What `coffre prune` says of a copy whose prune stopped: runs already removed are said removed, not "NOT PRUNED"."""

from __future__ import annotations

from pipeline.cli.prune import print_prune
from pipeline.prune import CopyPrune, PruneResult


def test_a_copy_whose_sweep_stopped_after_its_runs_went_says_they_went(capsys):
    stopped = CopyPrune("/media/usb", ok=False, reason="permission denied",
                        removed=["20260101T200000Z-aaaaaa", "20260102T200000Z-bbbbbb"])
    untouched = CopyPrune("/media/disk", ok=False, reason="/media/disk: the destination is missing")
    print_prune(PruneResult("act", False, [stopped, untouched], {}))
    said = capsys.readouterr().err
    assert ("/media/usb: removed 2 runs, but not yet the blocks only they needed — permission denied"
            in said), said
    assert "/media/usb: NOT PRUNED" not in said
    assert "/media/disk: NOT PRUNED — /media/disk: the destination is missing" in said
