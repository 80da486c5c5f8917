"""What a customer's message asks for, beyond adding to a complaint: its status, an appeal.

The ticket lifecycle answers a status question with the ticket's current status (instead of
filing the message as one more detail) and reopens and escalates a decided ticket on an
appeal. Both change what the customer is told, so the rules favour precision over recall:
a message that does not clearly ask is handled as an ordinary message, which costs little,
while answering "Status: investigating" to a fault report ("the status LED blinks red")
or reopening a ticket on "the appeal of this product" would look broken.

The phrases are data, in tuples per language (en, it, nl, ru, zh, de, fr, es), so adding a
wording is a small change beside its neighbours. They are written as customers spell
them and go through the same folding as messages (NFKC, casefold, accents dropped), so
"Où en est" also catches "ou en est" and full-width Chinese punctuation is plain ASCII.
Three kinds of phrase:

- ``anywhere``: says it alone ("any news", "a che punto", "进展如何"); found anywhere in a
  short message.
- ``asked``: a topic ("status of my complaint"); counts in a question (a "?") or alone.
- ``alone``: a word that counts only as the whole message ("status", "ricorso", "жалоба"),
  give or take courtesy words ("please", "grazie"), a ticket reference and punctuation.

Decided borderline cases: "my order status page shows an error 500" is a fault report
about the site (no "?", and "status page" is a thing), so not a status question; "where is
my order?" is a delivery complaint, while "what is the status of my order?" asks for
status; "appeal" alone, or as a verb with I/we or a decision ("I appeal this decision"),
is an appeal, while "the appeal of this product" is not; "fare ricorso a un tecnico",
"faire appel à", "recurrir a" (to turn to someone) are not appeals.

A status question is short (``STATUS_LIMIT`` characters): a long message is a complaint
that may mention its status, not a question. Appeals may carry a reason, up to
``APPEAL_LIMIT``. Longer messages are never folded, so a 1 MB message costs next to nothing.
"""

# Phrase lists mix scripts on purpose (Cyrillic, CJK, typographic quotes).
# ruff: noqa: RUF001

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from typing import NamedTuple

STATUS_LIMIT = 200
APPEAL_LIMIT = 500
REFERENCE_LIMIT = 60
# Beyond this many characters (before folding) a message is too long for any intent.
_SCAN_LIMIT = 4 * APPEAL_LIMIT

LANGUAGES: tuple[str, ...] = ("en", "it", "nl", "ru", "zh", "de", "fr", "es")
_UNSPACED = frozenset({"zh"})  # no spaces between words: no word boundaries either


class Phrases(NamedTuple):
    """One language's regex fragments for one intent (see the module docstring)."""

    anywhere: tuple[str, ...] = ()
    asked: tuple[str, ...] = ()
    alone: tuple[str, ...] = ()


# --- status questions ------------------------------------------------------------------

# What a status question is about. "Order" only where the words say status or progress:
# "where is my order?" is a delivery complaint, not a question about a ticket.
_EN_CASE = (
    r"(?:complaint|ticket|case|claim|request|refund|repair|replacement|query|enquiry|inquiry|rma|"
    r"appeal)s?"
)
_EN_ANY = rf"(?:{_EN_CASE}|orders?|issues?|returns?)"
_EN_MY = r"(?:my|our|the|this|that)"
# "Any news?", "any update on my ticket", but not "any news from the courier".
_EN_NEWS_END = (
    r"(?=\s*(?:$|[?.!,]|on\b|about|regarding|concerning|for\b|yet|so far|please|pls|with\b|"
    r"from (?:you|your)\b))"
)
# "status LED", "progress bar", "status page": a thing on a device or site, not a question.
_EN_THING = (
    r"(?!\s?-?\s?(?:leds?|lights?|lamps?|indicators?|pages?|screens?|bars?|codes?|icons?|display|"
    r"fields?|windows?|menus?|buttons?|messages?)\b)"
)

_IT_CASE = (
    r"(?:reclam[oi]|pratic(?:a|he)|segnalazion[ei]|richiest[ae]|ordin[ei]|ticket|cas[oi]|"
    r"rimbors[oi]|riparazion[ei]|sostituzion[ei]|res[oi]|domand[ae])"
)
_IT_MY = r"(?:(?:il|la|lo|i|le|l')\s?)?(?:mio|mia|miei|mie|nostro|nostra|suo|sua)?\s?"

_NL_CASE = (
    r"(?:klacht(?:en)?|melding(?:en)?|aanvra(?:ag|gen)|verzoek(?:en)?|bestelling(?:en)?|zaak|"
    r"dossier|ticket|terugbetaling|reparatie|retour(?:zending)?|claim|vraag)"
)
_NL_MY = r"(?:mijn|onze|de|het|deze|dit)"
_NL_THING = (
    r"(?!\s?-?\s?(?:led|lampje|lampjes|lichtje|pagina|balk|code|scherm|melding|indicator)\b)"
)

_RU_CASE = r"(?:жалоб|заявк|заявок|обращени|заказ|запрос|тикет|претензи|возврат|ремонт|замен)\w*"
_RU_MY = (
    r"(?:(?:по|о|об|с|со)\s)?(?:моей|моего|моему|моим|моих|мое|мою|мой|моя|нашей|нашего|нашему|"
    r"нашим|этой|этого|данной|данного)?\s?"
)

_ZH_CASE = r"(?:投诉|工单|订单|申请|案件|诉求|退款|维修|售后|换货|退货)"
_ZH_THING = r"(?!页|灯|栏|码|指示|显示|图标)"

_DE_CASE = (
    r"(?:beschwerde|reklamation|anfrage|bestellung|auftrag|antrag|fall|falles|ticket|vorgang|"
    r"rückerstattung|erstattung|reparatur|anliegen|meldung|rücksendung|retoure|garantiefall|"
    r"umtausch)s?"
)
_DE_MY = r"(?:meiner|meines|meinem|meine|mein|unserer|unseres|unserem|der|des|dem|die|das)"

