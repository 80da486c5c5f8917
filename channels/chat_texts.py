"""The chat's own words (questions, widget labels), in the customer's browser language.

Replies about tickets come from the core in the ticket's language; these texts are
the chat's intake flow and its interface. Values are filled in by `say`, in one pass,
so text a customer typed is never read as a template.
"""

# Texts in Russian and Chinese use their own punctuation on purpose.
# ruff: noqa: RUF001, E501

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import datetime
from zoneinfo import ZoneInfo

from babel.dates import format_date

FALLBACK = "en"

_EN: dict[str, str] = {
    "title": "Customer service",
    "open": "Open the chat with customer service",
    "close": "Close the chat",
    "input_label": "Your message",
    "placeholder": "Type your message…",
    "send": "Send",
    "sending": "sending",
    "sent": "sent",
    "delivered": "delivered",
    "failed": "not sent",
    "typing": "The assistant is typing…",
    "reconnecting": "Connection lost, reconnecting…",
    "unavailable": "Chat is not available at the moment. Please reach us by: {channels}.",
    "too_long": "Your message is too long: at most {limit} characters.",
    "rate_limited": "You are sending messages too fast; please wait a moment.",
    "store_unavailable": "Your message could not be saved; please try again in a moment.",
    "you": "You",
    "bot": "Assistant",
    "greeting": "Hello! I will take down your complaint in a few short questions.",
    "ask_kind": "Is your complaint about a product or a service? Please answer “product” or “service”.",
    "kind_unclear": "Sorry, I did not understand. Please answer “product” or “service”.",
    "ask_name": "What is your name?",
    "ask_contact": "How can we reach you? Please give your email address or phone number.",
    "contact_invalid": "That does not look like an email address or a phone number. Please try again.",
    "ask_order_number": "What is your order number? (Type “skip” if you do not have one.)",
    "ask_product_model": "Which product model is it? (Type “skip” if you do not know.)",
    "ask_serial_number": "What is the serial number, if available? (Type “skip” if you do not have it.)",
    "ask_description": "Please describe the problem in your own words.",
    "description_short": "Please tell us a little more about what happened.",
    "ask_desired_solution": "What solution would you like, for example a repair, a replacement or a refund? (Type “skip” to leave it to us.)",
    "required": "We need this to handle your complaint; it cannot be skipped.",
    "submitting": "Thank you, {name}. I am registering your complaint now.",
    "open_ticket": "There is already an open complaint for this email address. To see its status here, type its reference (like C-2026-000123, it is in our email to you), or type “skip”.",
    "reference_wrong": "That reference does not match. Please check it and try again, or type “skip”.",
    "reference_skipped": "All right: we will keep you informed about your open complaint by email. Anything you write here is added to it.",
    "status": "Your complaint {ref}: {status}.",
    "status_due": "Your complaint {ref}: {status}. You will hear from us by {date}.",
    "skip_words": "skip|no|none|don't know|dont know|n/a|-",
    "product_words": "product|item|device|goods|1",
    "service_words": "service|services|staff|installation|delivery|2",
    "ch_webform": "the web form",
    "ch_email": "email",
    "ch_webchat": "this chat",
    "ch_facebook": "Facebook Messenger",
    "ch_instagram": "Instagram",
    "ch_telegram": "Telegram",
    "ch_whatsapp": "WhatsApp",
    "proof_sent": "If you have written to us before from {email}, we have sent a link there: open it to continue this chat with your earlier complaint.",
}

