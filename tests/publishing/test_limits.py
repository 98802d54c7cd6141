"""The per-network plan of a composed post: what each network will receive and what the author is warned of."""
from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.services.publishing.limits import (
    MAX_TEXT_LIMIT,
    NETWORKS,
    OK_TEXT_LIMIT,
    TELEGRAM_TEXT_LIMIT,
    VK_TEXT_LIMIT,
    Photo,
    plan_all,
    plan_for,
    split_text,
    utf16_len,
)

EMOJI = "😀"  # outside the BMP: 2 UTF-16 units


def plain(sentence: str) -> str:
    """Warnings use a no-break space in «1 024»: compare them with an ordinary one."""
    return sentence.replace("\u00a0", " ")


def methods(plan) -> list[str]:
    return [part.method for part in plan.parts]


def test_the_issue_example_a_caption_over_1024_goes_as_a_separate_message_after_the_album():
    text = "Приглашаем на день открытых дверей школы № 5. " * 30  # ~1,400 characters
    plan = plan_all(text, 2, ["telegram"])["telegram"]
    assert plan.refused is None
    assert methods(plan) == ["sendMediaGroup", "sendMessage"]
    assert plan.parts[0].photos == 2 and plan.parts[0].text == ""
    assert plan.parts[1].text == text.strip()
    assert [plain(w) for w in plan.warnings] == [
        "Текст длиннее 1 024 символов: уйдёт отдельным сообщением после фото."]


def test_utf16_counts_emoji_as_two_and_cyrillic_as_one():
    assert utf16_len("я") == 1
    assert utf16_len(EMOJI) == 2
    assert utf16_len("Привет" + EMOJI) == 8


@pytest.mark.parametrize(("text", "parts"), [
    ("я" * 4096, 1),
    ("я" * 4097, 2),
    ("я" * 4094 + EMOJI, 1),          # 4,096 units
    ("я" * 4095 + EMOJI, 2),          # 4,097 units: 4,096 code points, but Telegram counts 4,097
    (EMOJI * 2048, 1),
    (EMOJI * 2048 + "я", 2),
])
def test_telegram_text_boundary_4096_in_utf16_units(text, parts):
    plan = plan_for("telegram", text, 0)
    assert methods(plan) == ["sendMessage"] * parts
    assert all(utf16_len(part.text) <= TELEGRAM_TEXT_LIMIT for part in plan.parts)
    if parts == 1:
        assert plan.warnings == []
    else:
        assert [plain(w) for w in plan.warnings] == [
            "Текст длиннее 4 096 символов: уйдёт 2 сообщениями подряд, разрезанным по абзацам, предложениям или "
            "словам."]


@pytest.mark.parametrize(("text", "separate"), [
    ("ж" * 1024, False),
    ("ж" * 1025, True),
    ("ж" * 1022 + EMOJI, False),     # 1,024 units
    ("ж" * 1023 + EMOJI, True),      # 1,025 units in 1,024 code points
])
@pytest.mark.parametrize("photos", [1, 2, 10])
def test_telegram_caption_boundary_1024_in_utf16_units(text, separate, photos):
    plan = plan_for("telegram", text, photos)
    first = "sendPhoto" if photos == 1 else "sendMediaGroup"
    if separate:
        assert methods(plan) == [first, "sendMessage"]
        assert plan.parts[0].text == "" and plan.parts[1].text == text
        assert len(plan.warnings) == 1 and "отдельным сообщением после фото" in plan.warnings[0]
    else:
        assert methods(plan) == [first]
        assert plan.parts[0].text == text
        assert plan.warnings == []
    assert plan.parts[0].photos == photos


def test_a_caption_text_over_4096_is_both_separate_and_split():
    plan = plan_for("telegram", "Слово. " * 1500, 3)
    assert methods(plan) == ["sendMediaGroup", "sendMessage", "sendMessage", "sendMessage"]
    assert len(plan.warnings) == 2
    assert "3 сообщениями" in plan.warnings[1]


def test_splitting_prefers_paragraphs_then_sentences_then_words():
    first = "а" * 3000
    text = first + "\n\n" + "б" * 2000
    assert split_text(text, 4096) == [first, "б" * 2000]
    sentences = "Первое предложение. " * 300 + "Последнее"  # no line breaks at all
    parts = split_text(sentences, 4096)
    assert len(parts) == 2 and parts[0].endswith("предложение.") and parts[1].startswith("Первое")
    words = ("слово " * 1000).strip()
    assert all(not part.startswith(" ") and not part.endswith(" ") for part in split_text(words, 100))
    assert split_text("ы" * 250, 100) == ["ы" * 100, "ы" * 100, "ы" * 50]  # one giant word: cut at the limit


_ALPHABET = st.sampled_from(list("абвгд ЖЗ.!?,\n\t") + [EMOJI, "👍🏻", "é", "ё", " ", "\u00a0"])


@settings(max_examples=300, deadline=None)
@given(st.lists(_ALPHABET, max_size=700).map("".join), st.integers(min_value=2, max_value=120))
def test_splitting_keeps_every_character_in_order_and_no_part_exceeds_the_limit(text, limit):
    parts = split_text(text, limit)
    rest = text.strip()
    for part in parts:
        assert part and part == part.strip()
        assert utf16_len(part) <= limit
        assert rest.startswith(part)  # nothing dropped, reordered or changed, except whitespace at split points
        rest = rest[len(part):]
        rest = rest.lstrip()
    assert rest == ""
    if text.strip():
        assert re.sub(r"\s", "", "".join(parts)) == re.sub(r"\s", "", text)


