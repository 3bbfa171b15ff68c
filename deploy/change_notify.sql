-- Deploy odl-db:change_notify to pg

begin;

\ir ../sql/045_change_notify/notify.sql

call odl.adopt_objects();

commit;
