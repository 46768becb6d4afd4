"""Where the window keeps its geometry: QSettings, organisation "CaseDesk", app "casedesk".

Always the INI format so tests can redirect it with QSettings.setPath(IniFormat, UserScope, dir).
"""

from __future__ import annotations

from PySide6.QtCore import QSettings

ORGANIZATION = "CaseDesk"
APPLICATION = "casedesk"


def app_settings() -> QSettings:
    return QSettings(
        QSettings.Format.IniFormat, QSettings.Scope.UserScope, ORGANIZATION, APPLICATION
    )
