-- The schema odl as a whole: roles and their attributes, ownership, the
-- catalog-wide rules of STYLE.md (pinned search_path, comments) and the
-- exact privileges of odl_app. Per-area shape lives in the area's own file.
begin;
select plan(49);

-- Schema.

select has_schema('odl');
select schema_owner_is('odl', 'odl_owner');
select schema_privs_are('odl', 'odl_app', array['USAGE'], 'odl_app may use schema odl but not create in it');
select ok(
    not exists (
        select
        from pg_catalog.pg_namespace as n
        cross join lateral pg_catalog.aclexplode(n.nspacl) as a
        where n.nspname = 'odl' and a.grantee = 0
    ),
    'PUBLIC holds no privilege on schema odl'
);

-- Roles and their attributes.

select has_role('odl_owner');
select has_role('odl_app');
select has_role('odl_analyst');
select has_role('odl_admin');
select has_user('odl_app', 'odl_app can log in');
select isnt_superuser('odl_app');
select results_eq(
    $$
        select rolname::text collate "default", rolcanlogin, rolsuper, rolbypassrls, rolcreaterole, rolcreatedb
        from pg_catalog.pg_roles
        where rolname in ('odl_owner', 'odl_app', 'odl_analyst', 'odl_admin')
        order by rolname
    $$,
    $$
        values
        ('odl_admin', false, false, false, false, false),
        ('odl_analyst', false, false, false, false, false),
        ('odl_app', true, false, false, false, false),
        ('odl_owner', false, false, false, false, false)
    $$,
    'only odl_app logs in; no odl role is superuser, bypasses RLS or creates roles or databases'
);
select isnt_member_of('odl_owner', array['odl_app'], 'odl_app is not a member of odl_owner');
select is_empty(
    $$
        select r.rolname
        from pg_catalog.pg_roles as r
        where r.rolname in ('odl_owner', 'odl_admin', 'odl_analyst')
            and pg_catalog.pg_has_role('odl_app', r.oid, 'member')
    $$,
    'odl_app inherits no other odl role, directly or indirectly'
);

-- The objects, pinned so that the catalog-wide checks below cannot pass on
-- an empty schema.

