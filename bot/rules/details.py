"""Complaint details found in what customers write, so the bot asks only for the rest.

Customers write in Italian, English, Dutch, Russian, Chinese, German, French and
Spanish. Plain regexes and keyword lists keep this fast, explainable and free of
model downloads. They are deliberately conservative: asking a customer once more is
cheap, while storing a wrong order number or model misleads staff.

Every pattern is linear or bounded (no nested unbounded quantifiers) and runs on
at most ``SCAN_LIMIT`` characters, so a 1 MB message costs the same as a 20 kB one.
"""

# Keyword lists mix scripts on purpose (Cyrillic, CJK full-width punctuation).
# ruff: noqa: RUF001

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from itertools import islice

DETAILS: tuple[str, ...] = (
    "order_number",
    "product_model",
    "serial_number",
    "description",
    "desired_solution",
)

SCAN_LIMIT = 20_000
SUBJECT_LIMIT = 1_000
MAX_VALUE_CHARS = 200
MIN_DESCRIPTION_LETTERS = 20

Span = tuple[int, int]


@dataclass(frozen=True)
class Found:
    """What one message told us; the caller merges it into the ticket's details."""

    values: dict[str, str]
    emails: tuple[str, ...]
    phones: tuple[str, ...]
    ticket_refs: tuple[str, ...]


# --- text preparation ------------------------------------------------------------

# Bidi overrides, zero-width characters and soft hyphens can hide or reorder text
# (a spoofing trick) and split codes; they carry no detail, so they are dropped.
_INVISIBLE: dict[int, None] = dict.fromkeys(
    [*range(0x200B, 0x2010), *range(0x202A, 0x202F), *range(0x2060, 0x206A), 0x00AD, 0x061C, 0xFEFF]
)
# NFKC would turn "№" into "No" and "º" into "o", gluing them to the number.
_BEFORE_NFKC = str.maketrans({"№": "#", "º": "°"})


def _clean(text: str | None, limit: int) -> str:
    """Cut first (bounded time), then drop what cannot be encoded or is invisible."""
    head = (text or "")[:limit]
    head = head.encode("utf-8", "replace").decode("utf-8")
    return head.translate(_INVISIBLE)


def _fold(text: str) -> str:
    """NFKC makes full-width digits and punctuation (usual in Chinese) plain ASCII."""
    return unicodedata.normalize("NFKC", text.translate(_BEFORE_NFKC))


def _clip(value: str) -> str:
    return value.strip()[:MAX_VALUE_CHARS].strip()


# --- shared pattern pieces -------------------------------------------------------

_NOT_AFTER_LETTER = r"(?<![^\W\d_])"
_NOT_BEFORE_LETTER = r"(?![^\W\d_])"
# Words between a keyword and its code: "order number: #", "ordine n.", "订单号是".
_FILL_WORDS = r"number|numero|numéro|número|nummer|num|nr|no|n|id|is|è|ist|est|es|номер"
_FILL_CJK = r"号码|號碼|编号|編號|号|號|是|为|為"
# Each filler token consumes a non-space character, so the split is unambiguous.
_GAP = rf"(?:\s*(?:(?:{_FILL_WORDS})(?!\w)|{_FILL_CJK}|[:#.°=\-])){{0,8}}\s*"
# Alphanumeric runs joined by single separators: no two ways to match one string.
_CODE = r"(?P<code>[A-Za-z0-9]+(?:[-/][A-Za-z0-9]+)*)"
_DATE = re.compile(r"\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}")
_TICKET = re.compile(r"(?<![A-Za-z0-9])[Cc]-\d{4}-\d{6}(?![A-Za-z0-9])")
_EMAIL = re.compile(
    r"(?<![A-Za-z0-9._%+\-])[A-Za-z0-9][A-Za-z0-9._%+\-]{0,63}"
    r"@[A-Za-z0-9](?:[A-Za-z0-9\-]{0,62}\.){1,8}[A-Za-z]{2,24}(?![A-Za-z0-9\-])"
)
_PHONE = re.compile(
    r"(?<![A-Za-z0-9+])(?P<intl>\+|00)?(?P<body>\(?\d[\d \t().\-/]{4,22}\d)(?![A-Za-z0-9])"
)
_PHONE_KW = re.compile(
    _NOT_AFTER_LETTER + r"(?:tel|t[eé]l[eé]fono|telefoon|telefon(?:nummer)?|t[eé]l[eé]phone|phone|"
    r"cell(?:ulare|phone)?|mobile?|mobiel|mobil(?:nummer)?|handy(?:nummer)?|gsm|whatsapp|"
    r"call|chiamare|chiamami|chiamatemi|bellen|bel\s+(?:me|mij)|моб[а-яё]{0,8}|телефон[а-яё]{0,3}|тел|"
    r"звоните|позвоните|portable|m[oó]vil|celular|llamar|llámame|anrufen|appeler|appelez)"
    + _NOT_BEFORE_LETTER
    + r"|电话|電話|手机|手機|联系方式",
    re.IGNORECASE,
)
_PHONE_GLUE_CHARS = 16

