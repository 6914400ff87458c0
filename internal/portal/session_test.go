package portal_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/billingengine/engine/internal/dbtest"
	"github.com/billingengine/engine/internal/portal"
	"github.com/billingengine/engine/internal/testfactory"
)

// A link opens one session, once, before it expires; a session ends after
// an hour idle, and each use moves that hour on; Prune deletes what can no
// longer open anything.
func TestLinksAndSessions(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := dbtest.New(t)
	acc := testfactory.Account(ctx, t, db.Pool, nil)
	t0 := time.Date(2026, 11, 3, 9, 0, 0, 0, time.UTC)

	if _, err := portal.CreateLink(ctx, db.Pool, acc.ID, 0, t0); err == nil {
		t.Fatal("a zero ttl was accepted")
	}
	if _, err := portal.CreateLink(ctx, db.Pool, acc.ID, portal.MaxLinkTTL+time.Second, t0); err == nil {
		t.Fatal("a ttl past the most was accepted")
	}
	link, err := portal.CreateLink(ctx, db.Pool, acc.ID, time.Hour, t0)
	if err != nil {
		t.Fatal(err)
	}
	expired, err := portal.CreateLink(ctx, db.Pool, acc.ID, time.Minute, t0)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := portal.StartSession(ctx, db.Pool, expired.Token, t0.Add(time.Minute)); !errors.Is(err, portal.ErrLinkInvalid) {
		t.Fatalf("an expired link opened a session: %v", err)
	}
	if _, _, err := portal.StartSession(ctx, db.Pool, "forged", t0); !errors.Is(err, portal.ErrLinkInvalid) {
		t.Fatalf("an unknown link opened a session: %v", err)
	}
	cookie, s, err := portal.StartSession(ctx, db.Pool, link.Token, t0.Add(time.Minute))
	if err != nil || s.AccountID != acc.ID || s.CSRFToken == "" || cookie == "" {
		t.Fatalf("StartSession = %q, %+v, %v", cookie, s, err)
	}
	if _, _, err := portal.StartSession(ctx, db.Pool, link.Token, t0.Add(2*time.Minute)); !errors.Is(err, portal.ErrLinkInvalid) {
		t.Fatalf("a used link opened a second session: %v", err)
	}
	// 50 minutes, then 50 more: each use moves the idle hour on.
	for _, at := range []time.Time{t0.Add(51 * time.Minute), t0.Add(101 * time.Minute)} {
		got, err := portal.LookupSession(ctx, db.Pool, cookie, at)
		if err != nil || got.CSRFToken != s.CSRFToken {
			t.Fatalf("LookupSession at %s = %+v, %v", at, got, err)
		}
	}
	if _, err := portal.LookupSession(ctx, db.Pool, cookie, t0.Add(162*time.Minute)); !errors.Is(err, portal.ErrNoSession) {
		t.Fatalf("a session idle for over an hour is alive: %v", err)
	}
	live, err := portal.CreateLink(ctx, db.Pool, acc.ID, 24*time.Hour, t0)
	if err != nil {
		t.Fatal(err)
	}
	n, err := portal.Prune(ctx, db.Pool, t0.Add(3*time.Hour))
	if err != nil || n != 3 {
		t.Fatalf("Prune = %d, %v; want the used link, the expired one and the idle session", n, err)
	}
	if _, _, err := portal.StartSession(ctx, db.Pool, live.Token, t0.Add(3*time.Hour)); err != nil {
		t.Fatalf("Prune deleted a live link: %v", err)
	}
}
