"""Demo cross-posting (issue 13): posts the SM-specialist of School № 3 and the press service published and
scheduled, one waiting for the press service's approval (the library's SM-specialist, whose participant has
«посты после согласования»), and one delivery of each trouble kind (an error in words, «не подтверждено»), so
every state of the publications pages has something to show. Idempotent: each post has its author's `key`.
"""
from __future__ import annotations

from datetime import datetime, time, timedelta, timezone

from sqlalchemy import select

from app.extensions import db
from app.models import Account, Delivery, Institution, Notification, Post, Publication, User, utcnow
from app.services import sla
from app.services.secretbox import encrypt

DEMO_KEY = "demo-post-"

# key, author, participant (None: the city), days from today (city time), hour, state, text
POSTS = [
    ("1", "smm", "school3_blg", -3, 15, "done",
     "Поздравляем наших учеников с победой в городской олимпиаде по математике! 🏆 Призёров — 7, "
     "победителей — 2. Спасибо учителям и родителям за поддержку.\n\nФотографии с награждения — в альбоме школы."),
    ("2", "smm", "school3_blg", -1, 11, "done",
     "Родительское собрание 9-х классов пройдёт в четверг в 18:00 в актовом зале. Тема — подготовка к ОГЭ и "
     "выбор профиля. Подробности: https://school3-blg.ru/news"),
    ("3", "smm", "school3_blg", 1, 10, "scheduled",
     "Завтра — день открытых дверей для будущих первоклассников и их родителей. Ждём вас с 10:00 до 13:00: "
     "экскурсия по школе, встреча с учителями начальных классов, ответы на вопросы о приёме."),
    ("4", "smm", "school3_blg", 4, 9, "scheduled",
     "Открыта запись в кружки и секции второго полугодия: робототехника, шахматы, хор, волейбол. Запись у "
     "классных руководителей до 20-го числа."),
    ("5", "press", None, -2, 17, "done",
     "Глава города провёл приём граждан по вопросам благоустройства дворов. Все обращения взяты на контроль, "
     "ответы — в течение 30 дней. Следующий приём — в первый четверг месяца."),
    ("6", "press", None, 2, 12, "scheduled",
     "Внимание! В субботу на площади Победы пройдёт городская ярмарка выходного дня. Движение по ул. Кирова "
     "будет перекрыто с 7:00 до 16:00. Схема объезда — в карточках."),
    ("7", "smm_cbs", "cbs_blg", 3, 14, "awaiting_approval",
     "Центральная библиотека приглашает на встречу с амурскими писателями. Вход свободный, возраст 12+."),
]
ACCOUNTS_OF_PRESS = ("press_blg", "adm_belogorsk")  # the press service's posts go to these participants' accounts
# A VK community token cannot upload photos (VK error 27): the VK accounts of the participants the demo's smm and
# press users publish to hold a community admin's user token (stored encrypted, as a real one is), which the demo's
# fake VK knows (simulate.tell_fakes) — so a post with photos goes from the page in `make run`.
DEMO_VK_USER_TOKEN = "vk1.a.demo-community-admin-user-token"
PUBLISHING_PARTICIPANTS = ("school3_blg", *ACCOUNTS_OF_PRESS)


def give_publishing_tokens(institutions: dict[str, Institution]) -> int:
    """Store the demo user token on the VK accounts of PUBLISHING_PARTICIPANTS that have none; returns how many.
    Caller commits."""
    ids = [institutions[s].id for s in PUBLISHING_PARTICIPANTS if s in institutions]
    given = 0
    for account in db.session.scalars(select(Account).where(Account.institution_id.in_(ids), Account.network == "vk",
                                                            Account.user_token_enc.is_(None))):
        account.user_token_enc = encrypt(DEMO_VK_USER_TOKEN)
        given += 1
    return given


def _moment(days: int, hour: int) -> datetime:
    calendar = sla.city_calendar()
    today = utcnow().astimezone(calendar.tz).date()
    return datetime.combine(today + timedelta(days=days), time(hour), tzinfo=calendar.tz).astimezone(timezone.utc)


