package pgdb_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/billingengine/engine/internal/dbtest"
	"github.com/billingengine/engine/internal/platform/pgdb"
)

func TestMigrateConcurrentAndIdempotent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	d := dbtest.Empty(t)

	// Two processes migrating at once: the lock makes one do the work and
	// the other find nothing left.
	var wg sync.WaitGroup
	results := make([][]pgdb.Migration, 2)
	errs := make([]error, 2)
	for i := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pool, err := pgdb.Open(ctx, d.URL, nil)
			if err != nil {
				errs[i] = err
				return
			}
			defer pool.Close()
			results[i], errs[i] = pgdb.Migrate(ctx, pool)
		}()
	}
	wg.Wait()
	require.NoError(t, errs[0])
	require.NoError(t, errs[1])
	total := len(results[0]) + len(results[1])
	require.True(t, len(results[0]) == 0 || len(results[1]) == 0, "both runs applied migrations: %v / %v", results[0], results[1])
	require.Greater(t, total, 1)

	again, err := pgdb.Migrate(ctx, d.Pool)
	require.NoError(t, err)
	require.Empty(t, again)

	var n int
	require.NoError(t, d.Pool.QueryRow(ctx, `SELECT count(*) FROM billing_migrations`).Scan(&n))
	require.Positive(t, n)
	require.NoError(t, d.Pool.QueryRow(ctx, `SELECT count(*) FROM river_job`).Scan(&n))
}

func TestOpenErrors(t *testing.T) {
	t.Parallel()
	_, err := pgdb.Open(context.Background(), "", nil)
	require.ErrorIs(t, err, pgdb.ErrNoDatabaseURL)
	_, err = pgdb.Open(context.Background(), "postgres://nobody@127.0.0.1:1/none?connect_timeout=1", nil)
	require.ErrorContains(t, err, "cannot reach Postgres at postgres://nobody@127.0.0.1:1/none")
	_, err = pgdb.Open(context.Background(), "mysql://x", nil)
	require.ErrorContains(t, err, "parsing DATABASE_URL")
}

func TestOpenWaitRetriesUntilTheServerAnswers(t *testing.T) {
	t.Parallel()
	// A bad URL is not worth waiting for.
	_, err := pgdb.OpenWait(context.Background(), "::not a url", nil, func(error, time.Duration) { t.Error("retried a bad URL") })
	require.ErrorContains(t, err, "parsing DATABASE_URL")

	// An unreachable server is tried again, with growing waits, until ctx ends.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	var waits []time.Duration
	_, err = pgdb.OpenWait(ctx, "postgres://nobody@127.0.0.1:1/none?connect_timeout=1", nil, func(_ error, w time.Duration) { waits = append(waits, w) })
	require.ErrorContains(t, err, "cannot reach Postgres")
	require.ErrorContains(t, err, "gave up")
	require.GreaterOrEqual(t, len(waits), 2)
	require.Equal(t, 2*waits[0], waits[1])

	// A server that answers is used at once.
	pool, err := pgdb.OpenWait(context.Background(), dbtest.AdminURL(t), nil, func(error, time.Duration) { t.Error("retried a good server") })
	require.NoError(t, err)
	pool.Close()
}