_IT: dict[str, str] = {
    "title": "Servizio clienti",
    "open": "Apri la chat con il servizio clienti",
    "close": "Chiudi la chat",
    "input_label": "Il suo messaggio",
    "placeholder": "Scriva il suo messaggio…",
    "send": "Invia",
    "sending": "invio in corso",
    "sent": "inviato",
    "delivered": "consegnato",
    "failed": "non inviato",
    "typing": "L'assistente sta scrivendo…",
    "reconnecting": "Connessione persa, riconnessione in corso…",
    "unavailable": "La chat non è disponibile al momento. Ci può contattare tramite: {channels}.",
    "too_long": "Il messaggio è troppo lungo: al massimo {limit} caratteri.",
    "rate_limited": "Sta inviando messaggi troppo velocemente; attenda un momento.",
    "store_unavailable": "Non è stato possibile salvare il messaggio; riprovi tra poco.",
    "you": "Lei",
    "bot": "Assistente",
    "greeting": "Buongiorno! Registro il suo reclamo con poche brevi domande.",
    "ask_kind": "Il reclamo riguarda un prodotto o un servizio? Risponda «prodotto» o «servizio».",
    "kind_unclear": "Mi scusi, non ho capito. Risponda «prodotto» o «servizio».",
    "ask_name": "Come si chiama?",
    "ask_contact": "Come possiamo contattarla? Indichi il suo indirizzo email o numero di telefono.",
    "contact_invalid": "Non sembra un indirizzo email né un numero di telefono. Riprovi, per favore.",
    "ask_order_number": "Qual è il numero d'ordine? (Scriva «salta» se non ce l'ha.)",
    "ask_product_model": "Qual è il modello del prodotto? (Scriva «salta» se non lo sa.)",
    "ask_serial_number": "Qual è il numero di serie, se disponibile? (Scriva «salta» se non ce l'ha.)",
    "ask_description": "Descriva il problema con parole sue.",
    "description_short": "Ci racconti qualcosa in più su quanto è successo.",
    "ask_desired_solution": "Quale soluzione desidera, ad esempio riparazione, sostituzione o rimborso? (Scriva «salta» per lasciarla a noi.)",
    "required": "Questa informazione ci serve per gestire il reclamo; non si può saltare.",
    "submitting": "Grazie, {name}. Sto registrando il suo reclamo.",
    "open_ticket": "Per questo indirizzo email c'è già un reclamo aperto. Per vederne lo stato qui, scriva il suo riferimento (come C-2026-000123, lo trova nella nostra email) oppure «salta».",
    "reference_wrong": "Il riferimento non corrisponde. Lo controlli e riprovi, oppure scriva «salta».",
    "reference_skipped": "Va bene: la terremo informata sul reclamo aperto via email. Quanto scrive qui viene aggiunto al reclamo.",
    "status": "Il suo reclamo {ref}: {status}.",
    "status_due": "Il suo reclamo {ref}: {status}. Avrà nostre notizie entro il giorno {date}.",
    "skip_words": "salta|saltare|no|nessuno|non lo so|non so|skip|-",
    "product_words": "prodotto|articolo|apparecchio|dispositivo|product|1",
    "service_words": "servizio|assistenza|installazione|consegna|personale|service|2",
    "ch_webform": "il modulo web",
    "ch_email": "email",
    "ch_webchat": "questa chat",
    "ch_facebook": "Facebook Messenger",
    "ch_instagram": "Instagram",
    "ch_telegram": "Telegram",
    "ch_whatsapp": "WhatsApp",
    "proof_sent": "Se ci ha già scritto da {email}, le abbiamo inviato lì un link: lo apra per continuare questa chat con il suo reclamo precedente.",
}

