"""The texts of the Telegram commands /start and /status, per language (the core's reply
texts never pass through here: they come with each OutboundReply)."""

# The Cyrillic and CJK texts are meant.
# ruff: noqa: RUF001

from __future__ import annotations

GREETING = {
    "en": "Hello! Describe your complaint here (order number, product model, serial number, "
          "what happened) and we will open a ticket. Send /status at any time to see it.",
    "it": "Ciao! Descrivi qui il tuo reclamo (numero d'ordine, modello, numero di serie, cosa "
          "è successo) e apriremo una pratica. Invia /status in qualsiasi momento per vederla.",
    "nl": "Hallo! Beschrijf hier uw klacht (ordernummer, model, serienummer, wat er gebeurde) "
          "en wij openen een ticket. Stuur op elk moment /status om het te bekijken.",
    "ru": "Здравствуйте! Опишите здесь вашу жалобу (номер заказа, модель, серийный номер, что "
          "произошло), и мы откроем обращение. Отправьте /status, чтобы узнать его статус.",
    "zh": "您好!请在此描述您的投诉(订单号、产品型号、序列号、发生了什么),我们会为您创建工单。"
          "随时发送 /status 查看进度。",
    "de": "Hallo! Beschreiben Sie hier Ihre Beschwerde (Bestellnummer, Modell, Seriennummer, "
          "was passiert ist), und wir eröffnen ein Ticket. Senden Sie /status, um es zu sehen.",
    "fr": "Bonjour ! Décrivez ici votre réclamation (numéro de commande, modèle, numéro de "
          "série, ce qui s'est passé) et nous ouvrirons un dossier. Envoyez /status pour le "
          "suivre.",
    "es": "¡Hola! Describa aquí su reclamación (número de pedido, modelo, número de serie, qué "
          "ocurrió) y abriremos una incidencia. Envíe /status en cualquier momento para verla.",
}
STATUS = {
    "en": "Your ticket {ref}: {status}.", "it": "La tua pratica {ref}: {status}.",
    "nl": "Uw ticket {ref}: {status}.", "ru": "Ваше обращение {ref}: {status}.",
    "zh": "您的工单 {ref}:{status}。", "de": "Ihr Ticket {ref}: {status}.",
    "fr": "Votre dossier {ref} : {status}.", "es": "Su incidencia {ref}: {status}.",
}
NO_TICKET = {
    "en": "You have no open ticket here. Write your complaint and we will open one.",
    "it": "Non hai pratiche aperte qui. Scrivi il tuo reclamo e ne apriremo una.",
    "nl": "U heeft hier geen open ticket. Schrijf uw klacht en wij openen er een.",
    "ru": "У вас нет открытых обращений. Опишите жалобу, и мы откроем обращение.",
    "zh": "您在这里没有未结工单。请写下您的投诉,我们会为您创建。",
    "de": "Sie haben hier kein offenes Ticket. Schreiben Sie Ihre Beschwerde, wir eröffnen "
          "eins.",
    "fr": "Vous n'avez aucun dossier ouvert ici. Écrivez votre réclamation et nous en "
          "ouvrirons un.",
    "es": "No tiene ninguna incidencia abierta aquí. Escriba su reclamación y abriremos una.",
}
