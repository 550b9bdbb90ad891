"""Modal dialogs: confirmation (typing the app's name in production) and small forms.

Questions quote versions and names from Git and users: they are shown as plain text, never markup.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.await_complete import AwaitComplete
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static


class Answered:
    """A dialog answers once. Keys that reach it before it has closed (a second Escape, or Enter then Escape, typed
    faster than the console draws) are not a second answer, which would close the screen under it instead."""

    _answered = False

    def dismiss(self, result=None) -> AwaitComplete:  # noqa: ANN001 (the screen's result type)
        if self._answered or self.app.screen is not self:
            return AwaitComplete.nothing()
        self._answered = True
        return super().dismiss(result)


class Confirm(Answered, ModalScreen[bool]):
    """Yes or no; with ``type_to_confirm`` the Confirm button works only once that text is typed."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, question: str, *, danger: bool = False, type_to_confirm: str | None = None) -> None:
        super().__init__()
        self.question = question
        self.danger = danger
        self.type_to_confirm = type_to_confirm

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="danger" if self.danger else ""):
            yield Static(Content(self.question), id="question")
            if self.type_to_confirm:
                yield Label(Content.assemble("Type ", (self.type_to_confirm, "bold"), " to confirm:"))
                yield Input(placeholder=self.type_to_confirm, id="typed")
            with Horizontal(id="buttons"):
                yield Button("Confirm", id="confirm", variant="error" if self.danger else "primary")
                yield Button("Cancel", id="cancel")

    def on_mount(self) -> None:
        if self.type_to_confirm:
            self.query_one("#confirm", Button).disabled = True
            self.query_one("#typed", Input).focus()
        else:
            self.query_one("#cancel", Button).focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        self.query_one("#confirm", Button).disabled = event.value != self.type_to_confirm

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.value == self.type_to_confirm:
            self.dismiss(True)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "confirm")

    def action_cancel(self) -> None:
        self.dismiss(False)


class Ask(Answered, ModalScreen[list[str] | None]):
    """A small form: one Input per field; the values in order, or None when cancelled."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, title: str, fields: list[tuple[str, str]], values: tuple[str, ...] = ()) -> None:
        super().__init__()
        self.title_text = title
        self.fields = fields  # (label, placeholder)
        self.values = values  # what the first fields hold to begin with (Enter takes them)

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Static(Content(self.title_text), id="question")
            for i, (label, placeholder) in enumerate(self.fields):
                yield Label(Content(label))
                value = self.values[i] if i < len(self.values) else ""
                yield Input(value=value, placeholder=placeholder, id=f"field-{i}")
            with Horizontal(id="buttons"):
                yield Button("OK", id="ok", variant="primary")
                yield Button("Cancel", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#field-0", Input).focus()

    def _values(self) -> list[str]:
        return [self.query_one(f"#field-{i}", Input).value.strip() for i in range(len(self.fields))]

    def on_input_submitted(self, event: Input.Submitted) -> None:
        index = int((event.input.id or "field-0").split("-")[1])
        if index + 1 < len(self.fields):
            self.query_one(f"#field-{index + 1}", Input).focus()
        elif all(self._values()):
            self.dismiss(self._values())

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "ok" and all(self._values()):
            self.dismiss(self._values())
        elif event.button.id == "cancel":
            self.dismiss(None)

    def action_cancel(self) -> None:
        self.dismiss(None)
