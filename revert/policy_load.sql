-- Revert odl-db:policy_load from pg

begin;

drop procedure odl.load_access_policy(text);
drop function odl.rights_normalized(text);

commit;
