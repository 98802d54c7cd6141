"""Fixtures shared by the intake tests (tests/test_intake_rules.py, tests/test_intake_seams.py…): our VK
community's account, a switched-on burst window, a street-lighting rubric with its keywords."""
from __future__ import annotations

from datetime import timedelta

import pytest

from app.extensions import db
from tests.factories import make_account, make_category, make_institution
from tests.vk_support import GROUP


@pytest.fixture
def vk_account(vk_config):
    acc = make_account(make_institution(name="Администрация г. Белогорск (ВК)"), network="vk")
    acc.external_id = str(GROUP)
    db.session.flush()
    return acc


@pytest.fixture
def burst(app):
    app.config["BURST_WINDOW_SECONDS"] = 120
    yield timedelta(seconds=120)
    app.config["BURST_WINDOW_SECONDS"] = 0


@pytest.fixture
def lamps():
    light = make_institution(name="МБУ «Горсвет» г. Белогорск")
    cat = make_category("Уличное освещение", institution=light)
    cat.keywords = "фонар освещ"
    db.session.commit()
    return cat