_FR_CASE = (
    r"(?:réclamation|plainte|demande|dossier|commande|ticket|remboursement|réparation|requête|"
    r"retour|échange|litige|sav)s?"
)
_FR_MY = r"(?:(?:ma|mon|mes|notre|nos|la|le|les|cette|ce)\s|l')"
# "des nouvelles" is news only when nothing but a topic or courtesy follows ("des nouvelles
# pièces" are new parts).
_FR_NEWS_END = (
    r"(?=\s*(?:$|[?.!,]|de\b|du\b|d'|concernant|sur\b|au sujet|à propos|svp|s'il|merci|pour\b))"
)

_ES_CASE = (
    r"(?:reclamación|reclamaciones|reclamo|queja|pedido|solicitud|caso|ticket|incidencia|reembolso|"
    r"devolución|reparación|expediente|trámite)s?"
)
_ES_MY = r"(?:mi|mis|la|el|nuestra|nuestro|esta|este)"

STATUS_PHRASES: Mapping[str, Phrases] = {
    "en": Phrases(
        anywhere=(
            (
                r"what(?:'s|s| is| was)(?: the)?(?: current| latest)? (?:status|state|"
                rf"progress){_EN_THING}"
            ),
            rf"where(?:'s|s| is| are) {_EN_MY} (?:\w+ ){{0,2}}?{_EN_CASE}",
            r"where (?:are we|do we stand|do things stand|things stand)",
            rf"any (?:news|updates?|progress|word|feedback){_EN_NEWS_END}",
            rf"(?:is|are) there (?:any )?(?:news|updates?|progress){_EN_NEWS_END}",
            (
                rf"(?:is|are) {_EN_MY} (?:\w+ ){{0,2}}?{_EN_CASE} (?:resolved|processed|handled|"
                r"closed|solved|done|being (?:handled|processed|looked at))"
            ),
            r"(?:do|did) you have (?:any )?(?:news|updates?)",
            (
                rf"how(?:'s| is| are) {_EN_MY} (?:\w+ ){{0,2}}?{_EN_ANY} (?:going|progressing|"
                r"coming along|getting on)"
            ),
            rf"how far (?:along )?(?:is|are) {_EN_MY} (?:\w+ ){{0,2}}?{_EN_ANY}",
            (
                rf"(?:has|have) {_EN_MY} (?:\w+ ){{0,2}}?{_EN_CASE} been (?:resolved|processed|"
                r"handled|reviewed|looked at|checked|dealt with|approved|solved)"
            ),
            (
                rf"when will {_EN_MY} (?:\w+ ){{0,2}}?{_EN_CASE} be (?:resolved|processed|handled|"
                r"reviewed|looked at|dealt with|solved|answered)"
            ),
            rf"what(?:'s|s| is) (?:happening|going on) with {_EN_MY} (?:\w+ ){{0,2}}?{_EN_ANY}",
            rf"what happened (?:to|with) {_EN_MY} (?:\w+ ){{0,2}}?{_EN_CASE}",
            (
                r"(?:still|been) waiting (?:for|on) (?:an? |your )?(?:answer|reply|response|update|"
                r"news|feedback)"
            ),
            (
                r"(?:tell|give|send) (?:me|us) (?:an? |the )?(?:current |latest )?(?:status|"
                rf"update|progress){_EN_THING}"
            ),
            (
                r"(?:know|check|see|get|need|want|like|have|request) (?:the (?:current |"
                rf"latest )?(?:status|progress){_EN_THING}|an? (?:status |"
                r"progress )?update(?! (?:of|to|for) (?:the |my )?(?:firmware|software|app|"
                r"driver))|a progress report)"
            ),
        ),
        asked=(
            (
                r"(?:status|state|progress)(?: update)? (?:of|on|for|with|regarding|"
                rf"about) {_EN_MY} (?:\w+ ){{0,2}}?{_EN_ANY}{_EN_THING}"
            ),
            rf"(?:updates?|news) (?:on|about|regarding|for) {_EN_MY} (?:\w+ ){{0,2}}?{_EN_ANY}",
            (
                r"(?:complaint|ticket|case|claim|request|refund|repair|rma) (?:status|"
                rf"progress){_EN_THING}"
            ),
        ),
        alone=(
            r"(?:status|state|progress|news|updates?)(?: (?:of|for|on|about))?",
            r"(?:any|some) (?:news|updates?|progress)",
            r"(?:status|progress) (?:update|check|report)",
            r"check (?:the )?status",
        ),
    ),
    "it": Phrases(
        anywhere=(
            r"a che punto (?:e|è|sono|siamo|si trova|sta|stanno)",
            (
                r"(?:ci sono|c'è|avete|ha|hai|qualche|nessuna) (?:delle |già |ancora |altre |"
                r"nuove |state )*(?:novità|notizie|news)"
            ),
            (
                r"(?:ci sono|avete|qualche|nessun) (?:degli |già |ancora |altri |nuovi |"
                r"stati )*aggiornament[oi]"
            ),
            r"qual(?:'|\s)?è (?:lo |l')(?:attuale |ultimo )?(?:stato|avanzamento|situazione)",
            rf"(?:come|quando) (?:procede|prosegue|va|sta andando|andrà avanti) {_IT_MY}{_IT_CASE}",
            r"com'è la situazione",
            (
                r"(?:sto|stiamo) ancora aspettando (?:una |la |vostra |sua |un |"
                r"vostre )*(?:risposta|notizie|aggiornamento|riscontro)"
            ),
            (
                r"(?:attendo|aspetto|aspettiamo|attendiamo) ancora (?:una |la |vostra |sua |un |"
                r"vostre )*(?:risposta|notizie|aggiornamento|riscontro)"
            ),
            (
                r"ancora in attesa di (?:una |un |vostre |sue )?(?:risposta|notizie|aggiornamento|"
                r"riscontro)"
            ),
            (
                r"quando (?:verrà|sarà|verranno|saranno) (?:risolt|gestit|esaminat|evas|lavorat|"
                rf"chius)\w* {_IT_MY}{_IT_CASE}"
            ),
        ),
        asked=(
            (
                r"(?:stato|avanzamento|esito|aggiornament[oi]|novità|notizie) (?:del|della|dei|"
                r"delle|sul|sulla|sui|sulle|di|per|riguardo al|riguardo alla|dello|"
                rf"dell')\s?(?:mio |mia |miei |mie |nostro |nostra )?{_IT_CASE}"
            ),
            rf"(?:stato|aggiornamenti) {_IT_CASE}",
        ),
        alone=(
            r"(?:stato|novità|aggiornamenti|aggiornamento|notizie)",
            r"(?:qualche|nessuna|ci sono) (?:novità|notizie|aggiornamenti)",
            r"a che punto siamo",
        ),
    ),
    "nl": Phrases(
        anywhere=(
            rf"wat is de (?:huidige |actuele )?(?:status|stand){_NL_THING}",
            r"hoe staat het (?:ervoor|met|nu|erbij)",
            r"stand van zaken",
            (
                r"(?:is|zijn) er (?:al |nog |inmiddels |nu |enig |enige |wat )*(?:nieuws|"
                r"ontwikkelingen|vooruitgang)"
            ),
            r"(?:is|zijn) er (?:al|nog|inmiddels) (?:een )?updates?",
            (
                r"(?:heeft|hebt|heb) (?:u|jij|je|jullie) (?:al |nog |inmiddels |enig |"
                r"wat )*(?:nieuws|een update|updates)"
            ),
            rf"hoe ver (?:is|zijn|staat) {_NL_MY} (?:\w+ ){{0,2}}?{_NL_CASE}",
            rf"hoe (?:loopt|gaat het met) {_NL_MY} (?:\w+ ){{0,2}}?{_NL_CASE}",
            (
                rf"wanneer (?:wordt|worden) {_NL_MY} (?:\w+ ){{0,2}}?{_NL_CASE} (?:behandeld|"
                r"opgelost|afgehandeld|bekeken|beoordeeld)"
            ),
            (
                r"wacht(?:en)? (?:nog steeds|nog altijd|nog|al weken|al dagen) op (?:een |uw |"
                r"jullie )?(?:antwoord|reactie|update|nieuws|bericht)"
            ),
        ),
        asked=(
            rf"(?:status|stand|voortgang) van {_NL_MY} (?:\w+ ){{0,2}}?{_NL_CASE}{_NL_THING}",
            (
                r"(?:nieuws|updates?) (?:over|van|omtrent|"
                rf"betreffende) {_NL_MY} (?:\w+ ){{0,2}}?{_NL_CASE}"
            ),
            r"(?:klacht|ticket|dossier|aanvraag|melding)status",
        ),
        alone=(
            r"(?:status|nieuws|updates?|voortgang|stand)",
            r"(?:al|nog|enig) nieuws",
            r"en\?? nieuws",
        ),
    ),
    "ru": Phrases(
        anywhere=(
            (
                r"(?:какой|каков|какое|какая) (?:сейчас |теперь |на данный момент |"
                r"текущий )?(?:статус|состояние|положение|ситуация)"
            ),
            (
                r"(?:есть|будут|появились|имеются) (?:ли )?(?:какие-(?:то|нибудь|"
                r"либо) )?(?:новости|изменения|обновления|подвижки|продвижени\w*)"
            ),
            r"какие (?:есть |будут )?новости",
            r"что нового",
            rf"(?:как|что) (?:там )?(?:с|со) {_RU_MY}{_RU_CASE}",
            r"(?:на каком|в каком) (?:этапе|состоянии|статусе)",
            r"как (?:продвигается|продвигаются|обстоят дела|движется|идёт рассмотрение)",
            rf"когда (?:рассмотрят|решат|обработают|ответят на) {_RU_MY}{_RU_CASE}",
            r"когда (?:будет|будут) (?:рассмотрен|решен|обработан)\w*",
            (
                r"(?:всё ещё|до сих пор|по-прежнему) (?:жду|ждём|ожидаю|ожидаем|нет) (?:ответа|"
                r"новостей|решения)"
            ),
            (
                r"(?:узнать|подскажите|сообщите|уточните|"
                r"скажите) (?:пожалуйста )?(?:текущий )?(?:статус|состояние)"
            ),
        ),
        asked=(
            rf"(?:статус|состояние|ход рассмотрения|ход) {_RU_MY}{_RU_CASE}",
            rf"новости (?:по|о|об|насчёт|касательно) {_RU_MY}{_RU_CASE}",
        ),
        alone=(r"(?:статус|новости|есть новости|что нового|какие новости|ну что)",),
    ),
    "zh": Phrases(
        anywhere=(
            r"(?:进展|进度|处理)(?:得)?(?:如何|怎么样|怎样|咋样)",
            r"(?:有什么|有没有|有何|有)(?:新)?(?:进展|进度)",
            r"(?:最新|目前的?|现在的?)(?:进展|进度)|最新状态",
            r"(?:处理|办理|进行|审核)到(?:哪|什么)",
            r"到(?:哪一步|哪个阶段|什么程度|什么阶段)",
            r"(?:有没有|有什么|有)(?:新)?(?:消息|结果|回复)(?:了)?(?:吗|嘛|没有|没)",
            r"有(?:什么|没有)?新消息",
            r"(?:状态|进度|进展)(?:是)?(?:什么|如何|怎么样|怎样)(?!意思)",
            rf"查(?:询|看)?(?:一下)?(?:我的)?{_ZH_CASE}?(?:的)?(?:处理)?(?:状态|进度|进展){_ZH_THING}",
            r"(?:还|仍|仍然|一直)(?:在)?(?:等|等待)(?:你们的?|贵公司的?)?(?:回复|答复|消息|结果|处理)",
            r"(?:怎么|为什么|为何)(?:还|仍)(?:没|未)(?:有)?(?:回复|答复|处理|消息|结果|解决|进展)",
            r"(?:处理|解决|受理)(?:好)?了(?:吗|没有|没)",
            rf"{_ZH_CASE}(?:什么时候|何时)(?:能|可以|会)?(?:处理|解决|有结果|回复|处理好)",
        ),
        asked=(rf"{_ZH_CASE}(?:单)?(?:的)?(?:处理)?(?:状态|进度|进展|结果){_ZH_THING}",),
        alone=(r"(?:状态|进度|进展|新消息|最新情况|最新进展)",),
    ),
    "de": Phrases(
        anywhere=(
            (
                r"wie ist der (?:aktuelle |derzeitige |momentane |neueste )?(?:stand|status|"
                r"sachstand|bearbeitungsstand|zwischenstand)"
            ),
            r"was ist der (?:aktuelle |derzeitige |momentane )?(?:stand|status|sachstand)",
            r"welchen (?:stand|status|bearbeitungsstand) (?:hat|haben)",
            (
                r"(?:gibt es|gibts|gibt's|haben sie|hast du|habt ihr) (?:schon |bereits |"
                r"inzwischen |mittlerweile |etwas |irgendwelche |denn |was )*(?:neuigkeiten|neues|"
                r"fortschritte?)"
            ),
            r"(?:schon|irgendwelche|keine) neuigkeiten",
            rf"wie weit ist {_DE_MY} (?:\w+ ){{0,2}}?{_DE_CASE}",
            rf"wie sieht es (?:mit|bei) {_DE_MY} (?:\w+ ){{0,2}}?{_DE_CASE} aus",
            (
                rf"wann wird {_DE_MY} (?:\w+ ){{0,2}}?{_DE_CASE} (?:bearbeitet|erledigt|gelöst|"
                r"entschieden|geprüft|beantwortet)"
            ),
            (
                r"warte(?:n)? (?:immer noch|noch immer|noch|weiterhin|seit wochen|"
                r"seit tagen) auf (?:eine |ihre |eure |die )?(?:antwort|rückmeldung|nachricht|"
                r"reaktion|bearbeitung)"
            ),
            r"stand der dinge",
        ),
        asked=(
            (
                r"(?:stand|status|sachstand|bearbeitungsstand|fortschritt) (?:(?:zu|bei|"
                rf"von) )?{_DE_MY} (?:\w+ ){{0,2}}?{_DE_CASE}"
            ),
            (
                r"(?:neuigkeiten|updates?) (?:zu|zur|zum|über|bezüglich|"
                rf"wegen) (?:{_DE_MY} )?(?:\w+ ){{0,2}}?{_DE_CASE}"
            ),
            r"(?:beschwerde|reklamations|auftrags|antrags|bearbeitungs)status(?!-?seite)",
        ),
        alone=(
            r"(?:status|stand|sachstand|neuigkeiten|neues|updates?|zwischenstand)",
            r"(?:was gibt es|gibt es was|schon was|etwas) neues",
        ),
    ),
    "fr": Phrases(
        anywhere=(
            r"où en (?:est|sont|êtes[- ]vous|sommes[- ]nous|est[- ]on)",
            (
                r"quel(?:le)? est (?:le |l'|la )?(?:statut|état|avancement|situation)(?! (?:de |"
                r"du |d'|des )(?:la |le |l')?(?:led|voyant|écran|onduleur|appareil))"
            ),
            (
                r"(?:avez[- ]vous|auriez[- ]vous|as[- ]tu|y a[- ]t[- ]il|y a[- ]t'il) (?:des |du |"
                rf"de |quelques )?(?:nouvelles|nouveau|avancées?){_FR_NEWS_END}"
            ),
            rf"(?:des|quelques|pas de|aucune|toujours pas de|sans) nouvelles{_FR_NEWS_END}",
            rf"du nouveau{_FR_NEWS_END}",
            rf"quand {_FR_MY}(?:\w+ ){{0,2}}?{_FR_CASE} (?:sera|seront|va|vont)",
            (
                r"(?:j'attends|nous attendons|j'attend) (?:toujours|encore|depuis \w+ \w+) (?:une |"
                r"votre |un |vos |des )?(?:réponse|retour|nouvelles)"
            ),
            r"toujours (?:en attente|sans réponse|sans nouvelles|pas de réponse|aucune réponse)",
            (
                r"comment (?:avance|avancent|se passe|progresse|"
                rf"évolue) {_FR_MY}(?:\w+ ){{0,2}}?{_FR_CASE}"
            ),
        ),
        asked=(
            (
                r"(?:statut|état|avancement|suivi|nouvelles|traitement) (?:de |du |des |"
                rf"d')?{_FR_MY}(?:\w+ ){{0,2}}?{_FR_CASE}"
            ),
        ),
        alone=(
            r"(?:statut|état|avancement|nouvelles|suivi)",
            r"(?:des|quelques) nouvelles",
            r"(?:du nouveau|quoi de neuf)",
        ),
    ),
    "es": Phrases(
        anywhere=(
            (
                r"(?:cuál|cual|cómo|como) es el (?:estado|estatus|status|avance)(?! (?:del |"
                r"de la )(?:led|piloto|indicador|inversor|aparato))"
            ),
            r"en qué (?:estado|punto|fase|situación) (?:está|se encuentra|va|están|anda)",
            (
                r"(?:cómo|en qué) (?:va|van|anda|andan|está|"
                rf"están) {_ES_MY} (?:\w+ ){{0,2}}?{_ES_CASE}"
            ),
            (
                r"(?:hay|tienen|tiene|tienes|alguna|algunas|ninguna) (?:alguna |algunas |ya |"
                r"ninguna |más )*(?:novedad(?:es)?|noticias|avances?)"
            ),
            r"(?:hay |tienen |tiene )?(?:alguna|ninguna) actualización",
            (
                rf"qué (?:pasa|pasó|ha pasado|hay) con {_ES_MY} (?:\w+ ){{0,2}}?(?:reclamación|"
                r"reclamaciones|reclamo|queja|solicitud|caso|ticket|incidencia|reembolso|"
                r"expediente|trámite)s?"
            ),
            (
                r"(?:sigo|seguimos) (?:esperando|sin) (?:una |su |vuestra )?(?:respuesta|noticias|"
                r"novedades|actualización)"
            ),
            (
                r"cuándo (?:se resolverá|resolverán|se tramitará|tramitarán|revisarán|se revisará|"
                r"tendré respuesta|me responderán)"
            ),
        ),
        asked=(
            (
                r"(?:estado|estatus|status|situación|avance|novedades|noticias) (?:de|del|sobre|"
                rf"acerca de) (?:{_ES_MY} )?(?:\w+ ){{0,2}}?{_ES_CASE}"
            ),
        ),
        alone=(
            r"(?:estado|estatus|novedades|noticias|avances)",
            r"(?:alguna|hay|algunas) (?:novedad|novedades|noticia|noticias)",
        ),
    ),
}

