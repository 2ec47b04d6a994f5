"""Sandboxes: local servers that behave like the telephony providers, as documented.

They let the real HTTP clients be tested over loopback, and let users rehearse a campaign
(its flow, caller IDs, pacing and reports) without calling anyone. ``evovoice`` serves the
Evo Voice operations the dialer uses over the simulated call centre.
"""
