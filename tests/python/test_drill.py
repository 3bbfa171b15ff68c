"""The restore drill (scripts/drill, `make drill`) in `make test`: pgBackRest
with an encrypted repository, a full backup, odl-db deployed and written
through the API, a point-in-time restore into a second cluster, and its
checks. The drill starts its own two clusters on free ports and removes them."""

from __future__ import annotations

import json
import subprocess

from conftest import TOP


def test_point_in_time_restore_drill_passes():
    result = subprocess.run([str(TOP / "scripts" / "drill")], capture_output=True, text=True, timeout=900)
    output = result.stdout + result.stderr
    print(output)
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert result.returncode == 0 and summary["ok"] is True, output
    # Every tenant written before the target, each chain checked against its digest.
    assert summary["chains_verified"] == 3
    assert summary["counts"]["tenants"] == 3 and summary["counts"]["audit_events"] > 3 * 6
    # The archive held commits after the target, so the restore stopped at it
    # rather than running out of WAL.
    assert summary["newest_archived_commit"] > summary["target"]["time"]
    assert 0 < summary["rpo_s"] <= 60
    assert summary["rto_s"] > 0 and summary["restored_bytes"] > 0
    assert summary["cipher"] == "aes-256-cbc" and summary["repository_files"] > 0
    assert any("status: valid" in line or "total valid" in line for line in summary["verify"])
