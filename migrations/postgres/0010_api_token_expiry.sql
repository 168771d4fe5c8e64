-- API tokens may carry an expiry (NULL: the token never expires). An expired token
-- is refused exactly like a revoked one.
ALTER TABLE api_tokens ADD COLUMN expires_at BIGINT;
