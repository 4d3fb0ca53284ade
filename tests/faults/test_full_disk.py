"""A full disk: the test makes a 4 MiB ext4 filesystem on a loop device (or,
where loop devices are unavailable, a 2 MiB tmpfs), points a disk store at it
and fills it. Put must fail cleanly (a Status, no crash, the store still
readable), and a memoized C++ function over that store (alone and as the
second tier under memory) must still return its result. Skips, saying why,
only when no filesystem can be mounted (not root, no CAP_SYS_ADMIN)."""

import shutil
import subprocess

import pytest

from faultlib import fault_tool


def try_mount(tmp_path):
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    image = tmp_path / "disk.img"
    if shutil.which("mkfs.ext4"):
        with open(image, "wb") as f:
            f.truncate(4 << 20)
        mk = subprocess.run(["mkfs.ext4", "-q", "-F", "-m", "0", str(image)], capture_output=True)
        if mk.returncode == 0:
            r = subprocess.run(["mount", "-o", "loop", str(image), str(mnt)], capture_output=True)
            if r.returncode == 0:
                return mnt, "ext4 4 MiB (loop)"
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m,mode=0700", "tmpfs", str(mnt)],
                       capture_output=True, text=True)
    if r.returncode == 0:
        return mnt, "tmpfs 2 MiB"
    pytest.skip(f"cannot mount a small filesystem here (needs root/CAP_SYS_ADMIN): {r.stderr.strip()}")


def test_full_disk(tmp_path):
    mnt, kind = try_mount(tmp_path)
    try:
        r = subprocess.run([fault_tool(), "full-disk", str(mnt)], capture_output=True, text=True,
                           timeout=120)
        print(f"\nfull disk on {kind}:\n{r.stdout}{r.stderr}")
        assert r.returncode == 0, r.stdout + r.stderr
        assert "full-disk: ok" in r.stdout
        assert "memo over disk:" in r.stdout or "did not open" in r.stdout
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)