_NL: dict[str, str] = {
    "title": "Klantenservice",
    "open": "Open de chat met de klantenservice",
    "close": "Sluit de chat",
    "input_label": "Uw bericht",
    "placeholder": "Typ uw bericht…",
    "send": "Versturen",
    "sending": "wordt verstuurd",
    "sent": "verstuurd",
    "delivered": "afgeleverd",
    "failed": "niet verstuurd",
    "typing": "De assistent typt…",
    "reconnecting": "Verbinding verbroken, opnieuw verbinden…",
    "unavailable": "De chat is op dit moment niet beschikbaar. U kunt ons bereiken via: {channels}.",
    "too_long": "Uw bericht is te lang: maximaal {limit} tekens.",
    "rate_limited": "U verstuurt berichten te snel; wacht even.",
    "store_unavailable": "Uw bericht kon niet worden opgeslagen; probeer het zo opnieuw.",
    "you": "U",
    "bot": "Assistent",
    "greeting": "Hallo! Ik noteer uw klacht met een paar korte vragen.",
    "ask_kind": "Gaat uw klacht over een product of een dienst? Antwoord „product” of „dienst”.",
    "kind_unclear": "Sorry, dat begreep ik niet. Antwoord „product” of „dienst”.",
    "ask_name": "Wat is uw naam?",
    "ask_contact": "Hoe kunnen we u bereiken? Geef uw e-mailadres of telefoonnummer.",
    "contact_invalid": "Dat lijkt geen e-mailadres of telefoonnummer. Probeer het opnieuw.",
    "ask_order_number": "Wat is uw bestelnummer? (Typ „overslaan” als u er geen heeft.)",
    "ask_product_model": "Om welk productmodel gaat het? (Typ „overslaan” als u het niet weet.)",
    "ask_serial_number": "Wat is het serienummer, indien beschikbaar? (Typ „overslaan” als u het niet heeft.)",
    "ask_description": "Beschrijf het probleem in uw eigen woorden.",
    "description_short": "Vertel ons iets meer over wat er is gebeurd.",
    "ask_desired_solution": "Welke oplossing wilt u, bijvoorbeeld een reparatie, vervanging of terugbetaling? (Typ „overslaan” om het aan ons over te laten.)",
    "required": "Dit hebben we nodig om uw klacht te behandelen; u kunt het niet overslaan.",
    "submitting": "Dank u, {name}. Ik registreer uw klacht nu.",
    "open_ticket": "Voor dit e-mailadres staat al een klacht open. Typ de referentie (zoals C-2026-000123, u vindt die in onze e-mail) om de status hier te zien, of typ „overslaan”.",
    "reference_wrong": "Die referentie klopt niet. Controleer haar en probeer opnieuw, of typ „overslaan”.",
    "reference_skipped": "Goed: we houden u per e-mail op de hoogte van uw openstaande klacht. Wat u hier schrijft, wordt eraan toegevoegd.",
    "status": "Uw klacht {ref}: {status}.",
    "status_due": "Uw klacht {ref}: {status}. U hoort uiterlijk {date} van ons.",
    "skip_words": "overslaan|sla over|nee|geen|weet ik niet|skip|-",
    "product_words": "product|artikel|apparaat|toestel|1",
    "service_words": "dienst|dienstverlening|service|installatie|levering|personeel|2",
    "ch_webform": "het webformulier",
    "ch_email": "e-mail",
    "ch_webchat": "deze chat",
    "ch_facebook": "Facebook Messenger",
    "ch_instagram": "Instagram",
    "ch_telegram": "Telegram",
    "ch_whatsapp": "WhatsApp",
    "proof_sent": "Als u ons eerder schreef vanaf {email}, hebben we daar een link naartoe gestuurd: open hem om deze chat met uw eerdere klacht voort te zetten.",
}

