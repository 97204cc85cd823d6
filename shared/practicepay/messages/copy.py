# ruff: noqa: E501 (one message per line reads best)
"""The words of every message, in English and Spanish. Each is a Jinja snippet over: practice, amount, date, card,
phone, link. Texts stay in GSM-7 (no á, í, ó, ú: a text with one of them is sent as UCS-2, 70 characters a part)."""

from __future__ import annotations

COPY: dict[str, dict[str, dict[str, str]]] = {
    "en": {
        "statement": {
            "subject": "Your statement from {{ practice }}",
            "lead": "You have a new statement from {{ practice }}: {{ amount }}, due {{ date }}.",
            "action": "View and pay your bill",
            "sms": "{{ practice }}: your bill of {{ amount }} is due {{ short_date }}. Pay: {{ link }} STOP to end",
        },
        "reminder": {
            "subject": "Reminder: {{ amount }} due to {{ practice }}",
            "lead": "This is a reminder from {{ practice }}: {{ amount }} {{ 'was' if overdue else 'is' }} due {{ date }}.",
            "action": "Pay your bill",
            "sms": "{{ practice }}: reminder, {{ amount }} {{ 'was' if overdue else 'is' }} due {{ short_date }}. Pay: {{ link }} STOP to end",
        },
        "autopay_notice": {
            "subject": "Upcoming automatic payment to {{ practice }}",
            "lead": "On {{ date }}, {{ practice }} will charge {{ amount }} to your {{ card }} for your payment plan.",
            "extra": "To change the card or cancel before then, call {{ phone }} or reply to this email.",
            "sms": "{{ practice }}: autopay charges {{ amount }} to {{ card_short }} on {{ short_date }}. To change or cancel call {{ phone }}. STOP to end",
        },
        "payment_failed": {
            "subject": "Your automatic payment to {{ practice }} did not go through",
            "lead": "Your automatic payment of {{ amount }} to {{ practice }} did not go through.",
            "extra": "Please pay or update your card using the secure link below.",
            "action": "Pay or update your card",
            "sms": "{{ practice }}: autopay {{ amount }} failed. Pay/update card: {{ link }} STOP to end",
        },
        "receipt": {
            "subject": "Receipt for your payment to {{ practice }}",
            "lead": "Thank you. {{ practice }} received your payment of {{ amount }} on {{ date }}.",
            "sms": "{{ practice }}: we received your payment of {{ amount }} on {{ short_date }}. Thank you! STOP to end",
        },
        "payment_returned": {
            "subject": "Your bank returned your payment to {{ practice }}",
            "lead": "Your bank returned your payment of {{ amount }} to {{ practice }}, so it is owed again.",
            "action": "Pay your bill",
            "sms": "{{ practice }}: your bank returned {{ amount }}. Pay again: {{ link }} STOP to end",
        },
        "footer": "This message comes from {{ practice }}. Questions? Call {{ phone }}.",
        "link_note": "The link opens a secure page that checks it is you before it shows anything.",
        "unsubscribe": "Stop reminder emails",
        "help_reply": "PracticePay billing messages from your healthcare provider. Msg&data rates may apply. Reply STOP to opt out.",
        "stop_reply": "You will not get more texts from this number. Reply START to opt back in.",
        "start_reply": "You will get billing texts again. Reply STOP to opt out, HELP for help.",
    },
    "es": {
        "statement": {
            "subject": "Su estado de cuenta de {{ practice }}",
            "lead": "Tiene un nuevo estado de cuenta de {{ practice }}: {{ amount }}, vence el {{ date }}.",
            "action": "Ver y pagar su factura",
            "sms": "{{ practice }}: debe {{ amount }}, vence el {{ short_date }}. Pague: {{ link }} STOP para salir",
        },
        "reminder": {
            "subject": "Recordatorio: {{ amount }} para {{ practice }}",
            "lead": "Recordatorio de {{ practice }}: {{ amount }} {{ 'vencio' if overdue else 'vence' }} el {{ date }}.",
            "action": "Pagar su factura",
            "sms": "{{ practice }}: aviso, {{ amount }} {{ 'vencio' if overdue else 'vence' }} {{ short_date }}. Pague: {{ link }} STOP: salir",
        },
        "autopay_notice": {
            "subject": "Pago automatico programado para {{ practice }}",
            "lead": "El {{ date }}, {{ practice }} cobrara {{ amount }} a su {{ card }} por su plan de pagos.",
            "extra": "Para cambiar la tarjeta o cancelar antes, llame al {{ phone }} o responda a este correo.",
            "sms": "{{ practice }}: el pago automatico de {{ amount }} a {{ card_short }} es el {{ short_date }}. Cambios: {{ phone }}. STOP para salir",
        },
        "payment_failed": {
            "subject": "Su pago automatico a {{ practice }} no se pudo hacer",
            "lead": "Su pago automatico de {{ amount }} a {{ practice }} no se pudo hacer.",
            "extra": "Pague o actualice su tarjeta con el enlace seguro.",
            "action": "Pagar o actualizar su tarjeta",
            "sms": "{{ practice }}: pago automatico de {{ amount }} fallo. Pague: {{ link }} STOP: salir",
        },
        "receipt": {
            "subject": "Recibo de su pago a {{ practice }}",
            "lead": "Gracias. {{ practice }} recibio su pago de {{ amount }} el {{ date }}.",
            "sms": "{{ practice }}: recibimos su pago de {{ amount }} el {{ short_date }}. Gracias! STOP para salir",
        },
        "payment_returned": {
            "subject": "Su banco devolvio su pago a {{ practice }}",
            "lead": "Su banco devolvio su pago de {{ amount }} a {{ practice }}; el saldo se debe de nuevo.",
            "action": "Pagar su factura",
            "sms": "{{ practice }}: su banco devolvio {{ amount }}. Pague: {{ link }} STOP para salir",
        },
        "footer": "Este mensaje es de {{ practice }}. Preguntas? Llame al {{ phone }}.",
        "link_note": "El enlace abre una pagina segura que confirma que es usted antes de mostrar nada.",
        "unsubscribe": "No recibir mas recordatorios por correo",
        "help_reply": "Mensajes de cobro de PracticePay de su proveedor de salud. Pueden aplicar tarifas. Responda STOP para salir.",
        "stop_reply": "No recibira mas mensajes de este numero. Responda START para volver a recibirlos.",
        "start_reply": "Volvera a recibir mensajes de cobro. Responda STOP para salir, HELP para ayuda.",
    },
}

