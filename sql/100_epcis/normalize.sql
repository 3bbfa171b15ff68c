-- The value normalisation of the CBV 2.0 event hash (README, "EPCIS
-- events"): timestamps in UTC with milliseconds, numbers without trailing
-- zeros, trimmed strings, CBV vocabulary and CURIEs as GS1 Web URIs, EPC
-- URIs as constrained canonical GS1 Digital Link URIs. The same forms key
-- odl.epcis_event_epcs, so that a serial asked for as an EPC URN or as a
-- Digital Link finds the same events.

insert into odl.error_codes (sqlstate, name, meaning) values
('ODE01', 'invalid_epcis_event', 'The EPCIS document or event is malformed; the detail names the JSON pointer'),
('ODE02', 'epcis_event_id_mismatch', 'The eventID given is not the event''s CBV 2.0 event hash'),
('ODE03', 'duplicate_epcis_event', 'The event (the same event hash) was captured already'),
('ODE04', 'unknown_epcis_event', 'An error declaration names an event that was never captured'),
('ODE05', 'epcis_event_already_declared', 'The event was declared erroneous already')
on conflict (sqlstate) do update set name = excluded.name, meaning = excluded.meaning;

create or replace function odl.epcis_time(value text)
returns text
language sql
stable
strict
parallel safe
security invoker
set search_path = pg_catalog, pg_temp
as $$
    -- Rounded to the millisecond, in UTC, with a Z (rules 8 and 9).
    select to_char(
        date_trunc('milliseconds', value::timestamptz + interval '500 microseconds') at time zone 'UTC',
        'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'
    )
$$;

revoke all on function odl.epcis_time(text) from public;
comment on function odl.epcis_time(text) is
'An EPCIS timestamp as the event hash writes it: UTC, milliseconds (rounded), Z (e.g. 2026-01-02T03:04:05.006Z)';

create or replace function odl.epcis_scalar(value jsonb)
returns text
language sql
immutable
strict
parallel safe
security invoker
set search_path = pg_catalog, pg_temp
as $$
    -- Numbers without trailing zeros (rule 6), strings without leading
    -- and trailing whitespace (rule 5).
    select case jsonb_typeof(value)
        when 'number' then trim_scale(value::text::numeric)::text
        when 'string' then btrim(value #>> '{}', E' \t\n\r\f')
        when 'boolean' then value::text
        when 'null' then ''
        else value::text
    end
$$;

revoke all on function odl.epcis_scalar(jsonb) from public;
comment on function odl.epcis_scalar(jsonb) is
'A JSON scalar as the event hash writes it: numbers without trailing zeros, strings trimmed';

create or replace function odl.gs1_check_digit(digits text)
returns text
language sql
immutable
strict
parallel safe
security invoker
set search_path = pg_catalog, pg_temp
as $$
    -- Weights 3, 1, 3, ... from the rightmost digit.
    select ((10 - sum(substr(r, i, 1)::int * case when i % 2 = 1 then 3 else 1 end) % 10) % 10)::text
    from (select reverse(digits) as r) as d
    cross join generate_series(1, length(digits)) as i
$$;

revoke all on function odl.gs1_check_digit(text) from public;
comment on function odl.gs1_check_digit(text) is 'The GS1 check digit (mod 10, weights 3 and 1) of a digit string';

create or replace function odl.epcis_digital_link(value text)
returns text
language plpgsql
immutable
strict
parallel safe
security invoker
set search_path = pg_catalog, odl, pg_temp
as $$
-- Rules 17 and 18: EPC pure identity, class and pattern URIs of the common
-- schemes become canonical GS1 Digital Link URIs; a Digital Link on any
-- domain becomes one on id.gs1.org, without its query string, keeping the
-- primary key and only its finest qualifier. Anything else is returned as
-- it is.
declare
    parts text[];
    company text;
    body text;
    pk text;
    pk_value text;
    qualifiers text[];
    q jsonb := '{}';
    i integer;
begin
    parts := regexp_match(value, '^urn:epc:(id|class|idpat):([a-z0-9]+):([^:]*)$');
    if parts is not null then
        company := split_part(parts[3], '.', 1);
        case parts[1] || ':' || parts[2]
            when 'id:sgtin', 'class:lgtin', 'idpat:sgtin' then
                body := substr(split_part(parts[3], '.', 2), 1, 1) || company || substr(split_part(parts[3], '.', 2), 2);
                if body !~ '^[0-9]{13}$' then
                    return value;
                end if;
                return 'https://id.gs1.org/01/' || body || odl.gs1_check_digit(body)
                    || case
                        when parts[1] = 'id' then '/21/' || split_part(parts[3], '.', 3)
                        when parts[1] = 'class' then '/10/' || split_part(parts[3], '.', 3)
                        else ''
                    end;
            when 'id:sscc' then
                body := substr(split_part(parts[3], '.', 2), 1, 1) || company || substr(split_part(parts[3], '.', 2), 2);
                if body !~ '^[0-9]{17}$' then
                    return value;
                end if;
                return 'https://id.gs1.org/00/' || body || odl.gs1_check_digit(body);
            when 'id:sgln' then
                body := company || split_part(parts[3], '.', 2);
                if body !~ '^[0-9]{12}$' then
                    return value;
                end if;
                return 'https://id.gs1.org/414/' || body || odl.gs1_check_digit(body)
                    || case when split_part(parts[3], '.', 3) in ('', '0') then '' else '/254/' || split_part(parts[3], '.', 3) end;
            when 'id:grai' then
                body := '0' || company || split_part(parts[3], '.', 2);
                if body !~ '^[0-9]{13}$' then
                    return value;
                end if;
                return 'https://id.gs1.org/8003/' || body || odl.gs1_check_digit(body) || split_part(parts[3], '.', 3);
            when 'id:pgln' then
                body := company || split_part(parts[3], '.', 2);
                if body !~ '^[0-9]{12}$' then
                    return value;
                end if;
                return 'https://id.gs1.org/417/' || body || odl.gs1_check_digit(body);
            when 'id:giai' then
                return 'https://id.gs1.org/8004/' || company || split_part(parts[3], '.', 2);
            else
                return value;
        end case;
    end if;

    parts := regexp_match(
        value, '^https?://[^/?#]+(?:/[^?#]*?)?/(00|01|253|255|401|402|414|417|8003|8004|8006|8010|8017|8018)/([^/?#]+)(/[^?#]*)?'
    );
    if parts is null then
        return value;
    end if;
    pk := parts[1];
    pk_value := case when pk = '01' then lpad(parts[2], 14, '0') else parts[2] end;
    qualifiers := string_to_array(trim(both '/' from coalesce(parts[3], '')), '/');
    i := 1;
    while i < coalesce(cardinality(qualifiers), 0) loop
        q := q || jsonb_build_object(qualifiers[i], qualifiers[i + 1]);
        i := i + 2;
    end loop;
    return 'https://id.gs1.org/' || pk || '/' || pk_value || coalesce(
        case pk
            when '01' then coalesce('/21/' || (q ->> '21'), '/235/' || (q ->> '235'), '/10/' || (q ->> '10'))
            when '414' then '/254/' || (q ->> '254')
            when '8006' then coalesce('/21/' || (q ->> '21'), '/10/' || (q ->> '10'))
            when '8010' then '/8011/' || (q ->> '8011')
        end,
        ''
    );
end
$$;

revoke all on function odl.epcis_digital_link(text) from public;
comment on function odl.epcis_digital_link(text) is
'An identifier as the event hash writes it: EPC URIs of the schemes sgtin, sscc, sgln, pgln, grai, giai, lgtin and the '
'sgtin pattern, and Digital Links on any domain, as constrained canonical GS1 Digital Link URIs on id.gs1.org; '
'other values unchanged';

create or replace function odl.epcis_uri(value text, prefixes jsonb)
returns text
language plpgsql
immutable
parallel safe
security invoker
set search_path = pg_catalog, odl, pg_temp
as $$
-- EPCs become Digital Links (rules 17 and 18), CBV URNs GS1 Web URIs
-- (rule 14), CURIEs are expanded (rule 15) with the standard prefixes and
-- those of the event's @context. PL/pgSQL, not SQL: a SQL function with a
-- pinned search_path is never inlined, and this one runs for every
-- identifier of every event.
declare
    v text := btrim(value, E' \t\n\r\f');
    prefix text;
    namespace text;
begin
    if v is null then
        return null;
    elsif starts_with(v, 'urn:epc:') or starts_with(v, 'http://') or starts_with(v, 'https://') then
        return odl.epcis_digital_link(v);
    elsif v ~ '^urn:epcglobal:cbv:(bizstep|disp|btt|sdt|er):' then
        prefix := split_part(v, ':', 4);
        return 'https://ref.gs1.org/cbv/'
            || case prefix when 'bizstep' then 'BizStep' when 'disp' then 'Disp' when 'btt' then 'BTT'
                when 'sdt' then 'SDT' else 'ER' end
            || '-' || substr(v, length('urn:epcglobal:cbv:' || prefix || ':') + 1);
    elsif v ~ '^[A-Za-z][A-Za-z0-9._-]*:' and v !~ '^[^:]*://' then
        prefix := split_part(v, ':', 1);
        namespace := case prefix
            when 'gs1' then 'https://gs1.org/voc/'
            when 'cbv' then 'https://ref.gs1.org/cbv/'
            when 'epcis' then 'https://ref.gs1.org/epcis/'
            else prefixes ->> prefix
        end;
        if namespace is not null then
            return namespace || substr(v, length(prefix) + 2);
        end if;
    end if;
    return v;
end
$$;

revoke all on function odl.epcis_uri(text, jsonb) from public;
comment on function odl.epcis_uri(text, jsonb) is
'A URI-valued field as the event hash writes it: CBV URNs as GS1 Web URIs, CURIEs expanded (gs1, cbv, epcis and '
'the @context prefixes), EPCs and Digital Links as constrained canonical Digital Links';

create or replace function odl.epcis_vocab(value text, vocabulary text, prefixes jsonb)
returns text
language plpgsql
immutable
parallel safe
security invoker
set search_path = pg_catalog, odl, pg_temp
as $$
-- A bare word of the standard vocabulary (rule 16): bizStep shipping is
-- https://ref.gs1.org/cbv/BizStep-shipping; a sensor type Temperature is
-- https://gs1.org/voc/Temperature. Anything else is a URI.
declare
    v text := btrim(value, E' \t\n\r\f');
begin
    if strpos(v, ':') = 0 then
        return case vocabulary
            when 'gs1' then 'https://gs1.org/voc/'
            else 'https://ref.gs1.org/cbv/' || vocabulary || '-'
        end || v;
    end if;
    return odl.epcis_uri(v, prefixes);
end
$$;

revoke all on function odl.epcis_vocab(text, text, jsonb) from public;
comment on function odl.epcis_vocab(text, text, jsonb) is
'A vocabulary field as the event hash writes it: a bare word of vocabulary (BizStep, Disp, BTT, SDT, ER, or gs1 '
'for https://gs1.org/voc/) as its GS1 Web URI, anything else as odl.epcis_uri()';

create or replace function odl.epcis_prefixes(context jsonb)
returns jsonb
language sql
immutable
parallel safe
security invoker
set search_path = pg_catalog, pg_temp
as $$
    -- The prefix definitions of a JSON-LD @context: an object, or an
    -- array of URLs and objects. Later definitions win, as in JSON-LD.
    select coalesce(jsonb_object_agg(d.key, d.value order by c.n, d.key), '{}')
    from jsonb_array_elements(
        case jsonb_typeof(context) when 'array' then context when 'object' then jsonb_build_array(context) else '[]' end
    ) with ordinality as c (item, n)
    cross join lateral jsonb_each(case jsonb_typeof(c.item) when 'object' then c.item else '{}' end) as d
    where jsonb_typeof(d.value) = 'string' and d.key !~ '^@'
$$;

revoke all on function odl.epcis_prefixes(jsonb) from public;
comment on function odl.epcis_prefixes(jsonb) is
'The prefixes a JSON-LD @context defines, as an object prefix -> namespace URI';