_RU: dict[str, str] = {
    "title": "Служба поддержки",
    "open": "Открыть чат со службой поддержки",
    "close": "Закрыть чат",
    "input_label": "Ваше сообщение",
    "placeholder": "Введите сообщение…",
    "send": "Отправить",
    "sending": "отправляется",
    "sent": "отправлено",
    "delivered": "доставлено",
    "failed": "не отправлено",
    "typing": "Ассистент печатает…",
    "reconnecting": "Соединение потеряно, переподключение…",
    "unavailable": "Чат сейчас недоступен. Свяжитесь с нами: {channels}.",
    "too_long": "Сообщение слишком длинное: не более {limit} символов.",
    "rate_limited": "Вы отправляете сообщения слишком быстро; подождите немного.",
    "store_unavailable": "Не удалось сохранить сообщение; попробуйте ещё раз чуть позже.",
    "you": "Вы",
    "bot": "Ассистент",
    "greeting": "Здравствуйте! Я оформлю Вашу жалобу за несколько коротких вопросов.",
    "ask_kind": "Ваша жалоба касается товара или услуги? Ответьте «товар» или «услуга».",
    "kind_unclear": "Извините, я не понял. Ответьте «товар» или «услуга».",
    "ask_name": "Как Вас зовут?",
    "ask_contact": "Как с Вами связаться? Укажите адрес электронной почты или номер телефона.",
    "contact_invalid": "Это не похоже на адрес электронной почты или номер телефона. Попробуйте ещё раз.",
    "ask_order_number": "Какой номер заказа? (Напишите «пропустить», если его нет.)",
    "ask_product_model": "Какая модель товара? (Напишите «пропустить», если не знаете.)",
    "ask_serial_number": "Какой серийный номер, если он есть? (Напишите «пропустить», если его нет.)",
    "ask_description": "Опишите, пожалуйста, проблему своими словами.",
    "description_short": "Расскажите, пожалуйста, немного подробнее, что произошло.",
    "ask_desired_solution": "Какое решение Вы хотите: ремонт, замену или возврат денег? (Напишите «пропустить», чтобы оставить это нам.)",
    "required": "Это нужно для рассмотрения жалобы; пропустить нельзя.",
    "submitting": "Спасибо, {name}. Регистрирую Вашу жалобу.",
    "open_ticket": "Для этого адреса уже есть открытая жалоба. Чтобы увидеть её статус здесь, введите её номер (вида C-2026-000123, он есть в нашем письме) или напишите «пропустить».",
    "reference_wrong": "Номер не подходит. Проверьте его и попробуйте ещё раз или напишите «пропустить».",
    "reference_skipped": "Хорошо: мы будем сообщать Вам о ходе рассмотрения по электронной почте. Всё, что Вы напишете здесь, будет добавлено к жалобе.",
    "status": "Ваша жалоба {ref}: {status}.",
    "status_due": "Ваша жалоба {ref}: {status}. Мы ответим Вам до {date}.",
    "skip_words": "пропустить|пропуск|нет|не знаю|skip|-",
    "product_words": "товар|продукт|изделие|устройство|product|1",
    "service_words": "услуга|услуги|сервис|обслуживание|установка|доставка|service|2",
    "ch_webform": "веб-форма",
    "ch_email": "электронная почта",
    "ch_webchat": "этот чат",
    "ch_facebook": "Facebook Messenger",
    "ch_instagram": "Instagram",
    "ch_telegram": "Telegram",
    "ch_whatsapp": "WhatsApp",
    "proof_sent": "Если вы уже писали нам с адреса {email}, мы отправили туда ссылку: откройте её, чтобы продолжить этот чат по вашему прежнему обращению.",
}

