"""The scriptable `tether` verbs. Never imports Textual (a test pins that)."""
