"""The chat's intake dialog as a pure state machine: a state and a text in, the next step out.

It asks what the complaint is about, then only the details still missing, one at a
time, and hands back a completed intake for the channel to submit as ONE message.
No I/O here, and no look-ups at all: whether an email or a reference typed into the
chat belongs to anyone is never said to whoever types it (bot.tickets.ticket_views).
"""

# Separators and skip words include CJK full-width punctuation on purpose.
# ruff: noqa: RUF001

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Any

from bot.contract.domain import DECLINED
from bot.contract.ports import Reading
from channels import chat_texts

KIND = "kind"
DONE = "done"  # intake over: later texts are free messages to the ticket

PRODUCT_STEPS: tuple[str, ...] = (
    "name",
    "contact",
    "order_number",
    "product_model",
    "serial_number",
    "description",
    "desired_solution",
)
SERVICE_STEPS: tuple[str, ...] = (
    "name",
    "contact",
    "order_number",
    "description",
    "desired_solution",
)
OPTIONAL = frozenset({"order_number", "product_model", "serial_number", "desired_solution"})
MAX_ANSWER_CHARS = 2000
MIN_DESCRIPTION_LETTERS = 15
SKIPPED = "-"
DRAFT = "_draft"  # a description too short to stand alone, waiting for more

_EMAIL = re.compile(
    r"[A-Za-z0-9][A-Za-z0-9._%+\-]{0,63}@[A-Za-z0-9](?:[A-Za-z0-9\-]{0,62}\.)"
    r"{1,8}[A-Za-z]{2,24}"
)
_PHONE = re.compile(r"\+?[\d][\d \-().]{4,22}\d")
_INVISIBLE = re.compile("[\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff\u00ad\u061c]")


@dataclass(frozen=True)
class Prompt:
    """A text key of chat_texts and the values to put in; `choices`: the answers offered as
    buttons too ("product", "service", "skip": their labels are chat texts)."""

    key: str
    values: tuple[tuple[str, str], ...] = ()
    choices: tuple[str, ...] = ()

    def render(self, language: str) -> str:
        return chat_texts.say(self.key, language, **dict(self.values))


KIND_CHOICES = ("product", "service")
SKIP_CHOICES = ("skip",)
# Details the core's reading of a first message may fill (bot.rules.details names).
READ_DETAILS = ("order_number", "product_model", "serial_number", "description", "desired_solution")


