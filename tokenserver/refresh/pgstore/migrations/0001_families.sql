-- One row per refresh token family (refresh.Family): hashes of its tokens, never a token.
CREATE TABLE refresh_token_families (
	id               text PRIMARY KEY,
	tenant_uid       text NOT NULL,
	tenant           text NOT NULL,
	client_id        text NOT NULL,
	subject          text NOT NULL,
	connection       text NOT NULL,
	user_id          text NOT NULL,
	audience         text NOT NULL,
	scopes           text[] NOT NULL,
	created          timestamptz NOT NULL,
	expires_at       timestamptz NOT NULL,
	last_used        timestamptz NOT NULL,
	idle_expires_at  timestamptz NOT NULL,
	-- The earlier of expires_at and idle_expires_at: what quota, cap and collection judge.
	deadline         timestamptz NOT NULL,
	generation       integer NOT NULL,
	current_hash     bytea NOT NULL,
	previous_hash    bytea,
	rotated_at       timestamptz,
	sealed_successor bytea,
	older_hashes     bytea[] NOT NULL,
	revoked          timestamptz,
	revoked_reason   text NOT NULL,
	-- Bumped by every write, for compare-and-swap.
	version          bigint NOT NULL
);

-- A user's live families per client: the cap at each login.
CREATE INDEX refresh_token_families_owner ON refresh_token_families (tenant_uid, client_id, subject, created)
	WHERE revoked IS NULL;
-- A user's live families: revocation of a subject.
CREATE INDEX refresh_token_families_subject ON refresh_token_families (tenant_uid, subject)
	WHERE revoked IS NULL;
-- A tenant's unexpired families: its quota, and revocation of a tenant.
CREATE INDEX refresh_token_families_tenant ON refresh_token_families (tenant_uid, deadline);
-- What collection deletes.
CREATE INDEX refresh_token_families_deadline ON refresh_token_families (deadline);
CREATE INDEX refresh_token_families_revoked ON refresh_token_families (revoked)
	WHERE revoked IS NOT NULL;
