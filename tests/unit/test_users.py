"""Staff rules: unique usernames, the last admin, sessions that logout and password changes revoke."""
import pytest

from app.services import users
from app.services.errors import (DuplicateValue, LastAdmin, PreconditionFailed, RateLimited,
                                 Unauthorized, ValidationFailed)
from tests.unit.builders import add_user, read, run


def test_password_is_stored_only_as_a_hash(memory_store):
    user = add_user(memory_store, password="correct horse")
    stored = read(memory_store, lambda uow: uow.users.get(user["id"]))
    assert "password" not in stored
    assert "correct horse" not in str(stored)
    assert users.verify_credentials(stored, "correct horse")
    assert not users.verify_credentials(stored, "wrong horse")


def test_short_password_is_refused(memory_store):
    with pytest.raises(ValidationFailed) as err:
        add_user(memory_store, password="short")
    assert "password" in err.value.errors


def test_usernames_are_unique_case_insensitively(memory_store):
    add_user(memory_store, username="Ada")
    with pytest.raises(DuplicateValue) as err:
        add_user(memory_store, username="ada")
    assert err.value.code == "duplicate_username"


def test_renaming_onto_a_taken_username_is_refused(memory_store):
    add_user(memory_store, username="ada")
    bob = add_user(memory_store, username="bob")
    with pytest.raises(DuplicateValue):
        run(memory_store, lambda uow: users.update_user(uow, bob["id"], {"username": "ADA"}))


def test_last_admin_cannot_be_demoted(memory_store):
    admin = add_user(memory_store, role="admin")
    with pytest.raises(LastAdmin):
        run(memory_store, lambda uow: users.update_user(uow, admin["id"], {"role": "manager"}))
    assert read(memory_store, lambda uow: uow.users.get(admin["id"]))["role"] == "admin"


def test_last_admin_cannot_be_deactivated(memory_store):
    admin = add_user(memory_store, role="admin")
    with pytest.raises(LastAdmin):
        run(memory_store, lambda uow: users.deactivate_user(uow, admin["id"]))


def test_an_inactive_admin_does_not_count_as_another_admin(memory_store):
    admin = add_user(memory_store, role="admin")
    add_user(memory_store, role="admin", active=False)
    with pytest.raises(LastAdmin):
        run(memory_store, lambda uow: users.update_user(uow, admin["id"], {"role": "clerk"}))


def test_an_admin_may_be_demoted_while_another_remains(memory_store):
    first = add_user(memory_store, role="admin")
    add_user(memory_store, role="admin")
    demoted = run(memory_store, lambda uow: users.update_user(uow, first["id"], {"role": "viewer"}))
    assert demoted["role"] == "viewer" and demoted["version"] == 2


def test_stale_version_is_refused(memory_store):
    clerk = add_user(memory_store)
    with pytest.raises(PreconditionFailed):
        run(memory_store, lambda uow: users.update_user(uow, clerk["id"], {"email": "c@x.org"}, 5))


def _sign_in(store, user):
    return run(store, lambda uow: users.start_session(uow, user))


def _check(store, session, user):
    return read(store, lambda uow: users.active_session(uow, session["id"], user["id"]))


def test_deactivating_a_user_revokes_every_session(memory_store):
    add_user(memory_store, role="admin")
    clerk = add_user(memory_store)
    sessions = [_sign_in(memory_store, clerk) for _ in range(2)]
    run(memory_store, lambda uow: users.deactivate_user(uow, clerk["id"]))
    for session in sessions:
        with pytest.raises(Unauthorized):
            _check(memory_store, session, clerk)


def test_password_change_keeps_this_session_and_ends_the_others(memory_store):
    clerk = add_user(memory_store, password="old-password")
    here, elsewhere = _sign_in(memory_store, clerk), _sign_in(memory_store, clerk)
    run(memory_store, lambda uow: users.change_password(uow, clerk["id"], here["id"],
                                                        "old-password", "new-password"))
    _check(memory_store, here, clerk)
    with pytest.raises(Unauthorized):
        _check(memory_store, elsewhere, clerk)
    stored = read(memory_store, lambda uow: uow.users.get(clerk["id"]))
    assert users.verify_credentials(stored, "new-password")
    assert not users.verify_credentials(stored, "old-password")


def test_password_change_needs_the_current_password(memory_store):
    clerk = add_user(memory_store, password="old-password")
    here = _sign_in(memory_store, clerk)
    with pytest.raises(ValidationFailed) as err:
        run(memory_store, lambda uow: users.change_password(uow, clerk["id"], here["id"],
                                                            "guess-guess", "new-password"))
    assert "current_password" in err.value.errors


