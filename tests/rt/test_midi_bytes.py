"""The server's MIDI byte parser: the cases that deafen rtmidi's JACK input, and MIDI 1.0's other rules."""

from __future__ import annotations

from liveengine.rt.midi_bytes import MidiByteParser


def parse(*chunks: bytes, parser: MidiByteParser | None = None) -> tuple[list, MidiByteParser]:
    parser = parser or MidiByteParser()
    out: list = []
    for offset, chunk in enumerate(chunks):
        parser.feed(chunk, offset, lambda o, s, a, b: out.append((o, s, a, b)))
    return out, parser


def test_an_unterminated_sysex_is_ended_by_the_next_status_and_the_notes_after_it_sound():
    out, p = parse(bytes([0xF0, 0x7D, 0x01, 0x02]), bytes([0x90, 60, 100]), bytes([0x91, 61, 90]))
    assert out == [(1, 0x90, 60, 100), (2, 0x91, 61, 90)]
    assert p.sysex_unterminated == 1 and p.sysex == 0 and p.stray == 0


def test_a_lost_sysex_chunk_and_a_32_kb_sysex_are_skipped_and_counted():
    # The start of a split SysEx went missing: its continuation is data with no status (stray), then F7 (stray).
    out, p = parse(bytes([0x12, 0x34, 0xF7]), bytes([0x90, 64, 1]))
    assert out == [(1, 0x90, 64, 1)] and p.stray == 3
    big = bytes([0xF0]) + bytes(range(0x80)) * 256 + bytes([0xF7])  # 32 KB of data
    out, p = parse(big, bytes([0x80, 64, 0]), parser=MidiByteParser(max_sysex=1024))
    assert out == [(1, 0x80, 64, 0)] and p.sysex == 1 and p.sysex_oversize == 1


def test_running_status_spans_events_and_real_time_bytes_pass_through_anywhere():
    out, p = parse(bytes([0x90, 60, 100, 62]), bytes([0xF8, 90]), bytes([64, 0xFA, 80, 0xC2, 5, 6]))
    assert out == [(0, 0x90, 60, 100), (1, 0xF8, 0, 0), (1, 0x90, 62, 90),  # running status across the events, clock between
                   (2, 0xFA, 0, 0), (2, 0x90, 64, 80),  # start inside a message
                   (2, 0xC2, 5, 0), (2, 0xC2, 6, 0)]  # program change: one data byte, running status too
    assert p.stray == 0 and p.messages == 7
    # Real time inside a SysEx does not end it.
    out, p = parse(bytes([0xF0, 1, 0xF8, 2, 0xF7, 0x90, 1, 2]))
    assert out == [(0, 0xF8, 0, 0), (0, 0x90, 1, 2)] and p.sysex == 1 and p.sysex_unterminated == 0


def test_system_common_clears_running_status_and_strays_are_counted_not_guessed():
    out, p = parse(bytes([0x90, 60, 100, 0xF2, 0x10, 0x20, 61, 5, 0xF6, 0xF4, 0x90, 60, 0xB0, 7, 127]))
    assert out == [(0, 0x90, 60, 100), (0, 0xF2, 0x10, 0x20), (0, 0xF6, 0, 0), (0, 0xB0, 7, 127)]
    # 61 and 5 after the song position have no status; F4 is undefined; 0x90 60 was cut by 0xB0.
    assert p.stray == 4


def test_clock_at_300_bpm_and_10000_notes_a_second_parse_whole():
    events = [bytes([0xF8])] * 120 + [bytes([0x90, 36, 100, 38, 90])] * 1000  # one JACK event each, as they arrive
    out, p = parse(*events)
    assert sum(1 for e in out if e[1] == 0xF8) == 120 and sum(1 for e in out if e[1] == 0x90) == 2000 and p.stray == 0


def test_long_events_are_judged_by_their_ends_not_read_byte_by_byte():
    """Bounded work on the audio thread: a 32 KB SysEx in one JACK event, one in two pieces, and 2 KB of junk."""
    whole = bytes([0xF0]) + bytes(range(0x80)) * 256 + bytes([0xF7])
    out, p = parse(whole, bytes([0x90, 1, 2]), parser=MidiByteParser(max_sysex=1024))
    assert out == [(1, 0x90, 1, 2)] and p.sysex == 1 and p.sysex_oversize == 1 and p.stray == 0
    out, p = parse(whole[:20000], whole[20000:], bytes([0x80, 1, 0]))
    assert out == [(2, 0x80, 1, 0)] and p.sysex == 1 and p.sysex_oversize == 0 and p.sysex_bytes == 32768
    out, p = parse(bytes([0x90, 60]) + bytes([0x10]) * 2048, bytes([0x91, 61, 62]))
    assert out == [(1, 0x91, 61, 62)] and p.stray == 2050
