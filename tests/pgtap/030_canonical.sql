-- RFC 8785 (JCS) canonical JSON and the ODL-SD content hash, including the
-- RFC's own examples, and their use by the application role.
begin;
select plan(26);

select has_function('odl', 'odl_canonical_json', array['jsonb']);
select has_function('odl', 'odl_content_hash', array['jsonb']);
select volatility_is('odl', 'odl_canonical_json', array['jsonb'], 'immutable');
select is_strict('odl', 'odl_canonical_json', array['jsonb']);
select is(odl.odl_canonical_json(null), null, 'null in, null out');

-- Structure: keys sorted, no whitespace, arrays keep their order.

select is(
    odl.odl_canonical_json('{ "b": 2, "a": 1 }'),
    '{"a":1,"b":2}',
    'object members are sorted by name and whitespace is dropped'
);
select is(
    odl.odl_canonical_json('{"z": [3, 1, {"y": null, "x": true}], "a": {"d": false, "c": "s"}}'),
    '{"a":{"c":"s","d":false},"z":[3,1,{"x":true,"y":null}]}',
    'nested objects are sorted too; array order is kept'
);
-- JCS sorts by UTF-16 code units: U+1F600 (surrogates D83D DE00) comes
-- before U+FB33, although its code point is larger. (RFC 8785, 3.2.3.)
select is(
    odl.odl_canonical_json(
        jsonb_build_object(
            chr(8364), 'Euro Sign', E'\r', 'Carriage Return', chr(64307), 'Hebrew Letter Dalet With Dagesh',
            '1', 'One', chr(128512), 'Emoji: Grinning Face', chr(128), 'Control',
            chr(246), 'Latin Small Letter O With Diaeresis'
        )
    ),
    '{"\r":"Carriage Return","1":"One","' || chr(128) || '":"Control","' || chr(246)
    || '":"Latin Small Letter O With Diaeresis","' || chr(8364) || '":"Euro Sign","' || chr(128512)
    || '":"Emoji: Grinning Face","' || chr(64307) || '":"Hebrew Letter Dalet With Dagesh"}',
    'member names sort by UTF-16 code units (the RFC 8785 sorting example)'
);

-- Numbers are printed as ECMAScript prints an IEEE 754 double.

select is(odl.odl_canonical_json('1.0'), '1', '1.0 prints as 1');
select is(odl.odl_canonical_json('-0.0'), '0', '-0.0 prints as 0');
select is(odl.odl_canonical_json('1e21'), '1e+21', '1e21 prints as 1e+21');
select is(odl.odl_canonical_json('1e20'), '100000000000000000000', '1e20 prints in full');
select is(odl.odl_canonical_json('0.000001'), '0.000001', '0.000001 prints as 0.000001');
select is(odl.odl_canonical_json('1e-7'), '1e-7', '1e-7 prints as 1e-7');
-- Canonical numbers are fixed points: each vector of RFC 8785 Appendix B,
-- read back, prints as itself.
select is_empty(
    $$
        select v
        from unnest(array[
            '0', '5e-324', '-5e-324', '1.7976931348623157e+308', '-1.7976931348623157e+308',
            '9007199254740992', '-9007199254740992', '9.999999999999997e+22', '1e+23',
            '1.0000000000000001e+23', '1e+21', '9.999999999999997e-7', '0.000001',
            '333333333.3333332', '333333333.33333325', '333333333.3333333', '333333333.3333334',
            '333333333.33333343', '-0.0000033333333333333333', '1424953923781206.2'
        ]) as v
        where odl.odl_canonical_json(v::jsonb) <> v
    $$,
    'RFC 8785 Appendix B numbers print as the RFC says (all but integers between 2^53 and 10^21)'
);
-- Integers between 2^53 and 10^21 still take ECMAScript's shortest digits,
-- padded with zeros, not the exact binary value. This fails while
-- canonical.py prints str(int(x)) for every integral double below 10^21.
select results_eq(
    $$
        select odl.odl_canonical_json(v::jsonb)
        from unnest(array['295147905179352830000', '999999999999999700000', '999999999999999900000']) as v
    $$,
    array['295147905179352830000', '999999999999999700000', '999999999999999900000'],
    'RFC 8785 Appendix B integers above 2^53 print with shortest digits: 295147905179352830000 and others'
);
select throws_like(
    $$select odl.odl_canonical_json('[1e400]')$$,
    '%out of range for RFC 8785%',
    'a number beyond the double range is refused'
);

-- Strings: control characters as lower-case \u00XX, short escapes where
-- JSON has them, everything else (non-ASCII too) as is.

select is(
    odl.odl_canonical_json(to_jsonb(chr(31) || chr(1) || E'\b\f\n\r\t"\\/' || chr(233) || chr(127))),
    '"\u001f\u0001\b\f\n\r\t\"\\/' || chr(233) || chr(127) || '"',
    'control characters are escaped as \u001f in lower case, others as JSON''s short escapes'
);

-- The RFC 8785 example of section 3.2.2, end to end.

select is(
    odl.odl_canonical_json(
        $json${
            "numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],
            "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
            "literals": [null, true, false]
        }$json$
    ),
    '{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],'
    || $out$"string":"€$\u000f\nA'B\"\\\\\"/"}$out$,
    'the canonical form of the RFC 8785 example'
);

-- Content hashes.

select is(
    odl.odl_content_hash('{}'),
    'sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a',
    'the content hash of {} is the SHA-256 of the two bytes {}'
);
select is(
    odl.odl_content_hash('{"b": [1.0, "é"], "a": {"y": 2, "x": 1}}'),
    'sha256:' || encode(
        sha256(convert_to(odl.odl_canonical_json('{"b": [1.0, "é"], "a": {"y": 2, "x": 1}}'), 'UTF8')), 'hex'
    ),
    'a content hash is the SHA-256 of the UTF-8 canonical form'
);
select is(
    odl.odl_content_hash('{ "a": 1, "b": [1.00, 2e0] }'),
    odl.odl_content_hash('{"b":[1,2],"a":1.0}'),
    'documents that differ only in member order, spacing and number spelling hash alike'
);
select isnt(
    odl.odl_content_hash('[1, 2]'),
    odl.odl_content_hash('[2, 1]'),
    'array order changes the hash'
);

-- The application role may hash, although it cannot read the module store
-- behind the functions.

set local role odl_app;
select is(
    odl.odl_content_hash('{}'),
    'sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a',
    'odl_app can call odl_content_hash()'
);
select is(odl.odl_canonical_json('{"b":1,"a":2}'), '{"a":2,"b":1}', 'odl_app can call odl_canonical_json()');
select throws_ok(
    $$select * from odl.python_modules$$,
    '42501',
    'permission denied for table python_modules',
    'odl_app cannot read the module store'
);

select * from finish();
rollback;
