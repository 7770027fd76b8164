-- Accounts and refresh-token families for the auth service.

CREATE TABLE users (
    user_id       uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    username      text NOT NULL CHECK (char_length(username) BETWEEN 3 AND 64),
    -- stored normalised (trimmed, lower-case)
    email         text NOT NULL CHECK (email = lower(email) AND char_length(email) <= 254),
    password_hash text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT users_email_key UNIQUE (email)
);

-- usernames are unique regardless of case
CREATE UNIQUE INDEX users_username_lower_key ON users (lower(username));

-- One family per login; every rotation adds a token to it. Revoking the family (logout, or
-- reuse of a rotated token) invalidates every token in it.
CREATE TABLE refresh_families (
    family_id  uuid PRIMARY KEY,
    user_id    uuid NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    revoked_at timestamptz
);

CREATE INDEX refresh_families_user_idx ON refresh_families (user_id);

-- Only SHA-256 hashes of refresh tokens are stored, never the tokens.
CREATE TABLE refresh_tokens (
    token_hash bytea PRIMARY KEY CHECK (octet_length(token_hash) = 32),
    family_id  uuid NOT NULL REFERENCES refresh_families (family_id) ON DELETE CASCADE,
    user_id    uuid NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    -- set when this token was exchanged for its successor; presenting it again is reuse
    rotated_at timestamptz
);

CREATE INDEX refresh_tokens_family_idx ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_expires_idx ON refresh_tokens (expires_at);
