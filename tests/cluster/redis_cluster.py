"""A throwaway Redis Cluster for tests (the Python twin of redis_cluster.h).

N masters with R replicas each, on free loopback ports, in a directory of the
caller's choosing, created with ``redis-cli --cluster create`` and killed on
stop. Needs redis-server and redis-cli on PATH (scripts/setup installs them);
talks to the nodes through redis-cli, so no Python Redis client is needed.

    import sys; sys.path.insert(0, "tests/cluster")
    from redis_cluster import RedisCluster

    with RedisCluster(tmp_path) as cluster:          # started, healthy
        store = memokey.open_store(cluster.url(prefix="t:"))
        port = cluster.kill_master()                 # SIGKILL
        seconds = cluster.wait_failover(timeout=60)  # a replica took over

``python3 redis_cluster.py --self-test`` starts one, fails a master over and
stops it.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

__all__ = ["RedisCluster", "RedisClusterError"]

SLOTS = 16384


class RedisClusterError(RuntimeError):
    """The cluster could not be started or did not become healthy."""


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


_BUS_OFFSET = 10000  # redis: the cluster bus port is the client port + 10000
_START_ATTEMPTS = 3


def _ephemeral_low() -> int:
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 0


def _cluster_port(taken: set[int]) -> int:
    """A port p with p and its cluster bus port p + 10000 both free and
    neither in `taken`, which gets both. Drawn at random from below the
    kernel's ephemeral range, so no bind(0) or outgoing connection elsewhere
    in the test run can take either before redis-server binds it; a collision
    with another cluster starting at the same time fails one start, which
    RedisCluster.start retries."""
    low = _ephemeral_low() - _BUS_OFFSET
    for _ in range(200):
        port = random.randint(low - 2048, low - 1) if low > 2048 else _free_port()
        if port + _BUS_OFFSET > 65535 or port in taken or port + _BUS_OFFSET in taken:
            continue
        if _port_free(port) and _port_free(port + _BUS_OFFSET):
            taken.update((port, port + _BUS_OFFSET))
            return port
    raise RedisClusterError("no free port pair for a cluster node")


class RedisCluster:
    """A Redis Cluster of ``masters`` masters with ``replicas`` replicas each."""

    def __init__(self, tmpdir, masters: int = 3, replicas: int = 1,
                 node_timeout_ms: int = 1000) -> None:
        if masters < 3:
            raise ValueError("redis-cli --cluster create needs at least 3 masters")
        self.dir = Path(tmpdir)
        self.masters = masters
        self.replicas = replicas
        self.node_timeout_ms = node_timeout_ms
        self._server = shutil.which("redis-server")
        self._cli = shutil.which("redis-cli")
        self._procs: dict[int, subprocess.Popen] = {}
        self._ports: list[int] = []

    # --- lifecycle -----------------------------------------------------------

    def __enter__(self) -> "RedisCluster":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self, timeout: float = 30.0) -> None:
        """Starts the nodes, creates the cluster and waits until it is healthy
        (cluster_state:ok everywhere, all slots served, replicas in sync).
        A start that fails (a port taken before redis-server bound it, a
        cluster that does not settle on a loaded machine) is retried from
        scratch on new ports; the error names what each attempt saw."""
        if not self._server or not self._cli:
            raise RedisClusterError("redis-server / redis-cli not found: run scripts/setup")
        self.dir.mkdir(parents=True, exist_ok=True)
        failures = []
        for attempt in range(1, _START_ATTEMPTS + 1):
            try:
                self._start_once(timeout)
                return
            except RedisClusterError as e:
                failures.append("attempt %d: %s" % (attempt, e))
                self.stop()
            except BaseException:
                self.stop()
                raise
        raise RedisClusterError("\n".join(failures))

    def _start_once(self, timeout: float) -> None:
        taken: set[int] = set()
        for _ in range(self.masters * (1 + self.replicas)):
            self._spawn(_cluster_port(taken))
        for port in self._ports:
            self._wait_ping(port)
        create = subprocess.run(
            [self._cli, "--cluster", "create", *self.seeds,
             "--cluster-replicas", str(self.replicas), "--cluster-yes"],
            stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)
        if create.returncode != 0:
            raise RedisClusterError("redis-cli --cluster create failed:\n"
                                    + create.stdout + create.stderr)
        if not self._wait_healthy(timeout, require_replicas=True):
            raise RedisClusterError("cluster did not become healthy within %ss\n%s"
                                    % (timeout, self._describe()))

    def _describe(self) -> str:
        """One line per node: what it says about the cluster and its
        replication, and the end of its log."""
        keep = ("cluster_state", "cluster_known_nodes", "role", "connected_slaves",
                "master_link_status", "slave")
        out = []
        for port in self._ports:
            try:
                said = [line.strip() for cmd in (("CLUSTER", "INFO"), ("INFO", "replication"))
                        for line in self.cli(port, *cmd, timeout=2).splitlines()
                        if line.startswith(keep)]
            except subprocess.TimeoutExpired:
                said = ["(no answer)"]
            try:
                log = (self.dir / ("node-%d.log" % port)).read_text().splitlines()[-4:]
            except OSError:
                log = []
            out.append("  node %d%s: %s | log: %s" % (
                port, "" if self.alive(port) else " (dead)", " ".join(said), " / ".join(log)))
        return "\n".join(out)

    def stop(self) -> None:
        """Kills every node (SIGKILL: nothing to persist) and reaps it."""
        for proc in self._procs.values():
            if proc.poll() is None:
                proc.kill()
            proc.wait()
        self._procs.clear()
        self._ports.clear()

    # --- addresses -----------------------------------------------------------

    @property
    def seeds(self) -> list[str]:
        return ["127.0.0.1:%d" % port for port in self._ports]

    def url(self, prefix: str = "memokey:", **params) -> str:
        """redis+cluster://127.0.0.1:p1,...?prefix=...[&name=value...]"""
        from urllib.parse import quote
        query = "prefix=" + quote(prefix, safe=":")
        for name, value in params.items():
            query += "&%s=%s" % (name, quote(str(value), safe=""))
        return "redis+cluster://" + ",".join(self.seeds) + "?" + query

    def ports(self) -> list[int]:
        return list(self._ports)

    def alive(self, port: int) -> bool:
        proc = self._procs.get(port)
        return proc is not None and proc.poll() is None

    def master_ports(self) -> list[int]:
        """Live masters that serve slots, as a live node sees them."""
        return sorted(p for p in self._slot_owners() if self.alive(p))

    def master_of_slot(self, slot: int) -> int | None:
        for port, ranges in self._slot_owners().items():
            if any(first <= slot <= last for first, last in ranges):
                return port
        return None

    # --- faults --------------------------------------------------------------

    def kill_master(self, port: int | None = None) -> int:
        """SIGKILLs a master (the first one when port is None); returns its port."""
        if port is None:
            masters = self.master_ports()
            if not masters:
                raise RedisClusterError("no live master")
            port = masters[0]
        proc = self._procs.get(port)
        if proc is None:
            raise ValueError("no node on port %d" % port)
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
        proc.wait()
        return port

    def wait_failover(self, timeout: float = 60.0) -> float:
        """Waits until the surviving nodes report cluster_state:ok with every
        slot served by a live master; returns the seconds it took."""
        start = time.monotonic()
        if not self._wait_healthy(timeout, require_replicas=False):
            raise RedisClusterError("no failover within %ss" % timeout)
        return time.monotonic() - start

    # --- talking to nodes ----------------------------------------------------

    def cli(self, port: int, *args: str, timeout: float = 5.0) -> str:
        """Runs one command on a node through redis-cli; its raw output."""
        done = subprocess.run([self._cli, "-h", "127.0.0.1", "-p", str(port), *args],
                              stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              timeout=timeout)
        return done.stdout

    # --- internals -----------------------------------------------------------

    def _spawn(self, port: int) -> None:
        args = [self._server,
                "--port", str(port), "--bind", "127.0.0.1",
                "--cluster-enabled", "yes",
                "--cluster-config-file", str(self.dir / ("nodes-%d.conf" % port)),
                "--cluster-node-timeout", str(self.node_timeout_ms),
                "--appendonly", "no", "--save", "",
                # Replicas sync at once, not after the default 5 s of waiting
                # for more of them.
                "--repl-diskless-sync-delay", "0",
                "--daemonize", "no",
                "--dir", str(self.dir),
                "--dbfilename", "dump-%d.rdb" % port,
                "--logfile", str(self.dir / ("node-%d.log" % port))]
        self._procs[port] = subprocess.Popen(args, stdin=subprocess.DEVNULL,
                                             stdout=subprocess.DEVNULL,
                                             stderr=subprocess.DEVNULL)
        self._ports.append(port)

    def _wait_ping(self, port: int, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive(port):
                raise RedisClusterError("node %d exited (log: %s)"
                                        % (port, self.dir / ("node-%d.log" % port)))
            try:
                if self.cli(port, "PING", timeout=2).strip() == "PONG":
                    return
            except subprocess.TimeoutExpired:
                pass
            time.sleep(0.02)
        raise RedisClusterError("node %d did not answer PING" % port)

    def _parse_slots(self, port: int) -> list[tuple[int, int, int]]:
        """(first, last, master port) of every slot range served by a master
        that the node at `port` does not consider failed. From CLUSTER NODES:
        one line per node, easier to read through redis-cli than the nested
        arrays of CLUSTER SLOTS."""
        out = self.cli(port, "CLUSTER", "NODES")
        ranges = []
        for line in out.splitlines():
            fields = line.split()
            if len(fields) < 8 or "master" not in fields[2].split(","):
                continue
            if "fail" in fields[2].split(",") or "fail?" in fields[2].split(","):
                continue
            address = fields[1].split("@")[0]
            master_port = int(address.rsplit(":", 1)[1])
            for spec in fields[8:]:
                if spec.startswith("["):
                    continue  # a slot being migrated or imported
                first, _, last = spec.partition("-")
                ranges.append((int(first), int(last or first), master_port))
        return ranges

    def _slot_owners(self) -> dict[int, list[tuple[int, int]]]:
        for port in self._ports:
            if not self.alive(port):
                continue
            try:
                ranges = self._parse_slots(port)
            except subprocess.TimeoutExpired:
                continue
            if not ranges:
                continue
            owners: dict[int, list[tuple[int, int]]] = {}
            for first, last, master in ranges:
                owners.setdefault(master, []).append((first, last))
            return owners
        return {}

    def _healthy(self, require_replicas: bool) -> bool:
        live = [p for p in self._ports if self.alive(p)]
        for port in live:
            if "cluster_state:ok" not in self.cli(port, "CLUSTER", "INFO"):
                return False
            ranges = self._parse_slots(port)
            if not ranges:
                return False
            if sum(last - first + 1 for first, last, _ in ranges) != SLOTS:
                return False
            if any(not self.alive(master) for _, _, master in ranges):
                return False
        if require_replicas:
            for port in self.master_ports():
                info = self.cli(port, "INFO", "replication")
                if "connected_slaves:%d" % self.replicas not in info:
                    return False
                if info.count("state=online") < self.replicas:
                    return False
        return True

    def _wait_healthy(self, timeout: float, require_replicas: bool) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if self._healthy(require_replicas):
                    return True
            except subprocess.TimeoutExpired:
                pass
            time.sleep(0.05)
        return False


def _self_test() -> int:
    import tempfile
    with tempfile.TemporaryDirectory(prefix="memokey-cluster-") as tmp:
        with RedisCluster(tmp) as cluster:
            assert len(cluster.seeds) == 6, cluster.seeds
            masters = cluster.master_ports()
            assert len(masters) == 3, masters
            assert cluster.url(prefix="t:", timeout_ms=500).startswith("redis+cluster://127.0.0.1:")
            assert cluster.cli(masters[0], "PING").strip() == "PONG"
            killed = cluster.kill_master()
            assert killed == masters[0]
            seconds = cluster.wait_failover(timeout=60)
            after = cluster.master_ports()
            assert killed not in after and len(after) == 3, after
            print("redis_cluster.py: killed master %d, failover took %.2f s" % (killed, seconds))
        assert not any(cluster.alive(p) for p in cluster.ports())
    return 0


if __name__ == "__main__":
    if sys.argv[1:] == ["--self-test"]:
        sys.exit(_self_test())
    print(__doc__)
    sys.exit(2)
