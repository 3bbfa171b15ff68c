-- Deploy odl-db:policy to pg
-- requires: ownership
-- The tables of the access policy: reference data, not tenant-scoped,
-- filled from policy/access.json by the change policy_load. Every row
-- traces back to a line of that file; nothing else writes here.

begin;

create table odl.classification_levels (
    level text primary key,
    rank integer not null unique
);
comment on table odl.classification_levels is 'Data classification levels, least sensitive first (rank)';

create table odl.rbac_rights (
    right_code text primary key,
    meaning text not null,
    position integer not null unique,
    constraint rbac_rights_one_letter check (right_code ~ '^[A-Z]$')
);
comment on table odl.rbac_rights is 'The right codes R, W, P, A, X, S; rights strings list them in position order';
comment on constraint rbac_rights_one_letter on odl.rbac_rights is 'A right is one capital letter';

create table odl.rbac_sections (
    section text primary key,
    position integer not null unique,
    classification text not null references odl.classification_levels (level)
);
comment on table odl.rbac_sections is 'The document sections that rights are granted on, with their classification';

create table odl.rbac_section_keys (
    key text primary key,
    section text not null references odl.rbac_sections (section)
);
comment on table odl.rbac_section_keys is
'Which section each top-level document key belongs to: every section itself, and the envelope keys ($schema, '
'schema_version)';

create table odl.rbac_classified_parts (
    pointer text primary key,
    classification text not null references odl.classification_levels (level),
    constraint rbac_classified_parts_pointer_format check (pointer ~ '^(/[^/]+){2,}$')
);
comment on table odl.rbac_classified_parts is
'Parts inside a section classified apart from it, as JSON pointers where * stands for any key or index';
comment on constraint rbac_classified_parts_pointer_format on odl.rbac_classified_parts is
'A pointer below a section (sections are classified in rbac_sections)';

create table odl.rbac_roles (
    role_id text primary key,
    mfa_required boolean not null,
    approver boolean not null,
    clearance text not null references odl.classification_levels (level),
    notes text not null
);
comment on table odl.rbac_roles is 'The ODL-SD roles a user can hold';
comment on column odl.rbac_roles.mfa_required is 'Users holding this role must have MFA enabled';
comment on column odl.rbac_roles.approver is 'The role may approve change requests (with A on their sections)';
comment on column odl.rbac_roles.clearance is 'The most sensitive classification the role may read';

create table odl.rbac_permission_sets (
    set_id text primary key
);
comment on table odl.rbac_permission_sets is 'Named bundles of section rights that roles inherit';

create table odl.rbac_set_rights (
    set_id text not null references odl.rbac_permission_sets (set_id),
    section text not null references odl.rbac_sections (section),
    rights text not null,
    primary key (set_id, section)
);
comment on table odl.rbac_set_rights is 'The rights a permission set gives on each section ("*" of the file expanded)';

create table odl.rbac_role_sets (
    role_id text not null references odl.rbac_roles (role_id),
    set_id text not null references odl.rbac_permission_sets (set_id),
    primary key (role_id, set_id)
);
comment on table odl.rbac_role_sets is 'Role inheritance: the permission sets each role holds';

create table odl.rbac_role_overrides (
    role_id text not null references odl.rbac_roles (role_id),
    section text not null references odl.rbac_sections (section),
    rights text not null,
    primary key (role_id, section)
);
comment on table odl.rbac_role_overrides is 'Rights a role adds to those of its sets, per section';

create table odl.rbac_agents (
    agent text primary key
);
comment on table odl.rbac_agents is 'The kinds of AI agent that may be users';

create table odl.rbac_agent_roles (
    agent text not null references odl.rbac_agents (agent),
    role_id text not null references odl.rbac_roles (role_id),
    primary key (agent, role_id)
);
comment on table odl.rbac_agent_roles is 'The roles each kind of agent may act under';

create table odl.rbac_approval_sections (
    section text primary key references odl.rbac_sections (section)
);
comment on table odl.rbac_approval_sections is
'Sections whose changes are merged only after an approval, even for W holders';

create table odl.project_phases (
    phase text primary key,
    position integer not null unique
);
comment on table odl.project_phases is 'ODL-SD project phases, in lifecycle order';

