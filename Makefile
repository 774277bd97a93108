# The two commands a newcomer needs; each sets up what it needs first.
.PHONY: play test bench

play:
	@scripts/setup.sh play
	.venv/bin/liveengine play --demo

test:
	@scripts/setup.sh test
	.venv/bin/python -m pytest -q -n 3 -m "not jack"  # three at a time on two cores: many tests wait on processes and sockets
	.venv/bin/python -m pytest -q -m jack  # then one at a time, alone (side by side with the others: a MIDI test failed, README)

bench:
	@scripts/setup.sh bench
	.venv/bin/python bench/run.py
