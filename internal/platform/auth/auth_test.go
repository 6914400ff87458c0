package auth_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/billingengine/engine/internal/dbtest"
	"github.com/billingengine/engine/internal/platform/auth"
)

func TestTokenLifecycle(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := dbtest.New(t)
	tok, secret, err := auth.Create(ctx, db.Pool, "portal", auth.AccountScope("acc_1"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(secret, "bt_") || len(secret) < 40 {
		t.Fatalf("secret %q: want bt_ and at least 256 bits", secret)
	}
	// Nothing stored can give the secret back.
	var leaked bool
	if err := db.Pool.QueryRow(ctx, `SELECT bool_or(t::text LIKE '%' || $1 || '%') FROM api_tokens t`, secret[3:]).Scan(&leaked); err != nil {
		t.Fatal(err)
	}
	if leaked {
		t.Fatal("the secret is stored")
	}
	got, err := auth.Authenticate(ctx, db.Pool, secret)
	if err != nil {
		t.Fatal(err)
	}
	if id, ok := got.Scope.Account(); got.ID != tok.ID || !ok || id != "acc_1" {
		t.Fatalf("authenticated %+v", got)
	}
	for _, wrong := range []string{"", secret + "x", secret[:len(secret)-1], strings.ToUpper(secret)} {
		if _, err := auth.Authenticate(ctx, db.Pool, wrong); !errors.Is(err, auth.ErrInvalidToken) {
			t.Errorf("Authenticate(%q) = %v, want ErrInvalidToken", wrong, err)
		}
	}
	if _, err := auth.Revoke(ctx, db.Pool, tok.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := auth.Authenticate(ctx, db.Pool, secret); !errors.Is(err, auth.ErrInvalidToken) {
		t.Fatalf("revoked token: %v", err)
	}
	if _, err := auth.Revoke(ctx, db.Pool, 999); !errors.Is(err, auth.ErrNotFound) {
		t.Fatalf("revoking an unknown id: %v", err)
	}
}

func TestParseScope(t *testing.T) {
	for _, ok := range []string{"finance", "service", "account:acc_1"} {
		if _, err := auth.ParseScope(ok); err != nil {
			t.Errorf("ParseScope(%q): %v", ok, err)
		}
	}
	for _, bad := range []string{"", "admin", "account:", "account: x", "Finance"} {
		if _, err := auth.ParseScope(bad); err == nil {
			t.Errorf("ParseScope(%q) accepted", bad)
		}
	}
}

// The Authorization scheme is case-insensitive (RFC 9110 §11.1); anything
// but a bearer token with a secret is no token at all.
func TestBearerSchemeIsCaseInsensitive(t *testing.T) {
	t.Parallel()
	for _, h := range []string{"Bearer bt_x", "bearer bt_x", "BEARER bt_x", "bEaReR   bt_x ", " Bearer bt_x"} {
		if got, ok := auth.BearerSecret(h); !ok || got != "bt_x" {
			t.Errorf("BearerSecret(%q) = %q, %v; want bt_x", h, got, ok)
		}
	}
	for _, h := range []string{"", "Bearer", "Bearer ", "Basic bt_x", "Bearerbt_x", "Token bt_x", "bt_x"} {
		if got, ok := auth.BearerSecret(h); ok {
			t.Errorf("BearerSecret(%q) = %q: want no token", h, got)
		}
	}
}
