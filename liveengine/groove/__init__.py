"""Grooves: drum patterns from a pattern model, laid on the pads and sequenced sample-accurately."""