def permalink(account: Account, external_id: str) -> str:
    if account.network == "vk":
        return f"https://vk.com/wall-{account.external_id}_{external_id}"
    if account.network == "ok":
        return f"https://ok.ru/group/{account.external_id}/topic/{external_id}"
    if account.network == "telegram":
        return f"https://t.me/{account.handle}/{external_id}"
    return f"https://max.ru/{account.handle}"


def seed_publications(users: dict[str, User], institutions: dict[str, Institution]) -> int:
    """Create the demo posts that are missing; returns how many were created. Caller commits."""
    created = 0
    now = utcnow()
    for key, author_name, inst_slug, days, hour, state, text in POSTS:
        author = users.get(author_name)
        if author is None or db.session.scalar(select(Publication.id).where(
                Publication.author_id == author.id, Publication.key == DEMO_KEY + key)):
            continue
        slugs = (inst_slug,) if inst_slug else ACCOUNTS_OF_PRESS
        inst_ids = [institutions[s].id for s in slugs if s in institutions]
        accounts = list(db.session.scalars(select(Account).where(
            Account.institution_id.in_(inst_ids), Account.network.in_(("telegram", "vk", "ok", "max")),
            Account.is_active.is_(True)).order_by(Account.id)))
        if not accounts:
            continue
        moment = _moment(days, hour)
        pub = Publication(author_id=author.id, institution_id=institutions[inst_slug].id if inst_slug else None,
                          text=text, link_preview=True, state=state, scheduled_at=moment, key=DEMO_KEY + key,
                          created_at=min(moment, now) - timedelta(hours=2))
        if state == "done":
            pub.published_at = moment
        if inst_slug is None or state in ("done", "scheduled"):
            pub.approved_at = None
        db.session.add(pub)
        db.session.flush()
        for n, account in enumerate(accounts):
            delivery = Delivery(publication_id=pub.id, account_id=account.id, network=account.network,
                                guid=f"om-pub{pub.id}-acc{account.id}")
            if state == "done":
                vk_ids = [a.id for a in accounts if a.network == "vk"]
                other_ids = [a.id for a in accounts if a.network != "vk"]
                failed = key == "5" and vk_ids and account.id == vk_ids[0]
                trouble = key == "5" and other_ids and account.id == other_ids[-1]
                if failed:
                    delivery.state = "failed"
                    delivery.last_error = (f"ВКонтакте «{account.title or account.handle}»: ключ сообщества не "
                                           "даёт права публиковать на стене — выдайте ключу право «стена» в "
                                           "настройках сообщества и отправьте ещё раз.")
                elif trouble:
                    delivery.state = "unconfirmed"
                    delivery.last_error = ("Доставка не подтверждена: отправка прервалась после обращения к сети, а "
                                           "сеть не позволяет проверить, опубликован ли пост. Проверьте аккаунт и "
                                           "нажмите «отправить ещё раз», если поста там нет.")
                else:
                    external_id = f"{900 + pub.id * 10 + n}"
                    post = Post(account_id=account.id, external_id=external_id, published_at=moment,
                                text=text, permalink=permalink(account, external_id), source="app",
                                media_count=0)
                    db.session.add(post)
                    db.session.flush()
                    delivery.state, delivery.external_id = "published", external_id
                    delivery.permalink, delivery.published_at, delivery.post_id = post.permalink, moment, post.id
                    delivery.parts = [[external_id]]
                delivery.attempts = 1
            elif state == "scheduled":
                delivery.state, delivery.next_attempt_at = "scheduled", moment
            else:
                delivery.state = "waiting"
            db.session.add(delivery)
        if state == "awaiting_approval":
            for press in db.session.scalars(select(User).where(User.role == "press")):
                db.session.add(Notification(user_id=press.id, kind="publication_approval", publication_id=pub.id,
                                            text=f"Пост ждёт согласования: {author.full_name or author.username}, "
                                                 f"«{text[:80]}…»"))
        created += 1
    return created