# --- detail patterns ---------------------------------------------------------------

_ORDER_KW = (
    rf"(?:{_NOT_AFTER_LETTER}(?:order(?:s|nummer|number|nr|no)?|ordine|"
    r"bestel(?:ling|nummer|nr)|bestellung|bestell(?:nummer|nr|-nr)|"
    r"auftrag(?:snummer|snr)?|commande|pedido|заказ(?:а|у|е|ом)?)"
    rf"{_NOT_BEFORE_LETTER}|订单|訂單)"
)
_ORDER = re.compile(_ORDER_KW + _GAP + _CODE, re.IGNORECASE)
_ORDER_KW_ONLY = re.compile(_ORDER_KW, re.IGNORECASE)
_HASH_ORDER = re.compile(r"(?<![A-Za-z0-9&#])#[ \t]?" + _CODE)

_SERIAL_KW = (
    r"(?:(?<![A-Za-z0-9])s/?n(?!\w)|"
    rf"{_NOT_AFTER_LETTER}(?:serial(?:e|nummer|nr|no)?|matricola|numero\s+di\s+serie|"
    r"n[.°]?\s*di\s+serie|serienummer|seriennummer|serien-?nr|seriennr|"
    r"num[ée]ro\s+de\s+s[ée]rie|n°\s*de\s+s[ée]rie|n[úu]mero\s+de\s+serie|"
    r"серийн[а-яё]{0,4}\s+номер|серийник|заводской\s+номер)"
    rf"{_NOT_BEFORE_LETTER}|序列号|序列號|出厂编号|出廠編號|机身编号|sn码)"
)
_SERIAL = re.compile(_SERIAL_KW + _GAP + _CODE, re.IGNORECASE)
_SERIAL_KW_ONLY = re.compile(_SERIAL_KW, re.IGNORECASE)
# "SN88990011" written as one token is a serial even without a separate keyword.
_SERIAL_TOKEN = re.compile(r"(?<![A-Za-z0-9\-])SN\d[A-Z0-9]{4,27}(?![A-Za-z0-9\-])")

# Brand words must be Capitalized and the last token must hold a digit, so
# "the model is broken" or "model year" never become a model.
_MODEL = re.compile(
    rf"(?i:{_NOT_AFTER_LETTER}(?:model(?:lo|l|o)?|modèle|модел[ьи]){_NOT_BEFORE_LETTER}"
    rf"|型号|型號|机型|機型)(?i:{_GAP})"
    r"(?P<model>(?:[A-Z][A-Za-z]{1,19}[ \t]+){0,3}[A-Za-z0-9]{0,30}\d[A-Za-z0-9.+/\-]{0,30})"
)
_YEAR = re.compile(r"(?:19|20)\d\d")
_KNOWN_MODEL = re.compile(
    r"(?<![A-Za-z0-9])(?:"
    r"SUN2000-\d{1,3}(?:\.\d{1,2})?K(?:TL|W)?(?:-[A-Z0-9]{1,6}){0,3}"
    r"|(?:Fronius[ \t]+)?(?:Primo|Symo|Galvo|Tauro)(?:[ \t]+GEN24)?(?:[ \t]+Plus)?"
    r"[ \t]+\d{1,2}\.\d{1,2}(?:-\d)?(?:-[A-Z])?(?:[ \t]+Plus)?"
    r"|(?:SMA[ \t]+)?Sunny[ \t]+(?:Boy|Tripower|Island)(?:[ \t]+Storage)?"
    r"[ \t]+\d{1,2}\.\d{1,2}(?:-[A-Z0-9]{1,6}){0,3}"
    r"|SE\d{4,5}H?(?:-[A-Z0-9]{2,6}){0,3}"
    r"|GW\d{1,5}K?-[A-Z]{2,4}"
    r"|(?:MIN|MIC|MOD|MID|SPH)[ \t]?\d{3,5}K?TL\d?-X[A-Z0-9]{0,4}"
    r")(?![A-Za-z0-9])"
)

