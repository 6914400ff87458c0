// Package auth owns the API's bearer tokens: created with a scope, shown
// once, stored only as a SHA-256, checked on every request, revocable.
//
// Scopes: finance (everything), service (ingest usage, enqueue collection),
// account:ID (read that account, its invoices and PDFs, buy its credit).
package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/billingengine/engine/internal/platform/pgdb"
)

// Scope is what a token may do.
type Scope string

const (
	ScopeFinance Scope = "finance"
	ScopeService Scope = "service"
	// accountPrefix starts account scopes: "account:acc_1".
	accountPrefix = "account:"
)

// ParseScope checks a scope given on the command line.
func ParseScope(s string) (Scope, error) {
	switch {
	case s == string(ScopeFinance), s == string(ScopeService):
		return Scope(s), nil
	case strings.HasPrefix(s, accountPrefix) && len(s) > len(accountPrefix) && !strings.ContainsAny(s, " \t\r\n"):
		return Scope(s), nil
	}
	return "", fmt.Errorf("scope must be finance, service or account:ID, got %q", s)
}

// AccountScope is the scope of an account's own token.
func AccountScope(accountID string) Scope { return Scope(accountPrefix + accountID) }

// Account returns the account of an account scope.
func (s Scope) Account() (string, bool) {
	if !strings.HasPrefix(string(s), accountPrefix) {
		return "", false
	}
	return strings.TrimPrefix(string(s), accountPrefix), true
}

// Token is a stored token, without its secret.
type Token struct {
	ID         int64      `json:"id"`
	Name       string     `json:"name"`
	Scope      Scope      `json:"scope"`
	Prefix     string     `json:"prefix"`
	CreatedAt  time.Time  `json:"created_at"`
	LastUsedAt *time.Time `json:"last_used_at"`
	RevokedAt  *time.Time `json:"revoked_at"`
}

// tokenPrefix marks the engine's tokens, so that a leaked one is
// recognisable in logs and by secret scanners.
const tokenPrefix = "bt_"

func hash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// Create makes a token and returns it with its secret, the only time the
// secret exists outside the caller.
func Create(ctx context.Context, q pgdb.Executor, name string, scope Scope) (*Token, string, error) {
	if _, err := ParseScope(string(scope)); err != nil {
		return nil, "", err
	}
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, "", err
	}
	secret := tokenPrefix + base64.RawURLEncoding.EncodeToString(b[:])
	t := &Token{Name: name, Scope: scope, Prefix: secret[:8]}
	err := q.QueryRow(ctx, `INSERT INTO api_tokens (name, scope, token_sha256, prefix) VALUES ($1, $2, $3, $4) RETURNING id, created_at`,
		name, string(scope), hash(secret), t.Prefix).Scan(&t.ID, &t.CreatedAt)
	if err != nil {
		return nil, "", err
	}
	return t, secret, nil
}

// BearerSecret returns the token an Authorization header carries. The
// scheme is matched case-insensitively, as RFC 9110 §11.1 requires: clients
// that send "bearer" or "BEARER" are as right as those sending "Bearer".
func BearerSecret(header string) (string, bool) {
	scheme, secret, ok := strings.Cut(strings.TrimSpace(header), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	secret = strings.TrimSpace(secret)
	return secret, secret != ""
}

// ErrInvalidToken is returned for a token that doesn't exist or was revoked.
var ErrInvalidToken = errors.New("invalid or revoked token")

// Authenticate returns the token a secret belongs to. It records when the
// token was last used, at most once a minute.
func Authenticate(ctx context.Context, q pgdb.Executor, secret string) (*Token, error) {
	if !strings.HasPrefix(secret, tokenPrefix) || len(secret) > 100 {
		return nil, ErrInvalidToken
	}
	t := &Token{}
	err := q.QueryRow(ctx, `
		SELECT id, name, scope, prefix, created_at, last_used_at FROM api_tokens
		WHERE token_sha256 = $1 AND revoked_at IS NULL`, hash(secret)).
		Scan(&t.ID, &t.Name, &t.Scope, &t.Prefix, &t.CreatedAt, &t.LastUsedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrInvalidToken
	}
	if err != nil {
		return nil, err
	}
	if t.LastUsedAt == nil || time.Since(*t.LastUsedAt) > time.Minute {
		rows, err := q.Query(ctx, `UPDATE api_tokens SET last_used_at = now() WHERE id = $1`, t.ID)
		if err == nil {
			rows.Close()
		}
	}
	return t, nil
}

// List returns every token, newest first.
func List(ctx context.Context, q pgdb.Executor) ([]Token, error) {
	rows, err := q.Query(ctx, `SELECT id, name, scope, prefix, created_at, last_used_at, revoked_at FROM api_tokens ORDER BY id DESC`)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Token, error) {
		var t Token
		err := r.Scan(&t.ID, &t.Name, &t.Scope, &t.Prefix, &t.CreatedAt, &t.LastUsedAt, &t.RevokedAt)
		return t, err
	})
}

// ErrNotFound is returned when revoking a token id that doesn't exist.
var ErrNotFound = errors.New("token not found")

// Revoke revokes a token by id; revoking twice is harmless.
func Revoke(ctx context.Context, q pgdb.Executor, id int64) (*Token, error) {
	t := &Token{}
	err := q.QueryRow(ctx, `
		UPDATE api_tokens SET revoked_at = coalesce(revoked_at, now()) WHERE id = $1
		RETURNING id, name, scope, prefix, created_at, last_used_at, revoked_at`, id).
		Scan(&t.ID, &t.Name, &t.Scope, &t.Prefix, &t.CreatedAt, &t.LastUsedAt, &t.RevokedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("%w: %d", ErrNotFound, id)
	}
	return t, err
}
