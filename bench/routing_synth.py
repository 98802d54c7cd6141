"""Synthetic appeals for the routing benchmark: 20 rubrics, each with its own words, mixed with common ones,
typos and shared vocabulary, so the model has something to learn and something to confuse."""
from __future__ import annotations

import random

TOPICS = {
    "roads": "яма ямы асфальт дорога выбоина колея ремонт дороги покрытие",
    "lights": "фонарь освещение свет лампа темно столб не горит",
    "trash": "мусор контейнер вывоз свалка отходы баки площадка",
    "snow": "снег сугроб наледь уборка снега гололёд посыпать чистить",
    "water": "вода водопровод напор кран прорыв трубы холодная",
    "heat": "отопление батареи холодно радиатор тепло котельная",
    "yard": "двор детская площадка качели скамейка песочница благоустройство",
    "transport": "автобус маршрут остановка расписание водитель проезд",
    "dogs": "собаки бездомные стая лают кусают отлов животные",
    "trees": "дерево ветки спил аварийное упало обрезка тополь",
    "noise": "шум ночью музыка соседи громко кафе",
    "parking": "парковка машины газон припарковали стоянка эвакуатор",
    "school": "школа учитель класс ученики родители уроки",
    "kindergarten": "детский сад очередь воспитатель группа садик",
    "clinic": "поликлиника врач запись талон приём терапевт",
    "sewer": "канализация засор запах колодец люк стоки",
    "gas": "газ запах газа плита газовая служба",
    "elevator": "лифт застрял кабина не работает подъезд",
    "roof": "крыша протекает кровля течёт потолок чердак",
    "grass": "трава покос бурьян сорняки газон косить",
}
COMMON = ("прошу помочь срочно уже неделю никто не реагирует обращаюсь повторно возле дома на улице во дворе "
          "у подъезда жители просят разобраться когда наконец").split()
STREETS = ["Ленина", "Мира", "Гагарина", "Советская", "Садовая", "Победы", "Школьная", "Лесная"]


def typo(word: str, rng: random.Random) -> str:
    if len(word) > 4 and rng.random() < 0.15:
        i = rng.randrange(1, len(word) - 1)
        return word[:i] + word[i + 1:]
    return word


def appeal(rng: random.Random) -> tuple[str, str]:
    topic = rng.choice(list(TOPICS))
    own = TOPICS[topic].split()
    other = TOPICS[rng.choice(list(TOPICS))].split()
    words = rng.sample(own, k=min(len(own), rng.randint(2, 4))) + rng.sample(COMMON, k=rng.randint(3, 7))
    if rng.random() < 0.3:
        words.append(rng.choice(other))
    rng.shuffle(words)
    words = [typo(w, rng) for w in words]
    text = f"{' '.join(words).capitalize()}, ул. {rng.choice(STREETS)}, д. {rng.randint(1, 120)}."
    return text, topic


def appeals(n: int, seed: int = 15) -> tuple[list[str], list[str]]:
    rng = random.Random(seed)
    pairs = [appeal(rng) for _ in range(n)]
    return [p[0] for p in pairs], [p[1] for p in pairs]
