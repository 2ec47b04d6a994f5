"""HTTP entry points of the dialer (provider callbacks)."""
