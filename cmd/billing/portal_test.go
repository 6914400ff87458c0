package main

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"
)

// `billing portal url` prints a one-time link under BILLING_PORTAL_URL,
// valid --ttl, whose token only the database's hash knows.
func TestPortalURLCommand(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	c.env["BILLING_PORTAL_URL"] = "https://billing.example/"
	c.ok("accounts", "import", writeFile(t, "accounts.ndjson", testAccounts))
	var out struct {
		URL       string    `json:"url"`
		ExpiresAt time.Time `json:"expires_at"`
	}
	require.NoError(t, json.Unmarshal([]byte(c.ok("portal", "url", "acc_1", "--ttl", "30m", "--json")), &out))
	require.True(t, strings.HasPrefix(out.URL, "https://billing.example/portal/login?token="), out.URL)
	require.WithinDuration(t, time.Now().Add(30*time.Minute), out.ExpiresAt, time.Minute)
	u, err := url.Parse(out.URL)
	require.NoError(t, err)
	token := u.Query().Get("token")
	require.NotEmpty(t, token)

	pool, err := pgxpool.New(context.Background(), c.url)
	require.NoError(t, err)
	defer pool.Close()
	h := sha256.Sum256([]byte(token))
	var account string
	require.NoError(t, pool.QueryRow(context.Background(), `SELECT account_id FROM portal_links WHERE token_hash = $1 AND used_at IS NULL`, h[:]).Scan(&account))
	require.Equal(t, "acc_1", account)
	var plain int
	require.NoError(t, pool.QueryRow(context.Background(), `SELECT count(*) FROM portal_links WHERE encode(token_hash, 'escape') LIKE '%' || $1 || '%'`, token).Scan(&plain))
	require.Zero(t, plain, "the token itself is not stored")

	code, _, stderr := c.run("portal", "url", "ghost")
	require.Equal(t, 1, code)
	require.Contains(t, stderr, "ghost")
	for _, ttl := range []string{"0s", "-1h", "200h", "soon"} {
		code, _, stderr := c.run("portal", "url", "acc_1", "--ttl", ttl)
		require.Equal(t, 2, code, "--ttl %s: %s", ttl, stderr)
	}
	c.env["BILLING_PORTAL_URL"] = "billing.example"
	code, _, stderr = c.run("portal", "url", "acc_1")
	require.Equal(t, 2, code)
	require.Contains(t, stderr, "BILLING_PORTAL_URL")
}
