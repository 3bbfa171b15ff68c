-- The SQLSTATEs of sub-trees kept outside documents (class ODB, blobs).
insert into odl.error_codes (sqlstate, name, meaning) values
('ODB01', 'blob_missing', 'A document names a blob that odl.document_blobs does not hold'),
(
    'ODB02',
    'not_externalizable',
    'The pointer names no non-empty array or object that the document can keep outside (the root, a scalar, '
    || 'an empty container, a place inside a sub-tree already outside)'
),
(
    'ODB03',
    'external_by_declaration',
    'The document declares its instances external and holds more than its instance_threshold: they stay outside'
),
('ODB04', 'blob_corrupt', 'A blob does not match its address (the SHA-256 of its canonical text)')
on conflict (sqlstate) do update set name = excluded.name, meaning = excluded.meaning;
