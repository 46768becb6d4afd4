"""Sync in the window: the controller that runs the engine off the GUI thread, the panel with
its actions and indicators, sign-in and conflicts."""