def test_a_refresh_id_is_used_once(memory_store):
    clerk = add_user(memory_store)
    session = _sign_in(memory_store, clerk)
    first = session["refresh_id"]
    rotated, _ = run(memory_store, lambda uow: users.rotate_refresh(uow, session["id"], first,
                                                                    clerk["id"]))
    assert rotated["refresh_id"] != first
    # used again: nothing is handed out and the session is revoked, for every token it issued
    assert run(memory_store, lambda uow: users.rotate_refresh(uow, session["id"], first,
                                                              clerk["id"])) == (None, None)
    for refresh_id in (first, rotated["refresh_id"]):
        with pytest.raises(Unauthorized):
            run(memory_store, lambda uow: users.rotate_refresh(uow, session["id"], refresh_id,
                                                               clerk["id"]))


def test_ended_session_is_refused(memory_store):
    clerk = add_user(memory_store)
    session = _sign_in(memory_store, clerk)
    run(memory_store, lambda uow: users.end_session(uow, session["id"]))
    with pytest.raises(Unauthorized):
        _check(memory_store, session, clerk)


def test_inactive_user_cannot_sign_in(memory_store):
    add_user(memory_store, role="admin")
    clerk = add_user(memory_store, password="long-enough-1")
    run(memory_store, lambda uow: users.deactivate_user(uow, clerk["id"]))
    stored = read(memory_store, lambda uow: uow.users.get(clerk["id"]))
    assert not users.verify_credentials(stored, "long-enough-1")


def _fail(store, username, address, now):
    run(store, lambda uow: users.record_failed_login(uow, username, address, now=now))


def _allowed(store, username, address, now):
    read(store, lambda uow: users.check_login_allowed(uow, username, address, 10, now=now))


def test_ten_failures_in_a_minute_lock_the_username_from_that_address(memory_store):
    for i in range(10):
        _allowed(memory_store, "ada", "10.0.0.1", 1000.0 + i)
        _fail(memory_store, "ada", "10.0.0.1", 1000.0 + i)
    with pytest.raises(RateLimited) as err:
        _allowed(memory_store, "ADA", "10.0.0.1", 1010.0)
    assert 1 <= err.value.retry_after <= 60
    _allowed(memory_store, "ada", "10.0.0.2", 1010.0)      # another address
    _allowed(memory_store, "bob", "10.0.0.1", 1010.0)      # another username
    _allowed(memory_store, "ada", "10.0.0.1", 1061.0)      # the minute is over


def test_old_failures_fall_out_of_the_window(memory_store):
    for i in range(9):
        _fail(memory_store, "ada", "a", 1000.0 + i)
    _fail(memory_store, "ada", "a", 1070.0)
    _allowed(memory_store, "ada", "a", 1071.0)


def test_signing_in_forgets_the_users_revoked_and_expired_sessions(memory_store):
    clerk, other = add_user(memory_store), add_user(memory_store)
    live = _sign_in(memory_store, clerk)
    ended = _sign_in(memory_store, clerk)
    run(memory_store, lambda uow: users.end_session(uow, ended["id"]))
    stale = run(memory_store, lambda uow: uow.sessions.add({
        "id": "stale-session", "user_id": clerk["id"], "refresh_id": "r", "revoked": False,
        "created_at": "2020-01-01T00:00:00Z", "updated_at": "2020-01-01T00:00:00Z"}))
    someone_elses = _sign_in(memory_store, other)
    fresh = run(memory_store, lambda uow: users.start_session(uow, clerk, refresh_ttl=7 * 24 * 3600))
    with memory_store.reader() as uow:
        assert [s["id"] for s in uow.sessions.for_user(clerk["id"])] == [live["id"], fresh["id"]]
        assert uow.sessions.get(stale["id"]) is None and uow.sessions.get(ended["id"]) is None
        assert uow.sessions.get(someone_elses["id"]) is not None


def test_a_failed_login_forgets_attempt_records_older_than_the_window(memory_store):
    start = 1_800_000_000.0
    run(memory_store, lambda uow: users.record_failed_login(uow, "guess-1", "10.0.0.9", now=start))
    run(memory_store, lambda uow: users.record_failed_login(uow, "guess-2", "10.0.0.9", now=start + 30))
    with memory_store.reader() as uow:
        assert uow.login_attempts.count() == 2   # both still inside the minute
    run(memory_store, lambda uow: users.record_failed_login(uow, "guess-3", "10.0.0.9", now=start + 75))
    with memory_store.reader() as uow:
        assert uow.login_attempts.count() == 2   # guess-1's last failure left the window
    run(memory_store, lambda uow: users.record_failed_login(uow, "guess-4", "10.0.0.9", now=start + 200))
    with memory_store.reader() as uow:
        assert uow.login_attempts.count() == 1
    for attempt in range(4):  # the limit itself still holds inside the window
        run(memory_store, lambda uow: users.record_failed_login(uow, "guess-4", "10.0.0.9",
                                                                now=start + 201 + attempt))
    with pytest.raises(RateLimited):
        read(memory_store, lambda uow: users.check_login_allowed(uow, "guess-4", "10.0.0.9", 5,
                                                                 now=start + 206))
