"""tether's full-screen app (Textual), on top of the same `HostSession` the CLI uses.

Imported only when ``tether`` runs with no verb (`tui.app.launch.run_app`), so
the scriptable verbs never pay for Textual. One module per screen or widget;
styles in the ``.tcss`` files beside them.
"""
