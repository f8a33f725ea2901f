-- What the login's password was checked against, where the connection holds it (a
-- digest of a database user's password hash): a refresh that finds another revokes the
-- family. The families before it have none, and are not checked so.
ALTER TABLE refresh_token_families ADD COLUMN credential text NOT NULL DEFAULT '';
