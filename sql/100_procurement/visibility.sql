-- What an application's user sees of the procurement tables it may select.
-- Tenant isolation (the permissive tenant_isolation policy) is not enough:
-- like a project's documents, a project's procurement records are for the
-- users with rights at the project's node. So each table of a project's
-- records carries a restrictive policy for odl_app: its rows show only
-- where the context's user holds R on the section that acts on them
-- (odl.procurement_actions: libraries for RFQs, orders and returns;
-- instances for stock moves and serials; operations for warranty claims).
-- RFQ lines, bids, shipments and receipts follow their RFQ or order.
-- Suppliers and stock balances belong to the tenant, not a project.
-- The API's functions run as odl_owner and check rights themselves.

create or replace function odl.odl_readable_project_sections()
returns table (project_id text, section text)
language sql
stable
rows 100
security definer
set search_path = pg_catalog, odl, pg_temp
as $$
    -- Rights are decided per node, once, as the change feed does.
    select p.project_id::text, r.section
    from (select distinct q.node_id from odl.projects as q where q.node_id is not null) as n
    cross join odl.current_context as c
    cross join lateral odl.user_rights(c.user_id, n.node_id) as r
    inner join odl.projects as p on n.node_id = p.node_id
    where strpos(r.rights, 'R') > 0
$$;

revoke all on function odl.odl_readable_project_sections() from public;
grant execute on function odl.odl_readable_project_sections() to odl_app;
comment on function odl.odl_readable_project_sections() is
'The projects of the context''s tenant and the sections of each that its user may read (R at the project''s node); '
'the procurement tables'' policies for odl_app use it';

do $$
declare
    scoped record;
begin
    for scoped in
        select t.tbl, t.section
        from (values
            ('rfqs', 'libraries'), ('purchase_orders', 'libraries'), ('returns', 'libraries'),
            ('stock_moves', 'instances'), ('serials', 'instances'), ('warranty_claims', 'operations')
        ) as t (tbl, section)
    loop
        execute format('drop policy if exists project_rights on odl.%I', scoped.tbl);
        execute format(
            'create policy project_rights on odl.%I as restrictive for select to odl_app using ('
            '(project_id::text, %L) in (select r.project_id, r.section from odl.odl_readable_project_sections() as r))',
            scoped.tbl, scoped.section
        );
    end loop;
    -- A child row shows when its parent does: the parent's policies apply
    -- inside the subquery, for odl_app.
    for scoped in
        select t.tbl, t.parent, t.key
        from (values
            ('rfq_lines', 'rfqs', 'rfq_id'), ('bids', 'rfqs', 'rfq_id'),
            ('shipments', 'purchase_orders', 'po_id'), ('receipts', 'purchase_orders', 'po_id')
        ) as t (tbl, parent, key)
    loop
        execute format('drop policy if exists project_rights on odl.%I', scoped.tbl);
        execute format(
            'create policy project_rights on odl.%1$I as restrictive for select to odl_app using ('
            'exists (select from odl.%2$I as p where p.tenant_id = %1$I.tenant_id and p.%3$I = %1$I.%3$I))',
            scoped.tbl, scoped.parent, scoped.key
        );
    end loop;
end
$$;