select tables_are(
    'odl',
    array[
        'error_codes', 'session_contexts', 'python_modules', 'limits', 'identity_keys', 'settings', 'login_bindings',
        'classification_levels', 'rbac_rights', 'rbac_sections', 'rbac_section_keys', 'rbac_classified_parts',
        'rbac_roles', 'rbac_permission_sets', 'rbac_set_rights', 'rbac_role_sets', 'rbac_role_overrides',
        'rbac_agents', 'rbac_agent_roles', 'rbac_approval_sections', 'project_phases', 'rbac_phase_gates',
        'rbac_actions', 'hierarchy_levels',
        'tenants', 'users', 'projects',
        'json_schemas', 'odl_documents', 'odl_document_versions', 'odl_patches',
        'audit_keys', 'audit_heads', 'audit_events', 'audit_partitions', 'audit_digests',
        'nodes', 'rbac_assignments', 'change_requests', 'approvals',
        'document_projectors', 'document_instances',
        'procurement_actions', 'procurement_transitions', 'suppliers', 'rfqs', 'rfq_lines', 'bids', 'bid_lines',
        'purchase_orders', 'po_lines', 'shipments', 'receipts', 'stock_balances', 'stock_moves', 'serials',
        'warranty_claims', 'returns',
        'graph_nodes', 'graph_edges',
        'epcis_status_steps', 'epcis_event_ids', 'epcis_events', 'epcis_event_epcs', 'epcis_event_biz_transactions',
        'epcis_error_declarations', 'epcis_corrective_events',
        'component_statuses', 'component_requirements', 'component_transitions', 'component_index',
        'plans', 'subscriptions', 'psu_budgets', 'psu_reservations', 'psu_ledger', 'marketplace_flows', 'fee_schedule',
        'marketplace_orders', 'marketplace_order_shares', 'governance_event_names', 'escrows', 'escrow_milestones',
        'escrow_disputes', 'tool_call_traces',
        'ai_sessions', 'ai_messages', 'cag_entries', 'cag_dependencies',
        'trace_links', 'stock_move_serials',
        'audit_anchors', 'audit_retired_partitions', 'log_retention_policies', 'function_timing_samples',
        'backup_runs',
        'tenant_departures',
        'subscription_changes', 'invoices', 'billing_items', 'invoice_lines',
        'embedding_models', 'chunks', 'chunk_recuts', 'chunk_embeddings', 'search_plans',
        'psu_ledger_keys',
        'document_blobs'
    ]
    -- pg_partman names audit_events' and ai_messages' monthly partitions after the month.
    || array(
        select c.relname from pg_catalog.pg_class as c
        where c.relnamespace = 'odl'::regnamespace and c.relispartition and c.relkind = 'r'
    )
);
select views_are(
    'odl',
    array[
        'current_context', 'project_summary', 'audit_trail', 'readable_documents', 'readable_instances',
        'analyst_projects', 'analyst_patches', 'analyst_patches_daily', 'analyst_change_requests',
        'analyst_instance_counts', 'analyst_audit_actions',
        'analyst_open_warranty_claims', 'analyst_order_lines', 'analyst_stock',
        'readable_components', 'analyst_component_instances',
        'analyst_psu_usage', 'analyst_psu_budgets', 'analyst_escrows', 'analyst_tool_costs',
        'analyst_ai_sessions', 'analyst_cag_entries',
        'analyst_serials', 'analyst_received_not_installed', 'analyst_approved_not_ordered',
        'ops_function_latency', 'ops_log_partitions', 'ops_backups',
        'analyst_ai_sessions', 'analyst_cag_entries', 'analyst_invoices'
    ]
);
select materialized_views_are('odl', array['rbac_role_rights']);
select functions_are(
    'odl',
    array[
        'adopt_objects', 'python_boot', 'python_install', 'check_limit', 'odl_limits', 'check_json',
        'limit_values',
        'odl_ulid', 'odl_ulid_time',
        'set_session_context', 'odl_clear_context', 'require_tenant',
        'make_identity_key', 'identity_mac', 'odl_issue_context_token', 'odl_bind_login', 'odl_unbind_login',
        'odl_login_bindings', 'odl_my_binding', 'odl_find_user',
        'odl_current_tenant_id', 'odl_current_user_id', 'require_context', 'odl_set_context',
        'rights_normalized', 'load_access_policy',
        'odl_create_tenant', 'odl_create_user', 'odl_create_project',
        'odl_canonical_json', 'odl_content_hash', 'canonical_text',
        'odl_security_audit',
        'raise_failure', 'document_write', 'document_patch', 'document_replay',
        'patch_cached_document', 'check_new_document', 'keep_cached_document', 'document_cache_stats',
        'json_schema_problems', 'sandbox_call', 'untrusted_schema_call',
        'register_json_schema', 'raise_version_conflict', 'write_patch', 'submit_patch',
        'odl_create_document', 'odl_validate_document', 'document_findings',
        'odl_apply_patch', 'document_at', 'odl_get_document', 'readable_project',
        'odl_document_heads', 'odl_document_history', 'odl_revert_document', 'odl_jsonpatch_apply',
        'odl_jsonpatch_inverse', 'engine_patch',
        'propose_patch', 'stale_pointers', 'odl_set_project_phase', 'odl_approve_change', 'odl_change_requests',
        'reader_scope', 'pointer_reach', 'redact_patch', 'pointers_readable',
        'scope_of', 'user_roles', 'role_rights', 'user_rights', 'patch_pointers', 'pointer_steps', 'sections_of',
        'authorize_write',
        'require_right', 'is_tenant_admin', 'require_node', 'jsonb_without', 'redact',
        'odl_create_node', 'odl_attach_project', 'require_assigner', 'odl_assign_role', 'odl_revoke_role',
        'odl_effective_rights', 'odl_explain_access', 'odl_check_action',
        'odl_audit_rotate_key', 'audit_hmac', 'audit_sign', 'audit_refuse_change', 'audit_protect_partitions',
        'audit_maintenance', 'audit_event_id', 'audit_write', 'audit_append', 'audit_append_as', 'odl_audit_log',
        'audit_digest_message', 'audit_head_digest', 'odl_audit_digest', 'odl_audit_export_digests',
        'audit_first_bad_signature', 'audit_classify', 'audit_digest_holds', 'audit_verify_chain', 'odl_audit_verify',
        'odl_audit_since',
        'run_projectors', 'project_instances', 'rebuild_instances', 'version_feed_order', 'odl_changes_since',
        'change_feed_horizon',
        'odl_change_channel', 'notify_version', 'notify_rights', 'notify_policy', 'odl_rights_stable_until',
        'audit_export_status', 'audit_partition_status', 'odl_settings', 'odl_health',
        'procurement_authorize', 'procurement_action_for', 'procurement_missing', 'prices_visible',
        'odl_readable_project_sections',
        'procurement_require_approved_supplier', 'procurement_check_lines', 'procurement_audit_move',
        'procurement_authorize_move', 'procurement_require_state',
        'procurement_check_transition', 'rfq_lines_award_once', 'rfq_lines_add_ordered', 'po_lines_count_ordered',
        'purchase_orders_release', 'receipts_count_received', 'receipts_refuse_change', 'returns_count_returned',
        'stock_moves_apply',
        'odl_create_supplier', 'odl_set_supplier_status', 'odl_create_rfq', 'odl_set_rfq_status', 'odl_issue_rfq',
        'odl_submit_bid', 'odl_award_rfq', 'odl_rfq_bids', 'odl_issue_po', 'odl_set_po_status', 'odl_po_lines',
        'odl_ship', 'odl_set_shipment_status', 'odl_receive', 'odl_move_stock', 'odl_open_warranty_claim',
        'odl_set_claim_status', 'odl_open_return', 'odl_set_return_status',
        'graph_hierarchy_tree', 'graph_node_rows', 'graph_elements', 'graph_edge_rows', 'project_graph', 'graph_sync',
        'rebuild_graph',
        'graph_scope', 'graph_walk', 'graph_hits', 'graph_reach', 'odl_graph_neighbours', 'odl_graph_upstream',
        'odl_graph_downstream', 'odl_graph_path', 'odl_graph_components',
        'epcis_time', 'epcis_scalar', 'gs1_check_digit', 'epcis_digital_link', 'epcis_uri',
        'epcis_vocab', 'epcis_prefixes', 'epcis_extension', 'epcis_extensions', 'epcis_members', 'epcis_prehash',
        'odl_epcis_event_hash', 'epcis_event_id', 'epcis_refuse', 'epcis_check_event', 'odl_capture_epcis',
        'epcis_readable_projects',
        'odl_epcis_trace', 'odl_epcis_where', 'odl_epcis_document', 'odl_epcis_status_step', 'epcis_maintenance',
        'component_transition_refusal', 'component_write_roles', 'component_rows', 'component_pointer',
        'project_components', 'rebuild_components', 'odl_set_component_status',
        'psu_expire_held', 'psu_lock_budget', 'psu_soft_limits', 'psu_take', 'odl_psu_charge', 'odl_psu_reserve',
        'odl_psu_settle', 'odl_psu_expire', 'odl_psu_balance', 'require_tenant_admin', 'odl_psu_grant', 'psu_renew',
        'odl_subscribe',
        'odl_fee_shares', 'odl_create_order', 'escrow_apply', 'odl_governance_event', 'odl_escrow_apply_event',
        'odl_open_escrow', 'odl_open_dispute', 'odl_resolve_dispute', 'odl_record_tool_call', 'trace_maintenance',
        'require_ai_session', 'odl_ai_open_session', 'append_ai_message', 'odl_ai_append_message',
        'odl_ai_store_summary', 'odl_ai_messages', 'ai_maintenance', 'odl_ai_context',
        'pointer_content_hash', 'pointer_ancestors', 'cag_request', 'odl_cag_put', 'odl_cag_get',
        'project_cag_invalidation', 'cag_invalidate',
        'trace_readable_projects', 'trace_component_gtin', 'trace_require_gtin', 'trace_link', 'trace_event',
        'trace_location_uri', 'stock_moves_index_serials', 'odl_trace_ship', 'odl_trace_receive',
        'odl_trace_install', 'odl_trace_where', 'odl_trace_history', 'odl_trace_lot_installed',
        'odl_trace_received_not_installed',
        'odl_trace_approved_not_ordered', 'odl_trace_open_claims',
        'audit_anchor_message', 'audit_chain_base', 'audit_anchor_month', 'log_partitions', 'log_partition_status',
        'log_retention', 'log_maintenance', 'function_timings_source', 'function_timings_record',
        'odl_sample_function_timings',
        'function_latency', 'odl_record_backup', 'backup_status',
        'odl_region', 'region_tenant_guard', 'region_guard', 'region_home_check', 'region_setting_guard',
        'odl_region_freeze', 'odl_region_unfreeze', 'region_tenant_counts', 'odl_region_report',
        'ai_session_max_age', 'ai_session_guard', 'odl_ai_close_session', 'ai_retention', 'cag_purge',
        'cycle_interval', 'cycle_amount', 'billing_catch_up', 'billing_maintenance', 'odl_change_plan',
        'odl_issue_invoice', 'odl_invoice_lines', 'odl_subscription',
        'chunk_text', 'chunk_body', 'chunk_cut', 'chunk_is_map', 'chunk_split', 'chunk_scopes', 'chunk_sync',
        'chunk_sync_all', 'project_chunks', 'chunk_recut', 'rebuild_chunks', 'embedding_model', 'search_readable',
        'odl_declare_embedding_model',
        'odl_embed_claim', 'odl_embed_store', 'odl_embed_status', 'search_plan_for', 'refresh_search_plans',
        'search_query', 'odl_search_plan', 'odl_search',
        'psu_ledger_key_write', 'psu_ledger_maintenance', 'psu_ledger_month_hold', 'psu_ledger_retire_keys',
        'epcis_retire_month', 'region_write_guard',
        'document_resolved', 'document_put_back', 'document_json', 'store_document_blobs', 'forget_cached_document',
        'odl_set_external', 'blob_purge'
    ]
);
select domains_are('odl', array['ulid']);