create table odl.rbac_phase_gates (
    phase text not null references odl.project_phases (phase),
    section text not null references odl.rbac_sections (section),
    mode text not null,
    exempt_roles text[] not null default '{}',
    primary key (phase, section),
    constraint rbac_phase_gates_mode_valid check (mode in ('locked', 'change_request'))
);
comment on table odl.rbac_phase_gates is
'Sections write-locked in a phase: locked refuses every change, change_request admits approved change requests only';
comment on column odl.rbac_phase_gates.exempt_roles is 'Roles the gate does not bind';
comment on constraint rbac_phase_gates_mode_valid on odl.rbac_phase_gates is 'The two kinds of gate';

create table odl.rbac_actions (
    action text primary key,
    section text not null references odl.rbac_sections (section),
    rights text not null
);
comment on table odl.rbac_actions is
'Actions that functions perform on behalf of a user, and the right (any one of rights) they need on a section';

create table odl.hierarchy_levels (
    level text primary key,
    depth integer not null unique
);
comment on table odl.hierarchy_levels is 'Levels of the project hierarchy, PORTFOLIO (depth 1) down to DEVICE';

-- What each role may do on each section: the union of its sets' rights and
-- its overrides, where W, P and A each imply R (nobody edits, proposes for
-- or approves what they cannot see). Refreshed by the policy loader.
create materialized view odl.rbac_role_rights as
with granted as (
    select rs.role_id, sr.section, sr.rights
    from odl.rbac_role_sets as rs
    inner join odl.rbac_set_rights as sr on rs.set_id = sr.set_id
    union all
    select o.role_id, o.section, o.rights
    from odl.rbac_role_overrides as o
    union all
    select g.role_id, g.section, 'R' as rights
    from odl.rbac_role_overrides as g
    where g.rights ~ '[WPA]'
    union all
    select rs.role_id, sr.section, 'R' as rights
    from odl.rbac_role_sets as rs
    inner join odl.rbac_set_rights as sr on rs.set_id = sr.set_id
    where sr.rights ~ '[WPA]'
)

select
    r.role_id,
    s.section,
    coalesce(
        (
            select string_agg(c.right_code, '' order by c.position)
            from odl.rbac_rights as c
            where exists (
                select from granted as g
                where g.role_id = r.role_id and g.section = s.section and strpos(g.rights, c.right_code) > 0
            )
        ),
        ''
    ) as rights
from odl.rbac_roles as r
cross join odl.rbac_sections as s
with no data;
create unique index rbac_role_rights_role_id_section_key on odl.rbac_role_rights (role_id, section);
comment on materialized view odl.rbac_role_rights is
'Each role''s rights per section: its sets'' rights and its overrides together, W, P and A each implying R';

-- Every rights column holds codes of odl.rbac_rights in their order.
do $$
declare
    t text;
begin
    foreach t in array array['rbac_set_rights', 'rbac_role_overrides', 'rbac_actions'] loop
        execute format(
            'alter table odl.%I add constraint %I check (rights ~ ''^R?W?P?A?X?S?$'')', t, t || '_rights_format'
        );
        execute format(
            'comment on constraint %I on odl.%I is %L', t || '_rights_format', t, 'Right codes in the order RWPAXS'
        );
    end loop;
end
$$;

revoke all on
odl.classification_levels, odl.rbac_rights, odl.rbac_sections, odl.rbac_section_keys, odl.rbac_classified_parts,
odl.rbac_roles, odl.rbac_permission_sets, odl.rbac_set_rights, odl.rbac_role_sets, odl.rbac_role_overrides,
odl.rbac_agents, odl.rbac_agent_roles, odl.rbac_approval_sections, odl.project_phases, odl.rbac_phase_gates,
odl.rbac_actions, odl.hierarchy_levels, odl.rbac_role_rights
from public;
-- The policy is no secret: applications and analysts may read it.
grant select on
odl.classification_levels, odl.rbac_rights, odl.rbac_sections, odl.rbac_section_keys, odl.rbac_classified_parts,
odl.rbac_roles, odl.rbac_permission_sets, odl.rbac_set_rights, odl.rbac_role_sets, odl.rbac_role_overrides,
odl.rbac_agents, odl.rbac_agent_roles, odl.rbac_approval_sections, odl.project_phases, odl.rbac_phase_gates,
odl.rbac_actions, odl.hierarchy_levels, odl.rbac_role_rights
to odl_app, odl_analyst, odl_admin;

call odl.adopt_objects();

commit;
