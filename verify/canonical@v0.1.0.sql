-- Verify odl-db:canonical on pg

select 1 / (odl.odl_canonical_json('{"b": [1.0, 2.5e0], "a": null}') = '{"a":null,"b":[1,2.5]}')::int;
select 1 / (
    odl.odl_content_hash('{}')
    = 'sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a'
)::int;