-- Ownership: no odl object may belong to the deployer (a superuser) but
-- the PL/Python modules, which run as whoever calls them. The audit ledger
-- belongs to odl_ledger and its keys to odl_signer, so that odl_owner,
-- which runs the document API, cannot rewrite it.

create function pg_temp.expected_owner(name text, routine boolean)
returns regrole
language sql
immutable
as $$
    select case
        when routine and name in ('odl_audit_rotate_key', 'audit_hmac', 'audit_sign') then 'odl_signer'
        when routine and name in (
            'audit_refuse_change', 'audit_protect_partitions', 'audit_maintenance', 'audit_event_id', 'audit_write',
            'audit_digest_message', 'audit_head_digest', 'odl_audit_export_digests', 'audit_first_bad_signature',
            'audit_classify', 'audit_digest_holds', 'audit_verify_chain', 'audit_export_status',
            'audit_partition_status', 'audit_anchor_message', 'audit_chain_base', 'audit_anchor_month'
        ) then 'odl_ledger'
        when not routine and ltrim(name, '_') ~ '^audit_keys' then 'odl_signer'
        when not routine and ltrim(name, '_') ~ '^audit_(events|heads|partitions|digests|anchors|retired_partitions)'
            then 'odl_ledger'
        when not routine and ltrim(name, '_') ~ '^python_modules' then current_user::regrole
        else 'odl_owner'
    end::regrole