# --- appeals ---------------------------------------------------------------------------

_EN_DECISION = (
    r"(?:decision|outcome|resolution|response|answer|assessment|conclusion|rejection|verdict|"
    r"refusal|denial|result|ruling)"
)
_IT_DECISION = r"(?:decisione|risposta|valutazione|soluzione|esito|rifiuto|chiusura|conclusione)"
_NL_DECISION = r"(?:beslissing|besluit|uitkomst|oordeel|antwoord|afwijzing|reactie|conclusie)"
_RU_DECISION = r"(?:решени|ответ|результат|отказ|заключени|вывод|вердикт|итог)\w*"
_DE_DECISION = (
    r"(?:entscheidung|ergebnis|antwort|bescheid|beurteilung|ablehnung|lösung|einschätzung|"
    r"bewertung)"
)
_FR_DECISION = r"(?:décision|réponse|conclusion|évaluation|résultat|refus|solution|verdict|issue)"
_ES_DECISION = r"(?:decisión|resolución|respuesta|solución|valoración|resultado|dictamen|rechazo)"

APPEAL_PHRASES: Mapping[str, Phrases] = {
    "en": Phrases(
        anywhere=(
            (
                r"(?:i|we)(?:'d| would|'m| am|'re| are)? (?:really )?(?:like|want|wish|intend|need|"
                r"plan|going|will|shall|decided)(?: to)? (?:file |lodge |submit |make |raise |"
                r"open )?(?:an |a formal |a |my )?appeal"
            ),
            (
                r"(?:i|we)(?:'m| am|'re| are)? (?:hereby |formally |"
                r"now )?appeal(?:ing)?(?: against)? (?:this|the|your|that|it)\b"
            ),
            rf"appeal(?:ing)? (?:against )?(?:this|the|your|that) {_EN_DECISION}",
            r"(?:file|lodge|submit|make|raise|open|start) (?:an |a formal |my )?appeal",
            r"(?:please|pls|kindly) (?:escalate|reconsider|re-?open)",
            (
                r"(?:i|we)(?:'d| would)? (?:like|want|wish|need|ask|request|"
                r"demand)(?: you)?(?: to)? (?:escalate|an escalation|a review)"
            ),
            (
                r"escalate (?:this|it|my (?:complaint|case|ticket|claim)) to (?:a |an |"
                r"your )?(?:manager|supervisor|senior|higher|team leader)"
            ),
            (
                r"(?:i|we) (?:strongly |completely |totally )?(?:disagree|do not agree|"
                r"don't agree|dont agree|cannot agree|can't agree|do not accept|don't accept|"
                r"cannot accept|can't accept|reject|contest|dispute|challenge|"
                rf"object to) (?:with )?(?:this|the|your|that) {_EN_DECISION}"
            ),
            (
                r"(?:review|reconsider|reassess|re-?examine|look at) (?:it|this|my (?:complaint|"
                r"case|claim|ticket)|the (?:decision|case|complaint)|your decision) (?:again|"
                r"once more)"
            ),
            rf"reconsider (?:this|the|your|that) {_EN_DECISION}",
            r"re-?open (?:my|the|this) (?:complaint|case|ticket|claim)",
            rf"(?:not|n't) (?:satisfied|happy|ok|okay) with (?:the|this|your) {_EN_DECISION}",
            r"(?:speak|talk) (?:to|with) (?:a|your|the) (?:manager|supervisor|senior)",
        ),
        alone=(
            r"(?:i )?(?:appeal|object|disagree|(?:do not|don't|dont) agree)",
            r"(?:escalate|escalation|objection|reopen|re-open)",
        ),
    ),
    "it": Phrases(
        anywhere=(
            (
                r"(?:fare|faccio|facciamo|presentare|presento|presentiamo|proporre|propongo|"
                r"proporrò|presenterò|inoltrare|inoltro) (?:un |il |formale |"
                r"regolare )?ricorso(?! (?:a|al|alla|allo|ai|agli|alle|ad)\b| all')"
            ),
            (
                r"(?:ricorro|ricorso|ricorrere) (?:contro|avverso) (?:la |il |questa |questo |"
                rf"vostra |vostro |tale |l')?(?:vostra |sua )?{_IT_DECISION}"
            ),
            (
                r"(?:contesto|contestiamo|contestare|impugno|impugnare|impugniamo) (?:la|questa|"
                rf"tale|vostra|sua|l')\s?(?:vostra |sua )?{_IT_DECISION}"
            ),
            (
                r"non (?:sono|siamo) (?:d'accordo|daccordo|d accordo|soddisfatt[oaie]) (?:con|"
                r"della|dalla|per) (?:la|questa|tale|vostra|sua|l')\s?(?:vostra |"
                rf"sua )?{_IT_DECISION}"
            ),
            (
                r"(?:chiedo|richiedo|chiediamo|vorrei|vogliate|potete|"
                r"potreste) (?:\w+ ){0,3}?(?:riesame|riesamin\w*|rivalut\w*|riconsider\w*|"
                r"rivedere la decisione|riaprire)"
            ),
            (
                r"non (?:accetto|accettiamo) (?:la|questa|tale|vostra|sua|l')\s?(?:vostra |"
                rf"sua )?{_IT_DECISION}"
            ),
            r"riaprite (?:il|la) (?:mio |mia )?(?:reclamo|pratica|segnalazione|caso)",
            r"parlare con (?:un|il) (?:responsabile|supervisore|superiore)",
        ),
        alone=(
            (
                r"(?:ricorso|faccio ricorso|contesto|contestazione|riesame|appello|faccio appello|"
                r"impugno)"
            ),
        ),
    ),
    "nl": Phrases(
        anywhere=(
            (
                r"(?<!geen )(?<!niet )bezwaar (?:maken|aantekenen|indienen|in te dienen|"
                r"aan te tekenen)"
            ),
            rf"(?<!geen )(?<!niet )bezwaar tegen (?:de|deze|dit|uw|jullie|het) {_NL_DECISION}",
            (
                r"(?:maak|maken|teken|tekenen|dien|dienen) (?:ik |wij |we )?(?:hierbij |hiermee |"
                r"formeel )?bezwaar"
            ),
            r"(?:ga|gaan|wil|willen) (?:ik |wij |we )?(?:graag )?in (?:hoger )?beroep",
            r"in (?:hoger )?beroep (?:gaan|tegen|aantekenen)",
            rf"het (?:niet eens|oneens) (?:met|over) (?:de|deze|dit|uw|jullie|het) {_NL_DECISION}",
            rf"niet akkoord (?:met|gaan met) (?:de|deze|dit|uw|het) {_NL_DECISION}",
            rf"(?:betwist|betwisten|aanvecht|aanvechten|vecht) (?:de|deze|uw|het) {_NL_DECISION}",
            r"(?:heroverweeg|heroverwegen|heroverweging)",
            (
                r"(?:wilt u|kunt u|graag|gelieve|verzoek|verzoeken|wil ik dat u|"
                r"wil dat u) (?:\w+ ){0,4}?opnieuw (?:bekijken|beoordelen|in behandeling nemen)"
            ),
            r"(?:heropen|heropenen) (?:mijn|de|deze) (?:klacht|melding|zaak|dossier|ticket)",
            r"(?:escaleer|escaleren)",
        ),
        alone=(r"(?:bezwaar|beroep|in beroep|heroverweging|escalatie|niet akkoord)",),
    ),
    "ru": Phrases(
        anywhere=(
            r"обжал\w*",
            r"апелляц\w*",
            rf"не соглас\w* (?:с|со) (?:вашим |этим |таким |данным |принятым )?{_RU_DECISION}",
            (
                r"(?:прошу|просим|требую|требуем|хочу|хотим) (?:повторно|заново|ещё раз|"
                r"снова) рассмотреть"
            ),
            (
                r"(?:прошу|просим|требую|требуем|хочу|хотим) (?:пересмотреть|пересмотра|"
                r"эскалировать|передать руководству|передать руководителю)"
            ),
            r"пересмотр\w* (?:решени|мою|моё|мой|жалоб|обращени|заявк|дел)\w*",
            r"оспор\w*|оспарива\w*",
            rf"не (?:принимаю|принимаем) (?:ваше |ваш |это |этот |данное |такое )?{_RU_DECISION}",
            r"(?:жалоба|жалобу) на (?:ваше |это |данное |принятое )?решение",
            r"(?:возобнов|переоткр)\w* (?:рассмотрени|мою|моё|мой|жалоб|обращени|заявк)\w*",
        ),
        alone=(
            (
                r"(?:жалоба|обжаловать|обжалую|обжалование|апелляция|не согласен|не согласна|"
                r"пересмотр|эскалация)"
            ),
        ),
    ),
    "zh": Phrases(
        anywhere=(
            r"申诉",
            r"上诉",
            r"复议",
            r"(?:申请|要求|请求)(?:重新)?复核",
            r"不(?:同意|认可|接受|服|满意)(?:你们|您|贵公司)?(?:的)?(?:这个|此|该|这一|这种)?(?:处理)?(?:结果|决定|方案|答复|结论)",
            r"(?:重新|再次)(?:审核|审查|评估|考虑|调查|受理)",
            r"(?:升级|上报)(?:投诉|处理)|投诉升级",
            r"(?:重新|再)打开(?:我的)?(?:投诉|工单)",
        ),
        alone=(r"(?:不同意|不服|不接受|我不同意|我不服|我不接受|复核)",),
    ),
    "de": Phrases(
        anywhere=(
            (
                r"(?:lege|legen|erhebe|erheben) (?:ich |wir )?(?:hiermit |hiermit formell |"
                r"formell )?(?:widerspruch|einspruch)"
            ),
            r"(?:widerspruch|einspruch) (?:gegen|ein\b|einlegen|erheben|einzulegen)",
            (
                r"(?:widerspreche|widersprechen) (?:ich |wir )?(?:hiermit )?(?:der|dieser|ihrer|"
                r"eurer|dem|diesem|ihrem)"
            ),
            (
                r"(?:mit|über) (?:der|dieser|ihrer|eurer|dem|diesem|ihrem|eurem|die|"
                rf"diese) {_DE_DECISION} (?:\w+ ){{0,2}}?nicht (?:einverstanden|zufrieden)"
            ),
            rf"nicht einverstanden mit (?:der|dieser|ihrer|dem|diesem|ihrem) {_DE_DECISION}",
            rf"(?:fechte|fechten) (?:die|diese|ihre|eure|den|diesen|ihren) {_DE_DECISION} an",
            rf"akzeptiere(?:n)? (?:die|diese|ihre|eure|den|diesen|ihren) {_DE_DECISION} nicht",
            r"anfecht\w*",
            (
                r"(?:bitte|bitten|möchte|möchten|fordere|fordern|beantrage|"
                r"beantragen)(?:,? \w+){0,5}?,? (?:erneut|nochmals|noch einmal) (?:zu )?(?:prüfen|"
                r"überprüfen|begutachten)"
            ),
            rf"{_DE_DECISION} (?:zu )?(?:überdenken|überprüfen|revidieren)",
            r"eskalier\w*",
        ),
        alone=(r"(?:widerspruch|einspruch|ich widerspreche|nicht einverstanden)",),
    ),
    "fr": Phrases(
        anywhere=(
            r"(?:fais|faisons|faire|ferai|ferons|vais faire) appel(?! (?:à|au|aux)\b)",
            (
                r"(?:interjeter|interjette|former|forme|formons|déposer|dépose|déposons|introduire|"
                r"engager|exercer|exerce) (?:un )?(?:appel|recours)"
            ),
            r"recours (?:contre|gracieux|hiérarchique)",
            rf"n'accept\w* pas (?:la|cette|votre|vos|le|ce) {_FR_DECISION}",
            (
                r"(?:conteste|contestons|contester|contestation de) (?:la|cette|votre|vos|ces|le|"
                rf"ce) {_FR_DECISION}"
            ),
            (
                r"(?:pas|plus) (?:du tout )?d'accord (?:avec|sur) (?:la|cette|votre|vos|le|"
                rf"ce) {_FR_DECISION}"
            ),
            (
                r"(?:réexamin|reconsidér|reconsider|revoir)\w* (?:ma|mon|la|le|cette|votre|"
                r"ce) (?:\w+ )?(?:décision|dossier|réclamation|plainte|demande)"
            ),
            r"(?:rouvr|réouvr)\w* (?:ma|mon|la|le) (?:réclamation|dossier|plainte|ticket|demande)",
            r"(?:parler|voir) (?:à|avec) (?:un|votre|le) (?:responsable|supérieur|manager)",
        ),
        alone=(r"(?:recours|appel|je fais appel|faire appel|contestation|je conteste|réexamen)",),
    ),
    "es": Phrases(
        anywhere=(
            r"apel(?:ar|o|amos|aré|aremos)(?! a\b| al\b)",
            r"apelación",
            r"recurr(?:ir|o|imos|iré|iremos)(?! a\b| al\b)",
            (
                r"(?:presentar|presento|presentamos|interponer|interpongo|interponemos|poner|"
                r"pongo) (?:un )?recurso"
            ),
            r"recurso (?:contra|de alzada|de reposición|de apelación)",
            r"impugn\w*",
            rf"no (?:acepto|aceptamos) (?:la|esta|su|vuestra|dicha|el|este) {_ES_DECISION}",
            (
                r"no (?:estoy|estamos) (?:de acuerdo|conforme|conformes) con (?:la|esta|su|"
                rf"vuestra|dicha|el|este) {_ES_DECISION}"
            ),
            (
                r"(?:revisen|revisar|reconsideren|reconsiderar|reconsidere|revise) (?:de nuevo |"
                rf"nuevamente |otra vez )?(?:la|su|esta|vuestra) {_ES_DECISION}"
            ),
            (
                r"(?:revisen|revisar|revise|reabran|reabrir|reabra) (?:de nuevo |nuevamente |"
                r"otra vez )(?:la|mi|su|esta|el) (?:reclamación|caso|queja|solicitud|expediente)"
            ),
            r"(?:reabran|reabrir|reabra) (?:mi|la|el) (?:reclamación|caso|queja|expediente|ticket)",
            (
                r"(?:hablar|contactar) con (?:un|el|su) (?:responsable|supervisor|superior|gerente|"
                r"encargado)"
            ),
        ),
        alone=(r"(?:apelar|apelo|apelación|recurso|recurrir|recurro|impugnar|impugno)",),
    ),
}

