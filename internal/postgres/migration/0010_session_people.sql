-- Sessions of people signed in through the identity provider: key_id is
-- NULL (so the key's foreign key does not apply; the tenant's does) and the
-- row holds who signed in (the ID token's subject, name, email) and the role
-- the tenant gave.
ALTER TABLE sessions ALTER COLUMN key_id DROP NOT NULL;
ALTER TABLE sessions ADD COLUMN subject text NOT NULL DEFAULT '';
ALTER TABLE sessions ADD COLUMN name    text NOT NULL DEFAULT '';
ALTER TABLE sessions ADD COLUMN email   text NOT NULL DEFAULT '';
ALTER TABLE sessions ADD COLUMN role    text NOT NULL DEFAULT '';
ALTER TABLE sessions ADD FOREIGN KEY (tenant) REFERENCES tenants (id);
