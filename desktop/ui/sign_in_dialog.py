"""Sign in to a server: a MedMitra case server (user id + token) or a Care360 portal (API key,
then a one-time code). Secrets go to the keychain only, through the Qt-free sign-in functions,
which run off the GUI thread (they talk to the server)."""

from __future__ import annotations

import os

from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from desktop.errors import CaseDeskError
from desktop.sync import care360_signin, credentials, signin
from desktop.sync import errors as sync_errors
from desktop.ui.operations import OperationRunner
from desktop.workspace import Workspace

KINDS = (("medmitra", "MedMitra case server"), ("care360", "Care360 patient portal"))


class SignInDialog(QDialog):
    def __init__(
        self,
        workspace: Workspace,
        runner: OperationRunner,
        parent: QWidget | None = None,
        reason: str | None = None,
        profile: signin.ServerProfile | None = None,
    ) -> None:
        super().__init__(parent)
        self.ws = workspace
        self.runner = runner
        self.result_note = ""
        self._pending: care360_signin.PendingCare360SignIn | None = None
        self.setWindowTitle("Sign in to a server")
        self.setAccessibleName("Sign in")
        layout = QVBoxLayout(self)
        intro = QLabel(reason or "Case Desk works fully offline. Sign in to sync with your "
                       "clinic's server.", self)
        intro.setWordWrap(True)
        layout.addWidget(intro)
        self.form = QFormLayout()
        self.kind = QComboBox(self)
        for key, label in KINDS:
            self.kind.addItem(label, key)
        self.kind.setAccessibleName("Server kind")
        self.server = QLineEdit(self)
        self.server.setPlaceholderText("https://cases.example.org")
        self.server.setAccessibleName("Server address")
        self.user = QLineEdit(self)
        self.user.setPlaceholderText("your doctor id on the server")
        self.user.setAccessibleName("User id")
        self.token = QLineEdit(self)
        self.token.setEchoMode(QLineEdit.EchoMode.Password)
        self.token.setAccessibleName("Token")
        self.contact = QLineEdit(self)
        self.contact.setPlaceholderText("email address or phone number")
        self.contact.setAccessibleName("Email or phone")
        self.api_key = QLineEdit(self)
        self.api_key.setEchoMode(QLineEdit.EchoMode.Password)
        self.api_key.setAccessibleName("API key")
        self.send_code = QPushButton("Send &code", self)
        self.send_code.setAccessibleName("Send a one-time code")
        self.code = QLineEdit(self)
        self.code.setPlaceholderText("6 digits")
        self.code.setAccessibleName("One-time code")
        self.code.setMaxLength(6)
        self.form.addRow("&Kind", self.kind)
        self.form.addRow("&Server", self.server)
        self.form.addRow("&User id", self.user)
        self.form.addRow("&Token", self.token)
        self.form.addRow("&Email or phone", self.contact)
        self.form.addRow("&API key", self.api_key)
        self.form.addRow("", self.send_code)
        self.form.addRow("C&ode", self.code)
        layout.addLayout(self.form)
        self.note = QLabel(self)
        self.note.setWordWrap(True)
        layout.addWidget(self.note)
        self.error = QLabel(self)
        self.error.setWordWrap(True)
        self.error.setStyleSheet("color: #b00020;")
        self.error.setAccessibleName("Sign-in error")
        layout.addWidget(self.error)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel, self)
        self.ok = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.ok.setText("Sign in")
        self.buttons.accepted.connect(self.submit)
        self.buttons.rejected.connect(self.reject)
        self.send_code.clicked.connect(self.request_code)
        self.kind.currentIndexChanged.connect(lambda _i: self._show_kind())
        layout.addWidget(self.buttons)
        if profile is not None:
            self.kind.setCurrentIndex(max(0, self.kind.findData(profile.kind)))
            self.server.setText(profile.url)
            (self.user if profile.kind == "medmitra" else self.contact).setText(profile.user_id)
        self._show_kind()
        (self.token if profile else self.server).setFocus()

    @property
    def care360(self) -> bool:
        return self.kind.currentData() == "care360"

    def _show_kind(self) -> None:
        for widget, visible in ((self.user, not self.care360), (self.token, not self.care360),
                                (self.contact, self.care360), (self.api_key, self.care360),
                                (self.send_code, self.care360), (self.code, self.care360)):
            self.form.setRowVisible(widget, visible)
        self.code.setEnabled(self._pending is not None)
        if not credentials.keychain_available():
            self.note.setText(
                "No keychain is available on this computer: a case-server token is kept for "
                "this session only; a Care360 sign-in needs a keychain."
            )
        elif self.care360:
            self.note.setText("Press “Send code”, then type the 6-digit code you receive.")
        else:
            self.note.clear()

    # ------------------------------------------------------------ Care360 step 1

    def request_code(self) -> None:
        url, key, contact = self.server.text(), self.api_key.text(), self.contact.text().strip()
        email, phone = (contact, None) if "@" in contact else (None, contact)
        self.error.clear()
        self._busy(True)

        def done(pending: care360_signin.PendingCare360SignIn) -> None:
            self._busy(False)
            self._pending = pending
            self.code.setEnabled(True)
            self.code.setFocus()
            self.note.setText(f"A 6-digit code was sent to {pending.sent_to}.")

        self.runner.run(
            lambda: care360_signin.start_care360_sign_in(url, key, email=email, phone=phone),
            done, self._failed, lane="sync")

    # ------------------------------------------------------------ sign in

    def submit(self) -> None:
        self.error.clear()
        if self.care360:
            if self._pending is None:
                self.error.setText("Press “Send code” first, then type the code you receive.")
                return
            pending, code = self._pending, self.code.text()
            self._busy(True)
            self.runner.run(lambda: care360_signin.finish_care360_sign_in(self.ws, pending, code),
                            self._signed_in, self._failed, lane="sync")
            return
        url, user, token = self.server.text(), self.user.text(), self.token.text()
        self._busy(True)

        def done(result: signin.SignInResult) -> None:
            if not result.stored_in_keychain:
                os.environ[credentials.ENV_TOKEN] = token  # this process only, never saved
            self._signed_in(result)

        self.runner.run(lambda: signin.sign_in(self.ws, url, user, token), done, self._failed,
                        lane="sync")

    def _signed_in(self, result: signin.SignInResult) -> None:
        self._busy(False)
        if not result.stored_in_keychain:
            self.result_note = "Signed in for this session (no keychain to keep the token)."
        elif not result.verified:
            self.result_note = "Saved; the server is unreachable now, so the token is unchecked."
        else:
            self.result_note = f"Signed in to {result.profile.url}."
        self.accept()

    def _failed(self, error: BaseException) -> None:
        self._busy(False)
        if isinstance(error, sync_errors.AuthError):
            self.error.setText("The server did not accept these sign-in details.")
        elif isinstance(error, CaseDeskError):
            self.error.setText(str(error))
        else:
            self.error.setText("Signing in failed unexpectedly; details are in the log.")

    def _busy(self, busy: bool) -> None:
        self.buttons.setEnabled(not busy)
        self.send_code.setEnabled(not busy)
        for field in (self.kind, self.server, self.user, self.token, self.contact, self.api_key):
            field.setEnabled(not busy)
        self.code.setEnabled(not busy and self._pending is not None)
