"""The pure core: the rules of outbound dialing, with no I/O and time passed in."""
