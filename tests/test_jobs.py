"""Jobs: in-process without Redis (the embedded default); through RQ and worker.py with real Redis."""
import os
import secrets
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from rq import Queue, SimpleWorker
from rq.serializers import JSONSerializer

from app import jobs
from app.extensions import db
from app.models import LoginAttempt, utcnow

ROOT = Path(__file__).resolve().parents[1]


def _old_attempt():
    db.session.add(LoginAttempt(username="old", ip="10.0.0.1", attempted_at=utcnow() - timedelta(days=2)))
    db.session.commit()


def _count():
    return db.session.scalar(db.select(db.func.count(LoginAttempt.id)))


def test_without_redis_a_job_runs_in_process(app):
    assert app.config["REDIS_URL"] is None
    _old_attempt()
    assert jobs.enqueue("app.jobs.housekeeping.purge_login_attempts") == 1
    assert _count() == 0


def test_unknown_queue_is_refused():
    with pytest.raises(ValueError):
        jobs.enqueue("app.jobs.housekeeping.purge_login_attempts", queue="nope")


def test_with_redis_the_job_is_queued_and_a_worker_runs_it(app, redis_url):
    _old_attempt()
    app.config["REDIS_URL"] = redis_url
    try:
        job = jobs.enqueue("app.jobs.housekeeping.purge_login_attempts", queue="low", job_id="purge-test")
        assert _count() == 1  # queued, not run yet
        q = jobs.get_queue("low")
        assert q.count == 1
        SimpleWorker([q], connection=q.connection, serializer=JSONSerializer).work(burst=True)
        job.refresh()
        assert job.get_status() == "finished" and job.return_value() == 1
        assert _count() == 0
    finally:
        app.config["REDIS_URL"] = None


@pytest.mark.no_db_rollback
def test_worker_script_serves_the_queues(app, redis_url):
    """worker.py as operators run it: a separate process, the real queue and database."""
    _old_attempt()
    try:
        app.config["REDIS_URL"] = redis_url
        jobs.enqueue("app.jobs.housekeeping.purge_login_attempts", queue="default")
        env = {**os.environ, "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"], "REDIS_URL": redis_url,
               "SECRET_KEY": secrets.token_urlsafe(48)}  # the suite's own key is public: refused
        proc = subprocess.run([sys.executable, "worker.py", "--burst"], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
        assert _count() == 0
        assert Queue("default", connection=jobs.redis_connection()).count == 0
    finally:
        app.config["REDIS_URL"] = None
        db.session.execute(db.delete(LoginAttempt))
        db.session.commit()


def test_worker_without_redis_explains_itself():
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    env["DATABASE_URL"] = "sqlite:///:memory:"
    env["SECRET_KEY"] = secrets.token_urlsafe(48)
    proc = subprocess.run([sys.executable, "worker.py"], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 1 and "REDIS_URL не задан" in proc.stdout


def test_scheduler_enqueues_due_jobs_once_and_a_worker_runs_them(app, redis_url):
    from app.jobs import schedule

    _old_attempt()
    app.config["REDIS_URL"] = redis_url
    try:
        last: dict = {}
        assert len(schedule.tick(last, now=1000.0)) == len(schedule.PERIODIC)
        assert schedule.tick(last, now=1010.0) == []  # nothing due ten seconds later
        assert schedule.tick({}, now=1010.0) == []  # a second scheduler does not hold the lock
        assert schedule.tick(last, now=1031.0) == ["app.jobs.intake.sweep"]
        q = jobs.get_queue("low")
        SimpleWorker([q], connection=q.connection, serializer=JSONSerializer).work(burst=True)
        assert _count() == 0  # the JSON-serialised periodic purge ran
    finally:
        app.config["REDIS_URL"] = None


def _failing_job(*args):
    raise RuntimeError("the job broke")


def test_an_in_process_job_failure_is_logged_with_its_arguments_and_counted(app, caplog):
    path = "tests.test_jobs._failing_job"
    before = jobs.failures[path]
    jobs.enqueue_after_commit(db.session(), path, 7, "x", queue="low", inline=True)
    with caplog.at_level("ERROR", logger="app.jobs"):
        db.session.commit()  # the commit itself succeeds: the failure is the job's
    assert jobs.failures[path] == before + 1
    assert f"{path}(7, 'x')" in caplog.text and "the job broke" in caplog.text


def test_the_after_commit_hook_is_registered_once_by_the_factory(app):
    from sqlalchemy import event
    from sqlalchemy.orm import Session

    jobs.register()  # a second factory call changes nothing
    assert event.contains(Session, "after_commit", jobs._run_pending)