# Words that do not change what a short message asks: greetings, please, thanks, "I'd like
# to know", "my complaint".
COURTESY: Mapping[str, tuple[str, ...]] = {
    "en": ("please", "pls", "plz", "thanks", "thank you", "thx", "hi", "hello", "hey", "dear team"),
    "it": ("per favore", "per piacere", "grazie", "ciao", "salve", "buongiorno", "buonasera"),
    "nl": (
        "alstublieft",
        "alsjeblieft",
        "aub",
        "a u b",
        "graag",
        "bedankt",
        "dank u",
        "dank je",
        "hallo",
        "hoi",
        "goedemorgen",
        "goedemiddag",
    ),
    "ru": ("пожалуйста", "спасибо", "здравствуйте", "добрый день", "привет", "подскажите"),
    "zh": (
        "请问",
        "请",
        "谢谢",
        "您好",
        "你好",
        "麻烦",
        "一下",
        "问一下",
        "我想知道",
        "我的投诉",
        "呢",
        "吗",
    ),
    "de": ("bitte", "danke", "hallo", "guten tag"),
    "fr": ("s'il vous plaît", "svp", "merci", "bonjour", "bonsoir"),
    "es": ("por favor", "gracias", "hola", "buenos días", "buenas tardes"),
}

# A reference may come with a label ("ref:", "#", "rif.", "编号"); nothing else.
REFERENCE_LABELS: tuple[str, ...] = (
    "ref",
    "reference",
    "rif",
    "riferimento",
    "referentie",
    "номер",
    "编号",
    "referenz",
    "référence",
    "referencia",
    "ticket",
)

