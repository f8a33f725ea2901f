-- The namespace of a family's Tenant: the quota counts the families of all the Tenants
-- of a namespace together, so that a namespace user creating Tenants, or deleting and
-- recreating one, gets no more. The rows before it are their Tenant's
-- "<namespace>/<name>"'s namespace.
ALTER TABLE refresh_token_families ADD COLUMN namespace text;
UPDATE refresh_token_families SET namespace = split_part(tenant, '/', 1);
ALTER TABLE refresh_token_families ALTER COLUMN namespace SET NOT NULL;

-- A namespace's unexpired families: its quota.
CREATE INDEX refresh_token_families_namespace ON refresh_token_families (namespace, deadline);