# The unsubscribe page (the messaging function): asking, done, an unknown or expired link, an error.
UNSUBSCRIBE_PAGE: dict[str, dict[str, str]] = {
    "en": {
        "ask_title": "Stop reminder emails?",
        "ask": "{practice} will stop emailing you payment reminders. Statements, receipts and autopay notices "
        "still come, because they are about payments you made or agreed to.",
        "done_title": "You are unsubscribed",
        "done": "{practice} will not email you payment reminders again. Statements, receipts and autopay notices "
        "still come.",
        "gone_title": "This link no longer works",
        "gone": "Please contact your provider's billing office to change the messages you get.",
        "error_title": "Something went wrong",
        "error": "Please try again in a few minutes.",
    },
    "es": {
        "ask_title": "¿Dejar de recibir recordatorios por correo?",
        "ask": "{practice} dejará de enviarle recordatorios de pago por correo. Los estados de cuenta, los recibos y "
        "los avisos de pago automático seguirán llegando, porque tratan de pagos que usted hizo o aceptó.",
        "done_title": "Ya no recibirá recordatorios",
        "done": "{practice} no le enviará más recordatorios de pago por correo. Los estados de cuenta, los recibos y "
        "los avisos de pago automático seguirán llegando.",
        "gone_title": "Este enlace ya no funciona",
        "gone": "Comuníquese con la oficina de cobros de su proveedor para cambiar los mensajes que recibe.",
        "error_title": "Algo salió mal",
        "error": "Inténtelo de nuevo en unos minutos.",
    },
}
