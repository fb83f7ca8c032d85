"""The app's screens and dialogs, one per module, each with its own ``.tcss``."""