# "my SN-5000 inverter", "l'inverter SN-5000": a code of capitals and digits right beside
# the device's own name is its model, though no "model" keyword says so.
_DEVICE = (
    r"(?i:inverter|omvormer|wechselrichter|onduleur|inversor|инвертор[а-яё]{0,3}|逆变器|逆變器)"
)
_DEVICE_CODE = r"[A-Z]{1,10}-?\d[A-Z0-9]{0,10}(?:-[A-Z0-9]{1,10}){0,3}"
_MODEL_BEFORE_DEVICE = re.compile(rf"(?<![A-Za-z0-9\-])(?P<model>{_DEVICE_CODE})[ \t]+{_DEVICE}")
_MODEL_AFTER_DEVICE = re.compile(rf"{_DEVICE}[ \t]+(?P<model>{_DEVICE_CODE})(?![A-Za-z0-9\-])")


def _keywords(latin: str, cjk: str) -> re.Pattern[str]:
    """Latin/Cyrillic stems must start a word; CJK has no word boundaries to check."""
    return re.compile(rf"{_NOT_AFTER_LETTER}(?:{latin})|{cjk}", re.IGNORECASE)


_SOLUTION = _keywords(
    r"refund|reimburs|money\s+back|replacement|replace|compensation|"
    r"rimbors|risarciment|sostituzion|sostituir|sostituit|soldi\s+indietro|"
    r"terugbetal|geld\s+terug|vervang|vergoeding|compensatie|"
    r"возврат|верн[а-яё]{0,4}\s+деньги|замен|компенсац|"
    r"erstattung|rückerstattung|erstatten|geld\s+zurück|ersatz|austausch|umtausch|"
    r"entschädigung|rembours|remplacement|remplac|dédommag|indemnis|"
    r"reembols|devoluci[oó]n|devolver\s+el\s+dinero|sustitu|reempla|compensaci[oó]n|"
    r"indemnizaci[oó]n",
    r"退款|退货|退貨|退钱|更换|更換|换货|換貨|换新|换一台|赔偿|賠償|补偿",
)
_WANT = _keywords(
    r"want|would\s+like|expect|demand|request|please|voglio|vorrei|chiedo|pretendo|"
    r"ik\s+wil|graag|хочу|требую|прошу|ich\s+möchte|ich\s+will|verlange|bitte|"
    r"je\s+veux|je\s+voudrais|je\s+demande|j'exige|quiero|exijo|solicito|por\s+favor",
    r"我要|希望|要求|请|請",
)
_REPAIR = _keywords(
    r"repair|ripar|reparat|reparer|repareren|ремонт|почин|reparatur|reparier|"
    r"réparation|réparer|reparaci[oó]n|reparar",
    r"维修|維修|修理|修好",
)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|(?<=[。！？])|\n+")

_PRODUCT = _keywords(
    r"inverter|device|product|broken|broke\b|defect|faulty|fault\b|not\s+working|"
    r"doesn'?t\s+work|stopped\s+working|malfunction|error\s+code|damaged|overheat|"
    r"guast|difettos|rott[oaie]\b|non\s+funziona|prodott|dispositiv|apparecchi|"
    r"codice\s+(?:di\s+)?errore|danneggiat|problema\s+tecnico|"
    r"kapot|werkt\s+niet|storing|omvormer|apparaat|beschadigd|foutcode|"
    r"слома|не\s+работает|неисправ|дефект|брак|инвертор|устройств|прибор|поврежд|"
    r"код\s+ошибки|kaputt|defekt|funktioniert\s+nicht|wechselrichter|gerät|fehlercode|"
    r"störung|beschädigt|ausgefallen|onduleur|appareil|panne|défectueu|cassé|"
    r"ne\s+fonctionne\s+pas|ne\s+marche\s+pas|produit|endommagé|"
    r"inversor|aparato|averiad|avería|rot[oa]\b|no\s+funciona|producto|dañad|"
    r"problema\s+técnico",
    r"坏了|坏掉|壞了|故障|不工作|不能用|损坏|損壞|逆变器|逆變器|设备|設備|产品|產品|"
    r"质量问题|報錯|报错|错误代码",
)
_SERVICE = _keywords(
    r"technician|engineer|installer|installation|appointment|rude|impolite|invoice|"
    r"billing|bill\b|overcharg|delivery|delivered|late\b|delay|customer\s+service|"
    r"never\s+(?:came|showed)|tecnic[oi]\b|installator|installazion|appuntament|"
    r"fattur|scortes|maleducat|consegn|ritard|assistenza|sopralluog|addebit|"
    r"monteur|installateur|installatie|afspraak|factuur|onbeleefd|levering|geleverd|"
    r"bezorg|te\s+laat|vertraging|klantenservice|мастер|монтажник|установщик|"
    r"установк|визит|сч[её]т(?:а|у|е|ом)?\b|груб|хамств|доставк|доставил|опозда|задерж|поддержк|"
    r"techniker|termin\b|terminen\b|rechnung|unhöflich|unfreundlich|lieferung|geliefert|verspät|"
    r"verzöger|kundendienst|kundenservice|technicien|rendez-vous|facture|impoli|"
    r"désagréable|livraison|livré|retard|service\s+client|técnico|instalador|"
    r"instalación|cita\b|factura|grosero|maleducad|entrega|retraso|atención\s+al\s+cliente",
    r"技术员|技術員|师傅|師傅|安装工|安裝工|预约|預約|发票|發票|态度|態度|送货|送貨|"
    r"配送|发货|發貨|延迟|延遲|迟到|遲到|客服|上门|上門",
)

