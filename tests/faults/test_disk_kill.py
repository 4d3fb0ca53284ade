"""Writer processes kill -9'd during disk-tier writes: >= 100 rounds, several
writers per round, values of 100 B .. 256 KiB, each a signed envelope whose
payload its generation number determines. After every round a fresh process
reads every key: 0 torn (MAC fails) and 0 wrong values allowed.

(tests/cpp/store/disk_store_test.cc has a 50-round, single-writer version.)"""

import random
import signal
import subprocess
import time

from faultlib import fault_tool, sanitized

ROUNDS = 30 if sanitized() else 120
WRITERS = 4


def test_kill9_writers(tmp_path):
    store = tmp_path / "store"
    rng = random.Random(8)
    present_max = 0
    started = time.monotonic()
    for round_no in range(ROUNDS):
        procs = []
        for w in range(WRITERS):
            procs.append(subprocess.Popen(
                [fault_tool(), "disk-writer", str(store), str(round_no * WRITERS + w + 1)],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
        for p in procs:
            assert p.stdout.readline().strip() == "ready", p.stderr.read()
        time.sleep(rng.uniform(0.005, 0.08))
        for p in procs:
            p.send_signal(signal.SIGKILL)
        for p in procs:
            p.wait()
            assert p.returncode == -signal.SIGKILL, (p.returncode, p.stderr.read())
            p.stdout.close()
            p.stderr.close()
        check = subprocess.run([fault_tool(), "disk-verify", str(store)], capture_output=True,
                               text=True, timeout=60)
        assert check.returncode == 0, f"round {round_no}: {check.stdout}{check.stderr}"
        present_max = max(present_max, int(check.stdout.split()[0].split("=")[1]))
    elapsed = time.monotonic() - started
    print(f"\ndisk kill -9: {ROUNDS} rounds x {WRITERS} writers, torn=0 wrong=0, "
          f"up to {present_max} keys present, {elapsed:.1f} s")
    assert present_max > 0
