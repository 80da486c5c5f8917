"""Status questions, appeals and bare ticket references in the eight supported languages."""

# Messages mix scripts on purpose (Cyrillic, CJK full-width punctuation, typographic quotes).
# ruff: noqa: RUF001

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from bot.rules import intents
from bot.rules.intents import (
    APPEAL_LIMIT,
    LANGUAGES,
    STATUS_LIMIT,
    is_appeal,
    is_reference_only,
    is_status_question,
)

LOCALES = Path(intents.__file__).parents[1] / "text" / "locales"
REF = "C-2026-000123"
FAULT = {
    "en": "The inverter shuts down every afternoon and shows error E23. ",
    "it": "L'inverter si spegne ogni pomeriggio e mostra l'errore E23. ",
    "nl": "De omvormer schakelt elke middag uit en toont foutcode E23. ",
    "ru": "Инвертор отключается каждый день после обеда и показывает ошибку E23. ",
    "zh": "逆变器每天下午都会自动关机，并显示错误代码E23。",
    "de": "Der Wechselrichter schaltet sich jeden Nachmittag ab und zeigt Fehler E23. ",
    "fr": "L'onduleur s'éteint chaque après-midi et affiche l'erreur E23. ",
    "es": "El inversor se apaga cada tarde y muestra el error E23. ",
}

