"""Sign in to a server of any kind the registry knows: its sign-in shape says which account
and secret to ask for (a doctor id and a token; an email or phone and an API key) and whether
a one-time code follows. Secrets go to the keychain only, through the kind's Qt-free sign-in,
which runs off the GUI thread (it talks to the server)."""

from __future__ import annotations

import os

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from desktop.errors import CaseDeskError
from desktop.sync import credentials, registry
from desktop.sync import errors as sync_errors
from desktop.sync.kind import Account, CodeSent, Secret, ServerKind, SignInResult
from desktop.sync.profile import ServerProfile, plain_http_to_remote
from desktop.ui.dialogs import GuardedDialog
from desktop.ui.operations import OperationRunner, user_message
from desktop.workspace import Workspace

PLAIN_HTTP_WARNING = (
    "This address is not encrypted. Your sign-in token and every patient's names, ages, notes "
    "and documents would cross the network in clear, readable and changeable by anyone on the "
    "way. Allow it only if the server has no https:// address and you trust this network."
)


class SignInDialog(GuardedDialog):
    def __init__(
        self,
        workspace: Workspace,
        runner: OperationRunner,
        parent: QWidget | None = None,
        reason: str | None = None,
        profile: ServerProfile | None = None,
    ) -> None:
        super().__init__(parent)
        self.ws = workspace
        self.runner = runner
        self.result_note = ""
        self._pending: CodeSent | None = None
        self.setWindowTitle("Sign in to a server")
        self.setAccessibleName("Sign in")
        # Wide enough that a window manager never cuts the title short.
        self.setMinimumWidth(max(480, self.fontMetrics().horizontalAdvance(
            self.windowTitle()) * 2 + 160))
        layout = QVBoxLayout(self)
        intro = QLabel(reason or "Case Desk works fully offline. Sign in to sync with your "
                       "clinic's server.", self)
        intro.setWordWrap(True)
        layout.addWidget(intro)
        self.form = QFormLayout()
        self.kind = QComboBox(self)
        for server_kind in registry.kinds():
            self.kind.addItem(server_kind.title, server_kind.name)
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
        self.allow_http = QCheckBox("Allow this unencrypted (http://) server", self)
        self.allow_http.setAccessibleName("Allow unencrypted http")
        self.http_warning = QLabel(PLAIN_HTTP_WARNING, self)
        self.http_warning.setWordWrap(True)
        self.http_warning.setStyleSheet("color: #b00020;")
        self.form.addRow("&Kind", self.kind)
        self.form.addRow("&Server", self.server)
        self.form.addRow("", self.allow_http)
        self.form.addRow("", self.http_warning)
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
        self.server.textChanged.connect(lambda _t: self._show_plain_http())
        layout.addWidget(self.buttons)
        # Which widget asks for which account and secret: the kind's shape picks them.
        self.accounts = {Account.DOCTOR_ID: self.user, Account.EMAIL_OR_PHONE: self.contact}
        self.secrets = {Secret.TOKEN: self.token, Secret.API_KEY: self.api_key}
        if profile is not None:
            self.kind.setCurrentIndex(max(0, self.kind.findData(registry.kind_of(profile).name)))
            self.server.setText(profile.url)
            self.accounts[self.server_kind.sign_in.account].setText(profile.user_id)
        if profile is not None:
            self.allow_http.setChecked(profile.plain_http_allowed)
        self._show_kind()
        self._show_plain_http()
        (self.secrets[self.server_kind.sign_in.secret] if profile else self.server).setFocus()
        self._typed_at_start = self._typed()

    discard_what = "these sign-in details"

    def _typed(self) -> tuple[str, ...]:
        return tuple(w.text() for w in (self.server, self.user, self.token, self.contact,
                                        self.api_key, self.code))

    def has_typed_text(self) -> bool:
        return self._typed() != self._typed_at_start

    def _show_plain_http(self) -> None:
        """The allowance and its warning appear only for an http:// address of another
        computer; a person must tick it knowingly."""
        try:
            remote = plain_http_to_remote(self.server.text().strip())
        except ValueError:
            remote = False
        self.form.setRowVisible(self.allow_http, remote)
        self.form.setRowVisible(self.http_warning, remote)

    @property
    def server_kind(self) -> ServerKind:
        return registry.kind(self.kind.currentData())

    def _show_kind(self) -> None:
        shape = self.server_kind.sign_in
        for account, widget in self.accounts.items():
            self.form.setRowVisible(widget, account is shape.account)
        for secret, widget in self.secrets.items():
            self.form.setRowVisible(widget, secret is shape.secret)
        for widget in (self.send_code, self.code):
            self.form.setRowVisible(widget, shape.one_time_code)
        self.code.setEnabled(self._pending is not None)
        if not credentials.keychain_available():
            self.note.setText(
                "No keychain is available on this computer: " + (
                    f"a {self.server_kind.short_title} sign-in needs one." if shape.one_time_code
                    else "the token is kept until Case Desk closes.")
            )
        elif shape.one_time_code:
            self.note.setText("Press “Send code”, then type the 6-digit code you receive.")
        else:
            self.note.clear()

    def _entered(self) -> tuple[ServerKind, str, str, str]:
        kind = self.server_kind
        account = self.accounts[kind.sign_in.account].text().strip()
        secret = self.secrets[kind.sign_in.secret].text()
        return kind, self.server.text(), account, secret

    # ------------------------------------------------------------ step 1 of a code sign-in

    def request_code(self) -> None:
        kind, url, account, secret = self._entered()
        self.error.clear()
        self._busy(True)

        def done(pending: CodeSent) -> None:
            self._busy(False)
            self._pending = pending
            self.code.setEnabled(True)
            self.code.setFocus()
            where = "the email address" if pending.channel == "email" else "the phone"
            self.note.setText(f"A 6-digit code was sent to {where} {pending.address}.")

        allow = self.allow_http.isChecked()
        self.runner.run(lambda: kind.begin_sign_in(self.ws, url, account, secret,
                                                   allow_plain_http=allow), done,
                        self._failed, lane="sync")

    # ------------------------------------------------------------ sign in

    def submit(self) -> None:
        self.error.clear()
        kind, url, account, secret = self._entered()
        if kind.sign_in.one_time_code:
            if self._pending is None:
                self.error.setText("Press “Send code” first, then type the code you receive.")
                return
            pending, code = self._pending, self.code.text()
            self._busy(True)
            self.runner.run(lambda: kind.finish_sign_in(self.ws, pending, code),
                            self._signed_in, self._failed, lane="sync")
            return
        self._busy(True)

        def done(result: SignInResult) -> None:
            if not result.stored_in_keychain:
                os.environ[credentials.ENV_TOKEN] = secret  # this process only, never saved
            self._signed_in(result)

        allow = self.allow_http.isChecked()
        self.runner.run(lambda: kind.begin_sign_in(self.ws, url, account, secret,
                                                   allow_plain_http=allow), done,
                        self._failed, lane="sync")

    def _signed_in(self, result: SignInResult) -> None:
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
            self.error.setText(user_message(error))
        else:
            self.error.setText("Signing in failed unexpectedly; details are in the log.")

    def _busy(self, busy: bool) -> None:
        self.buttons.setEnabled(not busy)
        self.send_code.setEnabled(not busy)
        for field in (self.kind, self.server, self.user, self.token, self.contact, self.api_key,
                      self.allow_http):
            field.setEnabled(not busy)
        self.code.setEnabled(not busy and self._pending is not None)
