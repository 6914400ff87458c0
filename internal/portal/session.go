// Package portal is the customer's billing pages (SPEC §14): the one-time
// links that open them, their sessions, and their server-rendered HTML in
// the account's language. It owns portal_links and portal_sessions;
// internal/httpapi mounts the pages and does their writes through the
// domain operations and jobs.Enqueue, as the API does.
package portal

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/billingengine/engine/internal/platform/pgdb"
)

// IdleTimeout ends a session unused for this long.
const IdleTimeout = time.Hour

// DefaultLinkTTL is how long a one-time link is valid unless told.
const DefaultLinkTTL = time.Hour

// MaxLinkTTL bounds a link's validity: a link is a bearer credential.
const MaxLinkTTL = 7 * 24 * time.Hour

// ErrLinkInvalid is returned for a link that is unknown, used or expired.
var ErrLinkInvalid = errors.New("this link is no longer valid")

// ErrNoSession is returned for a cookie that names no live session.
var ErrNoSession = errors.New("no session")

func newToken() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func hash(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

// Link is a one-time link's token (shown once) and expiry.
type Link struct {
	Token     string
	ExpiresAt time.Time
}

// CreateLink mints a one-time link into the account's pages, valid ttl.
// Only the token's hash is stored.
func CreateLink(ctx context.Context, q pgdb.Executor, accountID string, ttl time.Duration, now time.Time) (*Link, error) {
	if ttl <= 0 || ttl > MaxLinkTTL {
		return nil, fmt.Errorf("ttl: between 1s and %s", MaxLinkTTL)
	}
	l := &Link{Token: newToken(), ExpiresAt: now.Add(ttl).UTC().Truncate(time.Second)}
	_, err := q.Exec(ctx, `INSERT INTO portal_links (token_hash, account_id, created_at, expires_at) VALUES ($1, $2, $3, $4)`,
		hash(l.Token), accountID, now, l.ExpiresAt)
	return l, err
}

// LoginURL is the one-time link of a token under the portal's base URL
// (BILLING_PORTAL_URL).
func LoginURL(base, token string) string {
	return strings.TrimRight(base, "/") + "/portal/login?token=" + url.QueryEscape(token)
}

// Session is a live portal session.
type Session struct {
	AccountID string
	CSRFToken string
}

// StartSession spends a one-time link and starts a session for its
// account, in one transaction: a link opens at most one session. It
// returns the session's cookie token.
func StartSession(ctx context.Context, db pgdb.DB, linkToken string, now time.Time) (cookie string, s *Session, err error) {
	err = pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		var accountID string
		err := tx.QueryRow(ctx, `
			UPDATE portal_links SET used_at = $2
			WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2
			RETURNING account_id`, hash(linkToken), now).Scan(&accountID)
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrLinkInvalid
		}
		if err != nil {
			return err
		}
		cookie = newToken()
		s = &Session{AccountID: accountID, CSRFToken: newToken()}
		_, err = tx.Exec(ctx, `INSERT INTO portal_sessions (token_hash, account_id, csrf_token, created_at, last_seen_at)
			VALUES ($1, $2, $3, $4, $4)`, hash(cookie), accountID, s.CSRFToken, now)
		return err
	})
	return cookie, s, err
}

// LookupSession returns the live session of a cookie and marks it used
// now; a session idle for IdleTimeout is over (ErrNoSession).
func LookupSession(ctx context.Context, q pgdb.Executor, cookie string, now time.Time) (*Session, error) {
	if cookie == "" {
		return nil, ErrNoSession
	}
	var s Session
	err := q.QueryRow(ctx, `
		UPDATE portal_sessions SET last_seen_at = $2
		WHERE token_hash = $1 AND last_seen_at > $3
		RETURNING account_id, csrf_token`, hash(cookie), now, now.Add(-IdleTimeout)).Scan(&s.AccountID, &s.CSRFToken)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrNoSession
	}
	if err != nil {
		return nil, err
	}
	return &s, nil
}

// EndSession ends a session (log out).
func EndSession(ctx context.Context, q pgdb.Executor, cookie string) error {
	_, err := q.Exec(ctx, `DELETE FROM portal_sessions WHERE token_hash = $1`, hash(cookie))
	return err
}

// Prune deletes the links that can no longer open anything (used, or
// expired) and the sessions idle past IdleTimeout, as of now; the daily
// prune job calls it.
func Prune(ctx context.Context, q pgdb.Executor, now time.Time) (int64, error) {
	links, err := q.Exec(ctx, `DELETE FROM portal_links WHERE used_at IS NOT NULL OR expires_at <= $1`, now)
	if err != nil {
		return 0, err
	}
	sessions, err := q.Exec(ctx, `DELETE FROM portal_sessions WHERE last_seen_at <= $1`, now.Add(-IdleTimeout))
	if err != nil {
		return 0, err
	}
	return links.RowsAffected() + sessions.RowsAffected(), nil
}
