-- Sessions of people signed in through the identity provider: key_id is ''
-- and the row holds who signed in (the ID token's subject, name, email)
-- and the role the tenant gave.
ALTER TABLE sessions ADD COLUMN subject TEXT NOT NULL DEFAULT '';
ALTER TABLE sessions ADD COLUMN name    TEXT NOT NULL DEFAULT '';
ALTER TABLE sessions ADD COLUMN email   TEXT NOT NULL DEFAULT '';
ALTER TABLE sessions ADD COLUMN role    TEXT NOT NULL DEFAULT '';
