"""The run's context mode is really in force. scripts/test runs the modules
marked runs_in_token_mode twice: as deployed (token mode off) and with
conftest's --token-mode, which switches odl.settings require_context_token
on in the session's database. This module runs in both, so that a token run
that is not in token mode fails here instead of passing unnoticed."""

from __future__ import annotations

import psycopg
import pytest

from conftest import login_service, server_conninfo
from odl_client import ContextError, OdlPool

pytestmark = pytest.mark.runs_in_token_mode


def test_the_database_is_in_the_runs_mode(dbname, token_mode):
    with psycopg.connect(server_conninfo(dbname=dbname)) as su:
        value = su.execute(
            "select value from odl.settings where name = 'require_context_token'"
        ).fetchone()[0]
    assert value == ("on" if token_mode else "off")
    assert login_service(dbname).on is token_mode


def test_an_application_without_a_token_gets_a_context_only_outside_token_mode(dbname, token_mode, access):
    with psycopg.connect(server_conninfo(dbname=dbname, user="odl_app")) as app:
        if token_mode:
            with pytest.raises(psycopg.Error) as refused:
                app.execute("select odl.odl_set_context(%s, %s)", (access.tenant_id, access.user_id))
            assert refused.value.sqlstate == "ODC07"
        else:
            app.execute("select odl.odl_set_context(%s, %s)", (access.tenant_id, access.user_id))
            assert app.execute("select odl.odl_current_user_id()").fetchone()[0] == access.user_id


def test_the_clients_pool_needs_the_login_services_tokens_only_in_token_mode(dbname, token_mode, access,
                                                                             login_tokens):
    assert (login_tokens is not None) is token_mode
    conninfo = server_conninfo(dbname=dbname, user="odl_app")
    with OdlPool(conninfo, max_size=1) as bare:
        if token_mode:
            with pytest.raises(ContextError) as refused:
                with bare.transaction(access.tenant_id, access.user_id):
                    pass
            assert refused.value.sqlstate == "ODC07"
        else:
            with bare.transaction(access.tenant_id, access.user_id) as odl:
                assert odl.connection.execute("select odl.odl_current_user_id()").fetchone()[0] == access.user_id
    with OdlPool(conninfo, max_size=1, tokens=login_tokens) as pool:
        with pool.transaction(access.tenant_id, access.user_id) as odl:
            assert odl.connection.execute("select odl.odl_current_user_id()").fetchone()[0] == access.user_id


def test_the_helpers_sessions_act_as_their_user(access):
    with access.session(access.admin_id) as conn:
        assert conn.execute("select odl.odl_current_user_id()").fetchone()[0] == access.admin_id