$$;
select is_empty(
    $$
        select 'schema ' || n.nspname
        from pg_catalog.pg_namespace as n
        where n.nspname = 'odl' and n.nspowner <> 'odl_owner'::regrole
        union all
        select 'relation ' || c.oid::regclass::text
        from pg_catalog.pg_class as c
        where c.relnamespace = 'odl'::regnamespace and c.relowner <> pg_temp.expected_owner(c.relname, false)
        union all
        select 'routine ' || p.oid::regprocedure::text
        from pg_catalog.pg_proc as p
        where p.pronamespace = 'odl'::regnamespace and p.proowner <> pg_temp.expected_owner(p.proname, true)
        union all
        select 'type ' || t.oid::regtype::text
        from pg_catalog.pg_type as t
        where t.typnamespace = 'odl'::regnamespace and t.typowner <> pg_temp.expected_owner(t.typname, false)
    $$,
    'every object in schema odl is owned by odl_owner, the audit ledger''s by odl_ledger, its keys by odl_signer, '
    'the PL/Python modules by the deployer'
);

-- Catalog-wide rules for routines and relations.

select is_empty(
    $$
        select p.oid::regprocedure::text
        from pg_catalog.pg_proc as p
        where p.pronamespace = 'odl'::regnamespace
            and not coalesce(
                p.proconfig && array['search_path=pg_catalog, odl, pg_temp', 'search_path=pg_catalog, pg_temp'],
                false
            )
            -- Inlined into its callers' queries, which a SET clause forbids;
            -- a SQL invoker function whose body names odl.document_put_back().
            and p.oid <> 'odl.document_resolved(text,jsonb,jsonb)'::regprocedure
    $$,
    'every routine in odl pins search_path = pg_catalog, odl, pg_temp (the audit: pg_catalog, pg_temp), '
    || 'but the inlined odl.document_resolved()'
);
select is_empty(
    $$
        select p.oid::regprocedure::text
        from pg_catalog.pg_proc as p
        where p.pronamespace = 'odl'::regnamespace
            and coalesce(pg_catalog.obj_description(p.oid, 'pg_proc'), '') = ''
    $$,
    'every routine in odl has a comment'
);
select is_empty(
    $$
        select p.oid::regprocedure::text
        from pg_catalog.pg_proc as p
        where p.pronamespace = 'odl'::regnamespace
            and (
                p.proacl is null
                or exists (select from pg_catalog.aclexplode(p.proacl) as a where a.grantee = 0)
            )
    $$,
    'no routine in odl is executable by PUBLIC (a null ACL means PUBLIC may execute)'
);
select is_empty(
    $$
        select c.oid::regclass::text
        from pg_catalog.pg_class as c
        where c.relnamespace = 'odl'::regnamespace
            and c.relkind in ('r', 'p', 'v', 'm')
            and coalesce(pg_catalog.obj_description(c.oid, 'pg_class'), '') = ''
    $$,
    'every table and view in odl has a comment'
);
select is_empty(
    $$
        select con.conrelid::regclass::text || '.' || con.conname
        from pg_catalog.pg_constraint as con
        inner join pg_catalog.pg_class as c on con.conrelid = c.oid
        where c.relnamespace = 'odl'::regnamespace
            and con.contype = 'c'
            and coalesce(pg_catalog.obj_description(con.oid, 'pg_constraint'), '') = ''
    $$,
    'every CHECK constraint on an odl table has a comment'
);

-- odl_app's privileges, all of them: SELECT on the tenant tables (not the
-- document storage nor the change requests), the views and the access
-- policy, which is public by design, and EXECUTE on the odl_ API granted to
-- it. Nothing else.

