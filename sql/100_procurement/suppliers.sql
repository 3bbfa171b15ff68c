-- Suppliers: defined by a supplier_manager (W on libraries in the coarse
-- role), approved by another user holding A on libraries (a
-- project_manager): draft -> approved <-> inactive.

create or replace function odl.odl_create_supplier(name text, gln text default null, email text default null)
returns text
language plpgsql
volatile
security definer
set search_path = pg_catalog, odl, pg_temp
as $$
declare
    context record := odl.require_context();
    new_id text := 'SUP-' || odl.odl_ulid();
begin
    perform odl.procurement_authorize('supplier.create', null);
    insert into odl.suppliers (tenant_id, supplier_id, name, gln, email, status, created_by)
    values (
        context.tenant_id, new_id, odl_create_supplier.name, odl_create_supplier.gln, odl_create_supplier.email,
        'draft', context.user_id
    );
    perform odl.audit_append(
        'supplier.created', jsonb_build_object('supplier_id', new_id, 'name', odl_create_supplier.name)
    );
    return new_id;
end
$$;

revoke all on function odl.odl_create_supplier(text, text, text) from public;
grant execute on function odl.odl_create_supplier(text, text, text) to odl_app;
comment on function odl.odl_create_supplier(text, text, text) is
'Defines a supplier of the tenant, in state draft; returns its id (SUP-...). Needs a human whose coarse role '
'holds W on libraries (supplier_manager)';

create or replace function odl.odl_set_supplier_status(supplier_id text, status text)
returns void
language plpgsql
volatile
security definer
set search_path = pg_catalog, odl, pg_temp
as $$
declare
    context record := odl.require_context();
    supplier record;
begin
    select s.status, s.created_by into supplier
    from odl.suppliers as s
    where s.tenant_id = context.tenant_id and s.supplier_id = odl_set_supplier_status.supplier_id
    for no key update;
    if not found then
        perform odl.procurement_missing('supplier', odl_set_supplier_status.supplier_id);
    end if;
    perform odl.procurement_authorize_move(
        'supplier', supplier.status, odl_set_supplier_status.status, null, supplier.created_by
    );
    update odl.suppliers as s
    set
        status = odl_set_supplier_status.status,
        approved_by = case when odl_set_supplier_status.status = 'approved' then context.user_id else s.approved_by end,
        approved_at = case when odl_set_supplier_status.status = 'approved' then now() else s.approved_at end
    where s.tenant_id = context.tenant_id and s.supplier_id = odl_set_supplier_status.supplier_id;
    perform odl.procurement_audit_move(
        'supplier.status_changed', 'supplier_id', odl_set_supplier_status.supplier_id, supplier.status,
        odl_set_supplier_status.status
    );
end
$$;

revoke all on function odl.odl_set_supplier_status(text, text) from public;
grant execute on function odl.odl_set_supplier_status(text, text) to odl_app;
comment on function odl.odl_set_supplier_status(text, text) is
'Approves (A on libraries, not by its creator), deactivates or re-approves a supplier; ODQ01 for any other move';
