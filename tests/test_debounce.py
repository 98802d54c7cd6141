"""Debounced jobs (triage after webhooks, VK names after new VK residents) are asked for by a pending flag,
not a timer: however slow the machine, the requests before a job starts make exactly one job, and the job,
as it starts, lets the next request ask for a new one."""
import pytest

from app import jobs
from app.jobs import intake as intake_jobs

DEBOUNCED = [
    pytest.param(intake_jobs.request_triage, intake_jobs.TRIAGE_FLAG, intake_jobs.triage, "intake", id="triage"),
    pytest.param(intake_jobs.request_vk_names, intake_jobs.NAMES_FLAG, intake_jobs.vk_names, "default",
                 id="vk-names"),
]


@pytest.fixture
def real_redis(app, redis_url):
    app.config["REDIS_URL"] = redis_url
    try:
        yield jobs.redis_connection()
    finally:
        app.config["REDIS_URL"] = None


@pytest.mark.parametrize("ask, flag, job, queue", DEBOUNCED)
def test_requests_make_one_job_until_it_starts_then_one_more(real_redis, ask, flag, job, queue):
    q = jobs.get_queue(queue)
    for _ in range(300):
        ask()
    assert q.count == 1
    # no timer that a busy machine outlives: the flag stays until the job starts (the TTL is a safety net only)
    assert real_redis.ttl(flag) > 600

    job()  # the queued job runs: its first act clears the flag
    assert not real_redis.exists(flag)
    for _ in range(300):
        ask()
    assert q.count == 2  # one more for what arrived after the job started, not one per request


@pytest.mark.parametrize("ask, flag, job, queue", DEBOUNCED)
def test_a_failed_enqueue_does_not_leave_the_flag_behind(real_redis, monkeypatch, ask, flag, job, queue):
    def broken(*args, **kwargs):
        raise ConnectionError("Redis went away")

    monkeypatch.setattr(intake_jobs, "enqueue", broken)
    with pytest.raises(ConnectionError):
        ask()
    assert not real_redis.exists(flag)  # the next request asks again
    monkeypatch.undo()
    ask()
    assert jobs.get_queue(queue).count == 1
