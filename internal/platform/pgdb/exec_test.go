package pgdb_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/billingengine/engine/internal/dbtest"
	"github.com/billingengine/engine/internal/platform/pgdb"
)

// The seam is one interface for pools and transactions: a function written
// against Executor runs alone or inside its caller's transaction.
var (
	_ pgdb.DB         = (pgx.Tx)(nil)
	_ pgdb.SnapshotDB = (*pgx.Conn)(nil)
)

func TestWithTxCommitsOrRollsBackAndNamesTheOperation(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	d := dbtest.Empty(t)
	_, err := d.Pool.Exec(ctx, `CREATE TABLE t (k text PRIMARY KEY)`)
	require.NoError(t, err)

	require.NoError(t, pgdb.WithTx(ctx, d.Pool, "insert a", func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO t VALUES ('a')`)
		return err
	}))
	err = pgdb.WithTx(ctx, d.Pool, "insert b then a again", func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO t VALUES ('b')`); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO t VALUES ('a')`)
		return err
	})
	require.ErrorContains(t, err, "insert b then a again: ")
	require.True(t, pgdb.UniqueViolation(err, "t_pkey"), "the class survives the wrapping: %v", err)
	require.True(t, pgdb.UniqueViolation(err, ""))
	require.False(t, pgdb.UniqueViolation(err, "other_key"))
	require.False(t, pgdb.Retryable(err))
	require.False(t, pgdb.DataException(err))

	var keys []string
	rows, err := d.Pool.Query(ctx, `SELECT k FROM t ORDER BY k`)
	require.NoError(t, err)
	keys, err = pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	require.Equal(t, []string{"a"}, keys, "the failed transaction left nothing")

	// Inside a transaction, WithTx is a savepoint: its failure leaves the
	// outer transaction usable.
	require.NoError(t, pgdb.WithTx(ctx, d.Pool, "outer", func(tx pgx.Tx) error {
		inner := pgdb.WithTx(ctx, tx, "inner", func(sp pgx.Tx) error {
			_, err := sp.Exec(ctx, `INSERT INTO t VALUES ('a')`)
			return err
		})
		require.ErrorContains(t, inner, "inner: ")
		_, err := tx.Exec(ctx, `INSERT INTO t VALUES ('c')`)
		return err
	}))

	// Writing in a read-only snapshot is refused, and named.
	err = pgdb.WithSnapshot(ctx, d.Pool, "read-only report", func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO t VALUES ('d')`)
		return err
	})
	require.ErrorContains(t, err, "read-only report: ")
	require.Equal(t, "25006", pgdb.Code(err))

	err = pgdb.WithTx(ctx, d.Pool, "bad value", func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `SELECT 1/0`)
		return err
	})
	require.True(t, pgdb.DataException(err), "%v", err)
	require.Empty(t, pgdb.Code(errors.New("not from Postgres")))
	require.NoError(t, pgdb.Wrap("nothing failed", nil))
}

func TestRetryableDeadlock(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	d := dbtest.Empty(t)
	_, err := d.Pool.Exec(ctx, `CREATE TABLE r (k int PRIMARY KEY); INSERT INTO r VALUES (1), (2)`)
	require.NoError(t, err)

	// Two transactions locking the same two rows in opposite orders:
	// Postgres fails one of them, and that failure is the retryable kind.
	var wg sync.WaitGroup
	locked := make(chan struct{}, 2)
	errs := make([]error, 2)
	for i, order := range [][2]int{{1, 2}, {2, 1}} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = pgdb.WithTx(ctx, d.Pool, "lock both", func(tx pgx.Tx) error {
				if _, err := tx.Exec(ctx, `SELECT 1 FROM r WHERE k = $1 FOR UPDATE`, order[0]); err != nil {
					return err
				}
				locked <- struct{}{}
				for len(locked) < 2 && ctx.Err() == nil {
					// wait until the other holds its first row
					if _, err := tx.Exec(ctx, `SELECT pg_sleep(0.01)`); err != nil {
						return err
					}
				}
				_, err := tx.Exec(ctx, `SELECT 1 FROM r WHERE k = $1 FOR UPDATE`, order[1])
				return err
			})
		}()
	}
	wg.Wait()
	failed := 0
	for _, err := range errs {
		if err != nil {
			failed++
			require.True(t, pgdb.Retryable(err), "%v", err)
		}
	}
	require.Equal(t, 1, failed, "exactly one side of the deadlock is failed: %v", errs)
}
