"""Control inputs (scores, MIDI, OSC): they translate input into Commands, never more."""