# language -> (messages that are status questions, messages that are not)
STATUS: Mapping[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "en": (
        (
            "What is the status of my complaint?",
            "any update on my ticket?",
            "Any news?",
            "where is my refund request at",
            "status?",
            "Status please",
            "What's the current status of C-2026-000123?",
            "Hi, I'm still waiting for an answer to my complaint from last month.",
            "Has my complaint been looked at yet?",
            "Could you tell me the progress of my repair?",
            "Can I get an update please?",
            "how is my claim going?",
            "Is my complaint resolved?",
        ),
        (
            "The status LED on my inverter blinks red and it shuts down",
            # Borderline, decided: a fault report about the order status page, not a question.
            "my order status page shows an error 500 and I cannot log in",
            "Where is my order? I paid three weeks ago and nothing arrived.",
            "I can't get the update to install on the inverter",
            "I need the status light replaced, it is broken",
            "After the firmware update the status display stays blank",
            "I have not received any news from the courier, the package is lost",
            FAULT["en"] * 4 + "Any news?",
        ),
    ),
    "it": (
        (
            "Qual è lo stato del mio reclamo?",
            "a che punto è la mia pratica?",
            "ci sono novità?",
            "Novità?",
            "stato della pratica C-2026-000123?",
            "Buongiorno, come procede il mio reclamo?",
            "Sto ancora aspettando una risposta",
            "qual e lo stato?",
            "Avete notizie sulla mia richiesta di rimborso?",
        ),
        (
            "Il led di stato lampeggia",
            "Lo stato del mio inverter è in errore e si spegne",
            "Ho installato l'aggiornamento del firmware e ora non funziona",
            "L'inverter non funziona, attendo una vostra risposta.",
            "È stato un pessimo acquisto, il prodotto si è rotto subito",
            FAULT["it"] * 4 + "Ci sono novità?",
        ),
    ),
    "nl": (
        (
            "Wat is de status van mijn klacht?",
            "is er al nieuws?",
            "Hoe staat het met mijn klacht?",
            "Nieuws?",
            "Wat is de stand van zaken rond C-2026-000123?",
            "Ik wacht nog steeds op een antwoord",
            "Heeft u al nieuws over mijn bestelling?",
            "status graag",
        ),
        (
            "De statusled van mijn omvormer knippert rood",
            "Mijn router toont status rood en valt steeds uit",
            "De statuspagina van mijn bestelling geeft een foutmelding",
            "Is er een update voor de firmware waardoor dit stopt? Mijn omvormer valt uit.",
            FAULT["nl"] * 4 + "Is er al nieuws?",
        ),
    ),
    "ru": (
        (
            "Какой статус моей жалобы?",
            "есть новости по моей заявке?",
            "Статус?",
            "Что с моей заявкой?",
            "Здравствуйте, на каком этапе рассмотрение?",
            "Есть ли какие-нибудь новости?",
            "До сих пор нет ответа по обращению C-2026-000123",
            "Подскажите статус заказа, пожалуйста",
        ),
        (
            "Индикатор статуса мигает красным",
            "Светодиод состояния горит красным и инвертор выключается",
            "Статус заказа на сайте показывает ошибку 500",
            "Что с моим инвертором? Он не включается",
            FAULT["ru"] * 3 + "Есть новости?",
        ),
    ),
    "zh": (
        (
            "我的投诉进展如何？",
            "我的投诉处理到哪一步了",
            "请问有什么新进展吗？",
            "进度？",
            "查询投诉进度 C-2026-000123",
            "你们怎么还没回复？",
            "工单状态是什么？",
            "有消息了吗",
        ),
        (
            "状态灯一直闪红色，逆变器自动关机",
            "逆变器状态显示故障代码E23",
            "订单状态页面报错500，无法登录",
            "谢谢，问题已经解决了",
            "状态灯是什么意思？",
            FAULT["zh"] * 8 + "有什么进展吗？",
        ),
    ),
    "de": (
        (
            "Wie ist der Stand meiner Beschwerde?",
            "gibt es Neuigkeiten?",
            "Status?",
            "Hallo, wie ist der aktuelle Stand zu C-2026-000123?",
            "Ich warte immer noch auf eine Antwort",
            "Wann wird meine Reklamation bearbeitet?",
            "Gibt es schon etwas Neues?",
            "Welchen Status hat meine Anfrage?",
        ),
        (
            "Mein Router zeigt Status rot",
            "Die Status-LED blinkt rot und der Wechselrichter schaltet ab",
            "Der Stand-by-Modus funktioniert nicht mehr",
            "Auf der Bestellstatus-Seite kommt Fehler 500",
            "Ich habe schon neues Netzteil gekauft, trotzdem geht nichts",
            FAULT["de"] * 3 + "Gibt es Neuigkeiten?",
        ),
    ),
    "fr": (
        (
            "Où en est ma réclamation ?",
            "Quel est le statut de ma plainte ?",
            "Des nouvelles ?",
            "ou en est le dossier C-2026-000123",
            "Bonjour, avez-vous des nouvelles concernant ma demande ?",
            "J'attends toujours une réponse",
            "Du nouveau ?",
            "Statut ?",
        ),
        (
            "Le voyant d'état clignote en rouge",
            "La LED de statut de mon onduleur clignote",
            "La page de statut de ma commande affiche une erreur 500",
            "J'ai reçu des nouvelles pièces mais l'onduleur ne marche toujours pas",
            FAULT["fr"] * 4 + "Des nouvelles ?",
        ),
    ),
    "es": (
        (
            "¿Cuál es el estado de mi reclamación?",
            "¿hay novedades?",
            "¿Alguna novedad?",
            "Estado?",
            "¿En qué estado está mi reclamación C-2026-000123?",
            "Sigo esperando una respuesta",
            "¿Cómo va mi solicitud de reembolso?",
            "Hola, ¿tienen noticias de mi caso?",
        ),
        (
            "El LED de estado parpadea en rojo",
            "Mi router muestra el estado en rojo",
            "La página de estado de mi pedido da error 500",
            "Hay una actualización del firmware y ahora no funciona",
            FAULT["es"] * 4 + "¿Hay novedades?",
        ),
    ),
}