# --- folding -----------------------------------------------------------------------------

# Before NFKC: zero-width characters, bidi marks and overrides, soft hyphens and lone
# surrogates hide or reorder text and carry no meaning; control characters separate words
# like a space.
_DROP: dict[int, str | None] = {
    **dict.fromkeys(
        [
            *range(0x200B, 0x2010),
            *range(0x202A, 0x202F),
            *range(0x2060, 0x2070),
            *range(0xD800, 0xE000),
            0x00AD,
            0x061C,
            0x180E,
            0xFEFF,
        ]
    ),
    **dict.fromkeys([*range(0x00, 0x20), *range(0x7F, 0xA0)], " "),
    ord("№"): "#",  # NFKC would make it "No", a word glued to the reference
}
# Punctuation that NFKC leaves alone: CJK full stop and comma, typographic quotes.
_PUNCTUATION = str.maketrans(
    {
        "。": ".",
        "、": ",",
        "「": '"',
        "」": '"',
        "『": '"',
        "』": '"',
        "“": '"',
        "”": '"',
        "„": '"',
        "«": '"',
        "»": '"',
        "‹": '"',
        "›": '"',
        "‘": "'",
        "’": "'",
        "‚": "'",
        "ʼ": "'",
        "`": "'",
        "¿": " ",
        "¡": " ",
    }
)


