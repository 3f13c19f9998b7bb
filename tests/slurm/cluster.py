"""A one-node Slurm cluster in a folder of its own, for tests/test_slurm.py.

Everything it writes lies under one temporary folder: its slurm.conf (clients find it through
SLURM_CONF), spool, state, log and pid files, and a munge daemon with its own key and socket
(slurm.conf's AuthInfo points Slurm at that socket). It listens on ports of its own, so a Slurm
or munge already on the machine is neither changed nor used. ``one_node_cluster`` stops every
daemon it started, by the process ids it started (and their process groups, where a daemon's
job steps run), and removes the folder, also when the test fails or is interrupted. It installs
nothing: Debian's munge, slurmd, slurmctld and slurm-client come from `make slurm-packages`.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

DAEMONS = ("munged", "slurmctld", "slurmd")
CLIENTS = ("sbatch", "squeue", "sinfo", "scontrol")
MISSING = "Slurm is not installed here: `make slurm-packages` (as root) installs Debian's munge and Slurm"


def missing() -> str | None:
    """Why no cluster can start here (one line), or None."""
    if os.geteuid() != 0:
        return "a one-node Slurm cluster is started as root (its slurmd runs jobs as their user); not root here"
    lacking = [p for p in (*DAEMONS, *CLIENTS) if not shutil.which(p) and not Path("/usr/sbin", p).exists()]
    return f"{MISSING} (missing: {', '.join(lacking)})" if lacking else None


def _binary(name: str) -> str:
    return shutil.which(name) or str(Path("/usr/sbin", name))


def _free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _conf(root: Path, host: str, ports: list[int]) -> str:
    cpus = os.cpu_count() or 1
    mem = max(int(Path("/proc/meminfo").read_text().split()[1]) // 1024 - 1024, 1000)
    return f"""ClusterName=flatenn-test
SlurmctldHost={host}
SlurmctldPort={ports[0]}
SlurmdPort={ports[1]}
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={root}/munge/munge.socket
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
PlugStackConfig={root}/etc/plugstack.conf
SlurmUser=root
SlurmdUser=root
StateSaveLocation={root}/state
SlurmdSpoolDir={root}/spool
SlurmctldPidFile={root}/run/slurmctld.pid
SlurmdPidFile={root}/run/slurmd.pid
SlurmctldLogFile={root}/log/slurmctld.log
SlurmdLogFile={root}/log/slurmd.log
ReturnToService=2
NodeName={host} NodeAddr=127.0.0.1 CPUs={cpus} RealMemory={mem} State=UNKNOWN
PartitionName=main Nodes={host} Default=YES MaxTime=INFINITE State=UP
"""


def _stop(procs: list[subprocess.Popen]) -> None:
    """SIGTERM to each daemon's process group (it leads one: its job steps are in it), then
    SIGKILL to whatever is left after 10 s; newest daemon first."""
    for p in reversed(procs):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(p.pid, signal.SIGTERM)
    deadline = time.monotonic() + 10
    for p in reversed(procs):
        try:
            p.wait(timeout=max(deadline - time.monotonic(), 0.1))
        except subprocess.TimeoutExpired:
            pass
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(p.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            p.wait(timeout=5)


@contextlib.contextmanager
def one_node_cluster(timeout: float = 60.0):
    """Start munged, slurmctld and slurmd in a temporary folder and yield the environment that
    points Slurm's clients at them ({"SLURM_CONF": ..., "PATH": ...}, PATH led by the folder's
    client wrappers) with the daemons' process ids under "pids" and the folder under "root" (not
    environment variables); stop them and remove the folder on the way out."""
    why = missing()
    if why:
        raise RuntimeError(why)
    root = Path(tempfile.mkdtemp(prefix="flatenn-slurm-"))
    procs: list[subprocess.Popen] = []
    try:
        for sub in ("etc", "munge", "state", "spool", "run", "log"):
            (root / sub).mkdir(mode=0o700)
        root.chmod(0o700)
        key = root / "munge" / "munge.key"
        key.write_bytes(os.urandom(1024))
        key.chmod(0o400)
        host = socket.gethostname().split(".")[0]
        conf = root / "etc" / "slurm.conf"
        conf.write_text(_conf(root, host, _free_ports(2)))
        (root / "etc" / "plugstack.conf").write_text("")
        # Snakemake's jobstep plugin drops every SLURM_* variable (SLURM_CONF too) before its nested
        # srun, so the clients are reached through wrappers in bin/ that set it (PATH is exported)
        (root / "bin").mkdir(mode=0o700)
        for client in (*CLIENTS, "srun", "sacct", "scancel"):
            real = shutil.which(client)
            if real:
                wrapper = root / "bin" / client
                wrapper.write_text(f'#!/bin/sh\nSLURM_CONF="{conf}" exec "{real}" "$@"\n')
                wrapper.chmod(0o700)
        env = {**os.environ, "SLURM_CONF": str(conf), "PATH": f"{root / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}"}
        log = open(root / "log" / "daemons.out", "ab")  # noqa: SIM115 (closed below)
        m = root / "munge"
        commands = [
            [_binary("munged"), "--foreground", "--force", f"--socket={m}/munge.socket", f"--key-file={key}",
             f"--pid-file={m}/munged.pid", f"--log-file={m}/munged.log", f"--seed-file={m}/munged.seed"],
            [_binary("slurmctld"), "-D", "-f", str(conf)],
            [_binary("slurmd"), "-D", "-f", str(conf), "-N", host],
        ]
        for cmd in commands:
            procs.append(subprocess.Popen(cmd, env=env, stdout=log, stderr=log, stdin=subprocess.DEVNULL,
                                          start_new_session=True, cwd=root))
            if cmd[0].endswith("munged"):
                _wait_for(lambda: (m / "munge.socket").exists(), procs, root, 10)
        _wait_for(lambda: _node_up(env, host), procs, root, timeout)
        log.close()
        yield {"SLURM_CONF": str(conf), "PATH": env["PATH"], "pids": [p.pid for p in procs], "root": root}
    finally:
        _stop(procs)
        shutil.rmtree(root, ignore_errors=True)


def _node_up(env: dict, host: str) -> bool:
    state = subprocess.run(["sinfo", "-h", "-o", "%t"], env=env, capture_output=True, text=True).stdout
    if any(s.strip().rstrip("*~#") in ("idle", "mix", "alloc") for s in state.split()):
        return True
    subprocess.run(["scontrol", "update", f"nodename={host}", "state=resume"], env=env, capture_output=True)
    return False


def _wait_for(ready, procs: list, root: Path, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        dead = [p for p in procs if p.poll() is not None]
        if dead:
            raise RuntimeError(f"{Path(dead[0].args[0]).name} exited ({dead[0].returncode}): {_tail(root)}")
        if ready():
            return
        time.sleep(0.5)
    raise RuntimeError(f"the one-node Slurm cluster did not come up in {seconds:g} s: {_tail(root)}")


def _tail(root: Path) -> str:
    lines = []
    for f in sorted((root / "log").glob("*")) + sorted((root / "munge").glob("*.log")):
        with contextlib.suppress(OSError):
            lines += [f"{f.name}: {x}" for x in f.read_text(errors="replace").splitlines()[-2:]]
    return " | ".join(lines[-4:]) or "no log"