_ZH: dict[str, str] = {
    "title": "客户服务",
    "open": "打开客服聊天",
    "close": "关闭聊天",
    "input_label": "您的消息",
    "placeholder": "请输入消息…",
    "send": "发送",
    "sending": "发送中",
    "sent": "已发送",
    "delivered": "已送达",
    "failed": "未发送",
    "typing": "助手正在输入…",
    "reconnecting": "连接已断开，正在重新连接…",
    "unavailable": "聊天暂不可用。请通过以下方式联系我们：{channels}。",
    "too_long": "消息太长：最多 {limit} 个字符。",
    "rate_limited": "您发送消息太快了，请稍等片刻。",
    "store_unavailable": "消息未能保存，请稍后再试。",
    "you": "您",
    "bot": "助手",
    "greeting": "您好！我会通过几个简短的问题记录您的投诉。",
    "ask_kind": "您的投诉是关于产品还是服务？请回答“产品”或“服务”。",
    "kind_unclear": "抱歉，我没有理解。请回答“产品”或“服务”。",
    "ask_name": "请问您怎么称呼？",
    "ask_contact": "我们如何联系您？请提供电子邮箱或电话号码。",
    "contact_invalid": "这看起来不像电子邮箱或电话号码，请重试。",
    "ask_order_number": "您的订单号是多少？（如果没有，请输入“跳过”。）",
    "ask_product_model": "产品型号是什么？（如果不知道，请输入“跳过”。）",
    "ask_serial_number": "如有序列号，请提供。（如果没有，请输入“跳过”。）",
    "ask_description": "请用您自己的话描述问题。",
    "description_short": "请再多告诉我们一些发生了什么。",
    "ask_desired_solution": "您希望怎样解决，例如维修、更换或退款？（输入“跳过”由我们决定。）",
    "required": "处理投诉需要这项信息，不能跳过。",
    "submitting": "谢谢，{name}。正在登记您的投诉。",
    "open_ticket": "该邮箱已有一个未结投诉。如需在此查看其状态，请输入投诉编号（形如 C-2026-000123，见我们的邮件），或输入“跳过”。",
    "reference_wrong": "编号不匹配。请核对后重试，或输入“跳过”。",
    "reference_skipped": "好的：我们会通过电子邮件告知您投诉的进展。您在此写的内容会补充到该投诉中。",
    "status": "您的投诉 {ref}：{status}。",
    "status_due": "您的投诉 {ref}：{status}。我们将在 {date} 前回复您。",
    "skip_words": "跳过|没有|不知道|无|skip|-",
    "product_words": "产品|商品|设备|product|1",
    "service_words": "服务|安装|送货|配送|客服|service|2",
    "ch_webform": "网页表单",
    "ch_email": "电子邮件",
    "ch_webchat": "本聊天",
    "ch_facebook": "Facebook Messenger",
    "ch_instagram": "Instagram",
    "ch_telegram": "Telegram",
    "ch_whatsapp": "WhatsApp",
    "proof_sent": "如果您之前曾用 {email} 联系过我们，我们已向该地址发送了链接：打开它即可在此聊天中继续处理您之前的投诉。",
}

TEXTS: Mapping[str, Mapping[str, str]] = {"en": _EN, "it": _IT, "nl": _NL, "ru": _RU,
                                          "zh": _ZH}
LANGUAGES: tuple[str, ...] = tuple(TEXTS)
# What the widget shows: the dialog's own questions stay on the server.
WIDGET_KEYS: tuple[str, ...] = ("title", "open", "close", "input_label", "placeholder", "send",
                                "sending", "sent", "delivered", "failed", "typing",
                                "reconnecting", "unavailable", "too_long", "rate_limited",
                                "store_unavailable", "you", "bot")

_PLACEHOLDER = re.compile(r"\{(\w+)\}")


def pick(candidates: Iterable[str], default: str = FALLBACK) -> str:
    """The first of the browser's languages ('it-IT', 'zh-Hans-CN') that the chat speaks."""
    for tag in candidates:
        primary = str(tag).strip().replace("_", "-").split("-")[0].lower()
        if primary in TEXTS:
            return primary
    return default if default in TEXTS else FALLBACK


def say(key: str, language: str, **values: str) -> str:
    """The text for `key`, with our values put in; the customer's text is never a template."""
    table = TEXTS.get(language, _EN)
    template = table.get(key) or _EN[key]
    return _PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), template)


def words(key: str, language: str) -> frozenset[str]:
    """A word list (skip, product, service) in the language, plus the English one."""
    listed = say(key, language).split("|") + _EN[key].split("|")
    return frozenset(w.strip().casefold() for w in listed if w.strip())


def widget_texts(language: str) -> dict[str, str]:
    return {key: say(key, language) for key in WIDGET_KEYS}


def channel_names(channels: Iterable[str], language: str) -> list[str]:
    return [say(f"ch_{name}", language) for name in sorted(channels)]


def status_text(ref: str, label: str, due: datetime | None, language: str,
                timezone: str) -> str:
    """A ticket's status in a sentence; `label` is the status already named in `language`
    (the core's words, injected as WebchatConfig.status_label); the due date is a business
    day in `timezone`."""
    if due is None:
        return say("status", language, ref=ref, status=label)
    day = due.astimezone(ZoneInfo(timezone)).date()
    return say("status_due", language, ref=ref, status=label,
               date=format_date(day, format="long", locale=language))
