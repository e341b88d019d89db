"""Shared helpers of the bench scripts: generated configs, whole-process timing with
peak memory, medians. Imported by the scripts under benches/ (python3 -m is not
needed: they put this folder on sys.path)."""

import os
import statistics
import subprocess
import tempfile
import time


def write_config(path, tasks, zone="UTC"):
    """A tasks.toml of `tasks` simple tasks (about 110 bytes each): a command, a
    schedule, a description, as most real configs are."""
    schedules = ["15 2 * * *", "*/15 * * * *", "30 7 * * MON-FRI", "06:00"]
    with open(path, "w") as f:
        f.write(f'[settings]\nfolder = "OrcBench"\ntimezone = "{zone}"\n\n')
        for i in range(tasks):
            f.write(
                f'[tasks.job_{i:06}]\n'
                f'command = "/usr/bin/true --n {i}"\n'
                f'schedule = "{schedules[i % len(schedules)]}"\n'
                f'description = "generated task {i}"\n\n'
            )


def run(argv, env=None, expect=(0,)):
    """Run argv; return (seconds, peak RSS in MB) of that process alone."""
    with tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode not in expect:
            err.seek(0)
            text = err.read(4000).decode(errors="replace")
            raise SystemExit(f"{' '.join(argv)} exited {proc.returncode}: {text}")
    return seconds, usage.ru_maxrss / 1024


def median(values):
    return statistics.median(values)


def file_mb(path):
    return os.path.getsize(path) / 1e6 if os.path.exists(path) else 0.0