def _fold(text: str) -> str:
    """NFKC (full-width to ASCII), casefold, accents dropped, whitespace collapsed."""
    folded = unicodedata.normalize("NFKC", text.translate(_DROP)).translate(_PUNCTUATION)
    decomposed = unicodedata.normalize("NFD", folded.casefold())
    bare = "".join(char for char in decomposed if not unicodedata.combining(char))
    return " ".join(unicodedata.normalize("NFC", bare).split())


def _prepare(text: str, limit: int) -> str:
    """The folded message, or '' when it is longer than `limit` (then it asks nothing)."""
    trimmed = (text or "").strip()
    if len(trimmed) > _SCAN_LIMIT:
        return ""
    folded = _fold(trimmed)
    return folded if len(folded) <= limit else ""


# --- compiled patterns -------------------------------------------------------------------


def _phrase(language: str, pattern: str) -> str:
    """One folded phrase, kept to whole words where the language spaces its words."""
    folded = _fold(pattern)
    return f"(?:{folded})" if language in _UNSPACED else rf"(?<!\w)(?:{folded})(?!\w)"


def _any_of(phrases: Iterable[tuple[str, str]]) -> str:
    return "|".join(_phrase(language, pattern) for language, pattern in phrases) or r"(?!)"


class _Intent(NamedTuple):
    anywhere: re.Pattern[str]
    asked: re.Pattern[str]
    alone: re.Pattern[str]


