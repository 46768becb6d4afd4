"""The AI insights tab: the server's analysis of a case, read from the local cache.

It is a machine's reading of the case, and says so at the top, every time: "AI-generated —
check before clinical use". Times are shown in this computer's local time."""

from __future__ import annotations

import html
from datetime import UTC, datetime
from typing import Any

from PySide6.QtWidgets import QLabel, QTextBrowser, QVBoxLayout, QWidget

AI_NOTE = "AI-generated — check before clinical use."
NO_INSIGHTS = (
    "No AI insights yet. They appear here after the case has synced and the server "
    "has finished its analysis."
)


def _text(value: Any) -> str:
    return html.escape(str(value)).replace("\n", "<br>") if value not in (None, "") else ""


def _percent(value: Any) -> str:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return ""
    if number <= 1.0:
        number *= 100
    return f"{number:.0f}%"


def local_time(value: Any) -> str:
    """An ISO 8601 time from the server in local time ("20 Nov 2026 14:32"); text that is
    not a time is shown as it came (escaped by the caller)."""
    if not isinstance(value, str) or not value.strip():
        return "" if value in (None, "") else str(value)
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return value
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)  # the server's times are UTC unless it says
    return moment.astimezone().strftime("%d %b %Y %H:%M")


def insights_html(insights: dict[str, Any] | None) -> str:
    """Render insights as simple HTML; tolerant of missing or oddly typed fields."""
    if not insights:
        return f"<p style='color:#616161; font-size:11pt; margin:24px'>{html.escape(NO_INSIGHTS)}</p>"
    parts: list[str] = []
    diagnosis = _text(insights.get("primary_diagnosis"))
    if diagnosis:
        code = _text(insights.get("icd_code"))
        confidence = _percent(insights.get("diagnosis_confidence_score"))
        extra = ", ".join(x for x in (f"ICD-10 {code}" if code else "",
                                      f"confidence {confidence}" if confidence else "") if x)
        parts.append(f"<h3>Primary diagnosis</h3><p><b>{diagnosis}</b>"
                     + (f" <span style='color:#616161'>({extra})</span>" if extra else "") + "</p>")
        description = _text(insights.get("diagnosis_description"))
        if description:
            parts.append(f"<p>{description}</p>")
    summary = _text(insights.get("comprehensive_summary"))
    if summary:
        parts.append(f"<h3>Summary</h3><p>{summary}</p>")
    findings = insights.get("key_findings")
    if isinstance(findings, str):
        findings = [findings]
    if findings:
        items = "".join(f"<li>{_text(f)}</li>" for f in findings)
        parts.append(f"<h3>Key findings</h3><ul>{items}</ul>")
    soap = [("Subjective", "soap_subjective"), ("Objective", "soap_objective"),
            ("Assessment", "soap_assessment"), ("Plan", "soap_plan")]
    rows = "".join(
        f"<tr><td valign='top' style='padding-right:12px'><b>{label}</b></td><td>{_text(insights.get(key))}</td></tr>"
        for label, key in soap if insights.get(key)
    )
    if rows:
        parts.append(f"<h3>SOAP note</h3><table cellspacing='4'>{rows}</table>")
    evidence = insights.get("supporting_evidence")
    if isinstance(evidence, list) and evidence:
        parts.append("<h3>Supporting evidence</h3><ul>"
                     + "".join(f"<li>{_text(e)}</li>" for e in evidence) + "</ul>")
    overall = _percent(insights.get("overall_confidence_score"))
    generated = html.escape(local_time(insights.get("generated_at")))
    footer = " · ".join(x for x in (f"Overall confidence {overall}" if overall else "",
                                     f"generated {generated}" if generated else "") if x)
    if footer:
        parts.append(f"<p style='color:#616161'>{footer}</p>")
    if not parts:
        return f"<p style='color:#616161'>{html.escape(NO_INSIGHTS)}</p>"
    return "".join(parts)


class InsightsView(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        # Above the text, not in it: in sight however far the reader scrolls.
        self.note = QLabel(f"<b>{html.escape(AI_NOTE)}</b> Produced by the server's analysis "
                           "of the case; a clinician decides.", self)
        self.note.setWordWrap(True)
        self.note.setAccessibleName("AI-generated: check before clinical use")
        self.note.setStyleSheet("background: #fff3e0; color: #bf360c; border: 1px solid "
                                "#e65100; padding: 6px;")
        self.browser = QTextBrowser(self)
        self.browser.setAccessibleName("AI insights")
        self.browser.setOpenLinks(False)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.note)
        layout.addWidget(self.browser)
        self.set_insights(None)

    def set_insights(self, insights: dict[str, Any] | None) -> None:
        """Show them; the same insights again leave the reader's place alone."""
        html_text = insights_html(insights)
        if html_text == getattr(self, "_html", None):
            return
        self.note.setVisible(bool(insights))
        bar = self.browser.verticalScrollBar()
        offset = bar.value()
        self._html = html_text
        self.browser.setHtml(html_text)
        bar.setValue(offset)

    def text(self) -> str:
        return self.browser.toPlainText()
