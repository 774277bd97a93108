"""OSC control: the address table lives in liveengine.commands; this package is the network side."""