def _compile(table: Mapping[str, Phrases]) -> _Intent:
    def kind(field: str) -> list[tuple[str, str]]:
        return [(lang, p) for lang, phrases in table.items() for p in getattr(phrases, field)]

    courtesy = _any_of((lang, word) for lang, words in COURTESY.items() for word in words)
    alone = _any_of([*kind("alone"), *kind("asked")])
    return _Intent(
        anywhere=re.compile(_any_of(kind("anywhere"))),
        asked=re.compile(_any_of(kind("asked"))),
        alone=re.compile(rf"(?:(?:{courtesy}) ?)*(?:{alone})(?: ?(?:{courtesy}))*"),
    )


_STATUS = _compile(STATUS_PHRASES)
_APPEAL = _compile(APPEAL_PHRASES)
_STATUS_COMMAND = re.compile(r"/status(?:@\w{1,64})?(?: [^ ]{1,40})?")
_TICKET = r"c-[0-9]{4}-[0-9]{6}"
_LABELS = "|".join(re.escape(_fold(label)) for label in REFERENCE_LABELS)
_REFERENCE = re.compile(rf"(?:(?<!\w)(?:{_LABELS})(?!\w)[\W_]*)?(?<![0-9a-z]){_TICKET}(?![0-9a-z])")
_REFERENCE_ONLY = re.compile(rf"[\W_]*{_REFERENCE.pattern}[\W_]*")
# Punctuation around and between words, but not an apostrophe or hyphen inside a word.
_NOT_WORDS = re.compile(r"[^\w\s'-]+|(?<!\w)['-]+|['-]+(?!\w)")


