"""The case list and the open case: list model and panel, the case form, new-case dialog,
AI insights."""
