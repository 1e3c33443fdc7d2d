"""The first admin: made on an empty accounts table, once, however many processes start."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import Engine

from idri.auth import AccountRole, AccountStore

from .conftest import Clock


def test_an_empty_table_gets_an_admin_whose_token_works(store: AccountStore) -> None:
    token = store.ensure_first_admin()
    assert token is not None
    admin = store.authenticate(token)
    assert admin is not None and (admin.name, admin.role) == ("admin", AccountRole.ADMIN)


def test_the_first_admin_is_made_only_once(store: AccountStore) -> None:
    assert store.ensure_first_admin() is not None
    assert store.ensure_first_admin() is None
    assert store.ensure_first_admin("root") is None
    assert [a.name for a in store.list()] == ["admin"]


def test_no_first_admin_where_any_account_exists(store: AccountStore) -> None:
    store.add("setup", "alice", AccountRole.BUREAU_OFFICER)
    store.disable("setup", "alice")
    assert store.ensure_first_admin() is None
    assert [a.name for a in store.list()] == ["alice"]


def test_processes_starting_together_make_one_admin(engine: Engine, clock: Clock) -> None:
    stores = [AccountStore(engine, now=clock) for _ in range(4)]
    names = ["admin", "root", "admin", "boss"]
    with ThreadPoolExecutor(max_workers=4) as pool:
        tokens = list(pool.map(lambda s, n: s.ensure_first_admin(n), stores, names))
    assert len([t for t in tokens if t is not None]) == 1
    assert len(stores[0].list()) == 1