APPEAL: Mapping[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "en": (
        (
            "I want to appeal",
            "I appeal this decision",
            "please escalate",
            "I disagree with this decision, please review it again",
            "Appeal",
            '"appeal"',
            "I'd like to file an appeal against the rejection of C-2026-000123",
            "We do not accept your decision.",
            "I don't agree",
        ),
        (
            "thanks, the problem is solved",
            "ok",
            "the appeal of this product is great",
            "The inverter shuts down every afternoon",
            "I agree with the decision, thank you",
            "It doesn't appeal to me anymore, I want a refund",
        ),
    ),
    "it": (
        (
            "ricorso",
            "voglio fare ricorso",
            "contesto la decisione",
            "Ricorso!",
            "Non sono d'accordo con la vostra decisione",
            "Presento ricorso contro la decisione sul reclamo C-2026-000123",
            "Vorrei che riesaminaste la pratica",
            "Non accetto la vostra decisione",
        ),
        (
            "grazie mille",
            "ok, va bene così",
            "Ho dovuto fare ricorso a un tecnico esterno",
            "Il mio reclamo riguarda l'inverter che si spegne",
            "Sono d'accordo con la decisione, grazie",
        ),
    ),
    "nl": (
        (
            "bezwaar",
            "ik maak bezwaar",
            "ik ga in beroep",
            "Ik ben het niet eens met de beslissing",
            "Ik wil bezwaar maken tegen de afwijzing van C-2026-000123",
            "‘Bezwaar’",
            "Wilt u mijn klacht opnieuw bekijken?",
        ),
        (
            "Bedankt, het probleem is opgelost",
            "Ik heb geen bezwaar tegen de beslissing",
            "Mijn beroep is elektricien",
            "De omvormer knippert rood",
            "ok",
        ),
    ),
    "ru": (
        (
            "жалоба",
            "обжаловать решение",
            "я не согласен с решением",
            "Обжаловать",
            "«обжаловать»",
            "Прошу пересмотреть решение по обращению C-2026-000123",
            "Хочу оспорить ваш отказ",
        ),
        (
            "спасибо, проблема решена",
            "хорошо",
            "У меня жалоба на инвертор: он выключается",
            "Инвертор выключается каждый день",
            "Прошу рассмотреть мою жалобу",
            "Я согласен с решением",
        ),
    ),
    "zh": (
        (
            "申诉",
            "我要申诉",
            "我不同意这个处理结果",
            "“申诉”",
            "请重新审核我的投诉 C-2026-000123",
            "不接受你们的处理方案",
            "我不服",
        ),
        (
            "谢谢，问题已经解决了",
            "好的",
            "我同意这个处理结果",
            "逆变器一直报错",
            "状态灯一直闪红色",
        ),
    ),
    "de": (
        (
            "Widerspruch",
            "ich lege Einspruch ein",
            "Ich bin mit der Entscheidung nicht einverstanden",
            "„Widerspruch“",
            "Ich widerspreche der Ablehnung von C-2026-000123",
            "Ich bitte Sie, den Fall noch einmal zu prüfen",
            "Ich fechte die Entscheidung an",
        ),
        (
            "Danke, das Problem ist gelöst",
            "Das ist ein Widerspruch in sich: erst geht er, dann nicht",
            "Ich bin mit der Reparatur sehr zufrieden",
            "Der Wechselrichter schaltet sich ab",
            "Ich bin mit der Entscheidung einverstanden",
            "Der Techniker wird den Wechselrichter noch einmal prüfen",
        ),
    ),
    "fr": (
        (
            "je fais appel",
            "je conteste la décision",
            "recours",
            "« recours »",
            "Je ne suis pas d'accord avec votre décision",
            "Je souhaite former un recours contre la décision sur C-2026-000123",
            "Merci de rouvrir ma réclamation",
        ),
        (
            "Merci, le problème est résolu",
            "D'accord",
            "J'ai dû faire appel à un technicien",
            "J'ai reçu un appel de votre technicien",
            "L'onduleur clignote en rouge",
        ),
    ),
    "es": (
        (
            "apelar",
            "quiero recurrir la decisión",
            "no estoy de acuerdo con la decisión",
            "recurso",
            "«Recurso»",
            "Quiero presentar un recurso sobre C-2026-000123",
            "Impugno la resolución",
        ),
        (
            "Gracias, el problema está resuelto",
            "vale",
            "Tuve que recurrir a un técnico",
            "Estoy de acuerdo con la decisión",
            "El inversor se apaga",
        ),
    ),
}

