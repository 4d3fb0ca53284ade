"""Redis killed (SIGKILL) and restarted under load, with the default backoff
settings (what a user gets): against the library's Redis store (fault_tool
redis-load, 4 threads) and against memokeyd backed by Redis (8 client
threads). No crash, no wrong value ever, and recovery — the time from Redis
accepting connections again to the clients' operations succeeding again — is
measured, printed, and must be within RECOVERY_BOUND (the goal is 2 s; the
bound is generous so a loaded CI machine does not flake)."""

import hashlib
import http.client
import signal
import subprocess
import threading
import time

from faultlib import Memokeyd, RedisServer, fault_tool, slack

RECOVERY_BOUND = 10.0
DOWN_SECONDS = 2.0


def kill_and_restart(redis: RedisServer, after: float) -> float:
    """Kills redis after `after` s, restarts it DOWN_SECONDS later on the same
    port; returns the monotonic time it accepted connections again."""
    time.sleep(after)
    redis.proc.send_signal(signal.SIGKILL)
    redis.proc.wait()
    time.sleep(DOWN_SECONDS)
    redis.start()  # returns once it answers PING
    return time.monotonic()


def test_library_store_survives_redis_restart():
    redis = RedisServer()
    try:
        tool = subprocess.Popen([fault_tool(), "redis-load", redis.url, str(slack(8)), "4"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        back = kill_and_restart(redis, slack(2))
        out, err = tool.communicate(timeout=slack(60))
        assert tool.returncode == 0, out + err  # 1: a wrong value; negative: a crash
        states = [(l.split()[1], float(l.split()[2])) for l in out.splitlines()
                  if l.startswith("state ")]
        summary = out.splitlines()[-1]
        assert "wrong=0" in summary, out
        assert any(s == "down" for s, _ in states), "the kill was not noticed:\n" + out
        assert states[-1][0] == "ok", "never recovered:\n" + out
        recovered_at = states[-1][1]
        recovery = max(0.0, recovered_at - back)
        print(f"\nlibrary Redis store: recovered {recovery:.3f} s after Redis came back; {summary}")
        assert recovery <= RECOVERY_BOUND
    finally:
        redis.stop()


def expected(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest() * (1 + len(key) % 50)


def test_memokeyd_survives_redis_restart():
    redis = RedisServer()
    try:
        with Memokeyd("--store", redis.url, "--threads", "2") as server:
            stop = threading.Event()
            lock = threading.Lock()
            log = []  # (time, ok)
            wrong = []
            counts = {"ok": 0, "fail": 0}

            def client(n: int):
                conn = None
                i = 0
                while not stop.is_set():
                    key = f"k{(n * 7919 + i) % 300}"
                    i += 1
                    try:
                        if conn is None:
                            conn = http.client.HTTPConnection(server.host, server.port, timeout=5)
                        conn.request("PUT", f"/v1/load/{key}", body=expected(key))
                        r = conn.getresponse()
                        r.read()
                        put_ok = r.status == 201
                        conn.request("GET", f"/v1/load/{key}")
                        r = conn.getresponse()
                        body = r.read()
                        if r.status == 200 and body != expected(key):
                            wrong.append(key)
                        ok = put_ok and r.status in (200, 404)
                        if r.getheader("connection", "").lower() == "close":
                            conn.close()
                            conn = None
                    except (OSError, http.client.HTTPException):
                        ok = False
                        if conn is not None:
                            conn.close()
                        conn = None
                    with lock:
                        log.append((time.monotonic(), ok))
                        counts["ok" if ok else "fail"] += 1
                    time.sleep(0.001)
                if conn is not None:
                    conn.close()

            threads = [threading.Thread(target=client, args=(n,)) for n in range(8)]
            for t in threads:
                t.start()
            back = kill_and_restart(redis, slack(1.5))
            time.sleep(slack(4))
            stop.set()
            for t in threads:
                t.join(30)
            assert server.proc.poll() is None, "memokeyd died:\n" + server.log_text()
            assert not wrong, f"wrong values for {wrong[:5]}"
            fails_during = [t for t, ok in log if not ok]
            assert fails_during, "the Redis kill was not noticed"
            last_fail = max(fails_during)
            recovery = max(0.0, last_fail - back)
            after = [ok for t, ok in log if t > last_fail]
            assert len(after) > 50 and all(after)
            print(f"\nmemokeyd over Redis: last failed request {recovery:.3f} s after Redis came "
                  f"back; requests ok={counts['ok']} failed={counts['fail']} (while Redis was down)")
            assert recovery <= RECOVERY_BOUND
    finally:
        redis.stop()