_NEEDED: dict[str, tuple[str, ...]] = {
    "product": ("order_number", "product_model", "serial_number", "desired_solution"),
    "service": ("order_number", "desired_solution"),
    "unknown": ("description", "order_number", "desired_solution"),
}


# --- contacts and references -------------------------------------------------------


def _unique(items: list[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))


def _overlaps(span: Span, reserved: list[Span]) -> bool:
    return any(span[0] < end and start < span[1] for start, end in reserved)


def _tickets(text: str) -> list[tuple[str, Span]]:
    return [(m.group().upper(), m.span()) for m in _TICKET.finditer(text)]


def _emails(text: str) -> list[tuple[str, Span]]:
    return [(m.group().lower(), m.span()) for m in _EMAIL.finditer(text)]


def _phone_context(text: str, start: int) -> bool:
    """A bare number is a phone only right after a phone word, else it may be an order."""
    words = list(_PHONE_KW.finditer(text, max(0, start - 40), start))
    if not words:
        return False
    glue = text[words[-1].end() : start]
    return (
        len(glue) <= _PHONE_GLUE_CHARS
        and not any(c.isdigit() for c in glue)
        and not _ORDER_KW_ONLY.search(glue)
        and not _SERIAL_KW_ONLY.search(glue)
    )


def _phone(match: re.Match[str], text: str) -> str | None:
    """E.164-ish with a country code, digits only without one; None if not a phone."""
    body = match["body"]
    if _DATE.fullmatch(body):
        return None
    digits = re.sub(r"\D", "", body.replace("(0)", ""))
    intl = match["intl"]
    has_separator = any(not c.isdigit() for c in body)
    if intl == "+" or (intl == "00" and (has_separator or _phone_context(text, match.start()))):
        return "+" + digits if 8 <= len(digits) <= 15 else None
    if intl is None and _phone_context(text, match.start()) and 6 <= len(digits) <= 15:
        return digits
    return None


def _phones(text: str, reserved: list[Span]) -> list[tuple[str, Span]]:
    found = []
    for match in _PHONE.finditer(text):
        number = _phone(match, text)
        if number is not None and not _overlaps(match.span(), reserved):
            found.append((number, match.span()))
    return found


# --- details -----------------------------------------------------------------------


def _codes(pattern: re.Pattern[str], text: str, reserved: list[Span]) -> Iterator[str]:
    """Codes after a keyword that are not a ticket, phone, email or date in disguise."""
    position = 0
    while match := pattern.search(text, position):
        # A rejected code may itself be the next keyword ("numero d'ordine: ordine n. 45..."),
        # so the search goes on from the code, not from the end of the match.
        position = match.start("code")
        code = match["code"]
        if (
            _TICKET.fullmatch(code)
            or _DATE.fullmatch(code)
            or _overlaps(match.span("code"), reserved)
        ):
            continue
        yield code


def _order_number(text: str, reserved: list[Span]) -> str | None:
    for pattern in (_ORDER, _HASH_ORDER):
        for code in _codes(pattern, text, reserved):
            if 4 <= len(code) <= 20 and any(c.isdigit() for c in code):
                return code
    return None


def _serial_number(text: str, reserved: list[Span]) -> str | None:
    for code in _codes(_SERIAL, text, reserved):
        if 5 <= len(code) <= 30 and any(c.isdigit() for c in code):
            return code.upper()
    token = _SERIAL_TOKEN.search(text)
    return token.group() if token and not _overlaps(token.span(), reserved) else None


def _plausible_model(model: str) -> bool:
    """Conservative on purpose: a bare number or a year is more likely not a model."""
    words = model.split()
    token = words[-1]
    if len(token) < 2 or _YEAR.fullmatch(token):
        return False
    return len(words) > 1 or any(c.isalpha() for c in token)


