"""The Qt window: a thin shell over Workspace. Everything here may import PySide6; nothing below."""

from desktop.ui import qtcompat

qtcompat.apply()