select set_eq(
    $$
        select c.oid::regclass::text, priv.name
        from pg_catalog.pg_class as c
        cross join (
            values ('SELECT'), ('INSERT'), ('UPDATE'), ('DELETE'), ('TRUNCATE'), ('REFERENCES'), ('TRIGGER')
        ) as priv (name)
        where c.relnamespace = 'odl'::regnamespace
            and c.relkind in ('r', 'p', 'v', 'm', 'f')
            and pg_catalog.has_table_privilege('odl_app', c.oid, priv.name)
        union all
        select p.oid::regprocedure::text, 'EXECUTE'
        from pg_catalog.pg_proc as p
        where p.pronamespace = 'odl'::regnamespace
            and pg_catalog.has_function_privilege('odl_app', p.oid, 'EXECUTE')
    $$,
    $$
        values
        ('odl.tenants', 'SELECT'),
        ('odl.users', 'SELECT'),
        ('odl.projects', 'SELECT'),
        ('odl.project_summary', 'SELECT'),
        ('odl.session_contexts', 'SELECT'),
        ('odl.current_context', 'SELECT'),
        ('odl.nodes', 'SELECT'),
        ('odl.rbac_assignments', 'SELECT'),
        ('odl.approvals', 'SELECT'),
        ('odl.classification_levels', 'SELECT'),
        ('odl.rbac_rights', 'SELECT'),
        ('odl.rbac_sections', 'SELECT'),
        ('odl.rbac_section_keys', 'SELECT'),
        ('odl.rbac_classified_parts', 'SELECT'),
        ('odl.rbac_roles', 'SELECT'),
        ('odl.rbac_permission_sets', 'SELECT'),
        ('odl.rbac_set_rights', 'SELECT'),
        ('odl.rbac_role_sets', 'SELECT'),
        ('odl.rbac_role_overrides', 'SELECT'),
        ('odl.rbac_role_rights', 'SELECT'),
        ('odl.rbac_agents', 'SELECT'),
        ('odl.rbac_agent_roles', 'SELECT'),
        ('odl.rbac_approval_sections', 'SELECT'),
        ('odl.project_phases', 'SELECT'),
        ('odl.rbac_phase_gates', 'SELECT'),
        ('odl.rbac_actions', 'SELECT'),
        ('odl.hierarchy_levels', 'SELECT'),
        ('odl.suppliers', 'SELECT'),
        ('odl.rfqs', 'SELECT'),
        ('odl.rfq_lines', 'SELECT'),
        ('odl.bids', 'SELECT'),
        ('odl.purchase_orders', 'SELECT'),
        ('odl.shipments', 'SELECT'),
        ('odl.receipts', 'SELECT'),
        ('odl.stock_balances', 'SELECT'),
        ('odl.stock_moves', 'SELECT'),
        ('odl.serials', 'SELECT'),
        ('odl.warranty_claims', 'SELECT'),
        ('odl.returns', 'SELECT'),
        ('odl.odl_clear_context()', 'EXECUTE'),
        ('odl.odl_readable_project_sections()', 'EXECUTE'),
        ('odl.odl_ulid()', 'EXECUTE'),
        ('odl.odl_ulid_time(text)', 'EXECUTE'),
        ('odl.odl_limits()', 'EXECUTE'),
        ('odl.odl_current_tenant_id()', 'EXECUTE'),
        ('odl.odl_current_user_id()', 'EXECUTE'),
        ('odl.odl_set_context(text,text)', 'EXECUTE'),
        ('odl.odl_set_context(text,text,text)', 'EXECUTE'),
        ('odl.odl_bind_login(text,text)', 'EXECUTE'),
        ('odl.odl_unbind_login(text)', 'EXECUTE'),
        ('odl.odl_login_bindings()', 'EXECUTE'),
        ('odl.odl_create_project(text,text,text)', 'EXECUTE'),
        ('odl.odl_canonical_json(jsonb)', 'EXECUTE'),
        ('odl.odl_content_hash(jsonb)', 'EXECUTE'),
        ('odl.odl_create_document(text,jsonb)', 'EXECUTE'),
        ('odl.odl_validate_document(jsonb)', 'EXECUTE'),
        ('odl.odl_apply_patch(text,jsonb,integer,text,text[],text,boolean,boolean)', 'EXECUTE'),
        ('odl.odl_get_document(text,integer)', 'EXECUTE'),
        ('odl.odl_set_external(text,text,boolean,integer)', 'EXECUTE'),
        ('odl.odl_document_heads(text)', 'EXECUTE'),
        ('odl.odl_document_history(text)', 'EXECUTE'),
        ('odl.odl_revert_document(text,integer,integer)', 'EXECUTE'),
        ('odl.odl_jsonpatch_apply(jsonb,jsonb)', 'EXECUTE'),
        ('odl.odl_jsonpatch_inverse(jsonb,jsonb)', 'EXECUTE'),
        ('odl.odl_audit_log(text,jsonb)', 'EXECUTE'),
        ('odl.odl_set_project_phase(text,text)', 'EXECUTE'),
        ('odl.odl_approve_change(text,text,text)', 'EXECUTE'),
        ('odl.odl_change_requests(text,text)', 'EXECUTE'),
        ('odl.odl_create_node(text,text,text)', 'EXECUTE'),
        ('odl.odl_attach_project(text,text)', 'EXECUTE'),
        ('odl.odl_assign_role(text,text,text,timestamp with time zone,timestamp with time zone)', 'EXECUTE'),
        ('odl.odl_revoke_role(text,text,text)', 'EXECUTE'),
        ('odl.odl_effective_rights(text,text,text)', 'EXECUTE'),
        ('odl.odl_explain_access(text,text,text)', 'EXECUTE'),
        ('odl.odl_check_action(text,text)', 'EXECUTE'),
        ('odl.odl_changes_since(text,integer)', 'EXECUTE'),
        ('odl.odl_rights_stable_until()', 'EXECUTE'),
        ('odl.odl_change_channel()', 'EXECUTE'),
        ('odl.odl_create_supplier(text,text,text)', 'EXECUTE'),
        ('odl.odl_set_supplier_status(text,text)', 'EXECUTE'),
        ('odl.odl_create_rfq(text,text,jsonb,timestamp with time zone)', 'EXECUTE'),
        ('odl.odl_set_rfq_status(text,text)', 'EXECUTE'),
        ('odl.odl_issue_rfq(text)', 'EXECUTE'),
        ('odl.odl_submit_bid(text,text,text,jsonb,text,timestamp with time zone)', 'EXECUTE'),
        ('odl.odl_award_rfq(text,jsonb)', 'EXECUTE'),
        ('odl.odl_rfq_bids(text)', 'EXECUTE'),
        ('odl.odl_issue_po(text,text,jsonb,text,text)', 'EXECUTE'),
        ('odl.odl_set_po_status(text,text)', 'EXECUTE'),
        ('odl.odl_po_lines(text)', 'EXECUTE'),
        ('odl.odl_ship(text,text,text)', 'EXECUTE'),
        ('odl.odl_set_shipment_status(text,text)', 'EXECUTE'),
        ('odl.odl_receive(text,numeric,text,text,text[],text)', 'EXECUTE'),
        ('odl.odl_move_stock(text,text,numeric,text,text,text,text,text,text[])', 'EXECUTE'),
        ('odl.odl_open_warranty_claim(text,text,text,text,text)', 'EXECUTE'),
        ('odl.odl_set_claim_status(text,text)', 'EXECUTE'),
        ('odl.odl_open_return(text,numeric,text,text,text,text,text[])', 'EXECUTE'),
        ('odl.odl_set_return_status(text,text,text)', 'EXECUTE'),
        ('odl.odl_graph_neighbours(text,text,text[])', 'EXECUTE'),
        ('odl.odl_graph_upstream(text,text,text[],integer,integer)', 'EXECUTE'),
        ('odl.odl_graph_downstream(text,text,text[],integer,integer)', 'EXECUTE'),
        ('odl.odl_graph_path(text,text,text,text[],integer,integer)', 'EXECUTE'),
        ('odl.odl_graph_components(text,text[],integer,integer)', 'EXECUTE'),
        ('odl.odl_declare_embedding_model(text,integer)', 'EXECUTE'),
        ('odl.odl_embed_claim(integer,interval)', 'EXECUTE'),
        ('odl.odl_embed_store(text,text[],text[],text[],real[])', 'EXECUTE'),
        ('odl.odl_embed_status()', 'EXECUTE'),
        ('odl.odl_search_plan(text)', 'EXECUTE'),
        ('odl.odl_search(real[],text,integer,text[])', 'EXECUTE'),
        ('odl.odl_epcis_event_hash(jsonb,jsonb)', 'EXECUTE'),
        ('odl.odl_capture_epcis(text,jsonb)', 'EXECUTE'),
        ('odl.odl_epcis_trace(text)', 'EXECUTE'),
        ('odl.odl_epcis_where(text)', 'EXECUTE'),
        ('odl.odl_epcis_document(text,text)', 'EXECUTE'),
        ('odl.odl_epcis_status_step(text)', 'EXECUTE'),
        ('odl.odl_set_component_status(text,text,text,integer,text,boolean)', 'EXECUTE'),
        ('odl.odl_psu_charge(bigint,text,text,text)', 'EXECUTE'),
        ('odl.odl_psu_reserve(bigint,text,interval,text,text)', 'EXECUTE'),
        ('odl.odl_psu_settle(text,bigint)', 'EXECUTE'),
        ('odl.odl_psu_expire()', 'EXECUTE'),
        ('odl.odl_psu_balance()', 'EXECUTE'),
        ('odl.odl_psu_grant(bigint,text,timestamp with time zone,timestamp with time zone)', 'EXECUTE'),
        ('odl.odl_subscribe(text,integer,text,timestamp with time zone)', 'EXECUTE'),
        ('odl.odl_fee_shares(text,bigint)', 'EXECUTE'),
        ('odl.odl_create_order(text,text,text,bigint,bigint)', 'EXECUTE'),
        ('odl.odl_governance_event(text,text,jsonb)', 'EXECUTE'),
        ('odl.odl_escrow_apply_event(bigint)', 'EXECUTE'),
        ('odl.odl_open_escrow(text,jsonb)', 'EXECUTE'),
        ('odl.odl_open_dispute(text,text,bigint)', 'EXECUTE'),
        ('odl.odl_resolve_dispute(text,text)', 'EXECUTE'),
        (
            'odl.odl_record_tool_call(text,text,text,timestamp with time zone,timestamp with time zone,bigint,'
            || 'integer,integer,text,text,text,text,boolean,text)',
            'EXECUTE'
        ),
        ('odl.odl_ai_open_session(text,text,integer,text)', 'EXECUTE'),
        ('odl.odl_ai_append_message(text,text,text,integer,jsonb,text)', 'EXECUTE'),
        ('odl.odl_ai_store_summary(text,integer,text,integer)', 'EXECUTE'),
        ('odl.odl_ai_messages(text,integer)', 'EXECUTE'),
        ('odl.odl_ai_context(text,integer)', 'EXECUTE'),
        ('odl.odl_cag_put(text,text,text,text,text,jsonb,text,jsonb,interval)', 'EXECUTE'),
        ('odl.odl_cag_get(text,text,text,text,text,jsonb,text)', 'EXECUTE'),
        ('odl.odl_trace_ship(text,text,timestamp with time zone,text,text)', 'EXECUTE'),
        ('odl.odl_trace_receive(text,numeric,text,text,text[],text,timestamp with time zone,text)', 'EXECUTE'),
        ('odl.odl_trace_install(text,text,text[],text,text,timestamp with time zone,text)', 'EXECUTE'),
        ('odl.odl_trace_where(text,text)', 'EXECUTE'),
        ('odl.odl_trace_history(text,text)', 'EXECUTE'),
        ('odl.odl_trace_lot_installed(text,text,text)', 'EXECUTE'),
        ('odl.odl_trace_received_not_installed(text)', 'EXECUTE'),
        ('odl.odl_trace_approved_not_ordered(text)', 'EXECUTE'),
        ('odl.odl_trace_open_claims(text)', 'EXECUTE'),
        ('odl.odl_region()', 'EXECUTE'),
        ('odl.odl_ai_close_session(text)', 'EXECUTE'),
        ('odl.odl_change_plan(text,integer,text)', 'EXECUTE'),
        ('odl.odl_issue_invoice(timestamp with time zone,timestamp with time zone)', 'EXECUTE'),
        ('odl.odl_invoice_lines(text)', 'EXECUTE'),
        ('odl.odl_subscription()', 'EXECUTE')
    $$,
    'odl_app holds exactly SELECT on the tenant tables, the views and the access policy, '
    || 'and EXECUTE on its odl_ functions'
);
-- pg_jsonschema's API runs schemas the caller writes: the applications'
-- and the DBA's roles only, never PUBLIC (an analyst has no use for it).
select set_eq(
    $$
        select p.oid::regprocedure::text, case when a.grantee = 0 then 'PUBLIC' else a.grantee::regrole::text end
        from pg_catalog.pg_proc as p
        cross join lateral pg_catalog.aclexplode(p.proacl) as a
        where p.pronamespace = 'public'::regnamespace
            and p.proname in ('json_matches_schema', 'jsonb_matches_schema', 'jsonschema_is_valid',
                'jsonschema_validation_errors')
            and a.privilege_type = 'EXECUTE'
            and a.grantee <> p.proowner
    $$,
    $$
        values
        ('json_matches_schema(json,json)', 'odl_app'),
        ('json_matches_schema(json,json)', 'odl_admin'),
        ('jsonb_matches_schema(json,jsonb)', 'odl_app'),
        ('jsonb_matches_schema(json,jsonb)', 'odl_admin'),
        ('jsonschema_is_valid(json)', 'odl_app'),
        ('jsonschema_is_valid(json)', 'odl_admin'),
        ('jsonschema_validation_errors(json,json)', 'odl_app'),
        ('jsonschema_validation_errors(json,json)', 'odl_admin')
    $$,
    'only odl_app and odl_admin may execute pg_jsonschema''s API, not PUBLIC'
);
select table_privs_are('odl', 'tenants', 'odl_app', array['SELECT']);
select table_privs_are('odl', 'users', 'odl_app', array['SELECT']);
select table_privs_are('odl', 'projects', 'odl_app', array['SELECT']);
select table_privs_are('odl', 'project_summary', 'odl_app', array['SELECT']);
select table_privs_are(
    'odl', 'rbac_roles', 'odl_app', array['SELECT'], 'odl_app reads the access policy, which is no secret'
);
select table_privs_are(
    'odl', 'change_requests', 'odl_app', array[]::text[],
    'odl_app reads change requests only through odl_change_requests(), which hides what it may not read'
);
select table_privs_are('odl', 'python_modules', 'odl_app', array[]::text[]);
select function_privs_are(
    'odl', 'odl_create_tenant', array['text', 'text'], 'odl_app', array[]::text[],
    'odl_app cannot create tenants'
);

