"""Everything on the person's side: the client session (no Textual), the CLI verbs
on it, and the Textual app on top of the same session."""