REFERENCE: Mapping[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "en": (
        (
            "C-2026-000123",
            "ref C-2026-000123",
            "c-2026-000123.",
            "Ref: #C-2026-000123",
            '"C-2026-000123"',
            "  C-2026-000123\n",
        ),
        (
            "my ref is C-2026-000123",
            "C-2026-000123 please",
            "C-2026-000123 C-2026-000124",
            "C-2026-0001234",
        ),
    ),
    "it": (
        (
            "rif. C-2026-000123",
            "Riferimento: C-2026-000123",
            "«C-2026-000123»",
            "#c-2026-000123",
            "C-2026-000123!",
            "(C-2026-000123)",
        ),
        (
            "riferimento C-2026-000123 grazie",
            "pratica C-2026-000123",
            "C-2026-000123 è rotto",
            "rif. 2026-000123",
        ),
    ),
    "nl": (
        (
            "referentie C-2026-000123",
            "Referentie: C-2026-000123",
            "‘C-2026-000123’",
            "C-2026-000123?",
            "ref. c-2026-000123",
            "# C-2026-000123",
        ),
        (
            "mijn klacht C-2026-000123",
            "C-2026-000123 graag",
            "referentie C-2026",
            "dossier C-2026-000123",
        ),
    ),
    "ru": (
        (
            "номер C-2026-000123",
            "Номер: C-2026-000123",
            "«C-2026-000123»",
            "C-2026-000123.",
            "№ C-2026-000123",
            "c-2026-000123",
        ),
        (
            "жалоба C-2026-000123",
            "C-2026-000123 спасибо",
            "номер заказа C-2026-000123",
            "С-2026-000123",
        ),
    ),
    "zh": (
        (
            "编号：C-2026-000123",
            "C-2026-000123。",
            "“C-2026-000123”",
            "Ｃ－２０２６－０００１２３",
            "编号 C-2026-000123",
            "【C-2026-000123】",
        ),
        ("我的投诉C-2026-000123", "C-2026-000123谢谢", "投诉编号C-2026-000123", "C-2026-00012"),
    ),
    "de": (
        (
            "Referenz: C-2026-000123",
            "referenz C-2026-000123",
            "„C-2026-000123“",
            "C-2026-000123!",
            "Ticket C-2026-000123",
            "#C-2026-000123.",
        ),
        (
            "Meine Beschwerde C-2026-000123",
            "C-2026-000123 bitte",
            "Aktenzeichen C-2026-000123 fehlt",
            "C2026000123",
        ),
    ),
    "fr": (
        (
            "réf. C-2026-000123",
            "Référence : C-2026-000123",
            "« C-2026-000123 »",
            "C-2026-000123 !",
            "reference C-2026-000123",
            "c-2026-000123 ?",
        ),
        (
            "ma réclamation C-2026-000123",
            "C-2026-000123 merci",
            "dossier C-2026-000123",
            "C-2026-000123-1",
        ),
    ),
    "es": (
        (
            "referencia C-2026-000123",
            "Referencia: C-2026-000123",
            "¿C-2026-000123?",
            "«C-2026-000123»",
            "ref C-2026-000123",
            "C-2026-000123...",
        ),
        (
            "mi reclamación C-2026-000123",
            "C-2026-000123 gracias",
            "pedido C-2026-000123",
            "X-2026-000123",
        ),
    ),
}

Intent = Callable[[str], bool]
TABLES: tuple[tuple[str, Intent, Mapping[str, tuple[tuple[str, ...], tuple[str, ...]]]], ...] = (
    ("status", is_status_question, STATUS),
    ("appeal", is_appeal, APPEAL),
    ("reference", is_reference_only, REFERENCE),
)


def _cases(expected: bool) -> list[object]:
    return [
        pytest.param(intent, text, id=f"{name}-{language}-{index}")
        for name, intent, table in TABLES
        for language, examples in table.items()
        for index, text in enumerate(examples[0 if expected else 1])
    ]


@pytest.mark.parametrize(("intent", "text"), _cases(expected=True))
def test_recognizes_what_the_customer_asks(intent: Intent, text: str) -> None:
    assert intent(text)


