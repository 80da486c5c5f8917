# ruff: noqa: RUF001 -- evasions written with look-alike letters are the point
"""The lexicon backend holds what a moderator would hold, and only that, in every language."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from importlib import resources

import pytest

from bot.contract.ports import LABELS, Classifier, Scores
from bot.rules.policy import Thresholds
from moderation.lexicon import (
    AMBIENT,
    Entry,
    Kind,
    Lexicon,
    LexiconClassifier,
    LexiconError,
    atoms,
    parse,
    read_data,
)

LANGUAGES = ("it", "nl", "ru", "zh", "en", "de", "fr", "es")
THRESHOLDS = Thresholds()


@pytest.fixture(scope="module")
def classifier() -> LexiconClassifier:
    return LexiconClassifier(reason="detoxify not installed")


def fired(classifier: LexiconClassifier, text: str) -> tuple[str, ...]:
    return THRESHOLDS.fired(classifier.score_sync([text])[0])


def effects(classifier: LexiconClassifier, text: str) -> list[str]:
    return [hit.effect for hit in classifier.explain(text)]


# --- what is held ---------------------------------------------------------------------------

HELD = [
    # Italian
    ("it", "sei un coglione", "insult"),
    ("it", "il vostro tecnico è un idiota", "insult"),
    ("it", "siete dei ladri e degli incompetenti, vaffanculo", "insult"),
    ("it", "siete una massa di pezzi di merda", "insult"),
    ("it", "fate schifo, vergognatevi", "insult"),
    ("it", "testa di cazzo, rispondi", "obscene"),
    ("it", "ti denuncio e ti rovino", "threat"),
    ("it", "vi ammazzo tutti", "threat"),
    ("it", "so dove abiti", "threat"),
    ("it", "rimborsatemi subito altrimenti vi faccio chiudere", "threat"),
    ("it", "i musulmani sono tutti terroristi", "identity_attack"),
    ("it", "gli zingari sono tutti ladri", "identity_attack"),
    ("it", "sporco negro", "identity_attack"),
    # Dutch
    ("nl", "ik maak jullie kapot op social media", "threat"),
    ("nl", "jullie zijn een stelletje idioten", "insult"),
    ("nl", "je bent een klootzak", "insult"),
    ("nl", "krijg de kanker", "severe_toxicity"),
    ("nl", "kankerlijers, rot op", "insult"),
    ("nl", "ik weet waar je woont", "threat"),
    ("nl", "jullie zijn oplichters", "insult"),
    ("nl", "moslims zijn terroristen", "identity_attack"),
    # Russian
    ("ru", "я вас засужу и уничтожу", "threat"),
    ("ru", "вы идиоты", "insult"),
    ("ru", "иди нахуй", "obscene"),
    ("ru", "ты тупой мудак", "insult"),
    ("ru", "убью тебя", "threat"),
    ("ru", "вы все говно", "insult"),
    ("ru", "мигранты паразиты", "identity_attack"),
    ("ru", "жиды", "identity_attack"),
    # Chinese
    ("zh", "你们都是傻逼", "insult"),
    ("zh", "操你妈", "obscene"),
    ("zh", "我杀了你", "threat"),
    ("zh", "你是个白痴", "insult"),
    ("zh", "你们都是垃圾", "insult"),
    ("zh", "不退款我就到处发差评，让你们倒闭", "threat"),
    ("zh", "黑鬼", "identity_attack"),
    # English
    ("en", "you are an idiot", "insult"),
    ("en", "You're all a bunch of useless morons", "insult"),
    ("en", "fuck you", "obscene"),
    ("en", "your technician is a fucking asshole", "insult"),
    ("en", "you are garbage", "insult"),
    ("en", "I'll post bad reviews everywhere unless you refund me today", "threat"),
    ("en", "I will kill you", "threat"),
    ("en", "i know where you live", "threat"),
    ("en", "refund me or I will destroy your reputation", "threat"),
    ("en", "Muslims are terrorists and should be deported", "identity_attack"),
    ("en", "immigrants are garbage", "identity_attack"),
    ("en", "all jews should die", "identity_attack"),
    # German
    ("de", "ihr seid alle Idioten", "insult"),
    ("de", "du Arschloch", "insult"),
    ("de", "ich bring dich um", "threat"),
    ("de", "fick dich", "obscene"),
    ("de", "ihr seid Betrüger", "insult"),
    ("de", "ich weiß wo du wohnst", "threat"),
    ("de", "Ausländer raus, alles Parasiten", "identity_attack"),
    # French
    ("fr", "je vais vous détruire sur les réseaux", "threat"),
    ("fr", "vous êtes des connards", "insult"),
    ("fr", "va te faire foutre", "obscene"),
    ("fr", "bande de cons", "insult"),
    ("fr", "espèce de connard", "insult"),
    ("fr", "je sais où tu habites", "threat"),
    ("fr", "les arabes sont des parasites", "identity_attack"),
    # Spanish
    ("es", "eres un gilipollas", "insult"),
    ("es", "sois unos hijos de puta", "insult"),
    ("es", "te voy a matar", "threat"),
    ("es", "vete a la mierda", "obscene"),
    ("es", "sois unos ladrones", "insult"),
    ("es", "devolvedme el dinero o os voy a hundir en redes", "threat"),
    ("es", "los inmigrantes son una plaga", "identity_attack"),
]


@pytest.mark.parametrize(("lang", "text", "label"), HELD)
def test_abuse_is_held_with_its_label(
    classifier: LexiconClassifier, lang: str, text: str, label: str
) -> None:
    assert label in fired(classifier, text), (lang, classifier.explain(text))


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_language_has_real_sentences_firing_every_label(
    classifier: LexiconClassifier, lang: str
) -> None:
    labels: set[str] = set()
    for example_lang, text, _ in HELD:
        if example_lang == lang:
            labels.update(fired(classifier, text))
    assert labels == set(LABELS)


# --- what is not held -----------------------------------------------------------------------

NOT_HELD = [
    # angry but civil
    "sono molto arrabbiato, è la terza volta che l'inverter si guasta",
    "это ужасное обслуживание",
    "dit is belachelijk slecht",
    "this is the worst service ever",
    "Je suis très déçu, cela fait trois semaines que j'attends",
    "Estoy harto, es la tercera vez que escribo y nadie responde",
    "Ich bin sehr enttäuscht, der Service ist eine Katastrophe",
    "服务太差了，我非常生气",
    "You are incompetent and I want my money back",
    "siete degli incompetenti",
    "Jullie zijn waardeloos",
    "the support team is useless",
    # "vergognatevi" (shame on you) is a reproach, not an insult: decided not held.
    "vergognatevi",
    "Vergognatevi, è la terza volta che vi scrivo",
    # legal steps are a customer's right, alone they are not blackmail
    "I will contact a lawyer if this is not fixed",
    "vi denuncio",
    "Please refund me, otherwise I will have to cancel the order",
    "If you don't reply I will go to the consumer protection agency",
    "I will write a bad review",
    # identity groups mentioned neutrally or kindly
    "two of your technicians were Muslim women and very kind",
    "I am a Muslim and I want my money back",
    "Our gay neighbour recommended you",
    "Le donne del vostro call center sono state gentilissime",
    "Мои соседи мусульмане посоветовали вас",
    "the immigrants who installed it did a great job",
    "the black panels look great",
    "los paneles negros son basura",
    "gli inverter cinesi sono spazzatura",
    # abuse aimed at things
    "this inverter is garbage",
    "questo inverter è una schifezza",
    "this fucking inverter is shit",
    "che cazzo, ancora rotto dopo sei mesi",
    "El servicio es una mierda",
    "Этот инвертор полное говно",
    "De omvormer is kut",
    "Der Wechselrichter ist Scheiße",
    "ce produit est de la merde",
    "这个逆变器是垃圾",
    "you sold me garbage",
    "what a stupid design",
    "Damn, it broke again",
    "Porca miseria, di nuovo rotto",
    # negation and the speaker about themselves
    "I'm not calling you idiots",
    "I never said you were idiots",
    "non vi sto dando degli idioti",
    "я не называю вас идиотами",
    "I feel like an idiot for buying this",
    "mi prendete per un idiota?",
    # an insult received, quoted to report it
    "your technician called me an idiot",
    "il vostro tecnico mi ha dato dell'idiota",
    "он назвал меня идиотом",
    "uw monteur noemde mij een idioot",
    "il m'a traité de connard",
    "el técnico me llamó idiota",
    "der Techniker hat mich einen Idioten genannt",
    "技术员骂我是傻逼",
    # ordinary words that contain abusive ones
    "The kill switch doesn't work and this will kill the battery",
    "Scunthorpe office, assessment of the classic passion",
    "analytics, cocktail, Dickens, niggardly, Hancock",
    "sei mesi di attesa, sei settimane di silenzio",
    "the installer was smoking a fag on my roof",
    "that loose cable is a chink in the armour",
    "this bastard thing keeps tripping the breaker, it's a bitch to reset",
    "c'est débile, ce système de garantie",
    "запись на педикюр и инвертор не связаны",
    "傻瓜式操作，但是逆变器坏了",
    "la durata della garanzia è di sei anni, sei sicuri?",
    "ordine 45821, inverter SUN2000-5KTL, 5kW, seriale A1B2C3",
]


@pytest.mark.parametrize("text", NOT_HELD)
def test_what_a_person_would_not_hold_passes(classifier: LexiconClassifier, text: str) -> None:
    assert fired(classifier, text) == (), classifier.explain(text)


# --- the rules behind the verdicts ----------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "effect"),
    [
        ("your technician called me an idiot", "reported"),
        ("il vostro tecnico mi ha dato dell'idiota", "reported"),
        ("I'm not calling you idiots", "reported"),
        ("I never said you were idiots, I said it is broken", "negated"),
        ("I feel like an idiot", "self"),
        ("this inverter is garbage", "ambient"),
        ("you are garbage", "direct"),
    ],
)
def test_each_hit_says_how_its_context_judged_it(
    classifier: LexiconClassifier, text: str, effect: str
) -> None:
    assert effects(classifier, text) == [effect]


def test_an_aimed_word_without_a_person_scores_under_every_threshold(
    classifier: LexiconClassifier,
) -> None:
    scores = classifier.score_sync(["this inverter is garbage"])[0]
    assert scores.values["insult"] == pytest.approx(0.8 * AMBIENT)
    assert THRESHOLDS.fired(scores) == ()


def test_a_threat_of_harm_made_conditional_is_blackmail(classifier: LexiconClassifier) -> None:
    alone = classifier.score_sync(["I will leak your internal emails"])[0].values["threat"]
    blackmail = classifier.score_sync(["I will leak your internal emails unless you refund me"])[0]
    assert alone < THRESHOLDS.threat <= blackmail.values["threat"]


@pytest.mark.parametrize(
    "text",
    [
        "I will write a bad review unless you refund me",
        "refund me or I'll sue",
        "refund me or I will go to the consumer association",
        "rimborsatemi altrimenti vi denuncio",
    ],
)
def test_lawful_recourse_stays_civil_under_a_condition(
    classifier: LexiconClassifier, text: str
) -> None:
    assert not THRESHOLDS.fired(classifier.score_sync([text])[0])


def test_a_group_term_scores_only_next_to_hostility(classifier: LexiconClassifier) -> None:
    kind = classifier.score_sync(["the muslims in your team were kind"])[0]
    hostile = classifier.score_sync(["muslims are terrorists"])[0]
    far = classifier.score_sync(
        ["muslims. " + "we waited all day for the visit. " * 3 + "terrorists"]
    )[0]
    assert kind.values["identity_attack"] == 0.0
    assert hostile.values["identity_attack"] >= THRESHOLDS.identity_attack
    assert far.values["identity_attack"] == 0.0


def test_the_same_rule_twice_counts_once(classifier: LexiconClassifier) -> None:
    once = classifier.score_sync(["vi denuncio"])[0].values["threat"]
    thrice = classifier.score_sync(["vi denuncio, vi denuncio, vi denuncio!"])[0].values["threat"]
    assert once == thrice < THRESHOLDS.threat


# --- evasion -------------------------------------------------------------------------------

EVASIONS = [
    "you are an 1d10t",
    "you are a stuuuupid idiooot",
    "y o u  a r e  a n  i d i o t",
    "you are s.t.u.p.i.d",
    "you are an i-d-i-o-t",
    "you are an i_d_i_o_t",
    "YOU ARE AN ІDІОТ",  # Cyrillic look-alikes
    "ｙｏｕ ａｒｅ ａｎ ｉｄｉｏｔ",  # full-width
    "you are an id\u200biot",  # zero-width space
    "you are an \u202eidiot\u202c",  # right-to-left override
    "you are an ïdïöt",  # decorated letters
    "you are an 𝐢𝐝𝐢𝐨𝐭",  # mathematical letters
    "you @ss",
    "you are $tupid",
    "you are a piece of 5hit",
    "you are a b!tch",
    "ты д0лб0еб",
    "иди н@хуй",
    "ты идиoт",  # Latin o in a Russian word
    "вы 6ляди",
    "sei un c0gl10n3",
    "sei un cogliooone",
    "jullie zijn i d i o t e n",
    "你们都是傻 逼",
    "fück yoü",
    "f u c k  y o u",
]


@pytest.mark.parametrize("text", EVASIONS)
def test_evasion_tricks_are_caught(classifier: LexiconClassifier, text: str) -> None:
    assert fired(classifier, text), classifier.explain(text)


# --- bad input ------------------------------------------------------------------------------

BAD_INPUT = [
    "",
    " ",
    "😡😡😡👎👎🔥🔥",
    "\ud800",
    "abc\udfffdef\ud83d",
    "\u202e\u202d\u2066\u2069\u200f",
    "Инвертор Huawei 坏了 idiot? ΑΒΓ 🙂 مرحبا",
    "\x00\x01\x02\x1b[31m",
    "\n\n\t\r",
    "a" * 10_000,
    "!" * 5_000,
]


@pytest.mark.parametrize("text", BAD_INPUT)
def test_bad_input_scores_every_label_in_range(classifier: LexiconClassifier, text: str) -> None:
    [scores] = classifier.score_sync([text])
    assert set(scores.values) == set(LABELS)
    assert all(0.0 <= value <= 1.0 for value in scores.values.values())


def test_a_megabyte_is_scored_on_a_bounded_window_and_says_so(
    classifier: LexiconClassifier,
) -> None:
    text = "Il mio inverter non funziona. " * 35_000 + "Siete dei coglioni."
    assert len(text) > 1_000_000
    [scores] = classifier.score_sync([text])
    assert scores.truncated
    assert "insult" in THRESHOLDS.fired(scores)  # the sign-off is inside the window


def test_a_short_text_is_not_truncated(classifier: LexiconClassifier) -> None:
    assert not classifier.score_sync(["ciao"])[0].truncated


def test_a_clean_text_scores_zero_on_every_label(classifier: LexiconClassifier) -> None:
    assert classifier.score_sync(["Where is my refund?"]) == [Scores(dict.fromkeys(LABELS, 0.0))]


# --- the backend ----------------------------------------------------------------------------


def test_it_is_a_classifier_that_says_why_it_is_active() -> None:
    backend: Classifier = LexiconClassifier(reason="detoxify not installed")
    assert backend.name == "lexicon"
    assert backend.reason == "detoxify not installed"


async def test_score_runs_the_batch_off_the_event_loop(classifier: LexiconClassifier) -> None:
    texts = ["Buongiorno, il mio inverter SUN2000 si blocca ogni mattina, siete dei ladri"] * 3000
    ticks = 0

    async def heartbeat() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0)
            ticks += 1

    beating = asyncio.create_task(heartbeat())
    try:
        scores = await classifier.score(texts)
    finally:
        beating.cancel()
    assert ticks > 0
    assert scores == classifier.score_sync(texts)


async def test_score_keeps_the_order_of_the_batch(classifier: LexiconClassifier) -> None:
    texts = ["fine, thanks", "you are an idiot", "", "вы идиоты"]
    scores = await classifier.score(texts)
    assert [bool(THRESHOLDS.fired(s)) for s in scores] == [False, True, False, True]


# --- data files ---------------------------------------------------------------------------


def test_every_language_has_its_data_file() -> None:
    folder = resources.files("moderation") / "lexicon"
    assert {item.name for item in folder.iterdir()} >= {f"{lang}.tsv" for lang in LANGUAGES}


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_data_file_has_every_kind_of_rule(lang: str) -> None:
    kinds = {entry.kind for entry in read_data([lang])}
    assert kinds >= {
        Kind.PERSON,
        Kind.AIMED,
        Kind.GROUP,
        Kind.HOSTILE,
        Kind.CONDITION,
        Kind.TARGET,
        Kind.NEGATION,
        Kind.REPORT,
        Kind.SELF,
        Kind.LINK,
    }


def test_no_word_is_a_different_kind_of_rule_in_two_languages() -> None:
    scoring = {Kind.PERSON, Kind.AIMED, Kind.GROUP, Kind.HOSTILE, Kind.CONDITION}
    kinds: dict[tuple[str, ...], set[Kind]] = defaultdict(set)
    for entry in read_data():
        if entry.kind in scoring:
            kinds[tuple(atoms(entry.pattern))].add(entry.kind)
    assert [path for path, found in kinds.items() if len(found) > 1] == []


def test_macros_expand_into_every_combination() -> None:
    entries = parse("xx", "@a = i will | i'll\n@b = you | ya\n@a hit @b  person  threat=0.9\n")
    assert [entry.pattern for entry in entries] == [
        "i will hit you",
        "i will hit ya",
        "i'll hit you",
        "i'll hit ya",
    ]
    assert {entry.rule for entry in entries} == {("xx", "@a hit @b")}


def test_stems_and_gaps_match_endings_and_skipped_words() -> None:
    lexicon = Lexicon(
        parse(
            "xx", "идиот*  person  insult=0.9\nmaak .. kapot  aimed  threat=0.8\njullie  target\n"
        )
    )
    backend = LexiconClassifier(lexicon=lexicon)
    assert [h.effect for h in backend.explain("вы идиотами были")] == ["direct"]
    assert [h.effect for h in backend.explain("ik maak jullie allemaal kapot")] == ["direct"]
    assert [h.effect for h in backend.explain("ik maak de omvormer kapot")] == ["ambient"]


def test_a_pattern_letter_matches_once_or_twice_but_a_double_stays_double() -> None:
    backend = LexiconClassifier(lexicon=Lexicon(parse("xx", "ass  person  insult=0.8\n")))
    assert backend.explain("you ass")
    assert backend.explain("you aass")
    assert not backend.explain("as you wish")


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("idiot  insulting  insult=0.9", "not a valid Kind"),
        ("idiot  person  insult=1.5", "bad weight"),
        ("idiot  person  rudeness=0.5", "bad weight"),
        ("idiot  person", "need them"),
        ("you  target  insult=0.5", "take no weights"),
    ],
)
def test_a_bad_data_line_is_reported_with_its_number(line: str, problem: str) -> None:
    with pytest.raises(LexiconError, match=rf"xx\.tsv line 2: .*{problem}"):
        parse("xx", f"# comment\n{line}\n")


def test_entries_know_their_nature() -> None:
    [threat] = parse("xx", "ti rovino  person  threat=0.7\n")
    [insult] = parse("xx", "sei .. scemo  aimed  insult=0.8,threat=0.2\n")
    assert isinstance(threat, Entry)
    assert threat.threatens
    assert not threat.gapped
    assert threat.hostility == 0.7
    assert insult.gapped
    assert not insult.threatens


# --- threats, hate, masking and the reasons a moderator sees --------------------------------


def test_reasons_name_the_rules_that_fired(classifier: LexiconClassifier) -> None:
    reasons = classifier.reasons("I know where you live, you idiots")
    assert "en: i know where you live [person threat=0.85] (direct)" in reasons
    assert "en: idiots [person insult=0.9] (direct)" in reasons


def test_reasons_leave_out_what_counted_for_nothing(classifier: LexiconClassifier) -> None:
    assert classifier.reasons("the muslim technician was kind") == []
    assert classifier.reasons("") == []


def test_reasons_say_how_context_judged_a_hit(classifier: LexiconClassifier) -> None:
    assert classifier.reasons("your technician called me an idiot") == [
        "en: idiot [person insult=0.9] (reported)"
    ]


def test_explain_reads_masked_words_as_the_classifier_does(classifier: LexiconClassifier) -> None:
    assert [hit.entry.source for hit in classifier.explain("f*ck you")] == ["fuck you"]


def test_a_threat_that_says_not_itself_is_still_a_threat(classifier: LexiconClassifier) -> None:
    assert "threat" in fired(classifier, "you won't be safe")
    assert "threat" not in fired(classifier, "I won't kill you")


def test_an_insult_whose_person_closes_the_clause_is_aimed(classifier: LexiconClassifier) -> None:
    assert "insult" in fired(classifier, "what scammers you are")
    assert "insult" in fired(classifier, "che ladri che siete")
    assert fired(classifier, "this is garbage you know") == ()


def test_a_group_inside_a_gap_is_found(classifier: LexiconClassifier) -> None:
    assert "identity_attack" in fired(classifier, "send all the refugees back")


def test_a_threat_next_to_a_group_is_an_identity_attack(classifier: LexiconClassifier) -> None:
    assert "identity_attack" in fired(classifier, "I'll kill all the immigrants")


@pytest.mark.parametrize(
    "text",
    [
        "ik haat immigranten niet, ik haat wachten",
        "ich hasse Ausländer nicht",
        "wer sagt, dass Muslime Terroristen sind, ist rassistisch",
        "ceux qui disent que les musulmans sont des terroristes sont racistes",
    ],
)
def test_hate_negated_after_the_verb_or_condemned_in_the_sentence_passes(
    classifier: LexiconClassifier, text: str
) -> None:
    assert fired(classifier, text) == ()


def test_lawful_recourse_alone_scores_under_the_threat_threshold(
    classifier: LexiconClassifier,
) -> None:
    for text in ("I will sue you", "see you in court", "I'm going to the press", "vi denuncio"):
        assert classifier.score_sync([text])[0].values["threat"] < THRESHOLDS.threat, text