@dataclass(frozen=True)
class Dialog:
    step: str = KIND
    kind: str = ""  # "product" or "service"
    answers: tuple[tuple[str, str], ...] = ()  # detail -> answer ("-" when skipped)
    remarks: tuple[str, ...] = ()  # texts that answered no question: kept for the message

    def get(self, name: str) -> str:
        return dict(self.answers).get(name, "")

    def given(self, name: str) -> bool:
        return name in dict(self.answers)

    def with_answer(self, name: str, value: str) -> Dialog:
        return replace(
            self, answers=(*((k, v) for k, v in self.answers if k != name), (name, value))
        )

    def without(self, name: str) -> Dialog:
        return replace(self, answers=tuple((k, v) for k, v in self.answers if k != name))

    def to_json(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "kind": self.kind,
            "answers": dict(self.answers),
            "remarks": list(self.remarks),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Dialog:
        answers = data.get("answers") or {}
        step = str(data.get("step", KIND))
        return cls(
            step=DONE if step == "reference" else step,  # a step of earlier versions
            kind=str(data.get("kind", "")),
            answers=tuple((str(k), str(v)) for k, v in answers.items()),
            remarks=tuple(str(r) for r in data.get("remarks") or ()),
        )


@dataclass(frozen=True)
class Submit:
    """The intake is complete: submit it as one message."""

    name: str
    kind: str
    details: tuple[tuple[str, str], ...]  # only details given, not skipped
    remarks: tuple[str, ...] = ()
    skipped: tuple[str, ...] = ()  # questions the customer skipped: never asked again


@dataclass(frozen=True)
class Turn:
    dialog: Dialog
    prompts: tuple[Prompt, ...] = ()
    action: Submit | None = None
    # The answer counts toward the intake (stored in the final message): False for a
    # reply to a question we had to repeat.
    accepted: bool = field(default=True)


def start() -> Turn:
    return Turn(Dialog(), (Prompt("greeting"), Prompt("ask_kind", choices=KIND_CHOICES)))


def clean(text: str) -> str:
    """Invisible and direction-override characters carry no answer; a bounded length."""
    return _INVISIBLE.sub("", text).strip()[:MAX_ANSWER_CHARS]


def answer(dialog: Dialog, text: str, language: str, reading: Reading | None = None) -> Turn:
    """The customer's answer to the question the dialog is at; `reading`: the core's reading
    of the text (bot.contract.ports.TextReader), which fills what the first message tells."""
    value = clean(text)
    if dialog.step == DONE:
        return Turn(dialog)
    if dialog.step == KIND:
        turn = _kind(dialog, value, language, reading or Reading())
    else:
        turn = _detail(dialog, dialog.step, value, language)
    if turn.accepted or not value or _is_skip(value, language):
        return turn
    # An answer to no question is still the customer's words: the message keeps them.
    kept = replace(turn.dialog, remarks=(*turn.dialog.remarks, value)[-20:])
    return replace(turn, dialog=kept)


def _words(text: str) -> set[str]:
    return set(re.split(r"[\s,.;:!?，。；：！？\"“”«»„]+", text.casefold())) - {""}


def _matches(value: str, key: str, language: str) -> bool:
    listed = chat_texts.words(key, language)
    folded = value.casefold().strip(" .!?。！")
    return (
        folded in listed
        or bool(_words(value) & listed)
        or any(w in folded for w in listed if len(w) > 1 and not w.isascii())
    )


def _kind(dialog: Dialog, value: str, language: str, reading: Reading) -> Turn:
    """The answer to "product or service?", or a first message that tells the story: what
    the core's reading finds in it is taken, and only the rest is asked."""
    kind = _said_kind(value, language) or _read_kind(reading) or _kind_words(value, language)
    told = _read(dialog, value, reading)
    if kind:
        return _next(replace(told, kind=kind))
    if told.given("description") and not dialog.given("description"):
        # A story that names neither: keep all it told, then ask the kind, with buttons.
        return Turn(told, (Prompt("ask_kind", choices=KIND_CHOICES),))
    return Turn(dialog, (Prompt("kind_unclear", choices=KIND_CHOICES),), accepted=False)


def _said_kind(value: str, language: str) -> str:
    """The whole answer is a kind word ("product", «servizio», a button)."""
    folded = value.casefold().strip(" .!?。！")
    if folded in chat_texts.words("product_words", language):
        return "product"
    return "service" if folded in chat_texts.words("service_words", language) else ""


def _read_kind(reading: Reading) -> str:
    return reading.category if reading.category in KIND_CHOICES else ""


def _kind_words(value: str, language: str) -> str:
    product = _matches(value, "product_words", language)
    service = _matches(value, "service_words", language)
    if product == service:
        return ""
    return "product" if product else "service"


def _read(dialog: Dialog, value: str, reading: Reading) -> Dialog:
    """The details the core's reading found, an email or phone for the contact, and a
    story long enough to stand as the description."""
    for name in READ_DETAILS:
        found = reading.details.get(name, "")
        if found and not dialog.given(name):
            dialog = dialog.with_answer(name, found[:MAX_ANSWER_CHARS])
    letters = sum(c.isalpha() for c in value)
    if letters >= MIN_DESCRIPTION_LETTERS and not dialog.given("description"):
        dialog = dialog.with_answer("description", value)
    contact = (reading.emails or reading.phones or ("",))[0]
    if contact and not dialog.given("contact"):
        dialog = dialog.with_answer("contact", contact)
    return _prefilled(dialog, value)


def _prefilled(dialog: Dialog, value: str) -> Dialog:
    """An email address written anywhere fills the contact question."""
    email = _EMAIL.search(value)
    if email and not dialog.given("contact"):
        return dialog.with_answer("contact", email.group().lower())
    return dialog


def _is_skip(value: str, language: str) -> bool:
    return value.casefold().strip(" .!?。！") in chat_texts.words("skip_words", language)


def _ask(name: str) -> Prompt:
    return Prompt(f"ask_{_question(name)}", choices=SKIP_CHOICES if name in OPTIONAL else ())


def _detail(dialog: Dialog, name: str, value: str, language: str) -> Turn:
    if not value:
        return Turn(dialog, (_ask(name),), accepted=False)
    if _is_skip(value, language):
        if name not in OPTIONAL:
            return Turn(dialog, (Prompt("required"), _ask(name)), accepted=False)
        return _next(dialog.with_answer(name, SKIPPED))
    if name == "contact":
        return _contact(dialog, value)
    if name == "description":
        value = "\n".join(part for part in (dialog.get(DRAFT), value) if part)
        if sum(c.isalpha() for c in value) < MIN_DESCRIPTION_LETTERS:
            return Turn(dialog.with_answer(DRAFT, value), (Prompt("description_short"),))
        dialog = dialog.without(DRAFT)
    return _next(_prefilled(dialog.with_answer(name, value[:MAX_ANSWER_CHARS]), value))


def _question(name: str) -> str:
    return "contact" if name == "contact" else name


def _contact(dialog: Dialog, value: str) -> Turn:
    email = _EMAIL.search(value)
    if email:
        return _next(dialog.with_answer("contact", email.group().lower()))
    phone = _PHONE.search(value)
    digits = re.sub(r"\D", "", phone.group()) if phone else ""
    if phone and 6 <= len(digits) <= 15:
        return _next(dialog.with_answer("contact", phone.group().strip()))
    return Turn(dialog, (Prompt("contact_invalid"),), accepted=False)


def _steps(kind: str) -> tuple[str, ...]:
    return PRODUCT_STEPS if kind == "product" else SERVICE_STEPS


def _next(dialog: Dialog) -> Turn:
    """Ask the first detail not given yet; with none left, the intake is complete."""
    for name in _steps(dialog.kind):
        if not dialog.given(name):
            return Turn(replace(dialog, step=name), (_ask(name),))
    name = dialog.get("name")
    asked = [(k, v) for k, v in dialog.answers if k != "name" and not k.startswith("_")]
    return Turn(
        replace(dialog, step=DONE),
        (Prompt("submitting", (("name", name),)),),
        Submit(
            name=name,
            kind=dialog.kind,
            details=tuple((k, v) for k, v in asked if v != SKIPPED),
            remarks=dialog.remarks,
            skipped=tuple(k for k, v in asked if v == SKIPPED),
        ),
    )


# --- the message the core reads ---------------------------------------------------------

# Labels the core's detail extraction recognises (bot/rules/details.py): the keyword, a colon,
# the value. The description comes first, as the customer's own account.
_LABELS: dict[str, str] = {
    "order_number": "Order number",
    "product_model": "Model",
    "serial_number": "Serial number",
    "desired_solution": "Desired solution (refund, replacement, repair or other)",
}
_KIND_LINE = {
    "product": "Complaint about: a product",
    "service": "Complaint about: customer service",
}


def _contact_line(contact: str) -> str:
    return f"Email: {contact}" if "@" in contact else f"Phone: {contact}"


def compose(submit: Submit) -> str:
    """The intake as one message text whose details the core's extraction finds."""
    details = dict(submit.details)
    lines = [details.get("description", "").strip(), "", _KIND_LINE.get(submit.kind, "")]
    lines += [f"{label}: {details[name]}" for name, label in _LABELS.items() if name in details]
    if details.get("contact"):
        lines.append(_contact_line(details["contact"]))
    if submit.name:
        lines.append(f"Name: {submit.name}")
    if submit.remarks:
        lines += ["", "Also written:", *submit.remarks]
    return "\n".join(lines).strip()


def given_details(submit: Submit) -> dict[str, str]:
    """The answers by the core's detail names: taken as given, not read back from the text.
    A skipped question is given as DECLINED, so the ticket's replies never ask it again."""
    details = {k: v for k, v in submit.details if k in _LABELS or k == "description"}
    details |= {k: DECLINED for k in submit.skipped if k in _LABELS}
    contact = dict(submit.details).get("contact", "")
    if contact:
        details["email" if "@" in contact else "phone"] = contact
    if submit.kind in ("product", "service"):
        details["category"] = submit.kind
    if submit.name:
        details["name"] = submit.name
    return details