-- odl_admin creates tenants and users.

select function_privs_are('odl', 'odl_create_tenant', array['text', 'text'], 'odl_admin', array['EXECUTE']);
select function_privs_are(
    'odl', 'odl_create_user', array['text', 'text', 'text', 'boolean', 'text'], 'odl_admin', array['EXECUTE']
);
select function_privs_are('odl', 'odl_find_user', array['text', 'text'], 'odl_admin', array['EXECUTE']);
select function_privs_are(
    'odl', 'odl_find_user', array['text', 'text'], 'odl_app', array[]::text[],
    'odl_app cannot look users up by e-mail'
);

-- Retention and the operations figures: the DBA's, and views any analyst
-- may read (no tenant data); anchors only through the ledger's functions.

select function_privs_are(
    'odl', 'odl_record_backup', array['text', 'boolean', 'timestamptz', 'jsonb'], 'odl_admin', array['EXECUTE']
);
select function_privs_are(
    'odl', 'odl_record_backup', array['text', 'boolean', 'timestamptz', 'jsonb'], 'odl_app', array[]::text[],
    'odl_app cannot record backups'
);
select function_privs_are('odl', 'odl_sample_function_timings', array[]::text[], 'odl_admin', array['EXECUTE']);
select function_privs_are(
    'odl', 'audit_anchor_month', array['text'], 'odl_admin', array[]::text[],
    'only a superuser (through odl.log_retention()) anchors audit months'
);
select table_privs_are('odl', 'ops_function_latency', 'odl_analyst', array['SELECT']);
select table_privs_are('odl', 'ops_log_partitions', 'odl_analyst', array['SELECT']);
select table_privs_are('odl', 'ops_backups', 'odl_analyst', array['SELECT']);
select table_privs_are('odl', 'audit_anchors', 'odl_owner', array['SELECT']);
select table_privs_are('odl', 'backup_runs', 'odl_admin', array[]::text[], 'backups are recorded only through the API');

