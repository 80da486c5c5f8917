"""Realistic complaint traffic: many senders, several languages and channels, with repeats.

Most senders write once; some add details or ask again (collapse), a few flood
(throttle), some write on a closed channel (WhatsApp), and a few messages are
delivered twice by their provider (same external id: duplicate).
"""

# Chinese texts use full-width punctuation on purpose.
# ruff: noqa: RUF001

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from datetime import UTC, datetime

MODELS = (
    "SUN2000-5KTL-L1",
    "Fronius Primo 5.0-1",
    "SMA Sunny Boy 3.0",
    "SE5000H",
    "GW5000-EH",
    "MIN 3000TL-X",
    "Fronius Symo GEN24 6.0 Plus",
    "SUN2000-10KTL-M1",
)

COMPLAINTS: dict[str, tuple[str, ...]] = {
    "en": (
        "Hello, my inverter {model} stopped producing power three days ago and shows error "
        "code 2064. Order number {order}. I want a replacement unit, not another reset.",
        "I paid for order {order} two weeks ago and nothing has arrived. Your tracking page "
        "says 'label created' since then. Please refund me or ship it today.",
        "The {model} you installed makes a loud buzzing noise every afternoon and the app "
        "shows no data since Monday. Serial number {serial}. Please send a technician.",
    ),
    "it": (
        "Buongiorno, l'inverter {model} si spegne ogni giorno verso mezzogiorno. Ordine "
        "{order}, matricola {serial}. Chiedo la sostituzione in garanzia.",
        "Ho chiamato tre volte e nessuno mi ha richiamato. L'impianto non produce da una "
        "settimana e perdo soldi ogni giorno. Voglio una risposta scritta.",
    ),
    "nl": (
        "Goedendag, mijn omvormer {model} geeft sinds vorige week een isolatiefout. "
        "Bestelnummer {order}. Ik wil graag dat een monteur langskomt.",
        "Ik heb de factuur voor bestelling {order} twee keer betaald. Graag het dubbele "
        "bedrag terugstorten op mijn rekening.",
    ),
    "ru": (
        "Здравствуйте, инвертор {model} не включается после грозы. Номер заказа {order}, "
        "серийный номер {serial}. Прошу заменить устройство по гарантии.",
        "Уже месяц жду ответа по моей жалобе, никто не отвечает на письма. Верните деньги.",
    ),
    "zh": (
        "你好，我的逆变器{model}从上周开始一直报警，无法发电。订单号{order}，序列号{serial}。"
        "请尽快安排维修或者更换。",
        "我已经等了两个星期，还没有收到货。订单号{order}。请给我退款。",
    ),
    "de": (
        "Guten Tag, der Wechselrichter {model} zeigt seit Tagen einen Netzfehler an. "
        "Bestellnummer {order}. Ich erwarte einen Austausch innerhalb der Garantie.",
    ),
    "fr": (
        "Bonjour, mon onduleur {model} affiche une erreur d'isolement depuis lundi. Numéro de "
        "commande {order}. Je souhaite un remplacement rapide.",
    ),
    "es": (
        "Hola, el inversor {model} dejó de funcionar y la aplicación no muestra datos. "
        "Pedido {order}. Quiero que me envíen un técnico esta semana.",
    ),
}

FOLLOW_UPS: dict[str, tuple[str, ...]] = {
    "en": (
        "Any news about my complaint? It is still not working.",
        "The serial number is {serial}, the model is {model}.",
    ),
    "it": ("Ci sono novità? L'inverter è ancora spento.", "La matricola è {serial}."),
    "nl": ("Is er al nieuws? De omvormer werkt nog steeds niet.", "Serienummer {serial}."),
    "ru": ("Есть новости по моей жалобе? Всё ещё не работает.", "Серийный номер {serial}."),
    "zh": ("请问我的投诉有进展吗？还是不能用。", "序列号{serial}。"),
    "de": (
        "Gibt es Neuigkeiten? Der Wechselrichter geht immer noch nicht.",
        "Seriennummer {serial}.",
    ),
    "fr": (
        "Des nouvelles de ma réclamation ? Ça ne marche toujours pas.",
        "Numéro de série {serial}.",
    ),
    "es": ("¿Hay novedades? Sigue sin funcionar.", "Número de serie {serial}."),
}

ANGRY = (
    "WHERE IS MY REFUND??? This is the {n}th time I write. Order {order}!!!",
    "Still nothing. You are thieves. Answer me now. Order {order}.",
)

CHANNELS = ("webform", "webchat", "email", "facebook", "instagram", "telegram")
NAMES = (
    "Giulia Rossi",
    "Jan de Vries",
    "Ivan Petrov",
    "Li Wei",
    "Anna Müller",
    "Marie Dubois",
    "Carlos García",
    "John Smith",
    "Sara Bianchi",
    "Pieter Jansen",
)


@dataclass(frozen=True)
class Message:
    external_id: str
    body: bytes  # the JSON body of POST /api/v1/messages


def _address(rng: random.Random, channel: str, tag: str, n: int) -> str:
    match channel:
        case "email" | "webform":
            return f"customer{n}.{tag}@example.org"
        case "whatsapp":
            return f"+39 3{rng.randrange(10**8, 10**9)}"
        case "webchat":
            return f"wc-{tag}-{n}"
        case _:
            return f"{channel[:2]}{tag}{n}"


def _conversation(rng: random.Random, kind: float) -> list[str]:
    """The texts one sender writes during the run."""
    lang = rng.choice(list(COMPLAINTS))
    fill = {
        "model": rng.choice(MODELS),
        "order": f"{rng.randrange(100000, 999999)}",
        "serial": f"SN{rng.randrange(10**9, 10**10)}",
    }
    first = rng.choice(COMPLAINTS[lang]).format(**fill)
    if kind < 0.60:
        return [first]
    if kind < 0.88:  # follow-ups: details, "any news?", an exact repeat
        extra = [rng.choice(FOLLOW_UPS[lang]).format(**fill) for _ in range(rng.randint(1, 3))]
        return [first, *extra, first][: rng.randint(2, 5)]
    # a flood: over the hourly limit of 10, so the tail is throttled
    return [first] + [ANGRY[i % 2].format(n=i + 2, **fill) for i in range(rng.randint(10, 14))]


def build(count: int, *, seed: int, tag: str, duplicate_share: float = 0.02) -> list[Message]:
    """`count` POST bodies from many senders; each sender's messages stay in order."""
    rng = random.Random(seed)
    now = datetime.now(UTC).isoformat()
    placed: list[tuple[float, str, dict[str, object]]] = []
    n = 0
    while len(placed) < count:
        n += 1
        channel = "whatsapp" if rng.random() < 0.05 else rng.choice(CHANNELS)
        sender = _address(rng, channel, tag, n)
        start, name = rng.random(), rng.choice(NAMES)
        for i, text in enumerate(_conversation(rng, rng.random())):
            ext = f"{tag}-{n}-{i}"
            placed.append(
                (
                    start + i * 0.002,
                    ext,
                    {
                        "channel": channel,
                        "external_id": ext,
                        "sender": sender,
                        "display_name": name,
                        "subject": "Complaint" if channel == "email" else "",
                        "text": text,
                        "received_at": now,
                    },
                )
            )
    placed.sort(key=lambda p: p[0])
    out = [
        Message(ext, json.dumps(body, ensure_ascii=False).encode())
        for _, ext, body in placed[:count]
    ]
    for i in rng.sample(range(count), int(count * duplicate_share)):  # provider retries
        out.insert(min(len(out), i + rng.randint(1, 50)), out[i])
    return out[:count]
