"""The bench's idle-machine check looks at CPU use now, not at the last minute's load average."""

from __future__ import annotations

import subprocess
import sys
import time

from bench import machine

SPIN_10S = "import time\nt = time.time()\nwhile time.time() - t < 10: pass"


def test_a_spinning_process_is_seen_as_a_busy_core_and_named_in_the_note():
    spinner = subprocess.Popen([sys.executable, "-c", SPIN_10S])
    try:
        busy = machine.cpu_busy_cores(1.0)
    finally:
        spinner.kill()
        spinner.wait()
    assert busy is not None and busy >= 0.5
    note = machine.busy_note(busy, 0.0, 2)
    assert note is not None and f"{busy:.2f} cores were in use" in note


def test_an_idle_start_and_a_busy_bench_are_not_reported_as_someone_else():
    assert machine.busy_note(0.1, 0.05, 2) is None
    assert machine.busy_note(0.1, None, 2) is None
    note = machine.busy_note(0.1, 0.6, 2)
    assert note is not None and "0.60 cores on average" in note


def spin(seconds: float) -> None:
    t = time.perf_counter()
    while time.perf_counter() - t < seconds:
        pass


def test_the_bench_and_the_servers_it_waits_for_are_not_counted_as_other_processes():
    watch = machine.OthersCpu()
    spin(0.6)  # the bench itself
    subprocess.run([sys.executable, "-c", "import time\nt = time.time()\nwhile time.time() - t < 0.6: pass"],
                   check=True)  # a server it started and waited for
    others = watch.cores()
    assert others is not None and others < 0.2


def test_a_process_still_running_beside_the_bench_is_counted_as_other_processes():
    stranger = subprocess.Popen([sys.executable, "-c", SPIN_10S])
    try:
        watch = machine.OthersCpu()
        time.sleep(1.5)  # not waited for while the watch runs: its CPU time is someone else's
        others = watch.cores()
    finally:
        stranger.kill()
        stranger.wait()
    assert others is not None and others >= 0.5


def test_the_cpu_is_named_by_family_and_vector_units_not_only_by_its_model_name():
    zen2 = "cpu family\t: 23\nmodel\t\t: 49\nmodel name\t: AMD EPYC\nflags\t\t: fpu sse2 avx avx2 fma\n"
    zen4 = "cpu family\t: 25\nmodel\t\t: 17\nmodel name\t: AMD EPYC\nflags\t\t: avx2 avx512f avx512_vnni avx512_bf16\n"
    xeon = "cpu family\t: 6\nmodel\t\t: 143\nflags\t\t: avx2 avx512f avx512_bf16 amx_bf16 amx_tile\n"
    assert machine.cpu_isa(zen2) == "family 23 model 49, AVX2"
    assert machine.cpu_isa(zen4) == "family 25 model 17, AVX-512 with BF16 and VNNI"
    assert machine.cpu_isa(xeon) == "family 6 model 143, AVX-512 with BF16, AMX"
    assert machine.cpu_isa("") == "no AVX2"
