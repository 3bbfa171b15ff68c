-- Usage and cost for analysts, from the PSU ledger and the escrows, under
-- RLS (the context's tenant only) and redacted: a user's e-mail shows only
-- to that user and to the tenant's administrator, a project only to whoever
-- may read it (odl.readable_project). Security barriers, like the other
-- analyst views.

create or replace view odl.analyst_psu_usage
with (security_barrier)
as
with reader as (
    select
        c.user_id,
        exists(
            select
            from odl.users as u
            where
                u.tenant_id = c.tenant_id and u.user_id = c.user_id and u.role = 'super_user'
                and u.agent is null and u.mfa_enabled
        ) as is_admin
    from odl.current_context as c
)

select
    (l.created_at at time zone 'UTC')::date as day,
    case when r.is_admin or l.user_id = r.user_id then u.email end as user_email,
    u.agent is not null as by_agent,
    coalesce(l.tool, v.tool) as tool,
    case when odl.readable_project(coalesce(l.project_id, v.project_id)) then coalesce(l.project_id, v.project_id) end
        as project_id,
    count(*) filter (where l.kind in ('charge', 'consume')) as charges,
    sum(l.consumed_delta) as psu_consumed,
    sum(l.reserved_delta) filter (where l.kind = 'reserve') as psu_reserved
from odl.psu_ledger as l
cross join reader as r
inner join odl.users as u on l.tenant_id = u.tenant_id and l.user_id = u.user_id
left join lateral (
    select k.tool, k.project_id
    from odl.psu_ledger as k
    where k.tenant_id = l.tenant_id and k.reservation_id = l.reservation_id and k.kind = 'reserve'
) as v on l.kind <> 'charge'
group by 1, 2, 3, 4, 5;

revoke all on odl.analyst_psu_usage from public;
grant select on odl.analyst_psu_usage to odl_analyst;
comment on view odl.analyst_psu_usage is
'PSU consumed per UTC day, user, tool and project, from the PSU ledger: its psu_consumed adds up to the budgets'' '
'consumed (odl_analyst). user_email shows to that user and the tenant''s administrator only, project_id to '
'readers of the project';
comment on column odl.analyst_psu_usage.day is 'The UTC day of the ledger entries';
comment on column odl.analyst_psu_usage.user_email is 'Whose PSU; null unless the reader or the administrator';
comment on column odl.analyst_psu_usage.by_agent is 'Whether the user is an AI agent';
comment on column odl.analyst_psu_usage.tool is 'The tool the charge or reservation named';
comment on column odl.analyst_psu_usage.project_id is 'The project charged for; null when none or not readable';
comment on column odl.analyst_psu_usage.charges is 'Charges and consumed reservations';
comment on column odl.analyst_psu_usage.psu_consumed is 'PSU consumed (charged)';
comment on column odl.analyst_psu_usage.psu_reserved is 'PSU reserved (whatever became of the reservations)';

create or replace view odl.analyst_psu_budgets
with (security_barrier)
as
select
    b.budget_id,
    b.period_start,
    b.period_end,
    b.granted,
    b.consumed,
    b.reserved,
    b.remaining,
    case when b.user_id is null then 'tenant' else 'user' end as scope,
    case
        when b.user_id = c.user_id or exists (
            select
            from odl.users as a
            where
                a.tenant_id = c.tenant_id and a.user_id = c.user_id and a.role = 'super_user'
                and a.agent is null and a.mfa_enabled
        ) then u.email
    end as user_email
from odl.psu_budgets as b
cross join odl.current_context as c
left join odl.users as u on b.tenant_id = u.tenant_id and b.user_id = u.user_id;

revoke all on odl.analyst_psu_budgets from public;
grant select on odl.analyst_psu_budgets to odl_analyst;
comment on view odl.analyst_psu_budgets is
'The tenant''s PSU budgets per period: granted = consumed + reserved + remaining (odl_analyst); a user budget''s '
'e-mail shows to that user and the administrator only';
comment on column odl.analyst_psu_budgets.budget_id is 'The budget';
comment on column odl.analyst_psu_budgets.period_start is 'When the period starts';
comment on column odl.analyst_psu_budgets.period_end is 'When it ends (exclusive)';
comment on column odl.analyst_psu_budgets.granted is 'PSU granted: the hard limit';
comment on column odl.analyst_psu_budgets.consumed is 'PSU charged';
comment on column odl.analyst_psu_budgets.reserved is 'PSU held by reservations';
comment on column odl.analyst_psu_budgets.remaining is 'PSU left';
comment on column odl.analyst_psu_budgets.scope is 'tenant (the organisation''s budget) or user';
comment on column odl.analyst_psu_budgets.user_email is 'The user of a user budget; null unless reader or admin';

create or replace view odl.analyst_escrows
with (security_barrier)
as
select
    s.escrow_id,
    s.project_id,
    o.flow,
    s.currency,
    s.amount_minor,
    s.released_minor,
    s.refunded_minor,
    s.status,
    s.created_at,
    (
        select count(*) from odl.escrow_milestones as m
        where m.tenant_id = s.tenant_id and m.escrow_id = s.escrow_id and m.released_at is not null
    ) as milestones_released,
    (
        select count(*) from odl.escrow_disputes as d
        where d.tenant_id = s.tenant_id and d.escrow_id = s.escrow_id
    ) as disputes
from odl.escrows as s
inner join odl.marketplace_orders as o on s.tenant_id = o.tenant_id and s.order_id = o.order_id
where odl.readable_project(s.project_id);

revoke all on odl.analyst_escrows from public;
grant select on odl.analyst_escrows to odl_analyst;
comment on view odl.analyst_escrows is
'Escrows of the projects the reader may read: amounts in minor units, released and refunded, milestones released, '
'disputes (odl_analyst)';
comment on column odl.analyst_escrows.escrow_id is 'The escrow';
comment on column odl.analyst_escrows.project_id is 'The project of its order';
comment on column odl.analyst_escrows.flow is 'The order''s marketplace flow';
comment on column odl.analyst_escrows.currency is 'ISO 4217 currency of the amounts';
comment on column odl.analyst_escrows.status is 'open, partially_released, released, disputed or refunded';
comment on column odl.analyst_escrows.created_at is 'When the escrow was opened';
comment on column odl.analyst_escrows.amount_minor is 'Escrowed, in minor units of currency';
comment on column odl.analyst_escrows.released_minor is 'Released by governance events so far';
comment on column odl.analyst_escrows.refunded_minor is 'Refunded after a lost dispute';
comment on column odl.analyst_escrows.milestones_released is 'How many milestones governance events released';
comment on column odl.analyst_escrows.disputes is 'How many disputes were opened';