def _words(message: str) -> str:
    """The message without ticket references and punctuation, for whole-message phrases."""
    return " ".join(_NOT_WORDS.sub(" ", _REFERENCE.sub(" ", message)).split())


# --- the intents -------------------------------------------------------------------------


def is_status_question(text: str) -> bool:
    """Does this short message ask how the customer's complaint (ticket, case...) stands?"""
    message = _prepare(text, STATUS_LIMIT)
    if not message:
        return False
    if _STATUS_COMMAND.fullmatch(message) or _STATUS.anywhere.search(message):
        return True
    if "?" in message and _STATUS.asked.search(message):
        return True
    return _STATUS.alone.fullmatch(_words(message)) is not None


def is_appeal(text: str) -> bool:
    """Does the customer contest the outcome, or ask for a review or an escalation?"""
    message = _prepare(text, APPEAL_LIMIT)
    if not message:
        return False
    if _APPEAL.anywhere.search(message):
        return True
    return _APPEAL.alone.fullmatch(_words(message)) is not None


def is_reference_only(text: str) -> bool:
    """Is the message just one ticket reference ("C-2026-000123", "ref: #c-2026-000123.")?"""
    message = _prepare(text, REFERENCE_LIMIT)
    return bool(message) and _REFERENCE_ONLY.fullmatch(message) is not None