def _product_model(text: str, reserved: list[Span]) -> str | None:
    for match in _MODEL.finditer(text):
        model = match["model"].rstrip(".-/")
        if _plausible_model(model) and not _overlaps(match.span("model"), reserved):
            return model
    known = _KNOWN_MODEL.search(text)
    if known and not _overlaps(known.span(), reserved):
        return known.group()
    for pattern in (_MODEL_BEFORE_DEVICE, _MODEL_AFTER_DEVICE):
        beside = pattern.search(text)
        if beside and not _overlaps(beside.span("model"), reserved):
            return beside["model"]
    return None


def _window(sentence: str, at: int) -> str:
    """A long run-on sentence is cut around the keyword so the wish stays visible."""
    if len(sentence.strip()) <= MAX_VALUE_CHARS:
        return sentence.strip()
    start = max(0, at - 60)
    return _clip(sentence[start : start + MAX_VALUE_CHARS])


def _desired_solution(text: str) -> str | None:
    for sentence in _SENTENCE_END.split(text):
        match = _SOLUTION.search(sentence)
        if match is None and _WANT.search(sentence):
            match = _REPAIR.search(sentence)
        if match is not None:
            return _window(sentence, match.start())
    return None


def _description(body: str) -> str | None:
    """The first message is the customer's own account once it has enough words."""
    letters = list(islice(filter(str.isalpha, body), MIN_DESCRIPTION_LETTERS))  # enough
    return _clip(body) if len(letters) == MIN_DESCRIPTION_LETTERS else None


# --- public API --------------------------------------------------------------------


def extract(text: str, subject: str = "") -> Found:
    """Find details, contacts and ticket references in one message (and its subject)."""
    body = _clean(text, SCAN_LIMIT)
    plain = _clean(subject, SUBJECT_LIMIT) + "\n" + body
    scan = _fold(plain)
    tickets, emails = _tickets(scan), _emails(scan)
    reserved = [span for _, span in tickets + emails]
    phones = _phones(scan, reserved)
    reserved += [span for _, span in phones]
    candidates = {
        "order_number": _order_number(scan, reserved),
        "product_model": _product_model(scan, reserved),
        "serial_number": _serial_number(scan, reserved),
        "description": _description(body),
        "desired_solution": _desired_solution(plain),
    }
    values = {name: _clip(value) for name, value in candidates.items() if value}
    return Found(
        values=values,
        emails=_unique([e for e, _ in emails]),
        phones=_unique([p for p, _ in phones]),
        ticket_refs=_unique([t for t, _ in tickets]),
    )


def with_thread_refs(found: Found, thread_refs: Sequence[str]) -> Found:
    """Add the ticket references a message's thread carries (the Message-IDs of our mails)."""
    refs = [m.group(0).upper() for ref in thread_refs[:100] for m in _TICKET.finditer(ref[:998])]
    if not refs:
        return found
    return replace(found, ticket_refs=_unique([*found.ticket_refs, *refs]))


def with_given(found: Found, given: Mapping[str, str] | None) -> Found:
    """Add what the customer filled in field by field; it wins over the text's reading."""
    if not given:
        return found
    values = {
        name: _clip(value)
        for name, value in given.items()
        if name not in ("category", "name", "email", "phone")
    }
    emails = [given["email"].lower()] if "@" in given.get("email", "") else []
    phone = given.get("phone", "").strip()
    digits = re.sub(r"\D", "", phone.replace("(0)", ""))
    digits = digits[2:] if phone.startswith("00") else digits
    intl = "+" if phone.startswith(("+", "00")) else ""
    phones = [intl + digits] if 6 <= len(digits) <= 15 else []
    return replace(
        found,
        values={**found.values, **values},
        emails=_unique([*emails, *found.emails]),
        phones=_unique([*phones, *found.phones]),
    )


def category(text: str) -> str:
    """Product or service complaint, by keyword votes; a tie counts as product.

    A tie usually means a product arrived broken or was installed badly; product
    complaints need more details, so asking for them is the safer side.
    """
    scan = _fold(_clean(text, SCAN_LIMIT))
    product = sum(1 for _ in _PRODUCT.finditer(scan))
    service = sum(1 for _ in _SERVICE.finditer(scan))
    if product == service == 0:
        return "unknown"
    return "product" if product >= service else "service"


def missing(details: Mapping[str, str], category: str) -> list[str]:
    """Details still needed, in asking order; the description always comes first."""
    wanted = _NEEDED.get(category, _NEEDED["unknown"])
    if "description" not in wanted:
        wanted = ("description", *wanted)
    return [name for name in wanted if not str(details.get(name) or "").strip()]
