#!/usr/bin/env bash
# The test suite (`make test` runs this after scripts/setup.sh test). Two passes side by side:
# - the tests on the session's JACK server (marked `jack` by tests/conftest.py), one at a time: no test that counts
#   onsets or xruns shares the JACK server with another;
# - the others three at a time (pytest-xdist) at nice 10, so the JACK tests' processes (jackd, the audio server, the
#   MIDI readers) get the CPU when they ask for it, as a laptop's audio does beside a busy neighbour.
# The JACK tests mostly wait on processes and sockets (96 s of CPU in 177 s alone): on 2 cores the passes one after
# the other took 394 s and side by side 252 to 367 s over two days (README, Tests). Each pass's output is shown
# when both have ended; the exit status is the first failing pass's. Arguments go to both passes (-x, -k name, ...).
set -u
cd "$(dirname "$0")/.."
python=.venv/bin/python
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
# Bytecode cached for this run, outside the checkout: every Python process the tests start (render processes, audio
# servers, CLI runs, trial loads: hundreds) would otherwise compile liveengine's modules again where the shell says
# PYTHONDONTWRITEBYTECODE (0.37 s to import the engine against 0.21 s from the cache)
unset PYTHONDONTWRITEBYTECODE
export PYTHONPYCACHEPREFIX="$out/bytecode"
trap 'trap - INT TERM; kill 0' INT TERM  # stop both passes
echo "running the tests: the JACK tests one at a time beside the others (about 4 to 5 min on 2 cores)"
# OMP_NUM_THREADS=1: each worker's PyTorch on one thread; three workers' two-thread pools on two cores spun against
# each other (the training tests: 116 s, 101 s with it)
OMP_NUM_THREADS=1 nice -n 10 "$python" -m pytest -q -n 3 -m "not jack" "$@" > "$out/others" 2>&1 &
others=$!
# A JACK test whose capture has a hole (CaptureGap: JACK's frame clock jumped), that failed while the server was held
# up 100 ms or more (ServerStalled: its frame clock is then off for seconds) or after a stand-in controller wrote or
# read late (StandInLate: its notes were not where the test put them) cannot be judged: it runs once more, and the
# summary counts the rerun (README, Tests).
"$python" -m pytest -q -m jack -p no:cacheprovider --reruns 1 --only-rerun CaptureGap --only-rerun ServerStalled --only-rerun StandInLate "$@" > "$out/jack" 2>&1  # one cache writer: the other pass
jack=$?
wait "$others"
rest=$?
echo "== the tests not on the JACK server (three at a time, nice 10)"
cat "$out/others"
echo "== the tests on the session's JACK server (one at a time)"
cat "$out/jack"
[ "$rest" -ne 0 ] && exit "$rest"
exit "$jack"