@pytest.mark.parametrize("network", NETWORKS)
def test_an_empty_post_is_refused_everywhere(network):
    plan = plan_for(network, "  \n ", 0)
    assert plan.refused == "Пост пуст: добавьте текст или хотя бы одно фото."
    assert plan.parts == []


@pytest.mark.parametrize("network", NETWORKS)
@pytest.mark.parametrize("count", [0, 1, 2, 10, 11])
def test_photo_counts_per_network(network, count):
    plan = plan_for(network, "Текст поста", count)
    if count == 11:
        assert plan.refused == "К посту можно приложить не больше 10 фото, а выбрано 11: уберите лишние."
        assert plan.parts == []
        return
    assert plan.refused is None
    assert sum(part.photos for part in plan.parts) == count
    expected = {
        "telegram": {0: ["sendMessage"], 1: ["sendPhoto"]}.get(count, ["sendMediaGroup"]),
        "vk": ["wall.post"],
        "ok": ["mediatopic.post"],
        "max": ["POST /messages"],
    }[network]
    assert methods(plan) == expected
    assert all(part.text == "Текст поста" for part in plan.parts)


@pytest.mark.parametrize("network", NETWORKS)
def test_photos_without_text_go_alone(network):
    plan = plan_for(network, "", 3)
    assert plan.refused is None and plan.warnings == []
    assert [part.text for part in plan.parts] == [""] and plan.parts[0].photos == 3


def test_vk_refuses_a_text_over_its_limit_and_never_cuts_it():
    assert plan_for("vk", "в" * VK_TEXT_LIMIT, 1).refused is None
    plan = plan_for("vk", "в" * (VK_TEXT_LIMIT + 1), 1)
    assert plain(plan.refused) == ("Текст длиннее 16 384 символов (16 385), а ВКонтакте не делит пост на части: "
                                   "сократите текст или не выбирайте этот аккаунт.")
    assert plan.parts == []


def test_ok_refuses_a_text_over_its_limit():
    assert plan_for("ok", "о" * OK_TEXT_LIMIT, 0).refused is None
    plan = plan_for("ok", "о" * OK_TEXT_LIMIT + EMOJI, 0)
    assert "Одноклассники не делит пост на части" in plan.refused


def test_max_splits_a_long_text_and_keeps_the_photos_in_the_first_message():
    assert methods(plan_for("max", "м" * MAX_TEXT_LIMIT, 2)) == ["POST /messages"]
    plan = plan_for("max", "м" * (MAX_TEXT_LIMIT + 1), 2)
    assert [part.photos for part in plan.parts] == [2, 0]
    assert all(utf16_len(part.text) <= MAX_TEXT_LIMIT for part in plan.parts)
    assert [plain(w) for w in plan.warnings] == [
        "Текст длиннее 4 000 символов: в MAX уйдёт 2 сообщениями подряд, фото — в первом."]


def test_one_message_is_written_in_the_singular_form():
    plan = plan_for("telegram", "Слово. " * 12000, 0)  # 84,000 characters → 21 messages
    assert len(plan.parts) == 21 and "21 сообщением" in plan.warnings[0]


def test_photo_size_is_checked_where_the_limit_is_known():
    big = [Photo(size=11 * 1024 * 1024, content_type="image/jpeg"), Photo(size=1000)]
    telegram = plan_for("telegram", "Фото", big)
    assert telegram.refused == ("Фото №1 весит 11.0 МБ, а Telegram принимает фото до 10 МБ: уменьшите его или "
                                "уберите из поста.")
    assert plan_for("max", "Фото", big).refused is None
    assert "MAX принимает фото до 50 МБ" in plan_for("max", "Фото", [Photo(size=51 * 1024 * 1024)]).refused


def test_link_preview_switch_is_passed_on_per_network():
    text = "Расписание: https://school5.example.ru/news/1. Ждём!"
    on = plan_all(text, 0, NETWORKS, link_preview=True)
    off = plan_all(text, 0, NETWORKS, link_preview=False)
    assert on["telegram"].parts[0].options == {"link_preview_options": {"is_disabled": False}}
    assert off["telegram"].parts[0].options == {"link_preview_options": {"is_disabled": True}}
    assert on["vk"].parts[0].options == {"attachments": ["link"], "link": "https://school5.example.ru/news/1"}
    assert off["vk"].parts[0].options == {}
    assert on["ok"].parts[0].options["link"] == "https://school5.example.ru/news/1"
    assert on["max"].parts[0].options == {"disable_link_preview": False}
    assert off["max"].parts[0].options == {"disable_link_preview": True}
    for plan in [*on.values(), *off.values()]:
        assert plan.link_preview  # every network says in words what the switch does there
    assert plan_for("telegram", text, 1).link_preview == "В подписи к фото Telegram превью ссылок не показывает."


def test_plan_all_keeps_the_order_given_and_rejects_an_unknown_network():
    assert list(plan_all("Текст", 0, ["vk", "telegram", "vk"])) == ["vk", "telegram"]
    with pytest.raises(ValueError):
        plan_for("facebook", "Текст", 0)
