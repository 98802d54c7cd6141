"""Personal data out of the texts before the model reads them."""
from __future__ import annotations

import pytest

from app.services.routing_model.mask import mask, strip_html


@pytest.mark.parametrize("text, expected", [
    ("Звоните +7 (912) 345-67-89", "Звоните PHONE"),
    ("тел. 8-912-345-67-89, спасибо", "тел. PHONE , спасибо"),
    ("мой номер 89123456789", "мой номер PHONE"),
    ("8 (3452) 52-14-33 диспетчерская", "PHONE диспетчерская"),
    ("+7 912 345 67 89", "PHONE"),
    ("соседи 52-14-33", "соседи PHONE"),
])
def test_phones(text, expected):
    assert mask(text) == expected


def test_numbers_that_are_not_phones_stay():
    text = "В доме 12 кв. 45 течёт крыша уже 3 года, с 2023-2024, 15.01.2025"
    assert mask(text) == text


def test_emails():
    assert mask("пишите ivan.petrov+city@mail.ru или a_b@город.рф") == "пишите EMAIL или EMAIL"


@pytest.mark.parametrize("text, expected", [
    ("Здравствуйте, меня зовут Петров Иван. Яма у дома", "Здравствуйте, меня зовут NAME. Яма у дома"),
    ("Я, Кузнецова Мария, прошу убрать снег", "Я, NAME, прошу убрать снег"),
    ("Яма на дороге. С уважением, Анна Петрова", "Яма на дороге. С уважением, NAME"),
    ("Обращается Сидорова Анна Викторовна по поводу двора", "Обращается NAME по поводу двора"),
    ("Прошу передать Ольге Петровне", "Прошу передать NAME"),
    ("Жалоба на Иванова И.И., управляющего", "Жалоба на NAME, управляющего"),
    ("Ответ дал И. И. Иванов", "Ответ дал NAME"),
])
def test_names(text, expected):
    assert mask(text) == expected


def test_streets_stay():
    text = "Яма на ул. Ленина у дома 5 по улице Гагарина"
    assert mask(text) == text


def test_html_stripped():
    raw = "<p>Добрый день!&nbsp;Яма</p><br/><script>alert(1)</script>на&nbsp;ул.&amp;laquo;Мира&amp;raquo;"
    assert strip_html(raw).split() == ["Добрый", "день!", "Яма", "на", "ул.«Мира»"]
    assert mask(raw) == "Добрый день! Яма на ул.«Мира»"


def test_all_together_one_token_a_run():
    text = "<b>С уважением, Иванов Иван Иванович</b>, +7 912 345-67-89, ivanov@mail.ru"
    assert mask(text) == "С уважением, NAME , PHONE , EMAIL"


def test_empty():
    assert mask(None) == "" and mask("") == "" and mask("<br>") == ""