-- The SQLSTATE registry.

select results_eq(
    $$select sqlstate, name from odl.error_codes order by sqlstate$$,
    $$
        values
        ('ODA01', 'append_only'),
        ('ODA02', 'invalid_digest'),
        ('ODB01', 'blob_missing'),
        ('ODB02', 'not_externalizable'),
        ('ODB03', 'external_by_declaration'),
        ('ODB04', 'blob_corrupt'),
        ('ODC01', 'no_context'),
        ('ODC02', 'invalid_context'),
        ('ODC03', 'unknown_tenant'),
        ('ODC04', 'mfa_required'),
        ('ODC05', 'login_bound'),
        ('ODC06', 'login_not_bound'),
        ('ODC07', 'token_required'),
        ('ODC08', 'invalid_token'),
        ('ODC09', 'token_expired'),
        ('ODD01', 'unknown_document'),
        ('ODD02', 'unknown_project'),
        ('ODD03', 'unknown_version'),
        ('ODE01', 'invalid_epcis_event'),
        ('ODE02', 'epcis_event_id_mismatch'),
        ('ODE03', 'duplicate_epcis_event'),
        ('ODE04', 'unknown_epcis_event'),
        ('ODE05', 'epcis_event_already_declared'),
        ('ODF01', 'unknown_serial'),
        ('ODF02', 'no_gtin'),
        ('ODF03', 'untraced_status'),
        ('ODG01', 'phase_gate'),
        ('ODG02', 'phase_order'),
        ('ODH01', 'invalid_hierarchy'),
        ('ODH02', 'unknown_node'),
        ('ODI01', 'unknown_ai_session'),
        ('ODI02', 'invalid_ai_message'),
        ('ODI03', 'tool_call_mismatch'),
        ('ODI04', 'invalid_ai_summary'),
        ('ODI05', 'context_over_budget'),
        ('ODI06', 'invalid_cache_request'),
        ('ODI07', 'stale_cache_dependency'),
        ('ODI08', 'semantic_cache_unavailable'),
        ('ODJ01', 'ai_session_closed'),
        ('ODJ02', 'plan_change_changes_nothing'),
        ('ODJ03', 'no_live_subscription'),
        ('ODJ04', 'invoice_period_open'),
        ('ODJ05', 'invoice_period_overlap'),
        ('ODJ06', 'unknown_invoice'),
        ('ODK01', 'illegal_component_transition'),
        ('ODK02', 'transition_role_denied'),
        ('ODK03', 'transition_needs_approval'),
        ('ODK04', 'transition_fields_missing'),
        ('ODK05', 'unknown_component'),
        ('ODL01', 'document_too_large'),
        ('ODL02', 'nesting_too_deep'),
        ('ODL03', 'patch_too_large'),
        ('ODL04', 'payload_too_large'),
        ('ODL05', 'schema_too_large'),
        ('ODL06', 'too_many_engine_operations'),
        ('ODM01', 'psu_budget_exceeded'),
        ('ODM02', 'no_psu_budget'),
        ('ODM03', 'reservation_not_held'),
        ('ODM04', 'idempotency_conflict'),
        ('ODM05', 'unknown_plan'),
        ('ODM06', 'budget_below_use'),
        ('ODM07', 'unknown_order'),
        ('ODM08', 'escrow_state'),
        ('ODM09', 'unknown_governance_event'),
        ('ODN01', 'graph_walk_too_large'),
        ('ODN02', 'graph_walk_too_deep'),
        ('ODP01', 'malformed_patch'),
        ('ODP02', 'too_many_operations'),
        ('ODP03', 'path_not_found'),
        ('ODP04', 'test_failed'),
        ('ODQ01', 'illegal_procurement_transition'),
        ('ODQ02', 'unknown_procurement_record'),
        ('ODQ03', 'already_awarded'),
        ('ODQ04', 'ordered_exceeds_awarded'),
        ('ODQ05', 'received_exceeds_ordered'),
        ('ODQ06', 'negative_stock'),
        ('ODQ07', 'serial_elsewhere'),
        ('ODQ08', 'supplier_not_approved'),
        ('ODQ09', 'wrong_state'),
        ('ODQ10', 'returned_exceeds_received'),
        ('ODQ11', 'four_eyes'),
        ('ODR01', 'permission_denied'),
        ('ODR02', 'agent_role_not_allowed'),
        ('ODR03', 'change_not_pending'),
        ('ODR04', 'self_approval'),
        ('ODR05', 'stale_change'),
        ('ODR06', 'approver_required'),
        ('ODR07', 'unknown_role'),
        ('ODS01', 'schema_invalid'),
        ('ODS02', 'integrity_violation'),
        ('ODT01', 'audit_month_broken'),
        ('ODT02', 'retention_out_of_order'),
        ('ODU01', 'ulid_overflow'),
        ('ODV01', 'version_conflict'),
        ('ODW01', 'tenant_region_mismatch'),
        ('ODW02', 'tenant_region_fixed'),
        ('ODW03', 'tenant_not_homed_here'),
        ('ODW04', 'tenant_moving'),
        ('ODW05', 'region_move_invalid'),
        ('ODW06', 'tenant_not_routed'),
        ('ODW07', 'migration_transition_invalid'),
        ('ODW08', 'region_map_fixed'),
        ('ODW09', 'region_in_use'),
        ('ODX01', 'embedding_dimension_mismatch'),
        ('ODX02', 'embedding_model_mismatch'),
        ('ODX03', 'invalid_query_vector'),
        ('ODX04', 'search_k_out_of_range')
    $$,
    'odl.error_codes lists every SQLSTATE odl-db raises'
);
select throws_ok(
    $$insert into odl.error_codes (sqlstate, name, meaning) values ('22P02', 'clash', 'x')$$,
    '23514',
    'new row for relation "error_codes" violates check constraint "error_codes_sqlstate_custom"',
    'a registered SQLSTATE must be in class OD, unused by PostgreSQL'
);

select * from finish();
rollback;