@pytest.mark.parametrize(("intent", "text"), _cases(expected=False))
def test_ignores_messages_that_only_mention_the_words(intent: Intent, text: str) -> None:
    assert not intent(text)


@pytest.mark.parametrize(("name", "table"), [(name, table) for name, _, table in TABLES])
def test_every_language_has_enough_examples(
    name: str, table: Mapping[str, tuple[tuple[str, ...], tuple[str, ...]]]
) -> None:
    assert set(table) == set(LANGUAGES), name
    for language, (positives, negatives) in table.items():
        assert len(positives) >= 6, (name, language)
        assert len(negatives) >= 4, (name, language)


def test_the_bare_status_command_is_a_status_question() -> None:
    for command in (
        "/status",
        "/Status",
        "/status@IntakeBot",
        f"/status {REF}",
        "/status@bot c-2026-000123",
    ):
        assert is_status_question(command), command
    for other in ("/start", "/statuses", "/status one two", "please /statusx"):
        assert not is_status_question(other), other


def test_a_status_question_is_short() -> None:
    question = "Any news on my complaint?"
    padding = "x" * (STATUS_LIMIT - len(question) - 1)
    assert is_status_question(f"{padding} {question}")
    assert not is_status_question(f"{padding}yy {question}")
    assert is_status_question(f"{' ' * 10_000}{question}{' ' * 10_000}")  # trimmed first


def test_an_appeal_may_give_its_reason_but_not_a_novel() -> None:
    appeal = "I disagree with this decision, please review it again."
    reason = "The technician damaged the inverter, I have photos. "
    assert is_appeal(reason * 4 + appeal)
    assert not is_appeal(reason * (APPEAL_LIMIT // len(reason)) + appeal)


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_appeal_word_each_hint_asks_for_is_an_appeal(language: str) -> None:
    word = _hint_word(language)
    assert is_appeal(word), (language, word)
    assert is_appeal(f"{word}."), (language, word)
    assert is_appeal(word.upper()), (language, word)
    assert not is_status_question(word), (language, word)


def _hint_word(language: str) -> str:
    """The word in quotes in `language`'s appeal.hint text (“申诉”, „Widerspruch“, « recours »)."""
    path = LOCALES / language / "LC_MESSAGES" / "core.po"
    with path.open("rb") as source:
        hint = read_po(source, locale=language)["appeal.hint"]
    assert hint is not None, language
    assert isinstance(hint.string, str), language
    quoted = re.findall(r"[\"«“„‘「]\s*([^\"«»“”„‘’「」]+?)\s*[\"»”“’」]", hint.string)
    assert len(quoted) == 1, (language, hint.string)
    return str(quoted[0])


def test_full_width_and_invisible_characters_do_not_hide_a_question() -> None:
    assert is_status_question("我的投诉进展如何？")
    assert is_status_question("\u200fAny\u200b news?\u200e")
    assert is_status_question("ＳＴＡＴＵＳ？")
    assert is_appeal("ap\u00adpeal")
    assert is_appeal("Widerspruch\u202e")
    assert is_status_question("ou en est ma reclamation")  # no accents typed
    assert is_reference_only("\ufeffC-2026-000123\u200b")


HOSTILE = [
    "",
    " ",
    "\x00\x01\x02\x1b[31m\x7f",
    "\u200f\u200e\u202e\u2066\u2069",
    "🙂🔥😡" * 50,
    "a" * 100_000,
    "status? " * 12_500,
    "\ud800\udfff broken surrogates",
    "?" * 100_000,
    "C-2026-000123 " * 8_000,
    "\u0301" * 1_000,
    "ﷺ" * 300,
    "مرحبا، ما هي حالة شكواي؟",
    "\n\t\r\x0b\x0c",
]


@pytest.mark.parametrize("intent", [is_status_question, is_appeal, is_reference_only])
@pytest.mark.parametrize("text", HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_input_never_raises_and_asks_nothing(intent: Intent, text: str) -> None:
    assert intent(text) is False


def test_emoji_around_a_question_do_not_hide_it() -> None:
    assert is_status_question("🙏 any news? 🙏")
    assert is_appeal("申诉！！😡")
